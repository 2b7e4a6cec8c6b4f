package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/callbackd/callbackd/agi"
	"github.com/callbackd/callbackd/agi/agitest"
)

// serveAGI is callbackd's side of the FastAGI comparison: the agi package
// serving the scenario every server here serves (environment, EXEC Ringing,
// EXEC PJSIPHangup 603, close), as in agi's BenchmarkSessions.
func serveAGI(ctx context.Context, _ []string, out io.Writer) error {
	mux := agi.NewMux()
	mux.HandleFunc("ani", func(ctx context.Context, s *agi.Session) {
		if _, err := s.Exec(ctx, "Ringing"); err != nil {
			return
		}
		s.Exec(ctx, "PJSIPHangup", "603")
	})
	lc := agi.ListenConfig() // as callbackd serve listens
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnStdinEOF(cancel)
	fmt.Fprintf(out, "READY %s\n", ln.Addr())
	return agi.NewServer(mux).Serve(ctx, ln)
}

// agiLoad drives n sessions of the scenario at addr, 16 at a time (as
// agi's BenchmarkSessions does on two cores), and checks that each call
// was rejected with 603.
func agiLoad(ctx context.Context, addr string, n int) (agitest.LoadResult, error) {
	return agitest.Load(ctx, addr, agitest.LoadOptions{
		Sessions: n, Concurrency: 16, Timeout: 5 * time.Minute,
		CallFactory: func(i int) agitest.Call {
			return agitest.Call{URL: "agi://" + addr + "/ani", UniqueID: fmt.Sprintf("1732350000.%d", i), CallerID: "801", DNID: "1234"}
		},
		Check: func(t *agitest.Transcript) error {
			if t.SIPCode != 603 {
				return fmt.Errorf("SIP code %d, want 603", t.SIPCode)
			}
			return nil
		},
	})
}

func benchAGI(ctx context.Context, r *report, sessions int) error {
	self, err := selfPath()
	if err != nil {
		return err
	}
	here, err := os.Getwd()
	if err != nil {
		return err
	}
	servers := []struct {
		name, dir string
		argv      []string
	}{
		{"callbackd `agi` (Go)", here, []string{self, "serve-agi"}},
		{"ding-dong 0.1.7 (Node " + nodeVersion() + ")", filepath.Join(here, "dingdong"), []string{"node", "server.js"}},
		{"panoramisk " + panoramiskVersion() + " FastAGI (Python " + pythonVersion() + ")", filepath.Join(here, "panoramisk"), []string{"/usr/bin/python3", "server.py"}},
	}
	r.printf("### FastAGI servers: environment, `EXEC Ringing`, `EXEC PJSIPHangup 603`, close\n\n")
	r.printf("%d sessions per server, 16 at a time, from one load generator (`agi/agitest`, the harness process) over 127.0.0.1; each server in its own process, run one after the other after 500 warm-up sessions.\n\n", sessions)
	r.printf("| server | sessions/s | p50 | p99 | server CPU µs/session | load generator CPU µs/session | load avg |\n|---|---|---|---|---|---|---|\n")
	for _, s := range servers {
		c, err := startChild(s.name, s.dir, nil, s.argv...)
		if err != nil {
			return err
		}
		if _, err := agiLoad(ctx, c.addr, 500); err != nil {
			c.stop()
			return fmt.Errorf("%s warm-up: %w", s.name, err)
		}
		before, err1 := cpuTime(c.pid())
		selfBefore, err2 := cpuTime(os.Getpid())
		res, err := agiLoad(ctx, c.addr, sessions)
		after, err3 := cpuTime(c.pid())
		selfAfter, err4 := cpuTime(os.Getpid())
		c.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		for _, e := range []error{err1, err2, err3, err4} {
			if e != nil {
				return e
			}
		}
		r.printf("| %s | %.0f | %s | %s | %s | %s | %s |\n", s.name, res.PerSecond(), ms(res.Latency.P50), ms(res.Latency.P99),
			µs(after-before, res.Succeeded), µs(selfAfter-selfBefore, res.Succeeded), loadAverage())
	}
	r.printf("\n")
	return nil
}
