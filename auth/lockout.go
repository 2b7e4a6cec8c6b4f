package auth

// SurfaceConsole is the operator console's budget (Lockout).
const SurfaceConsole = "console"

// Lockout is the budget of failed logins of a surface that checks
// credentials of its own, such as operators on the console: the same
// limits per (name, source), per source, per name and per surface as the
// account logins.
type Lockout struct {
	a       *Authenticator
	surface string
}

// NewLockout returns the budgets l for surface.
func NewLockout(l Limits, surface string) *Lockout {
	a := &Authenticator{}
	a.SetLimits(l)
	return &Lockout{a: a, surface: surface}
}

// Allowed reports whether name may be tried from source now.
func (l *Lockout) Allowed(name, source string) bool {
	return l.a.allowed(attempt{}.keys(name, source, l.surface))
}

// Failed records a failed login of name from source.
func (l *Lockout) Failed(name, source string) {
	l.a.failed(attempt{}.keys(name, source, l.surface))
}
