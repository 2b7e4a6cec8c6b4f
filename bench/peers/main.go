// Command peers measures callbackd beside what an operator would use
// instead, on the same machine in the same run, and prints a Markdown
// table: FastAGI servers (callbackd's agi package, ding-dong on Node,
// panoramisk on Python) under one load generator, job queues on SQLite
// (callbackd's queue, River with riversqlite, goqite), the lateness of
// dispatch at next_call against the polling of A2Billing's callback daemon
// and the per-call sleep of FreePBX's callback module, and callbackd's
// ANI trigger with its own CPU and MariaDB's apart.
//
//	make bench-peers
//
// Every server and worker runs in its own process, so its CPU time (user
// plus system, from /proc/<pid>/stat) divided by the operations it served
// is its CPU per operation. Everything talks over 127.0.0.1 and every run
// is bounded in count and time. The trigger part needs
// CALLBACKD_TEST_MYSQL_DSN (scripts/mariadb-test.sh sets it); without it
// that part is left out.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

// subcommands run in a process of their own, started by the harness.
var subcommands = map[string]func(ctx context.Context, args []string, out io.Writer) error{
	"serve-agi":     serveAGI,
	"serve-trigger": serveTrigger,
	"queue":         runQueue,
	"dispatch":      runDispatch,
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 {
		if f, ok := subcommands[args[0]]; ok {
			return f(ctx, args[1:], out)
		}
	}
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	only := fs.String("only", "agi,queue,dispatch,trigger", "comma-separated parts to run")
	sessions := fs.Int("sessions", 20000, "FastAGI sessions per server")
	triggers := fs.Int("triggers", 5000, "ANI trigger sessions")
	jobs := fs.Int("jobs", 10000, "jobs per queue")
	requests := fs.Int("requests", 10000, "requests dispatched")
	spread := fs.Duration("spread", time.Minute, "window the requests fall due over")
	triggerLimits := fs.String("trigger-limits", "none", "the ANI trigger's abuse limits: none, local or shared (see serve-trigger -limits)")
	triggerReject := fs.String("trigger-reject", "handler", "who hangs the trigger's call up: handler (callbackd, EXEC PJSIPHangup) or dialplan (AGI parameter reject=dialplan)")
	triggerProcs := fs.Int("trigger-procs", 0, "GOMAXPROCS of the trigger server: the cores it may run Go code on at once (0: Go's default, every core)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sessions < 1 || *sessions > 200_000 || *triggers < 1 || *triggers > 100_000 ||
		*jobs < 1 || *jobs > 100_000 || *requests < 1 || *requests > 100_000 || *spread <= 0 || *spread > 5*time.Minute || *triggerProcs < 0 || *triggerProcs > 256 {
		return fmt.Errorf("a count or the spread is out of bounds")
	}
	parts := map[string]bool{}
	for _, p := range strings.Split(*only, ",") {
		parts[strings.TrimSpace(p)] = true
	}
	// The whole run is bounded: each part has its own bounds well inside.
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	r := &report{out: out, started: time.Now().UTC()}
	r.header(os.Args)
	if parts["agi"] {
		if err := benchAGI(ctx, r, *sessions); err != nil {
			return fmt.Errorf("FastAGI servers: %w", err)
		}
	}
	if parts["queue"] {
		if err := benchQueues(ctx, r, *jobs); err != nil {
			return fmt.Errorf("job queues: %w", err)
		}
	}
	if parts["dispatch"] {
		if err := benchDispatch(ctx, r, *requests, *spread); err != nil {
			return fmt.Errorf("dispatch: %w", err)
		}
	}
	if parts["trigger"] {
		if _, ok := limitsText[*triggerLimits]; !ok {
			return fmt.Errorf("-trigger-limits %q: none, local or shared", *triggerLimits)
		}
		if *triggerReject != "handler" && *triggerReject != "dialplan" {
			return fmt.Errorf("-trigger-reject %q: handler or dialplan", *triggerReject)
		}
		if err := benchTrigger(ctx, r, *triggers, *triggerLimits, *triggerProcs, *triggerReject == "dialplan"); err != nil {
			return fmt.Errorf("trigger: %w", err)
		}
	}
	return nil
}

// report prints the Markdown tables as each part finishes.
type report struct {
	out     io.Writer
	started time.Time
}

func (r *report) header(argv []string) {
	args := ""
	if len(argv) > 1 {
		args = " (arguments `" + strings.Join(argv[1:], " ") + "`)"
	}
	fmt.Fprintf(r.out, "Measured %s (UTC) with `make bench-peers`%s, %d cores, load average %s at the start.\n\n",
		r.started.Format("2006-01-02 15:04"), args, numCPU(), loadAverage())
}

func (r *report) printf(format string, a ...any) { fmt.Fprintf(r.out, format, a...) }

// µs formats a duration per operation in microseconds.
func µs(d time.Duration, ops int) string {
	if ops <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", float64(d.Nanoseconds())/1000/float64(ops))
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000)
	default:
		return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
	}
}
