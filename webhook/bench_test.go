package webhook_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/storetest"
	"github.com/callbackd/callbackd/webhook"
)

// BenchmarkWebhookDelivery ends CALLBACKD_BENCH_RATE callbacks per second
// (default 1,000) for CALLBACKD_BENCH_SECONDS (default 5) while a sender
// POSTs their notifications to a receiver on 127.0.0.1. Each end is the
// write that ends a bridged call in production: the dispatcher's
// Store.Update under the call's lease, Second leg connected to Finished /
// Successful with the cause and disconnect time, from the call's own
// goroutine at the moment it ends (the requests are created, claimed and
// brought to Second leg connected before the clock starts). It reports
// the rate of ends written, how many the store did not take within its
// query timeout (an overloaded store: those requests stay Second leg
// connected, and the rescuer would settle them), the end writes' own latency (from the moment
// the call ended to Update's return) and the time from each status change
// to its receipt: p50, p99, max.
//
// The subbenchmarks named NoOutbox run the same ends with the webhooks
// off: the store's own cap for ends, without the notifications.
func BenchmarkWebhookDelivery(b *testing.B) {
	sqlite := func(tb testing.TB) callback.Store { return dbtest.SQLite(tb) }
	mariadb := func(tb testing.TB) callback.Store { return dbtest.MySQL(tb) }
	b.Run("SQLite", func(b *testing.B) { benchDelivery(b, sqlite, true) })
	b.Run("SQLite/NoOutbox", func(b *testing.B) { benchDelivery(b, sqlite, false) })
	b.Run("MariaDB", func(b *testing.B) {
		dbtest.MySQLDSN(b)
		benchDelivery(b, mariadb, true)
	})
	b.Run("MariaDB/NoOutbox", func(b *testing.B) {
		dbtest.MySQLDSN(b)
		benchDelivery(b, mariadb, false)
	})
}

// benchEnv reads a positive number from the environment variable name, or
// def.
func benchEnv(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// bridged creates n requests, claims them as owner and brings them to
// Second leg connected, as n calls in progress, and returns their leases.
func bridged(b testing.TB, st callback.Store, n int, owner string) []callback.Lease {
	ctx := context.Background()
	for i := range n {
		r := callback.NewRequest(callback.SourceAPI)
		r.Username, r.OriginalCLI, r.OriginalCLD, r.NextCall = "801", fmt.Sprint(4930000000+i), "2way_12345", time.Now().Add(time.Hour)
		if err := st.CreateRequest(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	leases := make([]callback.Lease, 0, n)
	for len(leases) < n {
		rs, err := st.Claim(ctx, callback.ClaimParams{Owner: owner, Now: time.Now().Add(2 * time.Hour), Limit: 64, LeaseFor: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) == 0 {
			b.Fatalf("claimed %d of %d requests", len(leases), n)
		}
		for _, r := range rs {
			leases = append(leases, callback.Lease{RequestID: r.ID, Attempt: r.Attempt, Owner: owner})
		}
	}
	// The moves of the call's set-up, in one statement: each would write
	// its history line and (unwanted by EventsFinal) no notification.
	raw := st.(interface{ RawDB() *sql.DB }).RawDB()
	if _, err := raw.ExecContext(ctx, "UPDATE callback_requests SET status = ?, call_count = 1, setup_time = ?, connect_time = ? WHERE lease_owner = ?",
		string(callback.StatusSecondLegConnected), time.Now().UTC().Format("2006-01-02 15:04:05.000"), time.Now().UTC().Format("2006-01-02 15:04:05.000"), owner); err != nil {
		b.Fatal(err)
	}
	return leases
}

func benchDelivery(b *testing.B, open func(testing.TB) callback.Store, hooks bool) {
	seconds := benchEnv(b, "CALLBACKD_BENCH_SECONDS", 5)
	perSecond := benchEnv(b, "CALLBACKD_BENCH_RATE", 1000)
	n := seconds * perSecond
	for range b.N {
		b.StopTimer()
		st := open(b)
		if hooks {
			st.(webhook.Store).SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
		}
		leases := bridged(b, st, n, "node1/bench")
		var mu sync.Mutex
		delays := make([]time.Duration, 0, n)
		var cs *claimCounter // counts the rows that went through claims
		if hooks {
			rc := newReceiver(b, func(_ int, r *http.Request) int { return http.StatusNoContent })
			rc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var p webhook.Payload
				if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
					b.Error(err)
				}
				d := time.Since(p.Time)
				mu.Lock()
				delays = append(delays, d)
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			})
			cs = &claimCounter{Store: st.(webhook.Store), attached: make(chan struct{})}
			startSender(b, st, webhook.Options{URL: rc.URL, Store: cs})
			<-cs.attached
		}
		b.StartTimer()

		// Each call ends on its own goroutine at its moment, paced at
		// perSecond, as calls end on a busy node.
		start := time.Now()
		batched, _ := st.(updateBatching)
		txs0, ups0 := batching(batched)
		cpu0 := cpuTime(b)
		server0, _ := storetest.ServerCPUTime(b)
		writes := make([]time.Duration, n)
		var failed atomic.Int64 // ends the store did not take in time: an overloaded store
		var wg sync.WaitGroup
		for i, l := range leases {
			at := start.Add(time.Duration(i) * time.Second / time.Duration(perSecond))
			if w := time.Until(at); w > 0 {
				time.Sleep(w)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				now := time.Now()
				_, err := st.Update(context.Background(), l, callback.Change{From: callback.StatusSecondLegConnected,
					To: callback.StatusFinished, Result: callback.ResultSuccessful, Cause: 16, DisconnectTime: now})
				writes[i] = time.Since(at)
				if err != nil {
					if !errors.Is(err, callback.ErrUnavailable) {
						b.Error(err)
					}
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		rate := float64(n-int(failed.Load())) / time.Since(start).Seconds() // ends written
		// Every end the store took has its notification: wait for them all.
		want := n - int(failed.Load())
		received := func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(delays)
		}
		for deadline := time.Now().Add(2 * time.Minute); hooks && received() < want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d notifications received", received(), want)
			}
		}
		b.StopTimer()
		cpu := cpuTime(b) - cpu0
		server1, server := storetest.ServerCPUTime(b)
		pct := func(d []time.Duration, p float64) float64 {
			return float64(d[min(len(d)-1, int(float64(len(d))*p))].Microseconds()) / 1000
		}
		slices.Sort(writes)
		b.ReportMetric(rate, "ends/s")
		b.ReportMetric(float64(failed.Load()), "ends-timed-out")
		// On a shared machine the wall clock counts the time other
		// processes hold the CPUs; the process's CPU time does not (on
		// SQLite it includes the database's, on MariaDB not).
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(n), "cpu-ms/end")
		if server && strings.Contains(b.Name(), "MariaDB") {
			// The MariaDB server's CPU time (scripts/mariadb-test.sh's),
			// which cpu-ms/end does not count.
			b.ReportMetric(float64((server1-server0).Microseconds())/1000/float64(n), "server-cpu-ms/end")
		}
		if txs1, ups1 := batching(batched); txs1 > txs0 {
			// Updates a transaction carried, on average (see the store's
			// UpdateBatching).
			b.ReportMetric(float64(ups1-ups0)/float64(txs1-txs0), "ends/tx")
		}
		b.ReportMetric(pct(writes, 0.50), "end-p50-ms")
		b.ReportMetric(pct(writes, 0.99), "end-p99-ms")
		if hooks && len(delays) > 0 {
			slices.Sort(delays)
			b.ReportMetric(pct(delays, 0.50), "p50-ms")
			b.ReportMetric(pct(delays, 0.99), "p99-ms")
			b.ReportMetric(pct(delays, 1), "max-ms")
			// Rows the sender claimed: those the node wrote while its
			// sender had no room for them (the rest were handed over).
			b.ReportMetric(float64(cs.rows.Load()), "claimed")
			// The sender's transactions recording outcomes, each a turn
			// of the store's writer as an end is.
			b.ReportMetric(float64(cs.finishes.Load()), "outcome-txs")
		}
	}
}

// updateBatching is the stores' count of the transactions their Updates
// shared.
type updateBatching interface {
	UpdateBatching() (txs, updates uint64)
}

func batching(s updateBatching) (txs, updates uint64) {
	if s == nil {
		return 0, 0
	}
	return s.UpdateBatching()
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWebhookWALFrames counts, on SQLite, the pages an end writes to
// the write-ahead log with the webhooks off and on (the notification's
// share of the single writer's work), and the pages an outcome costs when
// the sender records 16 at a time. SQLite's autocheckpoint is off for the
// count.
func BenchmarkWebhookWALFrames(b *testing.B) {
	outboxOffAndOn(b, func(b *testing.B, hooks bool) {
		for range b.N {
			b.StopTimer()
			const n = 200
			st, leases, raw := bridgedWith(b, dbtest.SQLite(b), hooks, n, "node1/frames")
			if _, err := raw.Exec("PRAGMA wal_autocheckpoint=0"); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			walFrames(b, raw)
			for _, l := range leases {
				if _, err := st.Update(context.Background(), l, callback.Change{From: callback.StatusSecondLegConnected,
					To: callback.StatusFinished, Result: callback.ResultSuccessful, Cause: 16, DisconnectTime: time.Now()}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(walFrames(b, raw))/n, "frames/end")
			if !hooks {
				continue
			}
			ds, err := st.ClaimDeliveries(context.Background(), webhook.ClaimParams{Owner: "node1/frames", Now: time.Now().Add(time.Second),
				Limit: n, LeaseFor: time.Minute})
			if err != nil || len(ds) != n {
				b.Fatalf("claimed %d of %d: %v", len(ds), n, err)
			}
			walFrames(b, raw)
			outs := make([]webhook.Outcome, len(ds))
			for i, d := range ds {
				outs[i] = webhook.Outcome{ID: d.ID, Owner: "node1/frames", Attempts: d.Attempts, State: webhook.StateDelivered, At: time.Now(), Code: 204}
			}
			for i := 0; i < len(outs); i += 16 {
				if _, err := st.FinishDeliveries(context.Background(), outs[i:min(i+16, len(outs))]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(walFrames(b, raw))/n, "frames/delivery")
		}
	})
}

// endStore is a store the end benchmarks drive and look into.
type endStore interface {
	callback.Store
	webhook.Store
	RawDB() *sql.DB
}

// bridgedWith turns st's outbox on for the final statuses when hooks, and
// returns st with n requests bridged under owner (see bridged) and its
// database.
func bridgedWith(b *testing.B, st endStore, hooks bool, n int, owner string) (endStore, []callback.Lease, *sql.DB) {
	if hooks {
		st.SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
	}
	return st, bridged(b, st, n, owner), st.RawDB()
}

// outboxOffAndOn runs bench as the sub-benchmarks NoOutbox and Outbox:
// with hooks the store is to write the global webhook's outbox rows.
func outboxOffAndOn(b *testing.B, bench func(b *testing.B, hooks bool)) {
	b.Run("NoOutbox", func(b *testing.B) { bench(b, false) })
	b.Run("Outbox", func(b *testing.B) { bench(b, true) })
}

// walFrames returns the pages in SQLite's write-ahead log, and empties it.
func walFrames(b *testing.B, raw *sql.DB) int {
	var busy, frames, done int
	if err := raw.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done); err != nil {
		b.Fatal(err)
	}
	if err := raw.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &done, &done); err != nil {
		b.Fatal(err)
	}
	return frames
}

// BenchmarkWebhookEndStatements counts, on MariaDB, what an end costs the
// server with the webhooks off and on: 2,000 ends, 8 at a time (the
// store's connections), each Store.Update Second leg connected →
// Finished; it reports per end the statements the server was sent
// (Questions), the rows its handlers wrote and updated, and, under
// scripts/mariadb-test.sh, the server's CPU time. The counters are the
// server's own (SHOW GLOBAL STATUS), so nothing else may use the server
// meanwhile.
func BenchmarkWebhookEndStatements(b *testing.B) {
	dbtest.MySQLDSN(b)
	outboxOffAndOn(b, func(b *testing.B, hooks bool) {
		for range b.N {
			b.StopTimer()
			const n = 2000
			st, leases, raw := bridgedWith(b, dbtest.MySQL(b), hooks, n, "node1/statements")
			b.StartTimer()
			s0 := globalStatus(b, raw)
			c0, _ := storetest.ServerCPUTime(b)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for _, l := range leases {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					if _, err := st.Update(context.Background(), l, callback.Change{From: callback.StatusSecondLegConnected,
						To: callback.StatusFinished, Result: callback.ResultSuccessful, Cause: 16, DisconnectTime: time.Now()}); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			c1, server := storetest.ServerCPUTime(b)
			s1 := globalStatus(b, raw)
			b.StopTimer()
			// The second status read is one of the statements counted.
			b.ReportMetric(float64(s1["Questions"]-s0["Questions"]-1)/n, "statements/end")
			b.ReportMetric(float64(s1["Handler_write"]-s0["Handler_write"])/n, "handler-writes/end")
			b.ReportMetric(float64(s1["Handler_update"]-s0["Handler_update"])/n, "handler-updates/end")
			b.ReportMetric(float64(s1["Innodb_os_log_written"]-s0["Innodb_os_log_written"])/n, "redo-bytes/end")
			if server {
				b.ReportMetric(float64((c1-c0).Microseconds())/1000/n, "server-cpu-ms/end")
			}
		}
	})
}

// globalStatus reads the server's status counters.
func globalStatus(b *testing.B, raw *sql.DB) map[string]int64 {
	rows, err := raw.QueryContext(context.Background(), "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Handler_write', 'Handler_update', 'Innodb_os_log_written')")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var k string
		var v int64
		if err := rows.Scan(&k, &v); err != nil {
			b.Fatal(err)
		}
		m[k] = v
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkWebhookOutcomes measures the sender's outcome writes alone:
// 2,000 claimed notifications (CALLBACKD_BENCH_DELIVERIES) recorded
// CALLBACKD_BENCH_BATCH at a time (default 64) through FinishDeliveries,
// one in eight a retry under its lease and the rest delivered (2xx), one
// transaction after another, nothing else on the store. It reports the
// wall time per outcome and, on MariaDB under scripts/mariadb-test.sh, the
// server's CPU time per outcome; on SQLite the process's CPU includes the
// database's.
func BenchmarkWebhookOutcomes(b *testing.B) {
	b.Run("SQLite", func(b *testing.B) { benchOutcomes(b, func(tb testing.TB) callback.Store { return dbtest.SQLite(tb) }) })
	b.Run("MariaDB", func(b *testing.B) {
		dbtest.MySQLDSN(b)
		benchOutcomes(b, func(tb testing.TB) callback.Store { return dbtest.MySQL(tb) })
	})
}

func benchOutcomes(b *testing.B, open func(testing.TB) callback.Store) {
	n := benchEnv(b, "CALLBACKD_BENCH_DELIVERIES", 2000)
	batch := benchEnv(b, "CALLBACKD_BENCH_BATCH", 64)
	for range b.N {
		b.StopTimer()
		st := open(b)
		ws := st.(webhook.Store)
		ws.SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
		finish(b, st, n)
		now := time.Now()
		ds, err := ws.ClaimDeliveries(context.Background(), webhook.ClaimParams{Owner: "node1/outcomes", Now: now.Add(time.Second), Limit: n, LeaseFor: time.Hour})
		if err != nil || len(ds) != n {
			b.Fatalf("claimed %d of %d: %v", len(ds), n, err)
		}
		outs := make([]webhook.Outcome, n)
		for i, d := range ds {
			outs[i] = webhook.Outcome{ID: d.ID, Owner: "node1/outcomes", Attempts: d.Attempts, State: webhook.StateDelivered, At: now, Code: 204}
			if i%8 == 0 {
				outs[i].State, outs[i].Code, outs[i].Error, outs[i].NextAttempt = webhook.StatePending, 503, "HTTP 503: busy", now.Add(time.Minute)
			}
		}
		b.StartTimer()
		start := time.Now()
		cpu0 := cpuTime(b)
		server0, _ := storetest.ServerCPUTime(b)
		recorded := 0
		for i := 0; i < n; i += batch {
			m, err := ws.FinishDeliveries(context.Background(), outs[i:min(i+batch, n)])
			if err != nil {
				b.Fatal(err)
			}
			recorded += m
		}
		wall := time.Since(start)
		cpu := cpuTime(b) - cpu0
		server1, server := storetest.ServerCPUTime(b)
		b.StopTimer()
		if recorded != n {
			b.Fatalf("recorded %d of %d outcomes", recorded, n)
		}
		b.ReportMetric(float64(wall.Microseconds())/float64(n), "us/outcome")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-us/outcome")
		if server {
			b.ReportMetric(float64((server1-server0).Microseconds())/float64(n), "server-cpu-us/outcome")
		}
	}
}
