package agi_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/callbackd/callbackd/agi"
	"github.com/callbackd/callbackd/agi/agitest"
)

// BenchmarkSessions runs whole FastAGI sessions over TCP on 127.0.0.1: the
// fake Asterisk sends the environment, the handler rings and rejects the
// call with PJSIPHangup 603, the server closes. It reports sessions per
// second and the 99th percentile of the session as the fake sees it.
func BenchmarkSessions(b *testing.B) {
	mux := agi.NewMux()
	mux.HandleFunc("ani", func(ctx context.Context, s *agi.Session) {
		if _, err := s.Exec(ctx, "Ringing"); err != nil {
			return
		}
		s.Exec(ctx, "PJSIPHangup", "603")
	})
	srv := startServerB(b, mux)
	concurrency := 8 * runtime.GOMAXPROCS(0)
	b.ResetTimer()
	res, err := agitest.Load(context.Background(), srv, agitest.LoadOptions{
		Sessions:    b.N,
		Concurrency: concurrency,
		CallFactory: func(i int) agitest.Call {
			return agitest.Call{
				URL:      "agi://" + srv + "/ani",
				UniqueID: fmt.Sprintf("1732350000.%d", i),
				CallerID: "801", DNID: "1234",
			}
		},
		Check: func(t *agitest.Transcript) error {
			if t.SIPCode != 603 {
				return fmt.Errorf("sip code %d, want 603", t.SIPCode)
			}
			return nil
		},
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.PerSecond(), "sessions/s")
	b.ReportMetric(float64(res.Latency.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.Latency.P99.Microseconds())/1000, "p99-ms")
}

func startServerB(b *testing.B, h agi.Handler) string {
	b.Helper()
	ln, err := netListen()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agi.NewServer(h).Serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return ln.Addr().String()
}
