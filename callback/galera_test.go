package callback_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/mysql"
	gomysql "github.com/go-sql-driver/mysql"
)

// The dispatcher suite on a store whose server is a Galera node.
func TestDispatcherGalera(t *testing.T) {
	dbtest.GaleraDSNs(t) // skips without a cluster
	// Node 2: the suite's rows are written there and replicated, while the
	// databases are created and dropped through node 1.
	testDispatcher(t, func(t *testing.T) callback.Store {
		return dbtest.GaleraStores(t, dbtest.GaleraDSNs(t)[1:2])[0]
	})
}

// listDSN returns a DSN naming the servers of dsns, in that order.
func listDSN(t *testing.T, dsns ...string) string {
	t.Helper()
	var addrs []string
	var cfg *gomysql.Config
	for _, dsn := range dsns {
		c, err := gomysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, c.Addr)
		cfg = c
	}
	cfg.Addr = addrs[0]
	return strings.Replace(cfg.FormatDSN(), "tcp("+addrs[0]+")", "tcp("+strings.Join(addrs, ",")+")", 1)
}

// ringDialer places calls as the ARI controller does: the first leg is
// recorded (First leg initiated) before it is originated, and a call
// whose record fails is not placed, so it counts as rung only once that
// write succeeded.
type ringDialer struct {
	mu    sync.Mutex
	rings map[int64]int
}

func (d *ringDialer) WaitReady(ctx context.Context) error { return ctx.Err() }

func (d *ringDialer) Dial(ctx context.Context, c *callback.Attempt) callback.Outcome {
	id := fmt.Sprintf("cbd-%d-%d-a", c.Request.ID, c.Request.CallCount+1)
	if err := c.FirstLegInitiated(ctx, id); err != nil {
		return callback.Outcome{Err: err}
	}
	d.mu.Lock()
	d.rings[c.Request.ID]++
	d.mu.Unlock()
	for _, step := range []func() error{
		func() error { return c.FirstLegConnected(ctx) },
		func() error { return c.SecondLegInitiated(ctx, id[:len(id)-1]+"b") },
		func() error { return c.SecondLegConnected(ctx) },
	} {
		if err := step(); err != nil {
			return callback.Outcome{Result: callback.ResultFirstLegAborted, Reason: err.Error()}
		}
	}
	return callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.CauseNormalClearing}
}

func (d *ringDialer) count(id int64) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rings[id]
}

// TestGaleraNodeKilled runs two callbackd nodes whose DSNs list the Galera
// node 3 first and a survivor second, creates callbacks through node 3,
// and kills node 3 with SIGKILL halfway: every request whose creation
// succeeded is rung exactly once and finishes Successful, and no
// request is dialled twice. It kills a node of the cluster, so it runs
// only when CALLBACKD_TEST_GALERA_KILL=1 (make test-galera runs it last).
func TestGaleraNodeKilled(t *testing.T) {
	if os.Getenv("CALLBACKD_TEST_GALERA_KILL") != "1" {
		t.Skip("CALLBACKD_TEST_GALERA_KILL is not 1: this test kills a node of the cluster")
	}
	dsns := dbtest.GaleraDSNs(t)
	victim := dbtest.GaleraPIDs(t)[2]
	open := func(dsn string) callback.Store {
		db, err := mysql.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	stA := open(listDSN(t, dsns[2], dsns[1]))
	stB := open(listDSN(t, dsns[2], dsns[0]))
	addAccount(t, stA, "801", 0)
	rd := &ringDialer{rings: map[int64]int{}}
	p := testPolicy()
	p.Lease = 10 * time.Second
	for i, st := range []callback.Store{stA, stB} {
		d, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: rd, Policy: p, Node: fmt.Sprintf("n%d", i+1),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); d.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	svc := &callback.Service{Store: stA, Policy: p}

	const n = 400
	var accepted []int64
	refused := 0
	var killedAt, firstAfter time.Time
	for i := range n {
		if i == n/2 {
			if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
				t.Fatalf("kill node 3 (pid %d): %v", victim, err)
			}
			killedAt = time.Now()
		}
		r := newRequest("801", fmt.Sprintf("49302%05d", i), "2way_12345")
		if err := svc.Create(t.Context(), r); err != nil {
			refused++
			t.Logf("request %d refused: %v", i, err)
			continue
		}
		if !killedAt.IsZero() && firstAfter.IsZero() {
			firstAfter = time.Now()
		}
		accepted = append(accepted, r.ID)
	}
	for _, id := range accepted {
		if got := waitFinished(t, stA, id); got.Result != callback.ResultSuccessful {
			t.Errorf("request %d: %s/%s (%s)", id, got.Status, got.Result, got.LastError)
		}
		if c := rd.count(id); c != 1 {
			t.Errorf("request %d rung %d times", id, c)
		}
	}
	rd.mu.Lock()
	for id, c := range rd.rings {
		if c > 1 {
			t.Errorf("request %d rung %d times", id, c)
		}
	}
	rd.mu.Unlock()
	t.Logf("node 3 killed after %d creations: %d accepted, %d refused, first creation after the kill %s later",
		n/2, len(accepted), refused, firstAfter.Sub(killedAt).Round(time.Millisecond))
}

// BenchmarkGaleraDispatch measures next_call to Dial for 10,000 requests
// scheduled over CALLBACKD_BENCH_SPREAD (default a minute) with 2 and 4
// callbackd nodes on a 3-node Galera cluster, all on node 1 (single
// writer) or each on its own node in turn (multi-writer). The requests
// are seeded beforehand in multi-row inserts, due in 2100, and then moved
// to their place in the window by ten UPDATEs, so that the run measures
// the dispatch and not the creations (one commit of the cluster each). It
// reports the latency percentiles, the requests dialled per second over
// the run, the requests dialled twice (must be 0) and the claims lost to
// another node per 1,000 requests. A run is bounded: the requests not
// dialled a minute after the window are reported (undialled) and count
// in the percentiles as a minute late, a lower bound.
func BenchmarkGaleraDispatch(b *testing.B) {
	for _, topo := range []string{"SingleWriter", "MultiWriter"} {
		for _, nodes := range []int{2, 4} {
			b.Run(fmt.Sprintf("%s/%dnodes", topo, nodes), func(b *testing.B) {
				benchGaleraDispatch(b, topo == "MultiWriter", nodes)
			})
		}
	}
}

// seedFar is where the seeded requests wait before their window.
var seedFar = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// seedSpread inserts n requests of account 801 in statements of 500 rows,
// request i due at seedFar + i * spread / n.
func seedSpread(b *testing.B, db *sql.DB, n int, spread time.Duration) {
	b.Helper()
	const perStatement = 500
	for first := 0; first < n; first += perStatement {
		var q strings.Builder
		q.WriteString("INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ")
		for i := first; i < min(first+perStatement, n); i++ {
			if i > first {
				q.WriteString(", ")
			}
			due := seedFar.Add(time.Duration(i) * spread / time.Duration(n))
			fmt.Fprintf(&q, "('801', '%d', '2way_12345', '%s')", 4930000000+i, due.Format("2006-01-02 15:04:05.000"))
		}
		if _, err := db.ExecContext(b.Context(), q.String()); err != nil {
			b.Fatalf("seed requests: %v", err)
		}
	}
}

func benchGaleraDispatch(b *testing.B, multi bool, nodes int) {
	const n = 10_000
	spread := benchSpread(b)
	for range b.N {
		b.StopTimer()
		dsns := dbtest.GaleraDSNs(b)
		dbtest.GaleraStores(b, dsns[:1]) // migrates
		var stores []*mysql.DB
		for i := range nodes {
			dsn := dsns[0]
			if multi {
				dsn = dsns[i%len(dsns)]
			}
			stores = append(stores, dbtest.GaleraStores(b, []string{dsn})[0])
		}
		if err := stores[0].CreateAccount(b.Context(), &callback.Account{Username: "801", Currency: "USD"}); err != nil {
			b.Fatal(err)
		}
		seedSpread(b, stores[0].RawDB(), n, spread)
		// Every node has the rows before the clock starts (bounded: 30 s).
		for _, st := range stores {
			for try := 0; ; try++ {
				var got int
				err := st.RawDB().QueryRowContext(b.Context(), "SELECT COUNT(*) FROM callback_requests WHERE finished = 0").Scan(&got)
				if err == nil && got == n {
					break
				}
				if try == 3000 {
					b.Fatalf("a node sees %d of %d seeded requests after 30 s: %v", got, n, err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		d := &latencyDialer{done: make(chan struct{}), want: n}
		dials := map[int64]int{}
		var mu sync.Mutex
		counting := countingDialer{latencyDialer: d, seen: func(id int64) { mu.Lock(); dials[id]++; mu.Unlock() }}
		p := callback.DefaultPolicy()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i, st := range stores {
			disp, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: counting, Policy: p,
				Node: fmt.Sprintf("bench%d", i), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			wg.Go(func() { disp.Run(ctx) })
		}
		conflicts := func() (c uint64) {
			for _, st := range stores {
				c += st.ClaimConflicts()
			}
			return c
		}
		before := conflicts()
		b.StartTimer()
		// The rows are moved a tenth of the window at a time, earliest
		// first: one UPDATE of all 10,000 rows outlasted the connection's
		// read timeout on a loaded cluster. The window opens 5 s after the
		// first move begins, at least two scans, so every node has seen
		// the first rows before they are due.
		start := time.Now().Add(max(5*time.Second, 2*p.ScanInterval))
		shift := seedFar.Sub(start).Microseconds()
		for part := range 10 {
			from, to := seedFar.Add(time.Duration(part)*spread/10), seedFar.Add(time.Duration(part+1)*spread/10)
			if part == 9 {
				to = seedFar.Add(spread + time.Second)
			}
			if _, err := stores[0].RawDB().ExecContext(b.Context(),
				"UPDATE callback_requests SET next_call = next_call - INTERVAL ? MICROSECOND WHERE finished = 0 AND lease_owner IS NULL AND next_call >= ? AND next_call < ?",
				shift, from, to); err != nil {
				b.Fatalf("move the requests into the window: %v", err)
			}
		}
		bound := time.Until(start.Add(spread + time.Minute))
		undialled := 0
		select {
		case <-d.done:
		case <-time.After(bound):
			d.mu.Lock()
			undialled = n - len(d.late)
			for range undialled {
				d.late = append(d.late, time.Minute)
			}
			d.mu.Unlock()
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		wg.Wait()
		twice := 0
		for _, c := range dials {
			if c > 1 {
				twice++
			}
		}
		d.mu.Lock()
		late := slices.Clone(d.late)
		d.mu.Unlock()
		b.ReportMetric(float64(percentile(late, 0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(late, 0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(percentile(late, 1).Microseconds())/1000, "max-ms")
		b.ReportMetric(float64(n-undialled)/elapsed.Seconds(), "dials/s")
		b.ReportMetric(float64(undialled), "undialled")
		b.ReportMetric(float64(twice), "dialled-twice")
		b.ReportMetric(float64(conflicts()-before)*1000/n, "conflicts/1000")
		if twice > 0 {
			b.Errorf("%d requests dialled twice", twice)
		}
	}
}

// countingDialer is a latencyDialer that also reports each request dialled.
type countingDialer struct {
	*latencyDialer
	seen func(id int64)
}

func (d countingDialer) Dial(ctx context.Context, c *callback.Attempt) callback.Outcome {
	d.seen(c.Request.ID)
	return d.latencyDialer.Dial(ctx, c)
}
