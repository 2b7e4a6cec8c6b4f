package main

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"maragu.dev/goqite"
)

// queueResult is what a queue process reports on its standard output.
type queueResult struct {
	Jobs       int           `json:"jobs"`
	Duplicates int           `json:"duplicates"`
	Elapsed    time.Duration `json:"elapsed"`
	ClaimP50   time.Duration `json:"claim_p50"` // zero: not measurable per claim
	ClaimP99   time.Duration `json:"claim_p99"`
	CPU        time.Duration `json:"cpu"` // the process's, over the drain only
}

const queueWorkers = 8

// runQueue seeds jobs due now into a fresh SQLite file, then drains them
// with 8 workers that claim a job and mark it done, and prints a
// queueResult. It runs in a process of its own so that /proc/self/stat
// counts this queue's work alone.
func runQueue(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("queue", flag.ContinueOnError)
	jobs := fs.Int("jobs", 10000, "jobs")
	dir := fs.String("dir", "", "directory for the database file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *dir == "" {
		return errors.New("usage: queue -dir D -jobs N callbackd|river|goqite")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var res queueResult
	var err error
	switch fs.Arg(0) {
	case "callbackd":
		res, err = queueCallbackd(ctx, *dir, *jobs)
	case "river":
		res, err = queueRiver(ctx, *dir, *jobs)
	case "goqite":
		res, err = queueGoqite(ctx, *dir, *jobs)
	default:
		err = fmt.Errorf("unknown queue %q", fs.Arg(0))
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(res)
}

// drainTimer measures the process's CPU and the wall time of a drain.
type drainTimer struct {
	start time.Time
	cpu   time.Duration
}

func startDrain() (drainTimer, error) {
	c, err := cpuTime(os.Getpid())
	return drainTimer{start: time.Now(), cpu: c}, err
}

func (d drainTimer) stop(res *queueResult) error {
	res.Elapsed = time.Since(d.start)
	c, err := cpuTime(os.Getpid())
	res.CPU = c - d.cpu
	return err
}

// claims collects the claim latencies and the ids claimed by the workers.
type claims struct {
	mu   sync.Mutex
	lat  []time.Duration
	seen map[string]int
}

func (c *claims) add(id string, d time.Duration) {
	c.mu.Lock()
	c.lat = append(c.lat, d)
	c.seen[id]++
	c.mu.Unlock()
}

func (c *claims) fill(res *queueResult) {
	res.Jobs = len(c.seen)
	for _, n := range c.seen {
		res.Duplicates += n - 1
	}
	if len(c.lat) > 0 {
		slices.Sort(c.lat)
		res.ClaimP50 = c.lat[len(c.lat)/2]
		res.ClaimP99 = c.lat[min(len(c.lat)-1, len(c.lat)*99/100)]
	}
}

// queueCallbackd: callbackd's own queue on its SQLite store, one row per
// claim as BenchmarkClaims/Single, then the guarded update that finishes
// the request (and appends its history event), as a finished callback
// does.
func queueCallbackd(ctx context.Context, dir string, n int) (queueResult, error) {
	st, err := sqlite.Open(ctx, filepath.Join(dir, "callbackd.db"))
	if err != nil {
		return queueResult{}, err
	}
	defer st.Close()
	raw := st.RawDB()
	const perStatement = 500
	for start := 0; start < n; start += perStatement {
		q := "INSERT INTO callback_requests (username, original_cli, original_cld) VALUES "
		for i := start; i < min(start+perStatement, n); i++ {
			if i > start {
				q += ", "
			}
			q += fmt.Sprintf("('801', '49%09d', '2way_12345')", i)
		}
		if _, err := raw.ExecContext(ctx, q); err != nil {
			return queueResult{}, fmt.Errorf("seed: %w", err)
		}
	}
	now := time.Now().Add(time.Hour)
	c := &claims{seen: map[string]int{}}
	errs := make([]error, queueWorkers)
	t, err := startDrain()
	if err != nil {
		return queueResult{}, err
	}
	var wg sync.WaitGroup
	for w := range queueWorkers {
		wg.Go(func() {
			p := callback.ClaimParams{Owner: fmt.Sprintf("bench/%d", w), Now: now, Limit: 1, LeaseFor: time.Minute}
			for {
				t0 := time.Now()
				got, err := st.Claim(ctx, p)
				d := time.Since(t0)
				if err != nil {
					errs[w] = err
					return
				}
				if len(got) == 0 {
					return
				}
				r := got[0]
				c.add(fmt.Sprint(r.ID), d)
				l := callback.Lease{RequestID: r.ID, Attempt: r.Attempt, Owner: p.Owner}
				if _, err := st.Update(ctx, l, callback.Change{From: r.Status, To: callback.StatusFinished,
					Result: callback.ResultCanceled, Note: "done"}); err != nil {
					errs[w] = fmt.Errorf("mark %d done: %w", r.ID, err)
					return
				}
			}
		})
	}
	wg.Wait()
	var res queueResult
	if err := t.stop(&res); err != nil {
		return res, err
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	c.fill(&res)
	return res, nil
}

// openSQLite opens a database file the way riversqlite's and goqite's
// documentation set it up: WAL, one connection.
func openSQLite(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

type benchArgs struct{ N int }

func (benchArgs) Kind() string { return "bench" }

type benchWorker struct {
	river.WorkerDefaults[benchArgs]
	c *claims
}

func (w *benchWorker) Work(ctx context.Context, job *river.Job[benchArgs]) error {
	w.c.add(fmt.Sprint(job.ID), 0)
	return nil
}

// queueRiver: River on riversqlite, 8 workers whose work is nothing, so
// River's fetch (the claim) and its completion (mark done) are the work.
// River claims in batches inside its producer, so the latency of one
// claim is not measured.
func queueRiver(ctx context.Context, dir string, n int) (queueResult, error) {
	db, err := openSQLite(filepath.Join(dir, "river.db"))
	if err != nil {
		return queueResult{}, err
	}
	defer db.Close()
	drv := riversqlite.New(db)
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return queueResult{}, err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return queueResult{}, fmt.Errorf("river migrate: %w", err)
	}
	c := &claims{seen: map[string]int{}}
	workers := river.NewWorkers()
	river.AddWorker(workers, &benchWorker{c: c})
	client, err := river.NewClient(drv, &river.Config{
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: queueWorkers}},
		// River's minimum cooldown between fetches (its default is
		// 100 ms), so its fetch cadence does not bound the rate.
		FetchCooldown:     time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		Workers:           workers,
		Logger:            quietLogger(),
	})
	if err != nil {
		return queueResult{}, err
	}
	params := make([]river.InsertManyParams, 0, 500)
	for start := 0; start < n; start += 500 {
		params = params[:0]
		for i := start; i < min(start+500, n); i++ {
			params = append(params, river.InsertManyParams{Args: benchArgs{N: i}})
		}
		if _, err := client.InsertMany(ctx, params); err != nil {
			return queueResult{}, fmt.Errorf("river insert: %w", err)
		}
	}
	completed, cancelSub := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer cancelSub()
	t, err := startDrain()
	if err != nil {
		return queueResult{}, err
	}
	if err := client.Start(ctx); err != nil {
		return queueResult{}, err
	}
	done, failed := 0, 0
	for done+failed < n {
		select {
		case ev := <-completed:
			if ev.Kind == river.EventKindJobCompleted {
				done++
			} else {
				failed++
			}
		case <-ctx.Done():
			return queueResult{}, fmt.Errorf("river: %d of %d jobs completed: %w", done, n, ctx.Err())
		}
	}
	var res queueResult
	err = t.stop(&res)
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client.Stop(stopCtx)
	if err != nil {
		return res, err
	}
	if failed > 0 {
		return res, fmt.Errorf("river: %d jobs failed", failed)
	}
	c.fill(&res)
	return res, nil
}

// goqiteSchema is goqite v0.4.0's schema_sqlite.sql, which the module
// ships as a file for its users to apply.
//
//go:embed goqite_schema.sql
var goqiteSchema string

// queueGoqite: goqite's Receive (the claim) and Delete (mark done).
func queueGoqite(ctx context.Context, dir string, n int) (queueResult, error) {
	db, err := openSQLite(filepath.Join(dir, "goqite.db"))
	if err != nil {
		return queueResult{}, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, goqiteSchema); err != nil {
		return queueResult{}, fmt.Errorf("goqite schema: %w", err)
	}
	q := goqite.New(goqite.NewOpts{DB: db, Name: "jobs", Timeout: time.Minute})
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return queueResult{}, err
	}
	for i := range n {
		if err := q.SendTx(ctx, tx, goqite.Message{Body: []byte(fmt.Sprint(i))}); err != nil {
			tx.Rollback()
			return queueResult{}, fmt.Errorf("goqite send: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return queueResult{}, err
	}
	c := &claims{seen: map[string]int{}}
	errs := make([]error, queueWorkers)
	t, err := startDrain()
	if err != nil {
		return queueResult{}, err
	}
	var wg sync.WaitGroup
	for w := range queueWorkers {
		wg.Go(func() {
			for {
				t0 := time.Now()
				m, err := q.Receive(ctx)
				d := time.Since(t0)
				if err != nil {
					errs[w] = err
					return
				}
				if m == nil {
					return
				}
				c.add(string(m.ID), d)
				if err := q.Delete(ctx, m.ID); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	var res queueResult
	if err := t.stop(&res); err != nil {
		return res, err
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	c.fill(&res)
	return res, nil
}

func benchQueues(ctx context.Context, r *report, jobs int) error {
	self, err := selfPath()
	if err != nil {
		return err
	}
	r.printf("### Job queues on SQLite: %d jobs due, %d workers, claim then mark done\n\n", jobs, queueWorkers)
	r.printf("| queue | jobs/s | claim p50 | claim p99 | CPU µs/job | duplicates | load avg |\n|---|---|---|---|---|---|---|\n")
	for _, q := range []struct{ kind, name string }{
		{"callbackd", "callbackd queue (`Claim` of 1 row + `Update` to Finished)"},
		{"river", "River " + modVersion("github.com/riverqueue/river") + " + riversqlite"},
		{"goqite", "goqite " + modVersion("maragu.dev/goqite") + " (`Receive` + `Delete`)"},
	} {
		dir, err := os.MkdirTemp("", "callbackd-peers-queue-")
		if err != nil {
			return err
		}
		res, err := runJSONChild[queueResult](ctx, self, "queue", "-dir", dir, "-jobs", fmt.Sprint(jobs), q.kind)
		os.RemoveAll(dir)
		if err != nil {
			return fmt.Errorf("%s: %w", q.kind, err)
		}
		if res.Jobs != jobs {
			return fmt.Errorf("%s: %d of %d jobs done", q.kind, res.Jobs, jobs)
		}
		p50, p99 := "– (batched inside River)", "–"
		if res.ClaimP99 > 0 {
			p50, p99 = ms(res.ClaimP50), ms(res.ClaimP99)
		}
		r.printf("| %s | %.0f | %s | %s | %s | %d | %s |\n", q.name, float64(res.Jobs)/res.Elapsed.Seconds(), p50, p99,
			µs(res.CPU, res.Jobs), res.Duplicates, loadAverage())
	}
	r.printf("\n")
	return nil
}
