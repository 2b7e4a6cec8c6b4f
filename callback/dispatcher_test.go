package callback_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/callback/callbacktest"
	"github.com/callbackd/callbackd/store/dbtest"
)

func busy(ctx context.Context, c *callback.Attempt) callback.Outcome {
	if err := c.FirstLegInitiated(ctx, fmt.Sprintf("cbd-%d-%d-a", c.Request.ID, c.Request.CallCount+1)); err != nil {
		return callback.Outcome{Err: err}
	}
	return callback.Outcome{Cause: callback.CauseUserBusy}
}

// hold answers and keeps the call up until ctx ends (cancel, lease lost).
func hold(ctx context.Context, c *callback.Attempt) callback.Outcome {
	if err := c.FirstLegInitiated(ctx, fmt.Sprintf("cbd-%d-%d-a", c.Request.ID, c.Request.CallCount+1)); err != nil {
		return callback.Outcome{Err: err}
	}
	if err := c.FirstLegConnected(ctx); err != nil {
		return callback.Outcome{Err: err}
	}
	<-ctx.Done()
	if errors.Is(context.Cause(ctx), callback.ErrCanceled) {
		return callback.Outcome{Result: callback.ResultCanceled, Cause: callback.CauseNormalClearing}
	}
	return callback.Outcome{Result: callback.ResultFirstLegAborted}
}

func testPolicy() callback.Policy {
	p := callback.DefaultPolicy()
	p.DelayBeforeCallback = 0
	p.BackoffInterval = 20 * time.Millisecond
	p.ScanInterval = 50 * time.Millisecond
	p.RescueInterval = 100 * time.Millisecond
	p.Lease = 3 * time.Second
	p.ShutdownGrace = 2 * time.Second
	return p
}

type harness struct {
	t      *testing.T
	store  callback.Store
	dialer *callbacktest.Dialer
	disp   *callback.Dispatcher
	svc    *callback.Service
	cancel context.CancelFunc
	done   chan struct{}
}

func startDispatcher(t *testing.T, st callback.Store, p callback.Policy, node string, dialer *callbacktest.Dialer) *harness {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: dialer, Policy: p, Node: node, Logger: log, Observer: concluded})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, store: st, dialer: dialer, disp: d, cancel: cancel, done: make(chan struct{}),
		svc: &callback.Service{Store: st, Policy: p, Notify: d.Notify}}
	go func() {
		defer close(h.done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("dispatcher: %v", err)
		}
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func addAccount(t *testing.T, st callback.Store, username string, maxSessions int) {
	t.Helper()
	if err := st.CreateAccount(t.Context(), &callback.Account{Username: username, Currency: "USD", MaxSessions: maxSessions, Balance: 100 * callback.MoneyScale}); err != nil {
		t.Fatal(err)
	}
}

// concluded hears every attempt the tests' dispatchers conclude, so that
// waitFinished wakes when a row may have finished instead of polling.
var concluded = callbacktest.NewConcluded()

// waitFinished returns the request once its row is finished (the store is
// the only shared truth between the test and the dispatcher).
func waitFinished(t *testing.T, st callback.Store, id int64) *callback.Request {
	t.Helper()
	return concluded.WaitFinished(t, st, id)
}

func newRequest(username, cli, cld string) *callback.Request {
	r := callback.NewRequest(callback.SourceAPI)
	r.Username, r.OriginalCLI, r.OriginalCLD = username, cli, cld
	return r
}

func testDispatcher(t *testing.T, open func(t *testing.T) callback.Store) {
	t.Run("TwoWaySuccess", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		h := startDispatcher(t, st, testPolicy(), "n1", callbacktest.NewDialer(100000))
		r := newRequest("801", "87654321", "2way_12345")
		if err := h.svc.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		got := waitFinished(t, st, r.ID)
		if got.Status != callback.StatusFinished || got.Result != callback.ResultSuccessful || got.CallCount != 1 {
			t.Fatalf("got %s/%s after %d calls", got.Status, got.Result, got.CallCount)
		}
		if got.SetupTime.IsZero() || got.ConnectTime.IsZero() || got.DisconnectTime.IsZero() || got.CallID == "" {
			t.Fatalf("statistics not filled: %+v", got)
		}
		want := []string{"Request received", "First leg initiated", "First leg connected", "Second leg initiated", "Second leg connected", "Finished/Successful"}
		if s := callbacktest.History(t, st, r.ID); !slices.Equal(s, want) {
			t.Fatalf("history %q, want %q", s, want)
		}
	})

	t.Run("BusyRetriesThenOutOfRetries", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		fd := callbacktest.NewDialer(100000)
		fd.Script("111", busy)
		h := startDispatcher(t, st, testPolicy(), "n1", fd)
		r := newRequest("801", "111", "2way_12345")
		if err := h.svc.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		got := waitFinished(t, st, r.ID)
		if got.Result != callback.ResultOutOfRetries || got.CallCount != 3 || fd.Count(r.ID) != 3 {
			t.Fatalf("got %s/%s after %d calls (%d dials)", got.Status, got.Result, got.CallCount, fd.Count(r.ID))
		}
		if got.LastCause != 17 || got.LastSIPCode != 486 {
			t.Fatalf("last cause %d sip %d, want 17/486", got.LastCause, got.LastSIPCode)
		}
		want := []string{"Request received", "First leg initiated", "Waiting for retry", "First leg initiated", "Waiting for retry", "First leg initiated", "Finished/Out of retries"}
		if s := callbacktest.History(t, st, r.ID); !slices.Equal(s, want) {
			t.Fatalf("history %q, want %q", s, want)
		}
	})

	t.Run("RawRowsThatCanNeverBeDialled", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		raw := rawDB(t, st)
		cases := map[string]string{
			"unknown username":   `INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('nobody', '87654321', '2way_12345', CURRENT_TIMESTAMP)`,
			"empty original_cli": `INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('801', '', '2way_12345', CURRENT_TIMESTAMP)`,
			"malformed cld":      `INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('801', '87654321', '2way_', CURRENT_TIMESTAMP)`,
		}
		fd := callbacktest.NewDialer(100000)
		startDispatcher(t, st, testPolicy(), "n1", fd)
		for name, q := range cases {
			res, err := raw.ExecContext(t.Context(), q)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			id, _ := res.LastInsertId()
			got := waitFinished(t, st, id)
			if got.Result != callback.ResultInvalid || got.LastError == "" || fd.Count(id) != 0 {
				t.Errorf("%s: %s/%s (%q), %d dials", name, got.Status, got.Result, got.LastError, fd.Count(id))
			}
		}
	})

	t.Run("SeedInsertVerbatimIsDialled", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		fd := callbacktest.NewDialer(100000)
		p := testPolicy()
		p.ScanInterval = 200 * time.Millisecond
		startDispatcher(t, st, p, "n1", fd)
		res, err := rawDB(t, st).ExecContext(t.Context(), "INSERT INTO callback_requests (\n     username, \n     authname,\n     md5secret,\n     original_cli,\n     original_cld\n  )\n  VALUES (\n    '801',\n    '902',\n    '<md5secret>',\n    '87654321',\n    '2way_12345'\n  )")
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		got := waitFinished(t, st, id) // next_call defaults to now + 5 s
		if got.Result != callback.ResultSuccessful || got.Identity() != "902" || got.Source != callback.SourceSQL {
			t.Fatalf("got %s/%s identity %q source %q", got.Status, got.Result, got.Identity(), got.Source)
		}
	})

	t.Run("CancelLiveCall", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		fd := callbacktest.NewDialer(100000)
		fd.Script("222", hold)
		h := startDispatcher(t, st, testPolicy(), "n1", fd)
		r := newRequest("801", "222", "2way_12345")
		if err := h.svc.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		<-fd.Dialed
		if _, err := st.Cancel(t.Context(), r.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		got := waitFinished(t, st, r.ID)
		if got.Result != callback.ResultCanceled || !got.Canceled {
			t.Fatalf("got %s/%s", got.Status, got.Result)
		}
	})

	t.Run("CancelQueuedRequest", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		fd := callbacktest.NewDialer(100000)
		h := startDispatcher(t, st, testPolicy(), "n1", fd)
		r := newRequest("801", "333", "2way_12345")
		r.NextCall = time.Now().Add(time.Hour)
		if err := h.svc.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		got, err := st.Cancel(t.Context(), r.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !got.Finished || got.Result != callback.ResultCanceled || fd.Count(r.ID) != 0 {
			t.Fatalf("got %s/%s, %d dials", got.Status, got.Result, fd.Count(r.ID))
		}
	})

	t.Run("Expired", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		fd := callbacktest.NewDialer(100000)
		startDispatcher(t, st, testPolicy(), "n1", fd) // max age 1 h
		// Created and due two hours ago: callbackd was down all that time.
		old := time.Now().UTC().Add(-2 * time.Hour).Format("2006-01-02 15:04:05.000")
		res, err := rawDB(t, st).ExecContext(t.Context(), `INSERT INTO callback_requests
			(username, original_cli, original_cld, creation_time, next_call) VALUES ('801', '444', '2way_12345', ?, ?)`, old, old)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		got := waitFinished(t, st, id)
		if got.Result != callback.ResultExpired || fd.Count(id) != 0 {
			t.Fatalf("got %s/%s, %d dials", got.Status, got.Result, fd.Count(id))
		}
	})

	t.Run("ScheduledFarAheadIsNotExpired", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		fd := callbacktest.NewDialer(100000)
		startDispatcher(t, st, testPolicy(), "n1", fd) // max age 1 h
		// Created two hours ago for now: age counts from next_call.
		old := time.Now().UTC().Add(-2 * time.Hour).Format("2006-01-02 15:04:05.000")
		now := time.Now().UTC().Format("2006-01-02 15:04:05.000")
		res, err := rawDB(t, st).ExecContext(t.Context(), `INSERT INTO callback_requests
			(username, original_cli, original_cld, creation_time, next_call) VALUES ('801', '445', '2way_12345', ?, ?)`, old, now)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		if got := waitFinished(t, st, id); got.Result != callback.ResultSuccessful {
			t.Fatalf("got %s/%s", got.Status, got.Result)
		}
	})

	t.Run("MaxSessions", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2) // room for one callback (two legs)
		fd := callbacktest.NewDialer(100000)
		fd.Script("555", hold)
		fd.Script("556", hold)
		h := startDispatcher(t, st, testPolicy(), "n1", fd)
		a := newRequest("801", "555", "2way_12345")
		b := newRequest("801", "556", "2way_12345")
		for _, r := range []*callback.Request{a, b} {
			if err := h.svc.Create(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		// Whichever is dialled first holds both sessions; the other waits
		// until canceling the first frees them.
		first, second := a, b
		if id := <-fd.Dialed; id == b.ID {
			first, second = b, a
		}
		if n := fd.Count(second.ID); n != 0 {
			t.Fatalf("second request dialled %d times while Max Sessions was reached", n)
		}
		if _, err := st.Cancel(t.Context(), first.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if id := <-fd.Dialed; id != second.ID {
			t.Fatalf("dialled %d, want %d", id, second.ID)
		}
		if _, err := st.Cancel(t.Context(), second.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*callback.Request{first, second} {
			if got := waitFinished(t, st, r.ID); got.Result != callback.ResultCanceled {
				t.Fatalf("request %d: %s/%s", r.ID, got.Status, got.Result)
			}
		}
		hist, _ := st.History(t.Context(), second.ID)
		if !slices.ContainsFunc(hist, func(e callback.Event) bool { return e.Note == "Max Sessions 2 reached" }) {
			t.Errorf("no history note for the deferral: %+v", hist)
		}
	})

	t.Run("RestartTakesBackItsOwnLeases", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		r := newRequest("801", "666", "2way_12345")
		svc := &callback.Service{Store: st, Policy: testPolicy()}
		if err := svc.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		// A previous life of node n1 claimed the request and was killed
		// while leg A was ringing; its lease has not expired yet.
		claimed, err := st.Claim(t.Context(), callback.ClaimParams{Owner: "n1/deadbeef", Now: time.Now(), Limit: 1, LeaseFor: time.Hour})
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v, %d rows", err, len(claimed))
		}
		call := callback.NewAttempt(st, callback.Lease{RequestID: r.ID, Attempt: claimed[0].Attempt, Owner: "n1/deadbeef"}, *claimed[0], time.Minute, nil)
		if err := call.FirstLegInitiated(t.Context(), "cbd-x-1-a"); err != nil {
			t.Fatal(err)
		}
		fd := callbacktest.NewDialer(100000)
		startDispatcher(t, st, testPolicy(), "n1", fd)
		got := waitFinished(t, st, r.ID)
		if got.Result != callback.ResultSuccessful || got.CallCount != 2 || fd.Count(r.ID) != 1 {
			t.Fatalf("got %s/%s call_count %d, %d dials", got.Status, got.Result, got.CallCount, fd.Count(r.ID))
		}
	})

	t.Run("TwoNodesNeverDialTwice", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 0)
		fd := callbacktest.NewDialer(100000)
		p := testPolicy()
		// What is under test is the claim, not lease expiry: a lease long
		// enough that a slow machine's renewals never lapse mid-call.
		p.Lease = 30 * time.Second
		startDispatcher(t, st, p, "n1", fd)
		startDispatcher(t, st, p, "n2", fd)
		svc := &callback.Service{Store: st, Policy: p}
		const n = 200
		ids := make([]int64, 0, n)
		for i := range n {
			r := newRequest("801", fmt.Sprintf("49301%05d", i), "2way_12345")
			if err := svc.Create(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		for _, id := range ids {
			if got := waitFinished(t, st, id); got.Result != callback.ResultSuccessful {
				t.Fatalf("request %d: %s/%s (%s)", id, got.Status, got.Result, got.LastError)
			}
			if c := fd.Count(id); c != 1 {
				t.Fatalf("request %d dialled %d times", id, c)
			}
		}
	})
	// Start: a caller on the line (the IVR on an inbound call) is run at
	// once by the node that has the channel, never by another node, and
	// never called back.
	t.Run("StartRunsOnThisNodeAtOnce", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		p := testPolicy()
		p.ScanInterval = time.Hour // nothing but Start can run it soon
		mine, other := callbacktest.NewDialer(100000), callbacktest.NewDialer(100000)
		h := startDispatcher(t, st, p, "n1", mine)
		startDispatcher(t, st, p, "n2", other)
		r := inbound("801", "4930111111", "1763900000.1")
		start(t, h.disp, r)
		if r.ID == 0 || r.LeaseOwner != h.disp.Owner() || r.Attempt != 1 {
			t.Fatalf("inserted %+v; want it leased to %s", r, h.disp.Owner())
		}
		if got := waitFinished(t, st, r.ID); got.Result != callback.ResultSuccessful || got.Source != callback.SourceIVR {
			t.Fatalf("got %s/%s source %s", got.Status, got.Result, got.Source)
		}
		if mine.Count(r.ID) != 1 || other.Count(r.ID) != 0 {
			t.Fatalf("dialled %d times here, %d times on the other node", mine.Count(r.ID), other.Count(r.ID))
		}
	})

	t.Run("StartedInboundCallIsNeverRetried", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		fd := callbacktest.NewDialer(100000)
		fd.Script("4930111112", busy) // leg A ends before it is answered
		h := startDispatcher(t, st, testPolicy(), "n1", fd)
		r := inbound("801", "4930111112", "1763900000.2")
		start(t, h.disp, r)
		got := waitFinished(t, st, r.ID)
		if got.Result != callback.ResultCanceled || got.CallCount != 1 {
			t.Fatalf("got %s/%s call_count %d; want Finished/Canceled after one attempt", got.Status, got.Result, got.CallCount)
		}
		time.Sleep(100 * time.Millisecond) // longer than the backoff: a retry would have come
		if n := fd.Count(r.ID); n != 1 {
			t.Fatalf("inbound request dialled %d times", n)
		}
	})

	t.Run("StartRefusals", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		if err := st.CreateAccount(t.Context(), &callback.Account{Username: "blocked", Currency: "USD", Blocked: true}); err != nil {
			t.Fatal(err)
		}
		fd := callbacktest.NewDialer(100000)
		fd.Script("4930111113", hold)
		d, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: fd, Policy: testPolicy(), Node: "n0"})
		if err != nil {
			t.Fatal(err)
		}
		early, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if err := d.Start(early, inbound("801", "4930111113", "1.1")); !errors.Is(err, callback.ErrNotRunning) {
			t.Fatalf("Start before Run: %v, want ErrNotRunning", err)
		}
		h := startDispatcher(t, st, testPolicy(), "n1", fd)
		live := inbound("801", "4930111113", "1.2")
		start(t, h.disp, live)
		<-fd.Dialed
		for _, tc := range []struct {
			name string
			r    *callback.Request
			want error
		}{
			{"MaxSessions", inbound("801", "4930111114", "1.3"), callback.ErrMaxSessions},
			{"UnknownAccount", inbound("nobody", "4930111114", "1.4"), callback.ErrInvalid},
			{"BlockedAccount", inbound("blocked", "4930111114", "1.5"), callback.ErrInvalid},
			{"NoNumber", inbound("801", "", "1.6"), callback.ErrInvalid},
		} {
			if err := h.disp.Start(t.Context(), tc.r); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		reqs, err := st.ListRequests(t.Context(), callback.RequestFilter{})
		if err != nil || len(reqs) != 1 {
			t.Fatalf("%d requests inserted, %v; want only the live one", len(reqs), err)
		}
		if _, err := st.Cancel(t.Context(), live.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := waitFinished(t, st, live.ID); got.Result != callback.ResultCanceled {
			t.Fatalf("live call ended %s/%s", got.Status, got.Result)
		}
		h.stop()
		if err := h.disp.Start(t.Context(), inbound("801", "4930111115", "1.7")); !errors.Is(err, callback.ErrNotRunning) {
			t.Fatalf("Start after Run: %v, want ErrNotRunning", err)
		}
	})
}

func TestStartAtCapacity(t *testing.T) {
	st := dbtest.SQLite(t)
	addAccount(t, st, "801", 0)
	fd := callbacktest.NewDialer(100000)
	fd.Script("4930111113", hold)
	p := testPolicy()
	p.MaxLiveCalls = 1
	h := startDispatcher(t, st, p, "n1", fd)
	start(t, h.disp, inbound("801", "4930111113", "1.1"))
	<-fd.Dialed
	if err := h.disp.Start(t.Context(), inbound("801", "4930111114", "1.2")); !errors.Is(err, callback.ErrNoCapacity) {
		t.Fatalf("Start with max_live_calls taken: %v, want ErrNoCapacity", err)
	}
}

// inbound is a request for a caller on the line.
func inbound(username, cli, channel string) *callback.Request {
	r := newRequest(username, cli, "callingcard")
	r.Source, r.CallID = callback.SourceIVR, channel
	return r
}

// start hands r to a dispatcher whose Run may still be starting.
func start(t *testing.T, d *callback.Dispatcher, r *callback.Request) {
	t.Helper()
	if err := d.Start(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}
