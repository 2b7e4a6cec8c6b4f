package auth

import (
	"context"

	"github.com/callbackd/callbackd/limiter"
)

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

// ShareLimits counts the failures in s, the database every node shares,
// as Authenticator.ShareLimits does, under the names <surface>.pair,
// <surface>.source, <surface>.account and <surface>.surface (e.g.
// console.pair): apart from the accounts' failures, since operators'
// names are not accounts'.
func (l *Lockout) ShareLimits(s limiter.SharedBuckets) { l.a.share(l.surface, s) }

// Allowed reports whether name may be tried from source now.
func (l *Lockout) Allowed(ctx context.Context, name, source string) bool {
	return l.a.allowed(ctx, attempt{}.keys(name, source, l.surface))
}

// Failed records a failed login of name from source.
func (l *Lockout) Failed(ctx context.Context, name, source string) {
	l.a.failed(ctx, attempt{}.keys(name, source, l.surface))
}
