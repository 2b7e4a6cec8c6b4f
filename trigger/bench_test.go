package trigger_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/agi"
	"github.com/callbackd/callbackd/agi/agitest"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/tariff"
	"github.com/callbackd/callbackd/trigger"
)

// BenchmarkTriggers runs ANI triggers through real TCP FastAGI sessions:
// agitest dials in as Asterisk, the handler looks the caller up, queues a
// callback and rejects with PJSIPHangup. Every caller is new, so every
// session writes a request. Reports sessions/s and the p99 session time.
func BenchmarkTriggers(b *testing.B) {
	run := func(b *testing.B, st callback.Store) {
		ctx := b.Context()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		serveTriggers(b, st, ln)
		addr := ln.Addr().String()
		const sessions = 5000
		for range b.N {
			b.ResetTimer()
			res, err := agitest.Load(ctx, addr, agitest.LoadOptions{Sessions: sessions, Concurrency: 16, Timeout: 2 * time.Minute,
				CallFactory: func(i int) agitest.Call {
					cli := fmt.Sprintf("4930%07d", i+b.N*sessions)
					return agitest.Call{URL: "agi://" + addr + "/ani", Args: []string{"number=18005550100"}, CallerID: cli, DNID: "18005550100"}
				},
				Check: func(tr *agitest.Transcript) error {
					if tr.SIPCode != 603 || tr.Variables[trigger.VarAction] != "callback" {
						return fmt.Errorf("SIP %d, %v", tr.SIPCode, tr.Variables)
					}
					return nil
				}})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if res.Failed > 0 {
				b.Fatalf("%d of %d sessions failed: %v", res.Failed, sessions, res.Errors)
			}
			b.ReportMetric(res.PerSecond(), "sessions/s")
			b.ReportMetric(float64(res.Latency.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(res.Latency.P99.Microseconds())/1000, "p99-ms")
		}
	}
	b.Run("SQLite", func(b *testing.B) { run(b, dbtest.SQLite(b)) })
	b.Run("MariaDB", func(b *testing.B) {
		dbtest.MySQLDSN(b)
		run(b, dbtest.MySQL(b))
	})
}

// serveTriggers sets st up with an access number for ANI triggers
// (18005550100) whose default account is "default", and serves the
// trigger scripts on ln until b ends.
func serveTriggers(b *testing.B, st callback.Store, ln net.Listener) {
	ctx := b.Context()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := callback.DefaultPolicy()
	svc := &callback.Service{Store: st, Policy: p}
	eng := trigger.NewEngine(st, svc, tariff.NewCache(st, time.Second), trigger.Limits{}, log)
	if err := st.CreateAccount(ctx, &callback.Account{Username: "default", Currency: "USD", Balance: 100 * callback.MoneyScale}); err != nil {
		b.Fatal(err)
	}
	n := &callback.AccessNumber{Number: "18005550100", Trigger: callback.TriggerANI, SubApp: "callingcard",
		DefaultAccountUsername: "default", AnonymousAccounting: true, ANumberHandling: 3}
	n.ApplyDefaults()
	if err := st.PutAccessNumber(ctx, n); err != nil {
		b.Fatal(err)
	}
	m := agi.NewMux()
	(&trigger.AGIHandler{Engine: eng, Log: log}).Register(m)
	srv := agi.NewServer(m, agi.WithLogger(log))
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(sctx, ln) }()
	b.Cleanup(func() { cancel(); <-done })
}

// BenchmarkTriggerSession runs one ANI trigger session at a time over an
// in-memory pipe, against the cheapest peer (agitest.Replay) instead of
// the fake Asterisk: what it measures is the trigger server's own work per
// session (environment, lookup, pending check, insert, two AGI commands),
// without sockets between it and Asterisk. Every caller is new. It
// reports allocations and the process's CPU per session; on MariaDB the
// database's CPU is another process's and is not counted, on SQLite it
// is.
func BenchmarkTriggerSession(b *testing.B) {
	run := func(b *testing.B, st callback.Store) {
		ctx := b.Context()
		ln := agitest.NewPipeListener()
		serveTriggers(b, st, ln)
		r := bufio.NewReader(nil)
		answer := func(line string) string {
			if strings.HasPrefix(line, "EXEC PJSIPHangup") {
				return "200 result=-1"
			}
			return "200 result=0"
		}
		session := func(i int) {
			env := agitest.EnvBlock(agitest.Call{URL: "agi://127.0.0.1/ani", Args: []string{"number=18005550100"},
				CallerID: fmt.Sprintf("4930%07d", i), DNID: "18005550100"})
			conn, err := ln.Dial(ctx)
			if err != nil {
				b.Fatal(err)
			}
			last, err := agitest.Replay(conn, r, env, 10, answer)
			if err != nil || last != "EXEC PJSIPHangup 603" {
				b.Fatalf("last command %q, %v", last, err)
			}
		}
		// The first sessions prepare the statements and fill the caches.
		const warm = 200
		for i := range warm {
			session(i)
		}
		cpu0, err := agitest.ProcessCPU()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			session(warm + i)
		}
		b.StopTimer()
		cpu1, err := agitest.ProcessCPU()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/session")
	}
	b.Run("SQLite", func(b *testing.B) { run(b, dbtest.SQLite(b)) })
	b.Run("MariaDB", func(b *testing.B) {
		dbtest.MySQLDSN(b)
		run(b, dbtest.MySQL(b))
	})
}
