package metrics_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("scrape lacks %q", l)
		}
	}
}

func TestDispatchObserver(t *testing.T) {
	m := metrics.New()
	var o callback.Observer = m.DispatchObserver()
	r := &callback.Request{ID: 1}
	o.Dispatched(r, 30*time.Millisecond)
	o.Dispatched(r, -time.Second) // early: counted as on time
	r.Status, r.Result = callback.StatusFinished, callback.ResultSuccessful
	o.Concluded(r, callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.CauseNormalClearing})
	r.Status, r.Result = callback.StatusWaitingForRetry, callback.ResultNone
	o.Concluded(r, callback.Outcome{Cause: callback.CauseUserBusy})
	o.Concluded(r, callback.Outcome{Cause: callback.Cause(250)})
	o.Concluded(r, callback.Outcome{})
	live := 3
	m.SetLiveCalls(func() int { return live })
	m.Created()
	wantLines(t, scrape(t, m),
		`callbackd_requests_concluded_total{result="Successful",status="Finished"} 1`,
		`callbackd_requests_concluded_total{result="",status="Waiting for retry"} 3`,
		`callbackd_attempt_causes_total{cause="NORMAL_CLEARING"} 1`,
		`callbackd_attempt_causes_total{cause="USER_BUSY"} 1`,
		`callbackd_attempt_causes_total{cause="OTHER"} 1`,
		`callbackd_attempt_causes_total{cause="UNKNOWN"} 1`,
		`callbackd_dispatch_lateness_seconds_count 2`,
		`callbackd_dispatch_lateness_seconds_bucket{le="0.005"} 1`,
		`callbackd_dispatch_lateness_seconds_bucket{le="0.05"} 2`,
		`callbackd_live_calls 3`,
		`callbackd_requests_created_total 1`,
	)
}

func TestAGIObserver(t *testing.T) {
	m := metrics.New()
	errTimeout := errors.New("session timeout")
	o := m.AGIObserver(errTimeout)
	o.SessionStarted("ani")
	o.SessionStarted("ani")
	o.SessionEnded("ani", 20*time.Millisecond, nil)
	wantLines(t, scrape(t, m), `callbackd_agi_sessions_active 1`)
	o.SessionEnded("ani", 2*time.Second, fmt.Errorf("read: %w", errTimeout))
	o.SessionStarted("")
	o.SessionEnded("", time.Millisecond, errors.New("bad environment"))
	// A peer inventing script names adds at most a bounded number of series.
	for i := range 100 {
		o.SessionStarted(fmt.Sprint("s", i))
		o.SessionEnded(fmt.Sprint("s", i), time.Millisecond, nil)
	}
	out := scrape(t, m)
	wantLines(t, out,
		`callbackd_agi_sessions_active 0`,
		`callbackd_agi_sessions_total{outcome="ok",script="ani"} 1`,
		`callbackd_agi_sessions_total{outcome="timeout",script="ani"} 1`,
		`callbackd_agi_sessions_total{outcome="error",script="unknown"} 1`,
		`callbackd_agi_session_duration_seconds_count{script="ani"} 2`,
	)
	scripts := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(l, `callbackd_agi_sessions_total{`); ok {
			_, s, _ := strings.Cut(rest, `script="`)
			name, _, _ := strings.Cut(s, `"`)
			scripts[name] = true
		}
	}
	// 32 names, plus "unknown" and "other".
	if len(scripts) > 34 {
		t.Errorf("%d AGI script labels", len(scripts))
	}
	if !strings.Contains(out, `script="other"`) {
		t.Error("no other series for the names past the bound")
	}
}

func TestHTTPMiddleware(t *testing.T) {
	m := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/requests/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "0" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	srv := httptest.NewServer(m.HTTPMiddleware(mux))
	defer srv.Close()
	for _, p := range []string{"/api/v1/requests/1", "/api/v1/requests/2", "/api/v1/requests/0", "/nowhere"} {
		resp, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	wantLines(t, scrape(t, m),
		`callbackd_http_requests_total{code="200",route="GET /api/v1/requests/{id}"} 2`,
		`callbackd_http_requests_total{code="404",route="GET /api/v1/requests/{id}"} 1`,
		`callbackd_http_requests_total{code="404",route="unmatched"} 1`,
		`callbackd_http_request_duration_seconds_count{route="GET /api/v1/requests/{id}"} 3`,
	)
}

func TestARIObserver(t *testing.T) {
	m := metrics.New()
	o := m.ARIObserver()
	o.LegAnswered(callback.LegA)
	o.LegAnswered(callback.LegB)
	o.LegEnded(callback.LegB, callback.CauseUserBusy)
	o.LegEnded(callback.LegA, callback.CauseNormalClearing)
	o.LiveCalls(2)
	o.EventRouted("StasisStart", 3*time.Millisecond)
	o.EventRouted("StasisStart", -time.Millisecond)
	o.EventDropped("ChannelDtmfReceived")
	o.Connected(true)
	o.Connected(false)
	wantLines(t, scrape(t, m),
		`callbackd_ari_legs_answered_total{leg="A"} 1`,
		`callbackd_ari_legs_answered_total{leg="B"} 1`,
		`callbackd_ari_legs_ended_total{cause="USER_BUSY",leg="B"} 1`,
		`callbackd_ari_legs_ended_total{cause="NORMAL_CLEARING",leg="A"} 1`,
		`callbackd_ari_calls 2`,
		`callbackd_ari_events_total{type="StasisStart"} 2`,
		`callbackd_ari_event_latency_seconds_count 2`,
		`callbackd_ari_events_dropped_total{type="ChannelDtmfReceived"} 1`,
		`callbackd_ari_connected 0`,
		`callbackd_ari_disconnects_total 1`,
	)
}

func TestQueueObserver(t *testing.T) {
	m := metrics.New()
	wantLines(t, scrape(t, m),
		`callbackd_queue_invalid_rows_total{outcome="finished"} 0`,
		`callbackd_queue_invalid_rows_total{outcome="skipped"} 0`,
		`callbackd_claim_errors_total 0`,
	)
	o, ok := m.DispatchObserver().(callback.QueueObserver)
	if !ok {
		t.Fatal("the dispatch observer does not count the queue's troubles")
	}
	o.InvalidRow(callback.InvalidRow{ID: 7, Reason: "canceled = 7: not 0 or 1"})
	o.InvalidRow(callback.InvalidRow{ID: 8, Reason: "canceled = 7: not 0 or 1"})
	o.InvalidRow(callback.InvalidRow{ID: 9, Reason: "canceled = 7: not 0 or 1", Err: errors.New("refused")})
	o.ClaimFailed(errors.New("connection refused"))
	m.PendingLookupFailed(errors.New("connection refused"))
	wantLines(t, scrape(t, m),
		`callbackd_pending_lookup_errors_total 1`,
		`callbackd_queue_invalid_rows_total{outcome="finished"} 2`,
		`callbackd_queue_invalid_rows_total{outcome="skipped"} 1`,
		`callbackd_claim_errors_total 1`,
	)
}
