package web

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
)

// The modes, as they appear in paths and in the configuration.
const (
	ModeSimple   = "simple"
	ModeExtended = "extended"
	ModeHosted   = "hosted"
)

// Simple is the simple mode: the user names the account (by PIN, or by
// account and password) and the own number; the callback is connected to
// Destination, e.g. the helpdesk.
type Simple struct {
	Enabled     bool
	Destination string // the number connected after the user answers
	// Auth is how the user identifies: "pin" (the seed's "account ID
	// (PIN)"; the default) or "password" (account and password).
	Auth string
}

// Extended is the extended mode: account, password, own number and the
// number to reach.
type Extended struct {
	Enabled bool
}

// Hosted is the hosted mode: the own number only, at the operator's
// expense.
type Hosted struct {
	Enabled     bool
	Account     string // the internal account that pays the callback
	Destination string // the number connected after the user answers
	// AllowedPrefixes, when not empty, are the only number prefixes (in
	// international digits, e.g. "420" for national Czech numbers) that
	// may be called back: a free callback is otherwise an open door to
	// expensive destinations.
	AllowedPrefixes []string
}

// Limits are the abuse limits of the page (F1), on top of the
// Authenticator's limits on failed passwords and PINs. The zero Limits
// takes DefaultLimits; within a set Limits, a Limit with a zero Every is
// off.
type Limits struct {
	PerSource  limiter.Limit `yaml:"per_source"`  // form submissions per client address: 10, then 1 a minute
	PerNumber  limiter.Limit `yaml:"per_number"`  // callbacks per number called back: 3, then 1 every 10 minutes
	PerAccount limiter.Limit `yaml:"per_account"` // callbacks per account (simple, extended): 10, then 1 every 30 s
}

// DefaultLimits returns the defaults above.
func DefaultLimits() Limits {
	return Limits{
		PerSource:  limiter.Limit{Every: time.Minute, Burst: 10},
		PerNumber:  limiter.Limit{Every: 10 * time.Minute, Burst: 3},
		PerAccount: limiter.Limit{Every: 30 * time.Second, Burst: 10},
	}
}

// Options configures the page.
type Options struct {
	// SharedLimits, when set, keeps the limits in buckets every node
	// shares (limiter.Keyed.Share: web.source, web.number, web.account).
	SharedLimits limiter.SharedBuckets
	// Service creates the requests; its Store is read for the status page
	// and duplicates, its Policy for the number of attempts shown.
	Service *callback.Service
	// Auth checks PINs and passwords; the page's failures from all
	// sources share one budget (auth.SurfaceWeb) besides its limits per
	// source and per (account, source).
	Auth *auth.Authenticator
	// Key signs form tokens and status links: at least MinKeyBytes of
	// secret, the same on every node serving the page.
	Key []byte

	Simple   Simple
	Extended Extended
	Hosted   Hosted
	Limits   Limits

	// Region is the ISO 3166 region of national number formats (e.g.
	// "CZ": 212 345 678 means +420 212 345 678); "" takes numbers in
	// international format (with +, 00 or the country code).
	Region string
	// Title names the service in the page heading: "Callback".
	Title string
	// TrustedProxies are reverse proxies whose X-Forwarded-For is believed
	// for the client address that limits apply to.
	TrustedProxies []netip.Prefix
	// SecureCookies marks the CSRF cookie Secure; set it when the page is
	// served over HTTPS by a proxy (a TLS request sets it anyway).
	SecureCookies bool
	// FormTTL is how long a form may be sent after it was shown: 1 h.
	FormTTL time.Duration
	// Refresh is how often the status page reloads itself: 3 s.
	Refresh time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
}

// Validate reports options New cannot work with, naming the setting.
func (o *Options) Validate() error {
	var errs []error
	if o.Service == nil || o.Service.Store == nil {
		errs = append(errs, errors.New("web: no callback service with a store"))
	}
	if o.Auth == nil && (o.Simple.Enabled || o.Extended.Enabled) {
		errs = append(errs, errors.New("web: the simple and extended modes need an authenticator"))
	}
	if len(o.Key) < MinKeyBytes {
		errs = append(errs, fmt.Errorf("web key: %d bytes, want at least %d", len(o.Key), MinKeyBytes))
	}
	if o.Simple.Enabled {
		if _, err := configNumber(o.Simple.Destination, o.Region); err != nil {
			errs = append(errs, fmt.Errorf("web simple destination: %w", err))
		}
		switch o.Simple.Auth {
		case "", "pin", "password":
		default:
			errs = append(errs, fmt.Errorf("web simple auth %q: want pin or password", o.Simple.Auth))
		}
	}
	if o.Hosted.Enabled {
		if strings.TrimSpace(o.Hosted.Account) == "" {
			errs = append(errs, errors.New("web hosted account: empty; the hosted mode needs an internal account to pay"))
		}
		if _, err := configNumber(o.Hosted.Destination, o.Region); err != nil {
			errs = append(errs, fmt.Errorf("web hosted destination: %w", err))
		}
		for _, p := range o.Hosted.AllowedPrefixes {
			if p == "" || strings.Trim(p, "0123456789") != "" {
				errs = append(errs, fmt.Errorf("web hosted allowed prefix %q: want digits, e.g. 420", p))
			}
		}
	}
	return errors.Join(errs...)
}

func configNumber(s, region string) (string, error) {
	n, err := normalizeNumber(s, region)
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	return n, nil
}

// page is the handler New returns.
type page struct {
	o        Options
	svc      *callback.Service
	store    callback.Store
	auth     *auth.Surface // Options.Auth under the page's own budget of failures
	keys     *keys
	csrf     *csrf
	log      *slog.Logger
	now      func() time.Time
	modes    []string // enabled, in display order
	simple   string   // normalised simple destination
	hosted   string   // normalised hosted destination
	prefixes []string

	perSource, perNumber, perAccount *limiter.Keyed
}

// DefaultOptions returns the defaults of the options: the title, the
// limits, the form lifetime and the refresh period, which New fills in
// when left zero, and the simple mode's way of identifying ("pin", which
// an empty Simple.Auth means too).
func DefaultOptions() Options {
	return Options{Title: "Callback", Limits: DefaultLimits(), FormTTL: time.Hour, Refresh: 3 * time.Second,
		Simple: Simple{Auth: "pin"}}
}

// New returns the page's handler for "/" and "/callback/...". It panics
// when o does not pass Validate, which callers run first to report the
// configuration error.
func New(o Options) http.Handler {
	if err := o.Validate(); err != nil {
		panic(err)
	}
	d := DefaultOptions()
	if o.Title == "" {
		o.Title = d.Title
	}
	if o.Limits == (Limits{}) {
		o.Limits = d.Limits
	}
	if o.FormTTL <= 0 {
		o.FormTTL = d.FormTTL
	}
	if o.Refresh <= 0 {
		o.Refresh = d.Refresh
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	k, _ := deriveKeys(o.Key) // checked by Validate
	var cred *auth.Surface
	if o.Auth != nil {
		cred = o.Auth.Surface(auth.SurfaceWeb)
	}
	p := &page{
		o: o, svc: o.Service, store: o.Service.Store, auth: cred, keys: k,
		csrf:       newCSRF(k.csrf, o.FormTTL, o.Now),
		log:        o.Logger.With("component", "web"),
		now:        o.Now,
		perSource:  limiter.New(o.Limits.PerSource, 0, o.Now),
		perNumber:  limiter.New(o.Limits.PerNumber, 0, o.Now),
		perAccount: limiter.New(o.Limits.PerAccount, 0, o.Now),
	}
	p.perSource.Share("web.source", o.SharedLimits)
	p.perNumber.Share("web.number", o.SharedLimits)
	p.perAccount.Share("web.account", o.SharedLimits)
	if o.Simple.Enabled {
		p.modes = append(p.modes, ModeSimple)
		p.simple, _ = normalizeNumber(o.Simple.Destination, o.Region)
	}
	if o.Extended.Enabled {
		p.modes = append(p.modes, ModeExtended)
	}
	if o.Hosted.Enabled {
		p.modes = append(p.modes, ModeHosted)
		p.hosted, _ = normalizeNumber(o.Hosted.Destination, o.Region)
		p.prefixes = o.Hosted.AllowedPrefixes
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.index)
	mux.HandleFunc("GET /callback/{$}", p.index)
	for _, m := range p.modes {
		mux.HandleFunc("GET /callback/"+m, p.form(m))
		mux.HandleFunc("POST /callback/"+m, p.submit(m))
		mux.HandleFunc("/callback/"+m, p.methodNotAllowed("GET, HEAD, POST"))
	}
	mux.HandleFunc("GET /callback/status/{token}", p.status)
	mux.HandleFunc("/callback/status/{token}", p.methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /callback/static/style.css", serveCSS)
	mux.HandleFunc("/", p.notFound)
	return securityHeaders(mux)
}

// csp allows the page's own stylesheet and nothing else: no script, no
// framing, forms posting only to this origin.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		// Status links carry the request's token: never send it on.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		next.ServeHTTP(w, r)
	})
}

// clientAddr is the address limits apply to: the peer, or, behind a
// trusted proxy, the last address in X-Forwarded-For that is not one of
// the trusted proxies. An IPv6 client counts as its /64, which one
// subscriber usually holds whole.
func (p *page) clientAddr(r *http.Request) string {
	a := p.clientIP(r)
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

func (p *page) clientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	addr = addr.Unmap()
	if !p.trusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0 && i >= len(hops)-16; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !p.trusted(a) {
			return a
		}
		addr = a
	}
	return addr
}

func (p *page) trusted(a netip.Addr) bool {
	for _, pr := range p.o.TrustedProxies {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// render writes a page from its template with status code, buffering it
// so that a template error becomes a clean 500 and never half a page.
func (p *page) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		p.log.Error("render page", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// messagePage is a page with a heading, a text and a way on.
type messagePage struct {
	base
	Heading  string
	Text     string
	LinkHref string
	LinkText string
}

// base is what every page's layout needs.
type base struct {
	Title     string // service name
	PageTitle string
	CSS       string
	Refresh   int // seconds; 0: no meta refresh
}

func (p *page) base(pageTitle string) base {
	return base{Title: p.o.Title, PageTitle: pageTitle, CSS: cssPath}
}

func (p *page) message(w http.ResponseWriter, code int, heading, text, href, link string) {
	p.render(w, code, "message", messagePage{base: p.base(heading), Heading: heading, Text: text, LinkHref: href, LinkText: link})
}

func (p *page) notFound(w http.ResponseWriter, r *http.Request) {
	p.message(w, http.StatusNotFound, "Page not found", "There is no page at this address.", "/", "Go to the callback page")
}

// methodNotAllowed answers other methods on a known path; the method
// patterns are more specific and win over it.
func (p *page) methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		p.message(w, http.StatusMethodNotAllowed, "Not allowed", "This page cannot be used that way.", "/", "Go to the callback page")
	}
}

type indexPage struct {
	base
	Modes []modeLink
}

type modeLink struct {
	Href, Name, Text string
}

func (p *page) index(w http.ResponseWriter, r *http.Request) {
	if len(p.modes) == 1 {
		http.Redirect(w, r, "/callback/"+p.modes[0], http.StatusFound)
		return
	}
	data := indexPage{base: p.base("Request a callback")}
	for _, m := range p.modes {
		d := modeText[m]
		data.Modes = append(data.Modes, modeLink{Href: "/callback/" + m, Name: d.link, Text: d.linkText})
	}
	code := http.StatusOK
	if len(data.Modes) == 0 {
		code = http.StatusNotFound
	}
	p.render(w, code, "index", data)
}
