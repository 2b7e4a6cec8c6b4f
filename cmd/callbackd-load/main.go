// Command callbackd-load measures callbackd's JSON API: it posts
// create-request calls to a callbackd on this machine and prints the
// throughput and the latency percentiles.
//
//	callbackd-load api -url http://127.0.0.1:8080 -token T -username loadtest -n 20000 -c 32
//
// Every call queues a real callback for the account, so point it at a
// server whose dispatcher has no Asterisk (requests then wait), and raise
// the server's http.per_source limits for the run. It refuses any host that
// is not a loopback address, and stops after -n calls or -duration,
// whichever comes first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/callbackd/callbackd/httpapi/apiload"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "callbackd-load:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: callbackd-load api [flags]

  api    post create-request calls to the JSON API and report requests/s and latency

'callbackd-load api -h' lists the flags.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "api" {
		fmt.Fprint(stderr, usage)
		if len(args) > 0 && slices.Contains([]string{"-h", "--help", "help"}, args[0]) {
			return nil
		}
		return usageError{"want the api subcommand"}
	}
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := apiload.Config{}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "base URL of callbackd (loopback only)")
	fs.StringVar(&cfg.Token, "token", "", "operator API token (default $CALLBACKD_LOAD_TOKEN)")
	fs.StringVar(&cfg.Username, "username", "loadtest", "account the requests are created for")
	fs.StringVar(&cfg.Destination, "destination", "12345", "2-way destination of every request")
	fs.IntVar(&cfg.Requests, "n", 20000, fmt.Sprintf("create calls to make (at most %d)", apiload.MaxRequests))
	fs.IntVar(&cfg.Concurrency, "c", 32, fmt.Sprintf("calls in flight (at most %d)", apiload.MaxConcurrency))
	fs.DurationVar(&cfg.Duration, "duration", 2*time.Minute, fmt.Sprintf("stop after this long (at most %s)", apiload.MaxDuration))
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	if cfg.Token == "" {
		cfg.Token = getenv("CALLBACKD_LOAD_TOKEN")
	}
	// The token is a flag so that benchmarks can be scripted; the
	// environment variable keeps it out of the process list.
	rep, err := apiload.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", rep)
	if rep.Failed > 0 {
		fmt.Fprintf(stdout, "answers by status: %v; first failure: %s\n", rep.Codes, rep.FirstError)
	}
	return nil
}
