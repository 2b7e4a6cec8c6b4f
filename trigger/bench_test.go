package trigger_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
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
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		sctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); srv.Serve(sctx, ln) }()
		defer func() { cancel(); <-done }()
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
