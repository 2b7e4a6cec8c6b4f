package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
)

// The peers' dispatch, reproduced from their sources:
//
//   - A2Billing's callback daemon (CallBack/callback-daemon-py/
//     callback_daemon/a2b_callback_daemon.py) loops: perform() selects
//     every PENDING row of cc_callback_spool whose callback_time has
//     passed (database.py, find_callback_request), marks each PROCESSING,
//     originates it and marks it SENT; then time.sleep(DAEMON_CYCLE_TIME),
//     with DAEMON_CYCLE_TIME = 5 (seconds) set in that file.
//   - FreePBX's callback module does not poll: its dialplan
//     (functions.inc.php, callback_get_config) runs
//     System(/var/lib/asterisk/bin/callback ${CALL} ${DESTINATION} ${SLEEP} &)
//     for each call, a PHP process that sleep()s the destination's whole
//     seconds (default 0) and then originates (bin/callback).
const (
	a2billingCycle = 5 * time.Second
	freepbxSleep   = 1 // seconds: PHP's sleep() takes whole seconds
)

// dispatchResult is what a dispatch process reports.
type dispatchResult struct {
	Late []time.Duration `json:"late"`
	CPU  time.Duration   `json:"cpu"` // the process's and its waited-for children's
}

// runDispatch schedules n requests evenly over spread, each inserted 200
// ms before it is due (as a trigger or the API would), and records how
// late past its due time each is dispatched.
func runDispatch(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("dispatch", flag.ContinueOnError)
	n := fs.Int("requests", 10000, "requests")
	spread := fs.Duration("spread", time.Minute, "window they fall due over")
	dir := fs.String("dir", "", "directory for the database file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *dir == "" {
		return errors.New("usage: dispatch -dir D callbackd|a2billing|freepbx")
	}
	ctx, cancel := context.WithTimeout(ctx, *spread+2*time.Minute)
	defer cancel()
	var late []time.Duration
	var err error
	switch fs.Arg(0) {
	case "callbackd":
		late, err = dispatchCallbackd(ctx, *dir, *n, *spread)
	case "a2billing":
		late, err = dispatchA2Billing(ctx, *dir, *n, *spread)
	case "freepbx":
		late, err = dispatchFreePBX(ctx, *n, *spread)
	default:
		err = fmt.Errorf("unknown dispatcher %q", fs.Arg(0))
	}
	if err != nil {
		return err
	}
	cpu, err := cpuTimeWithChildren(os.Getpid())
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(dispatchResult{Late: late, CPU: cpu})
}

// schedule calls insert(i, due) for each of n requests, lead before
// request i falls due; the first is due two seconds from now.
func schedule(ctx context.Context, n int, spread, lead time.Duration, insert func(i int, due time.Time) error) error {
	start := time.Now().Add(2 * time.Second)
	for i := range n {
		due := start.Add(time.Duration(i) * spread / time.Duration(n))
		if w := time.Until(due.Add(-lead)); w > 0 {
			select {
			case <-time.After(w):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := insert(i, due); err != nil {
			return err
		}
	}
	return nil
}

// lateness collects how late each request was dispatched.
type lateness struct {
	mu   sync.Mutex
	late []time.Duration
	want int
	done chan struct{}
}

func newLateness(n int) *lateness { return &lateness{want: n, done: make(chan struct{})} }

func (l *lateness) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.late = append(l.late, d)
	if len(l.late) == l.want {
		close(l.done)
	}
}

func (l *lateness) wait(ctx context.Context) ([]time.Duration, error) {
	select {
	case <-l.done:
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		return nil, fmt.Errorf("%d of %d dispatched: %w", len(l.late), l.want, ctx.Err())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.late), nil
}

// latencyDialer records the lateness at Dial, marks the first leg
// initiated (the originate accepted, as A2Billing's daemon marks a row
// SENT) and ends the attempt there: the dispatch is measured, not the
// call, whose further updates the peers make elsewhere.
type latencyDialer struct{ l *lateness }

func (d latencyDialer) WaitReady(ctx context.Context) error { return ctx.Err() }

func (d latencyDialer) Dial(ctx context.Context, c *callback.Attempt) callback.Outcome {
	d.l.add(time.Since(c.Request.NextCall))
	if err := c.FirstLegInitiated(ctx, fmt.Sprintf("cbd-%d-%d-a", c.Request.ID, c.Request.CallCount+1)); err != nil {
		return callback.Outcome{Err: err}
	}
	return callback.Outcome{Result: callback.ResultCanceled, Reason: "dispatch benchmark: ends at the originate"}
}

func dispatchCallbackd(ctx context.Context, dir string, n int, spread time.Duration) ([]time.Duration, error) {
	st, err := sqlite.Open(ctx, filepath.Join(dir, "callbackd.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := st.CreateAccount(ctx, &callback.Account{Username: "801", Currency: "USD"}); err != nil {
		return nil, err
	}
	l := newLateness(n)
	p := callback.DefaultPolicy()
	disp, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: latencyDialer{l}, Policy: p, Node: "bench", Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	dctx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); disp.Run(dctx) }()
	defer func() { stop(); <-stopped }()
	svc := &callback.Service{Store: st, Policy: p, Notify: disp.Notify}
	err = schedule(ctx, n, spread, 200*time.Millisecond, func(i int, due time.Time) error {
		r := callback.NewRequest(callback.SourceAPI)
		r.Username, r.OriginalCLI, r.OriginalCLD, r.NextCall = "801", fmt.Sprint(4930000000+i), "2way_12345", due
		return svc.Create(ctx, r)
	})
	if err != nil {
		return nil, err
	}
	return l.wait(ctx)
}

// dispatchA2Billing reproduces the daemon's loop on its cc_callback_spool
// columns (id, status, entry_time, callback_time) in SQLite. Origination
// itself (an AMI Originate per row, synchronous in the daemon) is left
// out: the figures are the daemon's best case.
func dispatchA2Billing(ctx context.Context, dir string, n int, spread time.Duration) ([]time.Duration, error) {
	db, err := openSQLite(filepath.Join(dir, "a2billing.db"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE cc_callback_spool (id INTEGER PRIMARY KEY,
		status TEXT NOT NULL, entry_time TEXT NOT NULL, callback_time TEXT);
		CREATE INDEX cc_callback_spool_status ON cc_callback_spool (status)`); err != nil {
		return nil, err
	}
	const layout = "2006-01-02 15:04:05.000"
	l := newLateness(n)
	pctx, stop := context.WithCancel(ctx)
	polled := make(chan error, 1)
	go func() {
		polled <- func() error {
			for {
				now := time.Now().UTC()
				rows, err := db.QueryContext(pctx, `SELECT id, callback_time FROM cc_callback_spool WHERE status = 'PENDING'
					AND entry_time > ? AND (callback_time IS NULL OR callback_time < ?)`,
					now.Add(-11124*time.Hour).Format(layout), now.Format(layout))
				if err != nil {
					return err
				}
				type row struct {
					id  int64
					due time.Time
				}
				var due []row
				for rows.Next() {
					var r row
					var at string
					if err := rows.Scan(&r.id, &at); err != nil {
						rows.Close()
						return err
					}
					if r.due, err = time.Parse(layout, at); err != nil {
						rows.Close()
						return err
					}
					due = append(due, r)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
				for _, r := range due {
					if _, err := db.ExecContext(pctx, "UPDATE cc_callback_spool SET status = 'PROCESSING' WHERE id = ?", r.id); err != nil {
						return err
					}
					l.add(time.Since(r.due)) // try_originate
					if _, err := db.ExecContext(pctx, "UPDATE cc_callback_spool SET status = 'SENT' WHERE id = ?", r.id); err != nil {
						return err
					}
				}
				select {
				case <-time.After(a2billingCycle): // time.sleep(DAEMON_CYCLE_TIME)
				case <-pctx.Done():
					return nil
				}
			}
		}()
	}()
	defer func() { stop(); <-polled }()
	err = schedule(ctx, n, spread, 200*time.Millisecond, func(i int, due time.Time) error {
		_, err := db.ExecContext(ctx, "INSERT INTO cc_callback_spool (status, entry_time, callback_time) VALUES ('PENDING', ?, ?)",
			time.Now().UTC().Format(layout), due.UTC().Format(layout))
		return err
	})
	if err != nil {
		return nil, err
	}
	return l.wait(ctx)
}

// dispatchFreePBX starts, for each request, a process that sleeps the
// whole seconds the callback destination asks for, as bin/callback does
// before it originates; the request is dispatched when that process ends.
// The process here is sleep(1), not PHP bootstrapping FreePBX and logging
// in to the AMI: the figures are the module's best case.
func dispatchFreePBX(ctx context.Context, n int, spread time.Duration) ([]time.Duration, error) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return nil, err
	}
	l := newLateness(n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	// The call arrives SLEEP seconds before it is due.
	err = schedule(ctx, n, spread, freepbxSleep*time.Second, func(i int, due time.Time) error {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, sleep, strconv.Itoa(freepbxSleep))
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
			if err := cmd.Run(); err != nil {
				errs <- err
				return
			}
			l.add(time.Since(due))
		})
		return nil
	})
	wg.Wait()
	close(errs)
	if err != nil {
		return nil, err
	}
	if err := <-errs; err != nil {
		return nil, err
	}
	return l.wait(ctx)
}

// cpuTimeWithChildren is cpuTime plus the CPU of the children the process
// has waited for (cutime and cstime, fields 16 and 17).
func cpuTimeWithChildren(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	var sum int64
	for _, k := range []int{11, 12, 13, 14} {
		v, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return time.Duration(sum) * time.Second / clockTicks, nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func benchDispatch(ctx context.Context, r *report, n int, spread time.Duration) error {
	self, err := selfPath()
	if err != nil {
		return err
	}
	// FreePBX's model starts a process per call: one call in ten of the
	// same spread, so the forks do not starve the other two of CPU.
	kinds := []struct {
		kind, name string
		n          int
	}{
		{"callbackd", "callbackd dispatcher (SQLite store, wakes at the earliest `next_call`)", n},
		{"a2billing", "A2Billing callback daemon's loop: SELECT due rows, then sleep 5 s", n},
		{"freepbx", fmt.Sprintf("FreePBX callback module: a process per call sleeping whole seconds (%d calls)", max(1, n/10)), max(1, n/10)},
	}
	type outcome struct {
		res dispatchResult
		err error
	}
	results := make([]outcome, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Go(func() {
			dir, err := os.MkdirTemp("", "callbackd-peers-dispatch-")
			if err != nil {
				results[i].err = err
				return
			}
			defer os.RemoveAll(dir)
			results[i].res, results[i].err = runJSONChild[dispatchResult](ctx, self, "dispatch", "-dir", dir,
				"-requests", fmt.Sprint(k.n), "-spread", spread.String(), k.kind)
		})
	}
	wg.Wait()
	r.printf("### Dispatch lateness at `next_call`: %d requests due over %s\n\n", n, spread)
	r.printf("The three run at once, each in its own process with its own SQLite file; each request is written 200 ms before it falls due (FreePBX: its process starts 1 s before).\n\n")
	r.printf("| dispatcher | p50 late | p99 late | max late | CPU µs/request | load avg |\n|---|---|---|---|---|---|\n")
	for i, k := range kinds {
		if results[i].err != nil {
			return fmt.Errorf("%s: %w", k.kind, results[i].err)
		}
		late := results[i].res.Late
		r.printf("| %s | %s | %s | %s | %s | %s |\n", k.name, ms(percentile(late, 0.5)), ms(percentile(late, 0.99)), ms(percentile(late, 1)),
			µs(results[i].res.CPU, len(late)), loadAverage())
	}
	r.printf("\n")
	return nil
}

var _ = sql.ErrNoRows
