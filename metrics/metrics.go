// Package metrics is callbackd's Prometheus instrumentation: one registry
// holding what the dispatcher, the FastAGI server and the HTTP surfaces
// report, served at /metrics.
//
// It talks to its neighbours only through their observer interfaces: the
// callback.Dispatcher calls DispatchObserver, the agi.Server calls
// AGIObserver, the ari controller calls ARIObserver, and httpapi wraps its
// routes in HTTPMiddleware. It never queries the store, so a scrape costs
// no database work.
//
// Every label takes its values from a bounded set (route patterns, the
// seed's statuses and results, the Q.850 cause table, at most
// maxNameLabels AGI script names and ARI event types), so a misbehaving
// peer cannot grow the registry without bound.
package metrics

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/callbackd/callbackd/callback"
)

const namespace = "callbackd"

// maxNameLabels bounds the distinct AGI script names and ARI event types
// kept as label values: they come from the network (agi_network_script,
// the event's type), and further names are counted as "other".
const maxNameLabels = 32

// Metrics is the registry and the collectors of one callbackd process.
type Metrics struct {
	reg *prometheus.Registry

	created     prometheus.Counter
	concluded   *prometheus.CounterVec
	attemptEnds *prometheus.CounterVec
	lateness    prometheus.Histogram
	liveCalls   atomic.Pointer[func() int]
	agiActive   prometheus.Gauge
	agiTotal    *prometheus.CounterVec
	agiLength   *prometheus.HistogramVec
	httpTotal   *prometheus.CounterVec
	httpLength  *prometheus.HistogramVec
	legAnswers  *prometheus.CounterVec
	legEnds     *prometheus.CounterVec
	ariCalls    prometheus.Gauge
	ariEvents   *prometheus.CounterVec
	ariLatency  prometheus.Histogram
	ariDropped  *prometheus.CounterVec
	ariUp       prometheus.Gauge
	ariDowns    prometheus.Counter
	invalidRows *prometheus.CounterVec
	claimErrors prometheus.Counter
	pendingErrs prometheus.Counter

	scripts, events labelSet
}

// labelSet admits up to maxNameLabels distinct values.
type labelSet struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (l *labelSet) label(v string) string {
	if v == "" {
		return "unknown"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[v] {
		return v
	}
	if len(l.seen) >= maxNameLabels {
		return "other"
	}
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[v] = true
	return v
}

// New returns Metrics with every collector registered, including the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.created = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "requests_created_total",
		Help: "Callback requests inserted by this process (every trigger).",
	})
	m.concluded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "requests_concluded_total",
		Help: "Callback attempts concluded by the dispatcher, by the status and result written (seed strings; result empty while waiting for retry).",
	}, []string{"status", "result"})
	m.attemptEnds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "attempt_causes_total",
		Help: "Callback attempts concluded, by the Q.850 cause name of the leg that ended them.",
	}, []string{"cause"})
	m.lateness = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "dispatch_lateness_seconds",
		Help:    "How late a request was dialled against its next_call.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	})
	live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "live_calls",
		Help: "Callbacks this process is placing or holding now.",
	}, func() float64 {
		if fn := m.liveCalls.Load(); fn != nil {
			return float64((*fn)())
		}
		return 0
	})
	m.agiActive = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "agi", Name: "sessions_active",
		Help: "FastAGI sessions running now.",
	})
	m.agiTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "agi", Name: "sessions_total",
		Help: "FastAGI sessions ended, by script and outcome (ok, error).",
	}, []string{"script", "outcome"})
	m.agiLength = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "agi", Name: "session_duration_seconds",
		Help:    "Duration of FastAGI sessions, environment to last reply.",
		Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"script"})
	m.httpTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests served, by route pattern and status code.",
	}, []string{"route", "code"})
	m.httpLength = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help:    "HTTP request duration, by route pattern.",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
	}, []string{"route"})
	m.legAnswers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "ari", Name: "legs_answered_total",
		Help: "Call legs answered, by leg (A: the callback, B: the destination).",
	}, []string{"leg"})
	m.legEnds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "ari", Name: "legs_ended_total",
		Help: "Call legs ended, by leg and Q.850 cause name.",
	}, []string{"leg", "cause"})
	m.ariCalls = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "ari", Name: "calls",
		Help: "Calls the ARI controller owns now.",
	})
	m.ariEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "ari", Name: "events_total",
		Help: "ARI events routed to their call, by type.",
	}, []string{"type"})
	m.ariLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "ari", Name: "event_latency_seconds",
		Help:    "Time from Asterisk's event timestamp to the event reaching its call.",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
	})
	m.ariDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "ari", Name: "events_dropped_total",
		Help: "ARI events dropped because their call's buffer was full, by type.",
	}, []string{"type"})
	m.ariUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "ari", Name: "connected",
		Help: "1 while the ARI events WebSocket is up and reconciled.",
	})
	m.ariDowns = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "ari", Name: "disconnects_total",
		Help: "Times the ARI events WebSocket went down.",
	})
	m.invalidRows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "queue", Name: "invalid_rows_total",
		Help: "Rows of callback_requests that can never be read or dialled (a value no request can hold), by what was done: finished (Finished / Invalid request) or skipped (even that write failed).",
	}, []string{"outcome"})
	// Both series exist from the start, so an alert on their rate sees 0
	// rather than nothing.
	m.invalidRows.WithLabelValues("finished")
	m.invalidRows.WithLabelValues("skipped")
	m.claimErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "claim_errors_total",
		Help: "Claims of due requests that failed as a whole (the store down, or an error no row explains).",
	})
	m.pendingErrs = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "pending_lookup_errors_total",
		Help: "Trigger calls refused because the \"already pending\" check failed (CALLBACKD_REASON \"pending request lookup failed\").",
	})
	m.reg.MustRegister(
		m.created, m.concluded, m.attemptEnds, m.lateness, live,
		m.agiActive, m.agiTotal, m.agiLength, m.httpTotal, m.httpLength,
		m.legAnswers, m.legEnds, m.ariCalls, m.ariEvents, m.ariLatency, m.ariDropped, m.ariUp, m.ariDowns,
		m.invalidRows, m.claimErrors, m.pendingErrs,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry, for collectors other packages add.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4})
}

// SetLiveCalls sets the function the live_calls gauge reads on each
// scrape, typically (*callback.Dispatcher).Live.
func (m *Metrics) SetLiveCalls(fn func() int) {
	if fn == nil {
		m.liveCalls.Store(nil)
		return
	}
	m.liveCalls.Store(&fn)
}

// Created counts one inserted request. Chain it into
// callback.Service.Notify, which runs after every insert.
func (m *Metrics) Created() { m.created.Inc() }

// PendingLookupFailed counts a trigger call refused because its "already
// pending" check failed. Put it in trigger.Engine.PendingLookupFailed.
func (m *Metrics) PendingLookupFailed(error) { m.pendingErrs.Inc() }

// DispatchObserver returns the callback.Observer to put in
// callback.DispatcherOptions.Observer.
func (m *Metrics) DispatchObserver() callback.Observer { return dispatchObserver{m} }

type dispatchObserver struct{ m *Metrics }

func (o dispatchObserver) Dispatched(_ *callback.Request, lateness time.Duration) {
	// A request dialled before its next_call (a clock step between nodes)
	// counts as on time rather than as a negative observation.
	o.m.lateness.Observe(max(lateness, 0).Seconds())
}

func (o dispatchObserver) Concluded(r *callback.Request, out callback.Outcome) {
	o.m.concluded.WithLabelValues(string(r.Status), string(r.Result)).Inc()
	o.m.attemptEnds.WithLabelValues(causeLabel(out.Cause)).Inc()
}

// InvalidRow counts a row the queue finished Invalid request or skipped
// (callback.QueueObserver).
func (o dispatchObserver) InvalidRow(r callback.InvalidRow) {
	outcome := "finished"
	if r.Err != nil {
		outcome = "skipped"
	}
	o.m.invalidRows.WithLabelValues(outcome).Inc()
}

// ClaimFailed counts a claim that failed (callback.QueueObserver).
func (o dispatchObserver) ClaimFailed(error) { o.m.claimErrors.Inc() }

// causeLabel names c by the cause table; causes outside it share one value
// so that a peer sending odd numbers cannot add series.
func causeLabel(c callback.Cause) string {
	if c == callback.CauseUnknown {
		return "UNKNOWN"
	}
	if ci, ok := callback.LookupCause(c); ok {
		return ci.Name
	}
	return "OTHER"
}

// AGIObserver returns the observer of the FastAGI server (agi.Observer,
// passed with agi.WithObserver). Sessions that end with an error matching
// sessionTimeout (agi.ErrSessionTimeout) count as timeouts.
func (m *Metrics) AGIObserver(sessionTimeout error) AGIObserver {
	return AGIObserver{m: m, timeout: sessionTimeout}
}

// AGIObserver counts FastAGI sessions by script and outcome.
type AGIObserver struct {
	m       *Metrics
	timeout error
}

// SessionStarted counts one session in progress.
func (o AGIObserver) SessionStarted(string) { o.m.agiActive.Inc() }

// SessionEnded counts one session by script and outcome, with its length.
func (o AGIObserver) SessionEnded(script string, d time.Duration, err error) {
	o.m.agiActive.Dec()
	label := o.m.scripts.label(script)
	outcome := "ok"
	if err != nil {
		outcome = "error"
		if o.timeout != nil && errors.Is(err, o.timeout) {
			outcome = "timeout"
		}
	}
	o.m.agiTotal.WithLabelValues(label, outcome).Inc()
	o.m.agiLength.WithLabelValues(label).Observe(d.Seconds())
}

// ARIObserver returns the observer of the ARI controller (ari.Observer,
// passed with ari.WithObserver).
func (m *Metrics) ARIObserver() ARIObserver { return ARIObserver{m} }

// ARIObserver counts legs, live calls, events and the events WebSocket.
type ARIObserver struct{ m *Metrics }

// legLabel keeps the leg label to the two legs there are.
func legLabel(l callback.Leg) string {
	if l == callback.LegA || l == callback.LegB {
		return string(l)
	}
	return "other"
}

// LegAnswered counts a leg answered.
func (o ARIObserver) LegAnswered(leg callback.Leg) {
	o.m.legAnswers.WithLabelValues(legLabel(leg)).Inc()
}

// LegEnded counts a leg ended, by cause.
func (o ARIObserver) LegEnded(leg callback.Leg, cause callback.Cause) {
	o.m.legEnds.WithLabelValues(legLabel(leg), causeLabel(cause)).Inc()
}

// LiveCalls sets the calls in progress.
func (o ARIObserver) LiveCalls(n int) { o.m.ariCalls.Set(float64(n)) }

// EventRouted counts an event routed to its call, with its latency.
func (o ARIObserver) EventRouted(eventType string, latency time.Duration) {
	o.m.ariEvents.WithLabelValues(o.m.events.label(eventType)).Inc()
	// Clocks of Asterisk and callbackd may differ slightly; a negative
	// latency is a skew, not an event from the future.
	o.m.ariLatency.Observe(max(latency, 0).Seconds())
}

// EventDropped counts an event dropped.
func (o ARIObserver) EventDropped(eventType string) {
	o.m.ariDropped.WithLabelValues(o.m.events.label(eventType)).Inc()
}

// Connected sets whether the events WebSocket is up.
func (o ARIObserver) Connected(up bool) {
	if up {
		o.m.ariUp.Set(1)
		return
	}
	o.m.ariUp.Set(0)
	o.m.ariDowns.Inc()
}

// HTTPMiddleware counts and times the requests next serves. next must be
// the http.ServeMux itself (or pass the same *http.Request to it), because
// the route label is the pattern the mux records in Request.Pattern;
// requests that matched no pattern are labelled "unmatched".
func (m *Metrics) HTTPMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &StatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.httpTotal.WithLabelValues(route, strconv.Itoa(sw.Code())).Inc()
		m.httpLength.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// StatusWriter remembers the status code written through it, for
// middleware that logs or counts responses.
type StatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Written reports whether a status was written yet.
func (w *StatusWriter) Written() bool { return w.status != 0 }

// Code is the status written, 200 when the handler wrote none.
func (w *StatusWriter) Code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
