// Package console is the operators' web console at /admin/: server-rendered
// pages over admin.Service (login with the operator's password, a signed
// session cookie, a CSRF token on every form), so the console, the admin API
// and the command line share one set of rules, role checks and audit log.
package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
)

// Prefix is where the console is served.
const Prefix = "/admin/"

// SessionTTL is how long a login lasts.
const SessionTTL = 8 * time.Hour

const (
	sessionCookie = "callbackd_console"
	loginCookie   = "callbackd_console_login"
)

// Options configures the console.
type Options struct {
	Admin *admin.Service
	// Key signs session cookies and CSRF tokens; the same on every node.
	Key []byte
	// SecureCookies marks the cookies Secure (HTTPS or an HTTPS proxy).
	SecureCookies bool
	// TrustedProxies are reverse proxies whose X-Forwarded-For is believed
	// for the source of a login.
	TrustedProxies []netip.Prefix
	// Lockout limits failed logins; nil is auth.DefaultLimits of
	// auth.DefaultLogin.
	Lockout *auth.Lockout
	Logger  *slog.Logger
	Now     func() time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/console.css
var css []byte

var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"pct":   func(bp int64) string { return fmt.Sprintf("%d.%02d %%", bp/100, bp%100) },
		"dur":   func(d time.Duration) string { return d.Truncate(time.Second).String() },
		"ms":    fmtMillis,
		"ts":    fmtTime,
		"allow": func(role admin.Role, p string) bool { return role.Allows(perm(p)) },
	}
	// layout.html and the parts several pages share (_*.html) are in
	// every page.
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html"))
	out := map[string]*template.Template{}
	entries, _ := templateFS.ReadDir("templates")
	for _, e := range entries {
		if e.Name() == "layout.html" || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		out[strings.TrimSuffix(e.Name(), ".html")] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+e.Name()))
	}
	return out
}()

func perm(p string) admin.Permission {
	switch p {
	case "cancel":
		return admin.PermCancel
	case "resend":
		return admin.PermResend
	case "write":
		return admin.PermWrite
	}
	return admin.PermRead
}

// fmtMillis shows a short duration to the millisecond: "250 ms",
// "1,250 ms".
func fmtMillis(d time.Duration) string {
	ms := max(d.Milliseconds(), 0)
	if ms < 1000 {
		return fmt.Sprintf("%d ms", ms)
	}
	return fmt.Sprintf("%d,%03d ms", ms/1000, ms%1000)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

type console struct {
	o       Options
	svc     *admin.Service
	log     *slog.Logger
	lockout *auth.Lockout
	mux     *http.ServeMux

	mu      sync.Mutex
	revoked map[string]time.Time // logged-out session ids until they expire
}

// New returns the console's handler, serving Prefix.
func New(o Options) http.Handler {
	c := &console{o: o, svc: o.Admin, log: o.Logger, lockout: o.Lockout, revoked: map[string]time.Time{}}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.lockout == nil {
		l := auth.DefaultLogin()
		c.lockout = auth.NewLockout(auth.DefaultLimits(l.Every, l.Burst), auth.SurfaceConsole)
	}
	if len(c.o.Key) == 0 {
		c.o.Key = make([]byte, 32)
		rand.Read(c.o.Key)
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /admin/static/console.css", serveCSS)
	m.HandleFunc("GET /admin/login", c.loginPage)
	m.HandleFunc("POST /admin/login", c.login)
	m.HandleFunc("POST /admin/logout", c.signedIn(c.logout))
	m.HandleFunc("GET /admin/{$}", c.signedIn(c.dashboard))
	m.HandleFunc("GET /admin/accounts", c.signedIn(c.accounts))
	m.HandleFunc("POST /admin/accounts", c.signedIn(c.createAccount))
	m.HandleFunc("GET /admin/accounts/{username}", c.signedIn(c.account))
	m.HandleFunc("POST /admin/accounts/{username}/topup", c.signedIn(c.topUp))
	m.HandleFunc("POST /admin/accounts/{username}/block", c.signedIn(c.block(true)))
	m.HandleFunc("POST /admin/accounts/{username}/unblock", c.signedIn(c.block(false)))
	m.HandleFunc("POST /admin/accounts/{username}/delete", c.signedIn(c.deleteAccount))
	m.HandleFunc("GET /admin/requests", c.signedIn(c.requests))
	m.HandleFunc("GET /admin/requests/{id}", c.signedIn(c.request))
	m.HandleFunc("POST /admin/requests/{id}/cancel", c.signedIn(c.cancel))
	m.HandleFunc("POST /admin/requests/{id}/retry", c.signedIn(c.retry))
	m.HandleFunc("GET /admin/calls", c.signedIn(c.calls))
	m.HandleFunc("POST /admin/calls/{id}/hangup", c.signedIn(c.hangUp))
	m.HandleFunc("GET /admin/cdrs", c.signedIn(c.cdrs))
	m.HandleFunc("GET /admin/cdrs.csv", c.signedIn(c.exportCDRs))
	m.HandleFunc("GET /admin/access-numbers", c.signedIn(c.accessNumbers))
	m.HandleFunc("POST /admin/access-numbers", c.signedIn(c.createAccessNumber))
	m.HandleFunc("GET /admin/audit", c.signedIn(c.audit))
	m.HandleFunc("GET /admin/tariffs", c.signedIn(c.tariffs))
	m.HandleFunc("GET /admin/tariffs/{tariff}", c.signedIn(c.tariff))
	m.HandleFunc("GET /admin/tariffs/{tariff}/rates.csv", c.signedIn(c.exportRates))
	m.HandleFunc("POST "+importPath, c.signedIn(c.importRates))
	m.HandleFunc("GET /admin/operators", c.signedIn(c.operators))
	m.HandleFunc("POST /admin/operators", c.signedIn(c.createOperator))
	m.HandleFunc("POST /admin/operators/{name}", c.signedIn(c.updateOperator))
	m.HandleFunc("POST /admin/operators/{name}/tokens", c.signedIn(c.newToken))
	m.HandleFunc("GET /admin/webhooks", c.signedIn(c.webhooks))
	m.HandleFunc("GET /admin/webhooks/{id}", c.signedIn(c.webhook))
	m.HandleFunc("POST /admin/webhooks/{id}/resend", c.signedIn(c.resendWebhook))
	m.HandleFunc("POST /admin/accounts/{username}/webhook", c.signedIn(c.setAccountWebhook))
	m.HandleFunc("POST /admin/accounts/{username}/webhook/remove", c.signedIn(c.removeAccountWebhook))
	c.mux = m
	return c
}

func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	if r.URL.Path == "/admin" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	c.mux.ServeHTTP(w, r)
}

func serveCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(css)
}

func (c *console) now() time.Time {
	if c.o.Now != nil {
		return c.o.Now()
	}
	return time.Now()
}

// Sessions: the cookie holds the operator's name, the expiry and a random
// session id, signed with Key. The operator is read on every request, so
// a disabled operator or a changed role takes effect at once.

type session struct {
	id   string
	op   *admin.Operator
	csrf string
}

func (s *session) actor() admin.Actor { return admin.Actor{Name: s.op.Name, Role: s.op.Role} }

func (c *console) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, c.o.Key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return m.Sum(nil)
}

func (c *console) csrfFor(id string) string {
	return hex.EncodeToString(c.mac("csrf", id)[:16])
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *console) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge, HttpOnly: true,
		Secure: c.o.SecureCookies, SameSite: http.SameSiteStrictMode}
}

func (c *console) issue(w http.ResponseWriter, name string) {
	id := newID()
	exp := strconv.FormatInt(c.now().Add(SessionTTL).Unix(), 10)
	payload := base64.RawURLEncoding.EncodeToString([]byte(name + "\n" + exp + "\n" + id))
	sig := base64.RawURLEncoding.EncodeToString(c.mac("session", payload))
	http.SetCookie(w, c.cookie(sessionCookie, payload+"."+sig, int(SessionTTL/time.Second)))
}

// session returns the signed-in operator of r, or nil.
func (c *console) session(r *http.Request) (*session, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	payload, sig, ok := strings.Cut(ck.Value, ".")
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err2 != nil || !hmac.Equal(got, c.mac("session", payload)) {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, nil
	}
	f := strings.Split(string(raw), "\n")
	if len(f) != 3 {
		return nil, nil
	}
	exp, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || c.now().Unix() >= exp {
		return nil, nil
	}
	c.mu.Lock()
	_, out := c.revoked[f[2]]
	c.mu.Unlock()
	if out {
		return nil, nil
	}
	op, err := c.svc.Store.GetOperator(r.Context(), f[0])
	if errors.Is(err, callback.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read operator: %w", err)
	}
	if op.Disabled {
		return nil, nil
	}
	return &session{id: f[2], op: op, csrf: c.csrfFor(f[2])}, nil
}

// signedIn runs h for a signed-in operator, sending others to the login.
// Every POST must carry the session's CSRF token, and an operator whose
// role changes nothing (reporting) posts nothing but a logout.
func (c *console) signedIn(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.session(r)
		if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		if s == nil {
			if r.Method != http.MethodGet {
				c.render(w, r, http.StatusUnauthorized, "message", nil, pageData{Title: "Signed out", Alert: "Your session ended. Sign in again."})
				return
			}
			http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			// Only the rates import takes a file; every other form is
			// small.
			limit, parse := int64(64<<10), r.ParseForm
			if isMultipart(r) {
				parse = func() error { return r.ParseMultipartForm(1 << 20) }
				if r.URL.Path == importPath {
					limit = admin.MaxRatesCSV + 64<<10
				}
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			if err := parse(); err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					c.render(w, r, http.StatusRequestEntityTooLarge, "message", s, pageData{Title: "Too large",
						Alert: fmt.Sprintf("The form is larger than %d bytes.", mbe.Limit)})
					return
				}
				c.render(w, r, http.StatusBadRequest, "message", s, pageData{Title: "Bad request", Alert: "The form could not be read."})
				return
			}
			if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) {
				c.log.Warn("console: CSRF token refused", "operator", s.op.Name, "path", r.URL.Path)
				c.render(w, r, http.StatusForbidden, "message", s, pageData{Title: "Form expired", Alert: "The form expired or did not come from this console. Reload the page and send it again."})
				return
			}
			if !strings.HasSuffix(r.URL.Path, "/logout") && !s.op.Role.Allows(admin.PermCancel) {
				c.fail(w, r, s, &admin.ForbiddenError{})
				return
			}
		}
		h(w, r, s)
	}
}

func (c *console) source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	trusted := func(a netip.Addr) bool {
		for _, p := range c.o.TrustedProxies {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !trusted(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0 && i >= len(hops)-16; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !trusted(a) {
			return a.String()
		}
		addr = a
	}
	return addr.String()
}

func (c *console) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, err := c.session(r); err == nil && s != nil {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, "", "")
}

// renderLogin shows the login form with a fresh token bound to a cookie.
func (c *console) renderLogin(w http.ResponseWriter, r *http.Request, code int, name, msg string) {
	id := newID()
	http.SetCookie(w, c.cookie(loginCookie, id, 3600))
	c.render(w, r, code, "login", nil, pageData{Title: "Sign in", CSRF: hex.EncodeToString(c.mac("login", id)[:16]),
		Form: map[string]string{"name": name}, Alert: msg})
}

func (c *console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.renderLogin(w, r, http.StatusBadRequest, "", "The form could not be read.")
		return
	}
	name, password := strings.TrimSpace(r.PostForm.Get("name")), r.PostForm.Get("password")
	ck, err := r.Cookie(loginCookie)
	if err != nil || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(hex.EncodeToString(c.mac("login", ck.Value)[:16]))) {
		c.renderLogin(w, r, http.StatusForbidden, name, "The form expired. Send it again.")
		return
	}
	src := c.source(r)
	if !c.lockout.Allowed(r.Context(), name, src) {
		c.log.Warn("console: login refused, too many failures", "operator", name, "source", src)
		w.Header().Set("Retry-After", "60")
		c.renderLogin(w, r, http.StatusTooManyRequests, name, "Too many failed sign-ins. Try again later.")
		return
	}
	op, err := c.svc.Login(r.Context(), name, password)
	if errors.Is(err, admin.ErrBadCredentials) {
		c.lockout.Failed(r.Context(), name, src)
		c.log.Warn("console: login failed", "operator", name, "source", src)
		c.renderLogin(w, r, http.StatusUnauthorized, name, "Wrong name or password.")
		return
	}
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.log.Info("console: operator signed in", "operator", op.Name, "role", op.Role, "source", src)
	http.SetCookie(w, c.cookie(loginCookie, "", -1))
	c.issue(w, op.Name)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (c *console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	now := c.now()
	c.mu.Lock()
	for id, exp := range c.revoked {
		if now.After(exp) {
			delete(c.revoked, id)
		}
	}
	c.revoked[s.id] = now.Add(SessionTTL)
	c.mu.Unlock()
	http.SetCookie(w, c.cookie(sessionCookie, "", -1))
	c.log.Info("console: operator signed out", "operator", s.op.Name)
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// Rendering.

type pageData struct {
	Title   string
	Nav     string
	Op      *admin.Operator
	CSRF    string
	Message string // a notice on top of the page
	Alert   string // what went wrong, on top of the page
	Errors  map[string]string
	Form    map[string]string
	Data    any
}

// notices are the messages a redirect after a change may show (?done=).
var notices = map[string]string{
	"created": "Created.", "topup": "Top-up posted.", "blocked": "Account blocked.", "unblocked": "Account unblocked.",
	"canceled": "Request canceled.", "retried": "Request due now.", "hungup": "Call hung up.",
	"deleted": "Account deleted.", "operator": "Operator changed.",
	"resent": "Notification due again now.", "webhook-set": "Webhook saved.", "webhook-removed": "Webhook removed.",
}

func (c *console) render(w http.ResponseWriter, r *http.Request, code int, name string, s *session, d pageData) {
	if s != nil {
		d.Op, d.CSRF = s.op, s.csrf
	}
	if d.Message == "" {
		d.Message = notices[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout.html", d); err != nil {
		c.log.Error("console: render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// fail shows err as a page with its status code.
func (c *console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code, msg := http.StatusInternalServerError, "Something went wrong; the error is logged."
	var ve *callback.ValidationError
	switch {
	case errors.Is(err, admin.ErrForbidden):
		code, msg = http.StatusForbidden, "Your role does not allow this."
	case errors.As(err, &ve):
		code, msg = http.StatusUnprocessableEntity, ve.Error()
	case errors.Is(err, callback.ErrNotFound):
		code, msg = http.StatusNotFound, "Not found."
	case errors.Is(err, admin.ErrPreconditionFailed):
		code, msg = http.StatusConflict, "It changed in the meantime. Reload and try again."
	case errors.Is(err, callback.ErrConflict):
		code, msg = http.StatusConflict, "It exists already."
	case errors.Is(err, callback.ErrInvalid):
		code, msg = http.StatusConflict, err.Error()
	case errors.Is(err, context.Canceled):
		return
	default:
		c.log.Error("console: request failed", "path", r.URL.Path, "err", err)
	}
	c.render(w, r, code, "message", s, pageData{Title: http.StatusText(code), Alert: msg})
}

// fieldErrors is the form error of a ValidationError, or nil for others.
func fieldErrors(err error) map[string]string {
	var ve *callback.ValidationError
	if errors.As(err, &ve) {
		return map[string]string{ve.Field: ve.Reason}
	}
	return nil
}

func formValues(r *http.Request, names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[n] = strings.TrimSpace(r.PostForm.Get(n))
	}
	return m
}

func done(w http.ResponseWriter, r *http.Request, path, what string) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	http.Redirect(w, r, path+sep+"done="+what, http.StatusSeeOther)
}

func isConflict(err error) bool { return errors.Is(err, callback.ErrConflict) }
