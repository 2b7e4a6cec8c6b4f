package agi_test

import (
	"bufio"
	"context"
	"fmt"
	"runtime"
	"strings"
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

// BenchmarkSessionPipe runs the same session as BenchmarkSessions (with
// the three channel variables the trigger sets in one EXEC MSet) one at a
// time over an in-memory pipe, against the cheapest possible peer: what is
// measured is the server's own work per session, without sockets. It
// reports allocations and CPU per session (the peer's small share
// included).
func BenchmarkSessionPipe(b *testing.B) {
	mux := agi.NewMux()
	mux.HandleFunc("ani", func(ctx context.Context, s *agi.Session) {
		if _, err := s.Exec(ctx, "MSet", "CALLBACKD_ACTION=callback", "CALLBACKD_REASON=callback 1 queued", "CALLBACKD_REQUEST_ID=1"); err != nil {
			return
		}
		s.Exec(ctx, "PJSIPHangup", "603")
	})
	ln := agitest.NewPipeListener()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agi.NewServer(mux).Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	env := agitest.EnvBlock(agitest.Call{URL: "agi://127.0.0.1/ani", Args: []string{"number=18005550100"},
		CallerID: "4930123456", DNID: "18005550100", UniqueID: "1732350000.1"})
	r := bufio.NewReader(nil)
	answer := func(line string) string {
		if strings.HasPrefix(line, "EXEC PJSIPHangup") {
			return "200 result=-1"
		}
		return "200 result=0"
	}
	cpu0, err := agitest.ProcessCPU()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		conn, err := ln.Dial(ctx)
		if err != nil {
			b.Fatal(err)
		}
		last, err := agitest.Replay(conn, r, env, 10, answer)
		if err != nil || last != "EXEC PJSIPHangup 603" {
			b.Fatalf("last command %q, %v", last, err)
		}
	}
	b.StopTimer()
	cpu1, err := agitest.ProcessCPU()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/session")
}
