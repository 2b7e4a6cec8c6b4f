package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/callbackd/callbackd/agi/agitest"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

// demo runs the whole product in one process against the simulated
// Asterisk (ARI over HTTP and WebSocket, FastAGI over TCP, all on
// 127.0.0.1) on the embedded store: it seeds an account and an access
// number, makes a missed call, and prints the callback as it happens.
func (e *env) demo(args []string) error {
	fs, _ := e.flags("demo")
	dir := fs.String("dir", "", "directory for the demo's embedded store (default: a temporary one, removed after)")
	verbose := fs.Bool("v", false, "also print callbackd's own log lines")
	ext := externalDemoFlags(fs)
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if ext.asterisk != "" {
		return e.demoAgainst(ext)
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "callbackd-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
	defer cancel()
	out := e.stdout
	say := func(format string, a ...any) {
		fmt.Fprintf(out, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
	}

	// The simulated Asterisk: the user's phone answers after a second; the
	// destination answers after a second and hangs up after three.
	const user, access, ivrAccess, dest = "4930111111", "18005550100", "18005550105", "12345"
	sim := aritest.New(aritest.WithCredentials("callbackd", "demo"))
	sim.Phone(user, aritest.Answer(time.Second))
	sim.Phone(dest, aritest.Answer(time.Second).ThenHangup(3*time.Second, 16))
	base, err := sim.Start(ctx)
	if err != nil {
		return fmt.Errorf("start simulated Asterisk: %w", err)
	}
	defer sim.Stop()
	agiAddr, err := freeAddr()
	if err != nil {
		return err
	}

	c := DefaultConfig()
	c.Database.SQLitePath = filepath.Join(*dir, "demo.db")
	c.AGI.Listen = agiAddr
	c.HTTP.Listen = ""
	c.ARI.URL, c.ARI.User, c.ARI.Password = base, "callbackd", "demo"
	c.Callback.DelayBeforeCallback = time.Second
	c.Callback.ScanInterval = 200 * time.Millisecond
	var logw io.Writer = io.Discard
	if *verbose {
		logw = e.stderr
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))

	say("simulated Asterisk: ARI at %s, callbackd FastAGI at %s, store %s", base, agiAddr, c.Database.SQLitePath)
	srv, err := newServer(ctx, &c, log)
	if err != nil {
		return err
	}
	defer srv.close()
	if err := seedDemo(ctx, srv.store, user, access, ivrAccess, dest); err != nil {
		return err
	}
	say("seeded account 801 (10.00 USD) calling from %s, access number %s (ANI trigger, 2-way to %s)", user, access, dest)

	srvCtx, stopSrv := context.WithCancel(ctx)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.run(srvCtx) }()
	defer func() { stopSrv(); <-srvDone }()
	if err := waitListening(ctx, agiAddr); err != nil {
		return err
	}

	say("missed call: %s rings access number %s", user, access)
	tr, err := agitest.Dial(ctx, agiAddr, agitest.Call{URL: "agi://" + agiAddr + "/ani", Args: []string{"number=" + access},
		CallerID: user, CallerIDName: user, DNID: access})
	if err != nil {
		return fmt.Errorf("missed call: %w", err)
	}
	for _, cmd := range tr.Commands {
		say("  FastAGI %-48s -> %s", cmd.Line, strings.Join(cmd.Reply, " | "))
	}
	say("caller rejected unanswered with SIP %d; CALLBACKD_ACTION=%s, request %s",
		tr.SIPCode, tr.Variables["CALLBACKD_ACTION"], tr.Variables["CALLBACKD_REQUEST_ID"])
	var id int64
	if _, err := fmt.Sscan(tr.Variables["CALLBACKD_REQUEST_ID"], &id); err != nil || id == 0 {
		return fmt.Errorf("no request was queued: %s", tr.Variables["CALLBACKD_REASON"])
	}

	seenReqs := 0
	if err := followDemo(ctx, say, out, sim, srv.store, id, &seenReqs); err != nil {
		return err
	}
	a, err := srv.store.GetAccount(ctx, "801")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "account 801 balance: %s %s (was 10.00)\n", a.Balance, a.Currency)

	// Second act: an access number whose Mizu mode wants the IVR on the
	// inbound call. The dialplan sends the caller to
	// Stasis(callbackd,ivr,<number>); callbackd answers, runs the calling
	// card, and the caller keys in the destination.
	say("inbound IVR: %s rings access number %s (iscallback 7), the dialplan sends it to Stasis(callbackd,ivr,%s)", user, ivrAccess, ivrAccess)
	ch, err := sim.Inbound(aritest.InboundCall{CallerID: user, Exten: ivrAccess, Args: []string{"ivr", ivrAccess},
		Caller: aritest.Answer(0).ThenDTMF(aritest.Digits(dest+"#", 150*time.Millisecond)...)})
	if err != nil {
		return fmt.Errorf("inbound call: %w", err)
	}
	var ivrID int64
	for ivrID == 0 {
		reqs, err := srv.store.ListRequests(ctx, callback.RequestFilter{Source: callback.SourceIVR})
		if err != nil {
			return err
		}
		for _, r := range reqs {
			if r.CallID == ch {
				ivrID = r.ID
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the inbound call was not taken: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	say("caller keys %s# into the calling card", dest)
	if err := followDemo(ctx, say, out, sim, srv.store, ivrID, &seenReqs); err != nil {
		return err
	}
	a, err = srv.store.GetAccount(ctx, "801")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "account 801 balance: %s %s\n", a.Balance, a.Currency)
	return nil
}

// followDemo prints the ARI requests callbackd sends and the request's
// history until it is finished, then its CDRs.
func followDemo(ctx context.Context, say func(string, ...any), out io.Writer, sim *aritest.Sim, st callback.Store, id int64, seenReqs *int) error {
	seenEvents := 0
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		reqs := sim.Requests()
		for _, r := range reqs[*seenReqs:] {
			if r.Method != "GET" {
				say("  ARI %s %s%s", r.Method, r.Path, shortQuery(r.Query.Encode()))
			}
		}
		*seenReqs = len(reqs)
		hist, err := st.History(ctx, id)
		if err != nil {
			return err
		}
		for _, ev := range hist[seenEvents:] {
			res := ""
			if ev.Result != "" {
				res = " / " + string(ev.Result)
			}
			say("request %d: %s%s  %s", id, ev.Status, res, ev.Note)
		}
		seenEvents = len(hist)
		r, err := st.GetRequest(ctx, id)
		if err != nil {
			return err
		}
		if r.Finished {
			say("finished: status %q, result %q, call_count %d, setup %s, connect %s, disconnect %s",
				r.Status, r.Result, r.CallCount, fmtTime(r.SetupTime), fmtTime(r.ConnectTime), fmtTime(r.DisconnectTime))
			return printDemoCDRs(ctx, out, st, id)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo did not finish: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func shortQuery(q string) string {
	if q == "" {
		return ""
	}
	if len(q) > 110 {
		q = q[:110] + "..."
	}
	return "?" + q
}

func printDemoCDRs(ctx context.Context, w io.Writer, st callback.Store, id int64) error {
	cdrs, err := st.ListCDRs(ctx, callback.CDRFilter{RequestID: id})
	if err != nil {
		return err
	}
	if len(cdrs) == 0 {
		fmt.Fprintln(w, "CDRs: none recorded for this sub-application")
		return nil
	}
	fmt.Fprintln(w, "CDRs:")
	for _, c := range cdrs {
		fmt.Fprintf(w, "  leg %s  %-12s account %-6s billsec %3d  %-9s cause %2d  charge %s %s\n",
			c.Leg, c.Number, c.Account, c.BillSec, c.Disposition, c.Cause, c.Charge, c.Currency)
	}
	return nil
}

func seedDemo(ctx context.Context, st callback.Store, user, access, ivrAccess, dest string) error {
	if err := st.CreateAccount(ctx, &callback.Account{Username: "801", Currency: "USD", Balance: 10 * callback.MoneyScale,
		MaxSessions: 4, Language: "en", Tariff: "default"}); err != nil && !errors.Is(err, callback.ErrConflict) {
		return fmt.Errorf("seed account: %w", err)
	}
	if err := st.AddCLI(ctx, callback.AccountCLI{CLI: user, Username: "801"}); err != nil && !errors.Is(err, callback.ErrConflict) {
		return fmt.Errorf("seed CLI: %w", err)
	}
	if _, err := st.ImportRates(ctx, "default", []callback.TariffRate{
		{Tariff: "default", Prefix: "49", PricePerMinute: 200, FirstIncrement: 1, NextIncrement: 1, Description: "Germany"},
		{Tariff: "default", Prefix: "1", PricePerMinute: 100, FirstIncrement: 1, NextIncrement: 1, Description: "destination"},
	}, true); err != nil {
		return fmt.Errorf("seed tariff: %w", err)
	}
	n := &callback.AccessNumber{Number: access, Trigger: callback.TriggerANI, SubApp: "2way_" + dest, Language: "en",
		RingbackTime: 1, AnonymousAccounting: true, ANumberHandling: callback.DefaultANumberHandling}
	n.ApplyDefaults()
	if err := st.PutAccessNumber(ctx, n); err != nil {
		return fmt.Errorf("seed access number: %w", err)
	}
	ivr := &callback.AccessNumber{Number: ivrAccess, Trigger: callback.TriggerANI, SubApp: "callingcard", Language: "en",
		IsCallback: 7, AnonymousAccounting: true, ANumberHandling: callback.DefaultANumberHandling}
	ivr.ApplyDefaults()
	if err := st.PutAccessNumber(ctx, ivr); err != nil {
		return fmt.Errorf("seed access number: %w", err)
	}
	return nil
}

// freeAddr finds a free port on 127.0.0.1 for the demo's FastAGI server.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitListening(ctx context.Context, addr string) error {
	for range 100 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("FastAGI server did not start on %s", addr)
}
