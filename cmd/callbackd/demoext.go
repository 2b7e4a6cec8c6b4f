package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callbackd/callbackd/agi/agitest"
	"github.com/callbackd/callbackd/ari/aritest"
)

// externalDemo are the flags of `callbackd demo -asterisk`: the simulated
// Asterisk for a callbackd serve that runs on this host (the package's
// service, say), so an operator can see a first callback complete before
// a real Asterisk is wired.
type externalDemo struct {
	asterisk, agi, number, cli, dest, user, password string
	timeout                                          time.Duration
}

func externalDemoFlags(fs *flag.FlagSet) *externalDemo {
	x := &externalDemo{}
	fs.StringVar(&x.asterisk, "asterisk", "", "simulate Asterisk on this 127.0.0.1 address (e.g. 127.0.0.1:8088) for a callbackd serve whose ari.url points at it, and make one missed call to it")
	fs.StringVar(&x.agi, "agi", "127.0.0.1:4573", "with -asterisk: the FastAGI address of that callbackd serve")
	fs.StringVar(&x.number, "number", "18005550100", "with -asterisk: the access number rung")
	fs.StringVar(&x.cli, "cli", "4930111111", "with -asterisk: the caller's number, called back")
	fs.StringVar(&x.dest, "dest", "12345", "with -asterisk: the destination the caller keys into the calling card")
	fs.StringVar(&x.user, "ari-user", "callbackd", "with -asterisk: the ARI user callbackd logs in as (ari.user)")
	fs.StringVar(&x.password, "ari-password", "callbackd", "with -asterisk: its password (ari.password)")
	fs.DurationVar(&x.timeout, "timeout", time.Minute, "with -asterisk: how long to wait for the callback to complete")
	return x
}

// demoAgainst plays Asterisk for an outside callbackd: it waits for its ARI
// connection, rings the access number over FastAGI, answers the callback
// (keying the destination into the calling card), answers leg B and hangs
// up after a few seconds. It succeeds when both legs were bridged and the
// call is over.
func (e *env) demoAgainst(x *externalDemo) error {
	host, portStr, err := net.SplitHostPort(x.asterisk)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || host != "127.0.0.1" {
		return usageError{fmt.Sprintf("-asterisk %q: want 127.0.0.1:<port>", x.asterisk)}
	}
	ctx, cancel := context.WithTimeout(e.ctx, x.timeout)
	defer cancel()
	say := func(format string, a ...any) {
		fmt.Fprintf(e.stdout, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
	}
	connected := make(chan struct{})
	var once sync.Once
	watch := slog.New(msgWatcher{msg: "aritest: websocket connected", fn: func() { once.Do(func() { close(connected) }) }})
	sim := aritest.New(aritest.WithCredentials(x.user, x.password), aritest.WithAddr(port), aritest.WithLogger(watch))
	sim.Phone(x.cli, aritest.Answer(time.Second).ThenDTMF(aritest.Digits(x.dest+"#", 150*time.Millisecond)...))
	sim.Phone(x.dest, aritest.Answer(time.Second).ThenHangup(3*time.Second, 16))
	base, err := sim.Start(ctx)
	if err != nil {
		return fmt.Errorf("start simulated Asterisk: %w", err)
	}
	defer sim.Stop()
	say("simulated Asterisk: ARI at %s (user %s); waiting for callbackd to connect (ari.url %s)", base, x.user, base)
	select {
	case <-connected:
	case <-ctx.Done():
		return fmt.Errorf("callbackd did not connect to %s within %s: its ari.url must be %s, ari.user %s and ari.password the -ari-password given here", base, x.timeout, base, x.user)
	}
	say("callbackd connected its events WebSocket")

	say("missed call: %s rings access number %s (FastAGI %s)", x.cli, x.number, x.agi)
	tr, err := agitest.Dial(ctx, x.agi, agitest.Call{URL: "agi://" + x.agi + "/ani", Args: []string{"number=" + x.number},
		CallerID: x.cli, CallerIDName: x.cli, DNID: x.number})
	if err != nil {
		return fmt.Errorf("missed call to FastAGI %s: %w", x.agi, err)
	}
	for _, cmd := range tr.Commands {
		say("  FastAGI %-48s -> %s", cmd.Line, strings.Join(cmd.Reply, " | "))
	}
	id := tr.Variables["CALLBACKD_REQUEST_ID"]
	if tr.Variables["CALLBACKD_ACTION"] != "callback" || id == "" {
		return fmt.Errorf("no callback was queued: CALLBACKD_ACTION=%s CALLBACKD_REASON=%s", tr.Variables["CALLBACKD_ACTION"], tr.Variables["CALLBACKD_REASON"])
	}
	say("caller rejected unanswered with SIP %d; request %s queued", tr.SIPCode, id)

	seen, bridged, answered, placed := 0, false, false, 0
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		reqs := sim.Requests()
		for _, r := range reqs[seen:] {
			if r.Method == "GET" {
				continue
			}
			say("  ARI %s %s%s", r.Method, r.Path, shortQuery(r.Query.Encode()))
			if r.Method == "POST" && (r.Path == "/ari/channels" || r.Path == "/ari/channels/create") {
				placed++
			}
			if r.Method == "POST" && strings.HasPrefix(r.Path, "/ari/bridges/") && strings.HasSuffix(r.Path, "/addChannel") {
				bridged = true
			}
		}
		seen = len(reqs)
		live := sim.Channels()
		for _, ch := range live {
			if ch.Number == x.dest && ch.State == "Up" && !answered {
				answered = true
				say("%s answered leg B", x.dest)
			}
		}
		if len(live) == 0 && placed > 0 && (bridged || answered) {
			if !bridged || !answered {
				return fmt.Errorf("the call ended before %s answered and was bridged (bridged: %v, answered: %v); see callbackd request show %s", x.dest, bridged, answered, id)
			}
			say("callback complete: %s was called back, connected to %s and bridged; both legs have hung up", x.cli, x.dest)
			fmt.Fprintf(e.stdout, "see it with: callbackd request show %s\n", id)
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the callback did not complete within %s (legs placed: %d, bridged: %v); see callbackd request show %s", x.timeout, placed, bridged, id)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// msgWatcher is a slog handler that discards records and calls fn when one
// carries msg.
type msgWatcher struct {
	msg string
	fn  func()
}

func (w msgWatcher) Enabled(context.Context, slog.Level) bool { return true }
func (w msgWatcher) Handle(_ context.Context, r slog.Record) error {
	if r.Message == w.msg {
		w.fn()
	}
	return nil
}
func (w msgWatcher) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w msgWatcher) WithGroup(string) slog.Handler      { return w }
