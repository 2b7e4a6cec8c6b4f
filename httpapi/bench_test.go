package httpapi

import (
	"log/slog"
	"testing"

	"github.com/callbackd/callbackd/httpapi/apiload"
)

// BenchmarkCreateRequest drives POST /api/v1/requests over a real listener
// with the load command's engine: 32 clients, one operator token, each call
// with its own idempotency key. Run it with a fixed count, e.g.
//
//	go test -run '^$' -bench CreateRequest -benchtime 20000x ./httpapi
//
// and under scripts/mariadb-test.sh for the MariaDB figures.
func BenchmarkCreateRequest(b *testing.B) {
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			// No request log (the benchmark measures the API, not the
			// log writer) and no per-source limit: every call comes
			// from 127.0.0.1.
			e := newEnv(b, s.open(b), func(o *Options) {
				o.Limits = &Limits{}
				o.Logger = slog.New(slog.DiscardHandler)
			})
			b.ResetTimer()
			rep, err := apiload.Run(b.Context(), apiload.Config{
				URL: e.srv.URL, Token: testToken, Username: "alice", Requests: b.N, Concurrency: 32,
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if rep.Failed > 0 {
				b.Fatalf("%d calls failed: %s", rep.Failed, rep.FirstError)
			}
			b.ReportMetric(rep.RequestsPerSecond(), "req/s")
			b.ReportMetric(float64(rep.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(rep.P90.Microseconds())/1000, "p90-ms")
			b.ReportMetric(float64(rep.P99.Microseconds())/1000, "p99-ms")
			if b.N >= 1000 {
				b.Logf("%s: %s", s.name, rep)
			}
		})
	}
}

// TestLoadEngine runs the load engine for a few hundred calls, so that the
// benchmark's path is exercised on every test run.
func TestLoadEngine(t *testing.T) {
	e := newEnv(t, stores[0].open(t), func(o *Options) { o.Limits = &Limits{} })
	rep, err := apiload.Run(t.Context(), apiload.Config{URL: e.srv.URL, Token: testToken, Username: "alice", Requests: 300, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK != 300 || rep.Failed != 0 || rep.Codes[201] != 300 {
		t.Fatalf("%+v", rep)
	}
	if n := e.count(); n != 300 {
		t.Errorf("%d requests stored", n)
	}
	if rep.P50 > rep.P90 || rep.P90 > rep.P99 || rep.P99 > rep.Max {
		t.Errorf("percentiles out of order: %s", rep)
	}
}
