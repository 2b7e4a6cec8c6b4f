// Package httpapi is callbackd's HTTP front end: the JSON API under
// /api/v1 and the XML-RPC endpoint /RPC2 that create, read, list and cancel
// callback requests (T7), the inbound-SMS webhook (T10), the health
// endpoints and /metrics.
//
// It creates requests through callback.Service, which validates, schedules
// and wakes the dispatcher, and reads and cancels them through the
// callback.Store. Accounts log in through auth.Authenticator (passwords,
// operator tokens). Every error a client sees is mapped from the domain's
// typed errors in one function, classify, whatever the surface.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
	"github.com/callbackd/callbackd/metrics"
)

// DefaultMaxBodyBytes bounds every request body.
const DefaultMaxBodyBytes = 64 << 10

// ReadyCheck is one condition of /readyz, such as the ARI connection.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Options configures the handler. Store, Service and Authenticator are
// required.
type Options struct {
	Store         callback.Store
	Service       *callback.Service
	Authenticator *auth.Authenticator
	// Logger receives one line per request and the decisions of the SMS
	// trigger; nil discards.
	Logger *slog.Logger
	// Metrics, when set, is served at /metrics and counts every request by
	// route and status.
	Metrics *metrics.Metrics
	// Ready are the checks /readyz runs after pinging the store.
	Ready []ReadyCheck
	// ReadyTimeout bounds each readiness check (default 2 s).
	ReadyTimeout time.Duration
	// Limits are the abuse limits: nil takes DefaultLimits; a zero Limits
	// switches them all off (benchmarks).
	Limits *Limits
	SMS    SMSOptions
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client; without them the peer address is the client.
	TrustedProxies []netip.Prefix
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64
	// Admin, when set, serves the admin API under /api/v1/admin/ to
	// operators holding an API token of their own; nil: it answers 404.
	Admin *admin.Service
	// Fallback serves the paths no route here matches (the web callback
	// page), behind the same request log, metrics and panic recovery.
	// Unknown paths under /api/ stay JSON 404s. Nil: JSON 404 for all.
	Fallback http.Handler
	// SharedLimits, when set, keeps the buckets of Limits in the database
	// every node shares (limiter.Keyed.Share: http.source, http.account,
	// sms.sender, http.token_failures), so N nodes allow one budget per
	// client, account and sender, not N; nil: this process counts alone.
	SharedLimits limiter.SharedBuckets
	Now          func() time.Time
}

// api holds what the handlers share.
type api struct {
	store   callback.Store
	svc     *callback.Service
	admin   *admin.Service
	auth    *auth.Authenticator
	log     *slog.Logger
	metrics *metrics.Metrics
	scrape  http.Handler
	ready   []ReadyCheck
	readyTO time.Duration
	sms     SMSOptions
	trusted []netip.Prefix
	maxBody int64
	fallbk  http.Handler
	now     func() time.Time

	perSource, perAccount, perSender, tokenFailures *limiter.Keyed

	idPrefix string
	idSeq    atomic.Uint64
}

// route is one pattern of the mux; the OpenAPI test walks this table.
type route struct {
	pattern string
	write   bool // limited per source address
	handler http.HandlerFunc
}

func (a *api) routes() []route {
	return append([]route{
		{"POST /api/v1/requests", true, a.handleCreate},
		{"GET /api/v1/requests", false, a.handleList},
		{"GET /api/v1/requests/{id}", false, a.handleGet},
		{"POST /api/v1/requests/{id}/cancel", true, a.handleCancel},
		{"GET /api/v1/openapi.yaml", false, handleOpenAPI},
		{"POST /RPC2", true, a.handleXMLRPC},
		{"POST /sms/inbound", true, a.handleSMS},
		{"GET /healthz", false, handleHealthz},
		{"GET /readyz", false, a.handleReadyz},
		{"GET /metrics", false, a.handleMetrics},
	}, a.adminRoutes()...)
}

// New returns the handler of every HTTP route. It panics when a required
// option is missing, which is a wiring mistake found at start-up.
func New(o Options) http.Handler {
	if o.Store == nil || o.Service == nil || o.Authenticator == nil {
		panic("httpapi.New: Store, Service and Authenticator are required")
	}
	a := newAPI(o)
	return a.handler()
}

func newAPI(o Options) *api {
	lim := DefaultLimits()
	if o.Limits != nil {
		lim = *o.Limits
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 2 * time.Second
	}
	boot := make([]byte, 4)
	_, _ = rand.Read(boot) // crypto/rand.Read never fails on supported platforms
	a := &api{
		store: o.Store, svc: o.Service, auth: o.Authenticator, admin: o.Admin,
		log: o.Logger.With("component", "http"), metrics: o.Metrics,
		ready: o.Ready, readyTO: o.ReadyTimeout, sms: o.SMS, trusted: o.TrustedProxies,
		maxBody: o.MaxBodyBytes, fallbk: o.Fallback, now: o.Now,
		perSource:     limiter.New(lim.PerSource, lim.MaxKeys, o.Now),
		perAccount:    limiter.New(lim.PerAccount, lim.MaxKeys, o.Now),
		perSender:     limiter.New(lim.PerSender, lim.MaxKeys, o.Now),
		tokenFailures: limiter.New(lim.TokenFailures, lim.MaxKeys, o.Now),
		idPrefix:      hex.EncodeToString(boot),
	}
	a.perSource.Share("http.source", o.SharedLimits)
	a.perAccount.Share("http.account", o.SharedLimits)
	a.perSender.Share("sms.sender", o.SharedLimits)
	a.tokenFailures.Share("http.token_failures", o.SharedLimits)
	if o.Metrics != nil {
		a.scrape = o.Metrics.Handler()
	}
	return a
}

func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	allow := map[string][]string{}
	for _, rt := range a.routes() {
		h := rt.handler
		if rt.write {
			h = a.limitSource(h)
		}
		mux.HandleFunc(rt.pattern, h)
		method, path, _ := strings.Cut(rt.pattern, " ")
		allow[path] = append(allow[path], method)
	}
	// Other methods on a known path get a JSON 405 rather than net/http's
	// text one; the method patterns above are more specific and win.
	for path, methods := range allow {
		allowed := strings.Join(methods, ", ")
		if strings.Contains(allowed, "GET") {
			allowed += ", HEAD"
		}
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allowed)
			a.writeError(w, r, newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use "+allowed))
		})
	}
	notFound := func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, newError(http.StatusNotFound, CodeNotFound, "no such endpoint"))
	}
	mux.HandleFunc("/api/", notFound)
	if a.fallbk != nil {
		mux.Handle("/", a.fallbk)
	} else {
		mux.HandleFunc("/", notFound)
	}
	var h http.Handler = mux
	if a.metrics != nil {
		h = a.metrics.HTTPMiddleware(mux)
	}
	return a.observe(h)
}

// reqInfo is what the handlers tell the request log line.
type reqInfo struct {
	id      string
	source  string
	account string
	errCode string
	cause   error
}

type ctxKey struct{}

func infoOf(r *http.Request) *reqInfo {
	if i, ok := r.Context().Value(ctxKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

func setAccount(r *http.Request, p principal) { infoOf(r).account = p.String() }

func clientAddrOf(r *http.Request) string { return infoOf(r).source }

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// observe gives each request an id, recovers from panics and writes the
// request's log line: method, route pattern, status, duration, request id,
// source and account. It never logs the URL's query or any header, where
// secrets travel.
func (a *api) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqInfo{source: clientAddr(r, a.trusted)}
		if id := r.Header.Get("X-Request-Id"); requestIDPattern.MatchString(id) {
			info.id = id
		} else {
			info.id = a.idPrefix + "-" + strconv.FormatUint(a.idSeq.Add(1), 10)
		}
		w.Header().Set("X-Request-Id", info.id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, info))
		sw := &metrics.StatusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.Error("handler panic", "http_request_id", info.id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !sw.Written() {
					a.writeError(sw, r, errors.New("handler panic"))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method), slog.String("route", route), slog.Int("status", sw.Code()),
				slog.Duration("duration", time.Since(start)), slog.String("http_request_id", info.id),
				slog.String("source", info.source), slog.String("account", info.account),
			}
			level := slog.LevelInfo
			if info.errCode != "" {
				attrs = append(attrs, slog.String("error_code", info.errCode))
			}
			if sw.Code() >= 500 {
				level = slog.LevelError
				if info.cause != nil {
					attrs = append(attrs, slog.String("err", info.cause.Error()))
				}
			}
			a.log.LogAttrs(r.Context(), level, "http request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// limitSource applies the per-source limit of write endpoints before any
// other work, password hashing included.
func (a *api) limitSource(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := a.perSource.TakeContext(r.Context(), clientAddrOf(r)); !ok {
			a.writeError(w, r, &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
				Message: "too many requests from this address; slow down", RetryAfter: wait})
			return
		}
		next(w, r)
	}
}

// writeJSON writes v with status. encoding/json escapes <, > and &, so no
// stored or submitted string can turn into markup in a browser.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal_error","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers with the JSON error err classifies as, and hands the
// cause to the request's log line.
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	a.note(r, e)
	setErrorHeaders(w.Header(), e)
	writeJSON(w, e.Status, errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}})
}

func (a *api) note(r *http.Request, e *Error) {
	info := infoOf(r)
	info.errCode = e.Code
	info.cause = e.cause
	if info.cause == nil {
		info.cause = e
	}
}

// readBody reads the whole body within the size limit.
func (a *api) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, newError(http.StatusBadRequest, CodeMalformedRequest, "the body could not be read")
	}
	return b, nil
}

func handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz pings the store, then runs the registered checks. A failing
// check is named, but its error stays in the log: /readyz is open to
// anyone who can reach the port.
func (a *api) handleReadyz(w http.ResponseWriter, r *http.Request) {
	checks := append([]ReadyCheck{{Name: "store", Check: a.store.Ping}}, a.ready...)
	for _, c := range checks {
		ctx, cancel := context.WithTimeout(r.Context(), a.readyTO)
		err := c.Check(ctx)
		cancel()
		if err != nil {
			a.log.Warn("not ready", "check", c.Name, "err", err)
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "check": c.Name})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *api) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if a.metrics == nil {
		a.writeError(w, r, newError(http.StatusNotFound, CodeNotFound, "metrics are not enabled"))
		return
	}
	a.scrape.ServeHTTP(w, r)
}
