package ari_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
)

// wait bounds every wait of a test; tests never assert on time.
const wait = 20 * time.Second

func testPolicy() callback.Policy {
	p := callback.DefaultPolicy()
	p.DelayBeforeCallback = 0
	p.BackoffInterval = 20 * time.Millisecond
	p.ScanInterval = 50 * time.Millisecond
	p.RescueInterval = 100 * time.Millisecond
	p.Lease = 3 * time.Second
	p.ShutdownGrace = 2 * time.Second
	p.Timeout = time.Second
	return p
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// concluded collects the dispatcher's outcomes so that tests wait on them
// instead of polling.
type concluded struct {
	mu     sync.Mutex
	final  map[int64]*callback.Request
	outs   map[int64][]callback.Outcome
	notify chan struct{}
}

func newConcluded() *concluded {
	return &concluded{final: map[int64]*callback.Request{}, outs: map[int64][]callback.Outcome{}, notify: make(chan struct{})}
}

func (c *concluded) Dispatched(*callback.Request, time.Duration) {}

func (c *concluded) Concluded(r *callback.Request, out callback.Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outs[r.ID] = append(c.outs[r.ID], out)
	if r.Finished {
		cp := *r
		c.final[r.ID] = &cp
	}
	close(c.notify)
	c.notify = make(chan struct{})
}

func (c *concluded) wait(t testing.TB, id int64) *callback.Request {
	t.Helper()
	return c.waitWithin(t, id, wait)
}

// waitWithin is wait for at most d: a benchmark's thousands of calls
// settle over longer than one test's wait.
func (c *concluded) waitWithin(t testing.TB, id int64, d time.Duration) *callback.Request {
	t.Helper()
	deadline := time.NewTimer(d)
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

// ctlObserver records the controller's connection changes.
type ctlObserver struct {
	mu       sync.Mutex
	ups      int
	answered map[callback.Leg]int
	legs     map[callback.Cause]int
	notify   chan struct{}
	// routed counts events by how long after Asterisk's timestamp they
	// reached their call, in whole milliseconds (the last bucket holds
	// everything later); fixed-size so that counting costs no memory.
	routed  [routedBuckets]int64
	dropped int64
}

const routedBuckets = 2001

// routedQuantile returns the routing delay below which fraction q of the
// events fell, and the largest bucket seen.
func (o *ctlObserver) routedQuantile(q float64) (at, max time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var total int64
	for _, n := range o.routed {
		total += n
	}
	var seen int64
	at = -1
	for ms, n := range o.routed {
		if n == 0 {
			continue
		}
		seen += n
		if at < 0 && float64(seen) >= q*float64(total) {
			at = time.Duration(ms) * time.Millisecond
		}
		max = time.Duration(ms) * time.Millisecond
	}
	return at, max
}

func newCtlObserver() *ctlObserver {
	return &ctlObserver{legs: map[callback.Cause]int{}, answered: map[callback.Leg]int{}, notify: make(chan struct{})}
}

func (o *ctlObserver) LegEnded(_ callback.Leg, c callback.Cause) {
	o.mu.Lock()
	o.legs[c]++
	o.mu.Unlock()
}
func (o *ctlObserver) LegAnswered(l callback.Leg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.answered[l]++
	close(o.notify)
	o.notify = make(chan struct{})
}

// waitAnswered waits until n legs l were answered and recorded.
func (o *ctlObserver) waitAnswered(t testing.TB, l callback.Leg, n int) {
	t.Helper()
	o.waitFor(t, func() bool { return o.answered[l] >= n }, fmt.Sprintf("%d legs %s answered", n, l))
}

func (o *ctlObserver) waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		ok, ch := cond(), o.notify
		o.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("waited in vain for %s", what)
		}
	}
}

func (o *ctlObserver) LiveCalls(int) {}
func (o *ctlObserver) EventRouted(_ string, d time.Duration) {
	ms := min(max(d.Milliseconds(), 0), routedBuckets-1)
	o.mu.Lock()
	o.routed[ms]++
	o.mu.Unlock()
}

func (o *ctlObserver) EventDropped(string) {
	o.mu.Lock()
	o.dropped++
	o.mu.Unlock()
}
func (o *ctlObserver) Connected(up bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if up {
		o.ups++
	}
	close(o.notify)
	o.notify = make(chan struct{})
}

// waitUps waits until the controller has connected n times.
func (o *ctlObserver) waitUps(t testing.TB, n int) {
	t.Helper()
	o.waitFor(t, func() bool { return o.ups >= n }, fmt.Sprintf("%d connections", n))
}

type env struct {
	t      testing.TB
	sim    *aritest.Sim
	st     *sqlite.DB
	ctl    *ari.Controller
	obs    *ctlObserver
	done   *concluded
	svc    *callback.Service
	disp   *callback.Dispatcher
	policy callback.Policy
	url    string
	opts   []ari.Option
	wrap   func(callback.Store) callback.Store // the dispatcher's view of the store

	stopCtl  context.CancelFunc
	ctlDone  chan struct{}
	stopDisp context.CancelFunc
	dispDone chan struct{}
}

type envOption func(*env)

func withPolicy(p callback.Policy) envOption { return func(e *env) { e.policy = p } }
func withURL(u string) envOption             { return func(e *env) { e.url = u } }
func withCtl(o ...ari.Option) envOption      { return func(e *env) { e.opts = append(e.opts, o...) } }

// withStore hands the dispatcher the store wrapped by w.
func withStore(w func(callback.Store) callback.Store) envOption { return func(e *env) { e.wrap = w } }

// newEnv opens a store, a simulated Asterisk and a controller connected to
// it; the dispatcher is started with start.
func newEnv(t testing.TB, sim *aritest.Sim, opts ...envOption) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/callbackd.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, sim: sim, st: st, obs: newCtlObserver(), done: newConcluded(), policy: testPolicy(), url: sim.URL()}
	for _, o := range opts {
		o(e)
	}
	user, pass := sim.Credentials()
	ctlOpts := append([]ari.Option{
		ari.WithURL(e.url), ari.WithCredentials(user, pass), ari.WithLogger(testLogger(t)),
		ari.WithObserver(e.obs), ari.WithAccessNumbers(st), ari.WithReconnect(10*time.Millisecond, 200*time.Millisecond),
	}, e.opts...)
	ctl, err := ari.New(ctlOpts...)
	if err != nil {
		t.Fatal(err)
	}
	e.ctl = ctl
	ctx, cancel := context.WithCancel(context.Background())
	e.stopCtl, e.ctlDone = cancel, make(chan struct{})
	go func() {
		defer close(e.ctlDone)
		if err := ctl.Run(ctx); err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	t.Cleanup(e.stop)
	e.svc = &callback.Service{Store: st, Policy: e.policy}
	if err := st.CreateAccount(context.Background(), &callback.Account{Username: "801", Currency: "USD", Balance: 100 * callback.MoneyScale}); err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs the dispatcher with the controller as its Dialer.
func (e *env) start() {
	e.t.Helper()
	var st callback.Store = e.st
	if e.wrap != nil {
		st = e.wrap(st)
	}
	d, err := callback.NewDispatcher(callback.DispatcherOptions{
		Store: st, Dialer: e.ctl, Policy: e.policy, Node: "test", Logger: testLogger(e.t), Observer: e.done,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.disp = d
	e.svc.Notify = d.Notify
	ctx, cancel := context.WithCancel(context.Background())
	e.stopDisp, e.dispDone = cancel, make(chan struct{})
	go func() {
		defer close(e.dispDone)
		if err := d.Run(ctx); err != nil {
			e.t.Errorf("dispatcher: %v", err)
		}
	}()
}

func (e *env) stop() {
	if e.stopDisp != nil {
		e.stopDisp()
		<-e.dispDone
	}
	e.stopCtl()
	<-e.ctlDone
}

func (e *env) ready() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.ctl.WaitReady(ctx); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) create(r *callback.Request) *callback.Request {
	e.t.Helper()
	if err := e.svc.Create(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func twoWay(cli, dest string) *callback.Request {
	r := callback.NewRequest(callback.SourceAPI)
	r.Username, r.OriginalCLI, r.OriginalCLD = "801", cli, "2way_"+dest
	return r
}

func (e *env) history(id int64) []string {
	e.t.Helper()
	hist, err := e.st.History(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range hist {
		s := string(ev.Status)
		if ev.Result != "" {
			s += "/" + string(ev.Result)
		}
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func (e *env) wantHistory(id int64, want ...string) {
	e.t.Helper()
	if got := e.history(id); !slices.Equal(got, want) {
		e.t.Fatalf("history of %d:\n got %q\nwant %q", id, got, want)
	}
}

// noChannels fails if the simulator still holds channels of ours.
func (e *env) noChannels() {
	e.t.Helper()
	for _, ch := range e.sim.Channels() {
		e.t.Errorf("channel %s (%s) still up", ch.ID, ch.State)
	}
}

func (e *env) waitEvent(channel, typ string) aritest.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ev, err := e.sim.WaitEvent(ctx, channel, typ)
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

func (e *env) waitRequest(match func(aritest.Request) bool) aritest.Request {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := e.sim.WaitRequest(ctx, match)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func legID(id int64, attempt int, leg string) string {
	return fmt.Sprintf("cbd-%d-%d-%s", id, attempt, leg)
}

// originates returns the originate requests (POST /ari/channels) for a channel id.
func (e *env) originates(channel string) []aritest.Request {
	var out []aritest.Request
	for _, r := range e.sim.Requests() {
		if r.Method == "POST" && r.Path == "/ari/channels" && r.Query.Get("channelId") == channel {
			out = append(out, r)
		}
	}
	return out
}

func bodyVariables(t testing.TB, r aritest.Request) map[string]string {
	t.Helper()
	var b struct {
		Variables map[string]string `json:"variables"`
	}
	if len(r.Body) > 0 {
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatalf("body %s: %v", r.Body, err)
		}
	}
	return b.Variables
}

// answerNoRing answers without ringing first, so that the channel's first
// ChannelStateChange is Up.
func answerNoRing() aritest.Behaviour {
	return aritest.Behaviour{Outcome: aritest.OutcomeAnswer, After: 5 * time.Millisecond}
}

// proxy is a TCP relay on 127.0.0.1 whose connections a test can cut, to
// drop the events WebSocket without stopping Asterisk.
type proxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	conns   []net.Conn
	blocked bool
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.drop() })
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		blocked := p.blocked
		p.mu.Unlock()
		if blocked {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

// block cuts every connection and refuses new ones until unblock.
func (p *proxy) block() {
	p.mu.Lock()
	p.blocked = true
	p.mu.Unlock()
	p.drop()
}

func (p *proxy) unblock() {
	p.mu.Lock()
	p.blocked = false
	p.mu.Unlock()
}

// drop cuts every connection through the proxy.
func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
