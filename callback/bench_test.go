package callback_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/callback/callbacktest"
	"github.com/callbackd/callbackd/store/dbtest"
)

// latencyDialer records how late each Dial is against the request's
// next_call, then completes the callback at once.
type latencyDialer struct {
	mu   sync.Mutex
	late []time.Duration
	done chan struct{}
	want int
}

func (d *latencyDialer) WaitReady(ctx context.Context) error { return ctx.Err() }

func (d *latencyDialer) Dial(ctx context.Context, c *callback.Attempt) callback.Outcome {
	l := time.Since(c.Request.NextCall)
	d.mu.Lock()
	d.late = append(d.late, l)
	if len(d.late) == d.want {
		close(d.done)
	}
	d.mu.Unlock()
	return callbacktest.AnswerBoth(ctx, c)
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// benchSpread is the window the requests are scheduled over: a minute, as
// the target is stated, or CALLBACKD_BENCH_SPREAD for a quicker run.
func benchSpread(b *testing.B) time.Duration {
	if v := os.Getenv("CALLBACKD_BENCH_SPREAD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	return time.Minute
}

func benchDispatch(b *testing.B, open func(testing.TB) callback.Store) {
	const n = 10_000
	spread := benchSpread(b)
	for range b.N {
		b.StopTimer()
		st := open(b)
		if err := st.CreateAccount(b.Context(), &callback.Account{Username: "801", Currency: "USD"}); err != nil {
			b.Fatal(err)
		}
		d := &latencyDialer{done: make(chan struct{}), want: n}
		p := callback.DefaultPolicy()
		disp, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: d, Policy: p, Node: "bench",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() { defer close(stopped); disp.Run(ctx) }()
		svc := &callback.Service{Store: st, Policy: p, Notify: disp.Notify}
		b.StartTimer()

		// Each request is inserted shortly before it is due, as triggers
		// do, and scheduled evenly over the window.
		start := time.Now().Add(time.Second)
		for i := range n {
			due := start.Add(time.Duration(i) * spread / n)
			if w := time.Until(due.Add(-200 * time.Millisecond)); w > 0 {
				time.Sleep(w)
			}
			r := callback.NewRequest(callback.SourceAPI)
			r.Username, r.OriginalCLI, r.OriginalCLD, r.NextCall = "801", fmt.Sprint(4930000000+i), "2way_12345", due
			if err := svc.Create(b.Context(), r); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-d.done:
		case <-time.After(spread + time.Minute):
			b.Fatalf("only %d of %d requests dialled", len(d.late), n)
		}
		b.StopTimer()
		cancel()
		<-stopped
		b.ReportMetric(float64(percentile(d.late, 0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(d.late, 0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(percentile(d.late, 1).Microseconds())/1000, "max-ms")
	}
}

// BenchmarkDispatchLatency measures next_call to Dialer.Dial for 10,000
// requests scheduled over a minute (CALLBACKD_BENCH_SPREAD shortens it).
func BenchmarkDispatchLatency(b *testing.B) {
	b.Run("SQLite", func(b *testing.B) {
		benchDispatch(b, func(tb testing.TB) callback.Store { return dbtest.SQLite(tb) })
	})
	b.Run("MariaDB", func(b *testing.B) {
		dbtest.MySQLDSN(b)
		benchDispatch(b, func(tb testing.TB) callback.Store { return dbtest.MySQL(tb) })
	})
}

// BenchmarkExternalInsertPickup measures how long rows inserted by another
// SQL client (no in-process wake-up) wait past their next_call: bounded by
// the Scan Interval (1 s).
func BenchmarkExternalInsertPickup(b *testing.B) {
	run := func(b *testing.B, open func(testing.TB) callback.Store) {
		const n = 200
		for range b.N {
			b.StopTimer()
			st := open(b)
			if err := st.CreateAccount(b.Context(), &callback.Account{Username: "801", Currency: "USD"}); err != nil {
				b.Fatal(err)
			}
			d := &latencyDialer{done: make(chan struct{}), want: n}
			disp, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: d, Policy: callback.DefaultPolicy(),
				Node: "bench", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan struct{})
			go func() { defer close(stopped); disp.Run(ctx) }()
			raw := st.(interface{ RawDB() *sql.DB }).RawDB()
			b.StartTimer()
			for i := range n {
				// next_call = now: due at once, found only by the poll.
				if _, err := raw.ExecContext(b.Context(), `INSERT INTO callback_requests (username, original_cli, original_cld, next_call)
					VALUES ('801', ?, '2way_12345', ?)`, fmt.Sprint(4930000000+i), time.Now().UTC().Format("2006-01-02 15:04:05.000")); err != nil {
					b.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			<-d.done
			b.StopTimer()
			cancel()
			<-stopped
			b.ReportMetric(float64(percentile(d.late, 0.50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(d.late, 1).Microseconds())/1000, "max-ms")
		}
	}
	b.Run("SQLite", func(b *testing.B) { run(b, func(tb testing.TB) callback.Store { return dbtest.SQLite(tb) }) })
	b.Run("MariaDB", func(b *testing.B) {
		dbtest.MySQLDSN(b)
		run(b, func(tb testing.TB) callback.Store { return dbtest.MySQL(tb) })
	})
}
