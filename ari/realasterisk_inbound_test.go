package ari_test

// The inbound IVR against a real Asterisk 22, skipped unless
// CALLBACKD_REAL_ASTERISK is set (see realasterisk_test.go). The test
// context also needs the caller's side and the Stasis line of an access
// number:
//
//	exten => ivr,1,Stasis(${CALLBACKD_TEST_APP},ivr,${CALLBACKD_TEST_NUMBER})
//	 same => n,Hangup()
//	exten => caller,1,Wait(1)
//	 same => n,SendDTMF(${CALLBACKD_TEST_DTMF})
//	 same => n,Wait(30)
//	 same => n,Hangup()
//
// The tests originate Local/ivr@<context>: its ";2" half is the inbound
// call that runs Stasis(), in state Ring; the ";1" half runs "caller" once
// callbackd answers, pressing the digits. The variables carry two
// underscores so that the ";2" half inherits them.

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/ari/callingcard"
	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/tariff"
	"github.com/callbackd/callbackd/trigger"
)

// inboundLocal originates the inbound call: its ";2" half enters
// Stasis(app,ivr,number) with caller ID cli.
func (ra realAsterisk) inboundLocal(t *testing.T, id, app, number, cli, dtmf string) string {
	t.Helper()
	q := url.Values{"endpoint": {"Local/ivr@" + ra.context}, "extension": {"caller"}, "context": {ra.context},
		"priority": {"1"}, "channelId": {id}, "otherChannelId": {id + "-in"}, "callerId": {cli}, "timeout": {"30"}}
	body := `{"variables":{"__CALLBACKD_TEST_APP":"` + app + `","__CALLBACKD_TEST_NUMBER":"` + number +
		`","__CALLBACKD_TEST_DTMF":"` + dtmf + `"}}`
	req, err := http.NewRequest("POST", ra.base+"/ari/channels?"+q.Encode(), stringsReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(ra.user, ra.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("originate the inbound call: %d", resp.StatusCode)
	}
	return id + "-in"
}

// TestRealAsteriskInboundStasis records what an application sees of an
// inbound call in Stasis when it rings, answers, plays with a language
// and hangs up with a cause, and runs the same steps against ari/aritest.
func TestRealAsteriskInboundStasis(t *testing.T) {
	ra := realAsteriskFromEnv(t)
	app := realProbeName(t, "inb")
	l := ra.connect(t, app)
	in := ra.inboundLocal(t, app+"-c", app, "18005550105", "15550001", "1")
	start := l.waitFor(in, "StasisStart", 10*time.Second)
	ss, _ := realFind(start, "StasisStart")
	realLogRaw(t, start)
	if ss.State != "Ring" || !slices.Equal(ss.Args, []string{"ivr", "18005550105"}) {
		t.Errorf("StasisStart state %q args %q; aritest: Ring [ivr 18005550105]", ss.State, ss.Args)
	}
	steps := func(do func(method, path string, q url.Values) int) []int {
		return []int{
			do("POST", "/ari/channels/"+in+"/ring", nil),
			do("POST", "/ari/channels/"+in+"/answer", nil),
			do("POST", "/ari/channels/"+in+"/play", url.Values{"media": {"digits:12"}, "lang": {"es"}, "playbackId": {in + "-pb"}}),
		}
	}
	codes := steps(func(m, p string, q url.Values) int { st, _ := ra.do(t, m, p, q); return st })
	l.waitFor(in, "PlaybackFinished", 10*time.Second)
	if st, body := ra.do(t, "DELETE", "/ari/channels/"+in, url.Values{"reason_code": {"17"}}); st != http.StatusNoContent {
		t.Fatalf("DELETE with reason_code: %d %s", st, body)
	}
	// The application's only subscription to a channel that entered
	// Stasis from the dialplan ends with StasisEnd: no ChannelDestroyed.
	l.waitFor(in, "StasisEnd", 10*time.Second)
	evs := l.settle(in)
	realLogRaw(t, evs)
	real := realTypes(evs)
	if _, ok := realFind(evs, "ChannelDestroyed"); ok {
		t.Errorf("ChannelDestroyed reached the application after StasisEnd")
	}

	// The same on the simulator.
	sim := aritest.NewT(t)
	sa := realAsterisk{base: sim.URL()}
	sa.user, sa.pass = sim.Credentials()
	sl := sa.connect(t, app)
	sin, err := sim.Inbound(aritest.InboundCall{CallerID: "15550001", Exten: "ivr", App: app, Args: []string{"ivr", "18005550105"}})
	if err != nil {
		t.Fatal(err)
	}
	in = sin
	simCodes := steps(func(m, p string, q url.Values) int { st, _ := sa.do(t, m, p, q); return st })
	sl.waitFor(sin, "PlaybackFinished", 10*time.Second)
	if st, body := sa.do(t, "DELETE", "/ari/channels/"+sin, url.Values{"reason_code": {"17"}}); st != http.StatusNoContent {
		t.Fatalf("aritest DELETE with reason_code: %d %s", st, body)
	}
	sl.waitFor(sin, "StasisEnd", 10*time.Second)
	simTypes := realTypes(sl.settle(sin))
	if !slices.Equal(codes, simCodes) {
		t.Errorf("ring, answer, play: Asterisk %v, aritest %v", codes, simCodes)
	}
	if !slices.Equal(real, simTypes) {
		t.Errorf("events:\nAsterisk %q\naritest  %q", real, simTypes)
	}
}

// TestRealAsteriskInboundIVR runs callbackd's inbound IVR against the real
// Asterisk: an identified caller enters the calling card, presses the
// destination, leg B answers, and both legs are billed.
func TestRealAsteriskInboundIVR(t *testing.T) {
	ra := realAsteriskFromEnv(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/callbackd.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.ImportRates(ctx, "default", []callback.TariffRate{
		{Prefix: "44", PricePerMinute: 6000, FirstIncrement: 1, NextIncrement: 1},
		{Prefix: "1800", PricePerMinute: 600, FirstIncrement: 1, NextIncrement: 1},
	}, true); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccount(ctx, &callback.Account{Username: "alice", Currency: "USD", Balance: 10 * callback.MoneyScale, Tariff: "default"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddCLI(ctx, callback.AccountCLI{CLI: "15550001", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	n := callback.AccessNumber{Number: "18005550105", Trigger: callback.TriggerANI, SubApp: "callingcard", Language: "en",
		IsCallback: 7, ANumberHandling: 3}
	n.ApplyDefaults()
	if err := st.PutAccessNumber(ctx, &n); err != nil {
		t.Fatal(err)
	}
	rates := tariff.NewCache(st, time.Minute)
	biller := billing.New(st, rates, billing.Options{Logger: testLogger(t)})
	cc, err := callingcard.New(callingcard.Options{Biller: biller, PINs: auth.New(st, nil, time.Minute, 10)})
	if err != nil {
		t.Fatal(err)
	}
	appName := realProbeName(t, "ivr")
	policy := testPolicy()
	var d *callback.Dispatcher
	var eng *trigger.Engine
	ctl, err := ari.New(
		ari.WithURL(ra.base), ari.WithCredentials(ra.user, ra.pass), ari.WithAppName(appName),
		ari.WithTrunk(ari.Trunk{Name: "test", Dial: "Local/{number}@" + ra.context}), ari.WithDefaultTrunk("test"),
		ari.WithChannelPrefix(appName), ari.WithApp(callback.SubAppCallingCard, cc), ari.WithLogger(testLogger(t)),
		ari.WithInbound(func(ctx context.Context, in ari.Inbound) error {
			return eng.ServeInbound(ctx, trigger.InboundCall{CLI: in.CallerID, Number: in.Number, Channel: in.Channel}, d.Start)
		}, 10*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	done := newConcluded()
	d, err = callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: ctl, Policy: policy, Node: "test", Logger: testLogger(t), Observer: done})
	if err != nil {
		t.Fatal(err)
	}
	svc := &callback.Service{Store: st, Policy: policy, Notify: d.Notify}
	eng = trigger.NewEngine(st, svc, rates, trigger.DefaultLimits(), testLogger(t))
	rctx, cancel := context.WithCancel(ctx)
	ctlDone, dispDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(ctlDone); ctl.Run(rctx) }()
	go func() { defer close(dispDone); d.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-dispDone; <-ctlDone })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := ctl.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}

	in := ra.inboundLocal(t, appName+"-c", appName, "18005550105", "15550001", "4420123#")
	var r *callback.Request
	deadline := time.Now().Add(90 * time.Second)
	for r == nil {
		reqs, err := st.ListRequests(ctx, callback.RequestFilter{Source: callback.SourceIVR})
		if err != nil {
			t.Fatal(err)
		}
		if len(reqs) == 1 && reqs[0].Finished {
			r = reqs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("inbound request not finished: %+v", reqs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hist, _ := st.History(ctx, r.ID)
	t.Logf("request %+v\nhistory %+v", r, hist)
	if r.Result != callback.ResultSuccessful || r.CallID != in || r.Username != "alice" {
		t.Fatalf("request %+v", r)
	}
	cdrs, err := st.ListCDRs(ctx, callback.CDRFilter{RequestID: r.ID})
	if err != nil || len(cdrs) != 2 || cdrs[0].Prefix != "1800" || cdrs[1].Prefix != "44" || cdrs[1].BillSec < 1 {
		t.Fatalf("CDRs %+v %v", cdrs, err)
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
