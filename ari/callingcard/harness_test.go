package callingcard_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/ari/callingcard"
	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/tariff"
	"github.com/callbackd/callbackd/trigger"
)

// wait bounds every wait of a test; tests never assert on time.
const wait = 20 * time.Second

func money(s string) callback.Money {
	m, err := callback.ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return m
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// concluded collects the dispatcher's finished requests so that tests
// wait on them instead of polling.
type concluded struct {
	mu     sync.Mutex
	final  map[int64]*callback.Request
	notify chan struct{}
}

func (c *concluded) Dispatched(*callback.Request, time.Duration) {}

func (c *concluded) Concluded(r *callback.Request, _ callback.Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Finished {
		cp := *r
		c.final[r.ID] = &cp
	}
	close(c.notify)
	c.notify = make(chan struct{})
}

func (c *concluded) wait(t testing.TB, id int64) *callback.Request {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		r, ok := c.final[id]
		n := c.notify
		c.mu.Unlock()
		if ok {
			return r
		}
		select {
		case <-n:
		case <-deadline.C:
			t.Fatalf("request %d not finished", id)
		}
	}
}

// Rates are per second with a first increment of 1 s, so that calls of a
// few seconds cost something and tests run fast: leg A to 1... costs
// 0.01/s, leg B to 44... 0.02/s, 99... 6000.00/min, 900... is a normal rate
// caught by the always-blocked prefixes, 8816 is a blocked rate.
var testRates = []callback.TariffRate{
	{Prefix: "1", PricePerMinute: money("0.60"), FirstIncrement: 1, NextIncrement: 1},
	{Prefix: "44", PricePerMinute: money("1.20"), FirstIncrement: 1, NextIncrement: 1},
	{Prefix: "99", PricePerMinute: money("6000"), FirstIncrement: 1, NextIncrement: 1},
	{Prefix: "900", PricePerMinute: money("0.60"), FirstIncrement: 1, NextIncrement: 1},
	{Prefix: "8816", PricePerMinute: money("9"), FirstIncrement: 60, NextIncrement: 60, Blocked: true},
}

type env struct {
	t    testing.TB
	sim  *aritest.Sim
	st   callback.Store
	done *concluded
	svc  *callback.Service
	ctl  *ari.Controller
}

type envOptions struct {
	app  func(*callingcard.Options)
	sims []aritest.Option
	// inbound serves Stasis(callbackd,ivr,<number>) through the trigger
	// engine and the dispatcher's Start, as callbackd serve wires them,
	// for the access number ivrNumber; a non-nil gate holds each decision
	// until it is closed.
	inbound bool
	gate    chan struct{}
	number  func(*callback.AccessNumber)
	// twoWay registers the 2-way sub-application, billed by the same
	// biller, with these settings.
	twoWay *ari.TwoWay
	// slice is billing.Options.ReserveSlice; zero: the default.
	slice time.Duration
	// log is the controller's (and so the calls') logger; nil: testLogger.
	log *slog.Logger
}

// ivrNumber is the access number of the inbound tests: Mizu iscallback 7
// (IVR on every inbound call), the default account pays for PIN logins.
const ivrNumber = "18005550100"

// newEnv starts a simulated Asterisk, the real ARI controller with the
// calling card registered, and the real dispatcher over st.
func newEnv(t *testing.T, st callback.Store, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	sim := aritest.NewT(t, o.sims...)
	if _, err := st.ImportRates(ctx, "retail", testRates, true); err != nil {
		t.Fatal(err)
	}
	for _, a := range []callback.Account{
		{Username: "alice", Balance: money("5"), Currency: "USD", Tariff: "retail", MaxSessions: 10},
		{Username: "default", Balance: money("100"), Currency: "USD", Tariff: "retail", MaxSessions: 10},
		{Username: "carol", Balance: money("2.50"), Currency: "EUR", Tariff: "retail", PIN: "4242", MaxSessions: 10},
	} {
		if err := st.CreateAccount(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	biller := billing.New(st, tariff.NewCache(st, time.Minute), billing.Options{Logger: testLogger(t), ReserveSlice: o.slice})
	opts := callingcard.Options{
		Biller: biller, PINs: auth.New(st, nil, time.Minute, 10),
		InterDigit: 300 * time.Millisecond, PINTotal: 2 * time.Second, DestinationTotal: 2 * time.Second,
		Warning: time.Second,
	}
	var eng *trigger.Engine
	if o.inbound {
		// As callbackd serve wires it: a PIN login may add the caller's
		// number to the account (anumberhandling 1 and 3).
		opts.OnPINLogin = func(ctx context.Context, r *callback.Request, a *callback.Account) { eng.PINLogin(ctx, r, a) }
	}
	if o.app != nil {
		o.app(&opts)
	}
	app, err := callingcard.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	user, pass := sim.Credentials()
	var d *callback.Dispatcher
	logger := testLogger(t)
	if o.log != nil {
		logger = o.log
	}
	copts := []ari.Option{ari.WithURL(sim.URL()), ari.WithCredentials(user, pass), ari.WithLogger(logger),
		ari.WithReconnect(10*time.Millisecond, 200*time.Millisecond), ari.WithApp(callback.SubAppCallingCard, app)}
	if o.twoWay != nil {
		tw := *o.twoWay
		tw.Biller = biller
		copts = append(copts, ari.WithApp(callback.SubAppTwoWay, tw))
	}
	if o.inbound {
		n := callback.AccessNumber{Number: ivrNumber, Trigger: callback.TriggerANI, SubApp: "callingcard", Language: "en",
			DefaultAccountUsername: "default", AnonymousAccounting: true, IsCallback: 7, ANumberHandling: 3}
		if o.number != nil {
			o.number(&n)
		}
		n.ApplyDefaults()
		if err := st.PutAccessNumber(ctx, &n); err != nil {
			t.Fatal(err)
		}
		if err := st.AddCLI(ctx, callback.AccountCLI{CLI: "15550001", Username: "alice"}); err != nil {
			t.Fatal(err)
		}
		copts = append(copts, ari.WithInbound(func(ctx context.Context, in ari.Inbound) error {
			if o.gate != nil {
				select {
				case <-o.gate:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return eng.ServeInbound(ctx, trigger.InboundCall{CLI: in.CallerID, Number: in.Number, Channel: in.Channel}, d.Start)
		}, 5*time.Second))
	}
	ctl, err := ari.New(copts...)
	if err != nil {
		t.Fatal(err)
	}
	p := callback.DefaultPolicy()
	p.DelayBeforeCallback = 0
	p.BackoffInterval = 20 * time.Millisecond
	p.ScanInterval = 50 * time.Millisecond
	p.RescueInterval = 100 * time.Millisecond
	p.Lease = 5 * time.Second
	p.ShutdownGrace = 2 * time.Second
	p.Timeout = 2 * time.Second
	p.MaxAttempts = 1
	e := &env{t: t, sim: sim, st: st, ctl: ctl, done: &concluded{final: map[int64]*callback.Request{}, notify: make(chan struct{})}}
	d, err = callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: ctl, Policy: p, Node: "test", Logger: testLogger(t), Observer: e.done})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = &callback.Service{Store: st, Policy: p, Notify: d.Notify}
	eng = trigger.NewEngine(st, e.svc, tariff.NewCache(st, time.Minute), trigger.DefaultLimits(), testLogger(t))
	ctlCtx, stopCtl := context.WithCancel(ctx)
	dispCtx, stopDisp := context.WithCancel(ctx)
	ctlDone, dispDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(ctlDone); ctl.Run(ctlCtx) }()
	go func() { defer close(dispDone); d.Run(dispCtx) }()
	t.Cleanup(func() { stopDisp(); <-dispDone; stopCtl(); <-ctlDone })
	return e
}

func (e *env) create(r *callback.Request) *callback.Request {
	e.t.Helper()
	if err := e.svc.Create(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func card(username, cli string) *callback.Request {
	r := callback.NewRequest(callback.SourceAPI)
	r.Username, r.OriginalCLI, r.OriginalCLD = username, cli, "callingcard"
	return r
}

// played lists the media of the playbacks on channel, in order.
func (e *env) played(channel string) []string {
	var out []string
	for _, r := range e.sim.Requests() {
		if r.Method == "POST" && r.Path == "/ari/channels/"+channel+"/play" {
			out = append(out, strings.Split(r.Query.Get("media"), ",")...)
		}
	}
	return out
}

func count(media []string, m string) int {
	n := 0
	for _, x := range media {
		if x == m {
			n++
		}
	}
	return n
}

// waitPlay waits until a playback with media m starts on channel.
func (e *env) waitPlay(channel, m string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := e.sim.WaitRequest(ctx, func(r aritest.Request) bool {
		return r.Method == "POST" && r.Path == "/ari/channels/"+channel+"/play" && strings.Contains(","+r.Query.Get("media")+",", ","+m+",")
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// waitPath waits for a request to path.
func (e *env) waitPath(method, path string) url.Values {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := e.sim.WaitRequest(ctx, func(r aritest.Request) bool { return r.Method == method && r.Path == path })
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Query
}

func (e *env) cdrs(id int64) []*callback.CDR {
	e.t.Helper()
	list, err := e.st.ListCDRs(context.Background(), callback.CDRFilter{RequestID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

func (e *env) balance(username string) callback.Money {
	e.t.Helper()
	a, err := e.st.GetAccount(context.Background(), username)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.Balance
}

func (e *env) noReservations() {
	e.t.Helper()
	rs, err := e.st.ListReservations(context.Background(), "")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range rs {
		e.t.Errorf("reservation left: %+v", r)
	}
}

func legID(id int64, leg string) string {
	return "cbd-" + strconv.FormatInt(id, 10) + "-1-" + leg
}

// stores runs test on SQLite and on MariaDB (skipped without
// CALLBACKD_TEST_MYSQL_DSN).
func stores(t *testing.T, test func(t *testing.T, st callback.Store)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); test(t, dbtest.SQLite(t)) })
	t.Run("mariadb", func(t *testing.T) { t.Parallel(); test(t, dbtest.MySQL(t)) })
}
