package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/webhook"
)

const secret = "whsec_test_0123456789"

// eachStore runs fn on SQLite, and on MariaDB when the tests have one.
func eachStore(t *testing.T, fn func(t *testing.T, st callback.Store)) {
	t.Run("SQLite", func(t *testing.T) { fn(t, dbtest.SQLite(t)) })
	t.Run("MariaDB", func(t *testing.T) { fn(t, dbtest.MySQL(t)) })
}

// receiver is a webhook endpoint on 127.0.0.1 that checks every
// signature and records what it was sent.
type receiver struct {
	*httptest.Server
	t      testing.TB
	mu     sync.Mutex
	bodies map[string][]byte // by Callbackd-Delivery
	hits   map[string]int
	at     map[string]time.Time // first receipt
	total  int
	answer func(n int, r *http.Request) int // status to answer the n-th request (1-based)
	notify chan struct{}
}

func newReceiver(t testing.TB, answer func(n int, r *http.Request) int) *receiver {
	rc := &receiver{t: t, bodies: map[string][]byte{}, hits: map[string]int{}, at: map[string]time.Time{}, answer: answer,
		notify: make(chan struct{}, 1)}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, 5*time.Minute, time.Now()); err != nil {
		rc.t.Errorf("delivery %s: %v", r.Header.Get(webhook.DeliveryHeader), err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := r.Header.Get(webhook.DeliveryHeader)
	rc.mu.Lock()
	rc.total++
	n := rc.total
	if prev, ok := rc.bodies[id]; ok && string(prev) != string(body) {
		rc.t.Errorf("delivery %s: body changed between attempts:\n%s\n%s", id, prev, body)
	}
	rc.bodies[id] = body
	rc.mu.Unlock()
	code := http.StatusNoContent
	if rc.answer != nil {
		code = rc.answer(n, r)
	}
	if code/100 == 2 {
		rc.mu.Lock()
		if rc.hits[id] == 0 {
			rc.at[id] = time.Now()
		}
		rc.hits[id]++
		rc.mu.Unlock()
	}
	w.WriteHeader(code)
	select {
	case rc.notify <- struct{}{}:
	default:
	}
}

// delivered returns how many distinct deliveries got a 2xx answer.
func (rc *receiver) delivered() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.hits)
}

// waitFor waits, at most a minute, until cond holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counter is an Observer that counts attempts by outcome.
type counter struct {
	mu sync.Mutex
	n  map[webhook.State]int
}

func (c *counter) Attempted(s webhook.State, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[webhook.State]int{}
	}
	c.n[s]++
}
func (c *counter) QueueDepth(int) {}
func (c *counter) get(s webhook.State) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[s]
}

// startSender runs a sender on st until the test ends.
func startSender(t testing.TB, st callback.Store, o webhook.Options) *counter {
	t.Helper()
	obs := &counter{}
	if o.Store == nil {
		o.Store = st.(webhook.Store)
	}
	o.Secret = secret
	if o.Owner == "" {
		o.Owner = "node1/test"
	}
	o.Observer = obs
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.Poll == 0 {
		o.Poll = 10 * time.Millisecond
	}
	runSender(t, o)
	return obs
}

// runSender runs a sender with o until the returned stop is called or
// the test ends.
func runSender(t testing.TB, o webhook.Options) (stop func()) {
	t.Helper()
	s, err := webhook.NewSender(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// finish creates n requests and cancels them: each ends Finished /
// Canceled, one status change.
func finish(t testing.TB, st callback.Store, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range ids {
		r := callback.NewRequest(callback.SourceAPI)
		r.Username, r.OriginalCLI, r.OriginalCLD, r.NextCall = "801", fmt.Sprint(4930000000+i), "2way_12345", time.Now().Add(time.Hour)
		if err := st.CreateRequest(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Cancel(context.Background(), r.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	return ids
}

func outbox(t testing.TB, st callback.Store, f webhook.Filter) []*webhook.Delivery {
	t.Helper()
	f.Limit = 10000
	ds, err := st.(webhook.Store).ListDeliveries(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// Every notification arrives, signed, with the request and its outcome,
// and is marked delivered.
func TestSenderDeliversSigned(t *testing.T) {
	eachStore(t, func(t *testing.T, st callback.Store) {
		st.(webhook.Store).SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsAll})
		rc := newReceiver(t, nil)
		ids := finish(t, st, 20)
		obs := startSender(t, st, webhook.Options{URL: rc.URL + "/hook?token=x"})
		waitFor(t, "20 deliveries", func() bool { return rc.delivered() == 20 })
		waitFor(t, "20 rows marked delivered", func() bool { return len(outbox(t, st, webhook.Filter{State: webhook.StateDelivered})) == 20 })
		rc.mu.Lock()
		defer rc.mu.Unlock()
		seen := map[int64]bool{}
		for id, body := range rc.bodies {
			var p webhook.Payload
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("delivery %s: %v", id, err)
			}
			if p.Type != webhook.TypeFinished || p.Status != callback.StatusFinished || p.Result != callback.ResultCanceled ||
				p.PreviousStatus != callback.StatusRequestReceived || p.Request.Username != "801" || !p.Request.Canceled {
				t.Errorf("delivery %s: %s", id, body)
			}
			seen[p.Request.ID] = true
		}
		for _, id := range ids {
			if !seen[id] {
				t.Errorf("request %d: no notification", id)
			}
		}
		if obs.get(webhook.StateDelivered) != 20 || obs.get(webhook.StatePending) != 0 {
			t.Errorf("observed %v", obs.n)
		}
	})
}

// A receiver that fails first is tried again, with the same body, after a
// backoff, until it answers 2xx.
func TestSenderRetriesWithBackoff(t *testing.T) {
	eachStore(t, func(t *testing.T, st callback.Store) {
		st.(webhook.Store).SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
		rc := newReceiver(t, func(n int, _ *http.Request) int {
			if n <= 3 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		finish(t, st, 1)
		ws := st.(webhook.Store)
		var attempts []time.Time // each failed attempt's next_attempt as recorded
		obs := startSender(t, st, webhook.Options{URL: rc.URL, BackoffMin: 50 * time.Millisecond, BackoffMax: time.Second})
		waitFor(t, "the delivery", func() bool {
			if ds := outbox(t, st, webhook.Filter{}); len(ds) == 1 && ds[0].LastCode == 503 && ds[0].LeaseOwner == "" {
				if len(attempts) == 0 || !attempts[len(attempts)-1].Equal(ds[0].NextAttempt) {
					attempts = append(attempts, ds[0].NextAttempt)
				}
			}
			return rc.delivered() == 1
		})
		waitFor(t, "the row marked delivered", func() bool {
			d, err := ws.GetDelivery(context.Background(), outbox(t, st, webhook.Filter{})[0].ID)
			return err == nil && d.State == webhook.StateDelivered
		})
		d := outbox(t, st, webhook.Filter{})[0]
		if d.Attempts != 4 || d.LastCode != 200 || d.LastError != "" {
			t.Errorf("row after delivery: attempts %d, code %d, error %q", d.Attempts, d.LastCode, d.LastError)
		}
		// Each attempt kept its row, as the sender saw it.
		as, err := ws.ListDeliveryAttempts(context.Background(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range as {
			got = append(got, fmt.Sprintf("%d %d %q", a.Attempt, a.Code, a.Error))
			if a.Started.IsZero() || a.Finished.Before(a.Started) || a.Owner != "node1/test" {
				t.Errorf("attempt %+v", a)
			}
		}
		if want := []string{`1 503 "HTTP 503"`, `2 503 "HTTP 503"`, `3 503 "HTTP 503"`, `4 200 ""`}; !slices.Equal(got, want) {
			t.Errorf("attempts %q, want %q", got, want)
		}
		if obs.get(webhook.StatePending) != 3 || obs.get(webhook.StateDelivered) != 1 {
			t.Errorf("observed %v", obs.n)
		}
		// The retries were scheduled ahead, each later than the one before.
		for i := 1; i < len(attempts); i++ {
			if !attempts[i].After(attempts[i-1]) {
				t.Errorf("next attempts %v not increasing", attempts)
			}
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.total != 4 {
			t.Errorf("receiver saw %d requests, want 4", rc.total)
		}
	})
}

// A receiver that never answers 2xx within the retry window leaves the
// row failed, with the last answer; a resend delivers it.
func TestSenderGivesUpThenResend(t *testing.T) {
	eachStore(t, func(t *testing.T, st callback.Store) {
		st.(webhook.Store).SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
		var mu sync.Mutex
		up := false
		rc := newReceiver(t, func(int, *http.Request) int {
			mu.Lock()
			defer mu.Unlock()
			if up {
				return http.StatusOK
			}
			return http.StatusInternalServerError
		})
		finish(t, st, 1)
		obs := startSender(t, st, webhook.Options{URL: rc.URL, RetryFor: 300 * time.Millisecond, BackoffMin: 20 * time.Millisecond,
			BackoffMax: 50 * time.Millisecond})
		waitFor(t, "the row to fail", func() bool { return len(outbox(t, st, webhook.Filter{State: webhook.StateFailed})) == 1 })
		d := outbox(t, st, webhook.Filter{})[0]
		if d.LastCode != 500 || d.LastError != "HTTP 500" || d.Attempts < 1 || obs.get(webhook.StateFailed) != 1 {
			t.Errorf("failed row: %+v, observed %v", d, obs.n)
		}
		mu.Lock()
		up = true
		mu.Unlock()
		svc := &admin.Service{Store: st.(admin.Store)}
		if _, _, err := svc.ResendDelivery(context.Background(), admin.CLIActor, d.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the resent row", func() bool { return rc.delivered() == 1 })
		waitFor(t, "the resent row marked delivered", func() bool {
			return len(outbox(t, st, webhook.Filter{State: webhook.StateDelivered})) == 1
		})
	})
}

// A notification to an account whose webhook was removed fails at once,
// naming why; the global one is unaffected.
func TestSenderAccountWebhookGone(t *testing.T) {
	eachStore(t, func(t *testing.T, st callback.Store) {
		ws := st.(webhook.Store)
		ws.SetWebhookPolicy(webhook.Policy{Enabled: true})
		if err := st.CreateAccount(context.Background(), &callback.Account{Username: "801", Currency: "USD", MaxSessions: 2}); err != nil {
			t.Fatal(err)
		}
		rc := newReceiver(t, nil)
		svc := &admin.Service{Store: st.(admin.Store)}
		final := string(webhook.EventsFinal)
		if _, err := svc.SetAccountWebhook(context.Background(), admin.CLIActor, "801", "",
			admin.WebhookSettings{URL: &rc.URL, Secret: new(secret), Events: &final}); err != nil {
			t.Fatal(err)
		}
		finish(t, st, 2)
		if err := svc.RemoveAccountWebhook(context.Background(), admin.CLIActor, "801", ""); err != nil {
			t.Fatal(err)
		}
		startSender(t, st, webhook.Options{})
		waitFor(t, "both rows to fail", func() bool { return len(outbox(t, st, webhook.Filter{State: webhook.StateFailed})) == 2 })
		if d := outbox(t, st, webhook.Filter{})[0]; d.LastError != "account 801 has no webhook any more" || d.Account != "801" {
			t.Errorf("row: %+v", d)
		}
		if rc.delivered() != 0 {
			t.Errorf("%d deliveries to a removed webhook", rc.delivered())
		}
	})
}

// fastDialer completes every callback at once, as a 2-way call that was
// answered and bridged.
type fastDialer struct{}

func (fastDialer) WaitReady(ctx context.Context) error { return nil }
func (fastDialer) Dial(ctx context.Context, c *callback.Attempt) callback.Outcome {
	id := fmt.Sprintf("cbd-%d-%d-a", c.Request.ID, c.Request.CallCount+1)
	for _, step := range []func() error{
		func() error { return c.FirstLegInitiated(ctx, id) },
		func() error { return c.FirstLegConnected(ctx) },
		func() error { return c.SecondLegInitiated(ctx, id[:len(id)-1]+"b") },
		func() error { return c.SecondLegConnected(ctx) },
	} {
		if err := step(); err != nil {
			return callback.Outcome{Result: callback.ResultFirstLegAborted, Reason: err.Error()}
		}
	}
	return callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.CauseNormalClearing}
}

// A receiver that hangs and then answers 5xx holds up no call: the
// dispatcher completes every callback while the sender's POSTs are stuck,
// and every notification waits in the outbox.
func TestHungReceiverDoesNotHoldTheDispatcher(t *testing.T) {
	eachStore(t, func(t *testing.T, st callback.Store) {
		st.(webhook.Store).SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsAll})
		if err := st.CreateAccount(context.Background(), &callback.Account{Username: "801", Currency: "USD", MaxSessions: 1000,
			Balance: callback.Money(1_000_000)}); err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		var mu sync.Mutex
		stuck := 0
		rc := newReceiver(t, func(int, *http.Request) int {
			mu.Lock()
			stuck++
			mu.Unlock()
			<-release
			return http.StatusBadGateway
		})
		defer close(release)
		startSender(t, st, webhook.Options{URL: rc.URL, Workers: 2, Timeout: time.Hour})
		const n = 20
		for i := range n {
			r := callback.NewRequest(callback.SourceAPI)
			r.Username, r.OriginalCLI, r.OriginalCLD, r.NextCall = "801", strconv.Itoa(4930000000+i), "2way_12345", time.Now()
			if err := st.CreateRequest(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		p := callback.DefaultPolicy()
		p.ScanInterval = 20 * time.Millisecond
		p.MaxLiveCalls = 4
		disp, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: fastDialer{}, Policy: p, Node: "node1",
			Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() { defer close(stopped); disp.Run(ctx) }()
		defer func() { cancel(); <-stopped }()
		fin := true
		waitFor(t, "every callback to finish", func() bool {
			rs, err := st.ListRequests(context.Background(), callback.RequestFilter{Finished: &fin, Limit: 1000})
			return err == nil && len(rs) == n
		})
		mu.Lock()
		got := stuck
		mu.Unlock()
		if got == 0 {
			t.Fatal("the receiver was never called: the test shows nothing")
		}
		// Every status change in the history is in the outbox.
		changes := 0
		rs, err := st.ListRequests(context.Background(), callback.RequestFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			hist, err := st.History(context.Background(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i < len(hist); i++ {
				if hist[i].Status != hist[i-1].Status {
					changes++
				}
			}
		}
		if ds := outbox(t, st, webhook.Filter{}); len(ds) != changes || changes < 5*n {
			t.Errorf("%d notifications of %d status changes (at least %d)", len(ds), changes, 5*n)
		}
		if d := rc.delivered(); d != 0 {
			t.Errorf("%d delivered while the receiver hangs", d)
		}
	})
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("WEBHOOK_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// claimCounter is a store that counts the sender's claims and tells when
// the sender attached itself.
type claimCounter struct {
	webhook.Store
	claims   atomic.Int64 // claims made
	rows     atomic.Int64 // rows they claimed
	finishes atomic.Int64 // transactions recording outcomes
	attached chan struct{}
}

func (c *claimCounter) FinishDeliveries(ctx context.Context, outs []webhook.Outcome) (int, error) {
	c.finishes.Add(1)
	return c.Store.FinishDeliveries(ctx, outs)
}

func (c *claimCounter) ClaimDeliveries(ctx context.Context, p webhook.ClaimParams) ([]*webhook.Delivery, error) {
	c.claims.Add(1)
	ds, err := c.Store.ClaimDeliveries(ctx, p)
	c.rows.Add(int64(len(ds)))
	return ds, err
}

func (c *claimCounter) SetLocalSender(l webhook.Local) {
	c.Store.SetLocalSender(l)
	if l != nil {
		close(c.attached)
	}
}

// The notifications of the changes a node writes while its sender runs
// are handed to that sender: none is claimed. Past the sender's room in
// flight (a receiver that hangs), they are written due now and claimed,
// and every one is still delivered once.
func TestSenderSendsItsOwnRowsWithoutClaims(t *testing.T) {
	eachStore(t, func(t *testing.T, st callback.Store) {
		st.(webhook.Store).SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsAll})
		release := make(chan struct{})
		var hold atomic.Bool
		rc := newReceiver(t, func(int, *http.Request) int {
			if hold.Load() {
				<-release
			}
			return http.StatusNoContent
		})
		cs := &claimCounter{Store: st.(webhook.Store), attached: make(chan struct{})}
		startSender(t, st, webhook.Options{URL: rc.URL, Workers: 1, Store: cs})
		<-cs.attached
		finish(t, st, 4) // 1 worker: room for 4 in flight, however slow the POSTs
		waitFor(t, "4 deliveries", func() bool { return rc.delivered() == 4 })
		waitFor(t, "4 rows marked delivered", func() bool { return len(outbox(t, st, webhook.Filter{State: webhook.StateDelivered})) == 4 })
		if n := cs.claims.Load(); n != 0 {
			t.Errorf("%d claims for rows handed over", n)
		}

		hold.Store(true)
		finish(t, st, 10) // 4 handed over, 6 written due now
		if n := len(outbox(t, st, webhook.Filter{State: webhook.StatePending})); n != 10 {
			t.Fatalf("%d rows pending, want 10", n)
		}
		close(release)
		waitFor(t, "14 deliveries", func() bool { return rc.delivered() == 14 })
		waitFor(t, "14 rows marked delivered", func() bool { return len(outbox(t, st, webhook.Filter{State: webhook.StateDelivered})) == 14 })
		if cs.claims.Load() == 0 {
			t.Error("rows past the sender's room were not claimed")
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for id, n := range rc.hits {
			if n != 1 {
				t.Errorf("delivery %s received %d times", id, n)
			}
		}
	})
}

// Rows handed to a sender whose run ends before it sent them stay leased
// to that run, in the outbox; the node's next run takes them back at once
// and sends them.
func TestHandedRowsOfAStoppedRunAreSentByTheNext(t *testing.T) {
	eachStore(t, func(t *testing.T, st callback.Store) {
		st.(webhook.Store).SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
		release := make(chan struct{})
		var hold atomic.Bool
		hold.Store(true)
		rc := newReceiver(t, func(int, *http.Request) int {
			if hold.Load() {
				<-release
			}
			return http.StatusNoContent
		})
		defer close(release)
		o := webhook.Options{Store: st.(webhook.Store), URL: rc.URL, Secret: secret, Owner: "node1/run1", OwnerPrefix: "node1/",
			Workers: 2, Poll: 10 * time.Millisecond, Logger: testLogger(t)}
		cs := &claimCounter{Store: st.(webhook.Store), attached: make(chan struct{})}
		o1 := o
		o1.Store = cs
		stop := runSender(t, o1)
		<-cs.attached
		finish(t, st, 5) // all 5 handed over (2 workers: 8 in flight), 2 of them POSTed and hanging
		stop()
		held := 0
		for _, d := range outbox(t, st, webhook.Filter{State: webhook.StatePending}) {
			if d.LeaseOwner == "node1/run1" && d.Attempts == 1 {
				held++
			}
		}
		if held != 5 || cs.claims.Load() != 0 {
			t.Fatalf("%d of 5 rows held by the stopped run, %d claims; want 5, 0", held, cs.claims.Load())
		}
		hold.Store(false)
		o.Owner = "node1/run2"
		startSender(t, st, o)
		waitFor(t, "5 deliveries", func() bool { return rc.delivered() == 5 })
		waitFor(t, "5 rows marked delivered", func() bool { return len(outbox(t, st, webhook.Filter{State: webhook.StateDelivered})) == 5 })
	})
}
