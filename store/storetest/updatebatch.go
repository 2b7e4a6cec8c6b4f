package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// UpdateBatcher is what a store that lets Updates share transactions
// shows of it.
type UpdateBatcher interface {
	BatchesUpdates() bool
	UpdateBatching() (txs, updates uint64)
	UpdateQueue() (running, waiting int)
}

// batcher is s as an UpdateBatcher; the test is skipped where Updates do
// not share transactions.
func batcher(t *testing.T, s callback.Store) UpdateBatcher {
	t.Helper()
	b, ok := s.(UpdateBatcher)
	if !ok {
		t.Fatalf("%T does not say whether it batches Updates", s)
	}
	if !b.BatchesUpdates() {
		t.Skip("this store runs each Update in a transaction of its own")
	}
	return b
}

// holdWriter keeps s's writes waiting until release is called: on SQLite
// by holding its one writer connection, on MariaDB by a write lock on the
// history table (taken by another session, as a backup tool would), which
// every Update writes after its UPDATE.
func holdWriter(t *testing.T, s callback.Store) (release func()) {
	t.Helper()
	ctx := t.Context()
	conn, err := raw(t, s).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !isMySQL(t, s) {
		return func() { conn.Close() }
	}
	if _, err := conn.ExecContext(ctx, "LOCK TABLES callback_request_events WRITE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES"); err != nil {
			t.Error(err)
		}
		conn.Close()
	}
}

// refuseHistory installs, as someone else's SQL could, a trigger that
// refuses every history line of request id.
func refuseHistory(t *testing.T, s callback.Store, id int64) {
	t.Helper()
	q := fmt.Sprintf(`CREATE TRIGGER refuse_history BEFORE INSERT ON callback_request_events
		WHEN NEW.request_id = %d BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END`, id)
	if isMySQL(t, s) {
		q = fmt.Sprintf(`CREATE TRIGGER refuse_history BEFORE INSERT ON callback_request_events FOR EACH ROW
			BEGIN IF NEW.request_id = %d THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by a trigger'; END IF; END`, id)
	}
	if _, err := raw(t, s).ExecContext(t.Context(), q); err != nil {
		t.Fatal(err)
	}
}

// updatesShareTransactions: the Updates that come while the store's
// writer is busy wait and then share transactions. In such a batch a
// lost lease fails its own Update only, as does a history line a trigger
// refuses (the batch is rolled back and each runs again alone), and an
// Update whose caller gives up while it waits writes nothing.
func updatesShareTransactions(t *testing.T, s callback.Store) {
	b := batcher(t, s)
	ctx := t.Context()
	const n = 12
	rs := claimedNew(t, s, n+1, 4930000100)
	gone := rs[n] // its caller gives up while it waits
	rs = rs[:n]
	lost, refused := rs[n-2], rs[n-1]
	if _, err := raw(t, s).ExecContext(ctx, "UPDATE callback_requests SET lease_owner = 'node2' WHERE i_callback_request = ?", lost.ID); err != nil {
		t.Fatal(err)
	}
	refuseHistory(t, s, refused.ID)
	finish := func(ctx context.Context, r *callback.Request) (*callback.Request, error) {
		return s.Update(ctx, callback.Lease{RequestID: r.ID, Attempt: r.Attempt, Owner: "node1"},
			callback.Change{From: r.Status, To: callback.StatusFinished, Result: callback.ResultExpired})
	}

	txs0, ups0 := b.UpdateBatching()
	q := queueUpdates(t, s, b, rs, finish)
	if _, w := b.UpdateQueue(); w < 3 {
		t.Fatalf("%d Updates queued, want the last three at least", w)
	}
	gctx, giveUp := context.WithCancel(ctx)
	gave := make(chan error, 1)
	go func() { _, err := finish(gctx, gone); gave <- err }()
	waitFor(t, "the last Update queued", func() bool { r, w := b.UpdateQueue(); return r+w == n+1 })
	giveUp()
	select {
	case err := <-gave:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Update given up while it waited: %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("an Update given up while it waited did not return")
	}
	got, errs := q.wait()

	txs, ups := b.UpdateBatching()
	if ups-ups0 <= txs-txs0 {
		t.Errorf("%d Updates in %d transactions: none shared one", ups-ups0, txs-txs0)
	}
	for i, r := range rs {
		switch r {
		case lost:
			if !errors.Is(errs[i], callback.ErrLeaseLost) {
				t.Errorf("request %d, lease taken: %v, want ErrLeaseLost", r.ID, errs[i])
			}
		case refused:
			if errs[i] == nil || errors.Is(errs[i], callback.ErrLeaseLost) {
				t.Errorf("request %d, history refused: %v, want the trigger's error", r.ID, errs[i])
			}
		default:
			if errs[i] != nil {
				t.Errorf("request %d: %v", r.ID, errs[i])
			} else if got[i].Status != callback.StatusFinished || got[i].Result != callback.ResultExpired {
				t.Errorf("request %d returned as %q %q, want Finished Expired", r.ID, got[i].Status, got[i].Result)
			}
		}
	}
	for _, r := range append(rs, gone) {
		stored := get(t, s, r.ID)
		h, err := s.History(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var finished int
		for _, e := range h {
			if e.Status == callback.StatusFinished {
				finished++
			}
		}
		want, wantStatus := 1, callback.StatusFinished
		if r == lost || r == refused || r == gone {
			want, wantStatus = 0, r.Status
		}
		if stored.Status != wantStatus || finished != want {
			t.Errorf("request %d stored as %q with %d Finished history lines, want %q and %d", r.ID, stored.Status, finished, wantStatus, want)
		}
	}
}

// queuedUpdates are Updates started while a store's writer is held.
type queuedUpdates struct {
	release func()
	wg      sync.WaitGroup
	got     []*callback.Request
	errs    []error
}

// queueUpdates holds s's writer and starts finish for each of rs in turn,
// once the one before has either taken a transaction (and waits on the
// writer) or queued; so the last ones wait in the queue with others.
func queueUpdates(t *testing.T, s callback.Store, b UpdateBatcher, rs []*callback.Request,
	finish func(context.Context, *callback.Request) (*callback.Request, error)) *queuedUpdates {
	t.Helper()
	q := &queuedUpdates{release: holdWriter(t, s), got: make([]*callback.Request, len(rs)), errs: make([]error, len(rs))}
	r0, w0 := b.UpdateQueue()
	for i, r := range rs {
		q.wg.Go(func() { q.got[i], q.errs[i] = finish(t.Context(), r) })
		waitFor(t, "an Update running or queued", func() bool { r, w := b.UpdateQueue(); return r+w == r0+w0+i+1 })
	}
	return q
}

// wait lets the writer go and waits for the Updates.
func (q *queuedUpdates) wait() ([]*callback.Request, []error) {
	q.release()
	q.wg.Wait()
	return q.got, q.errs
}

// claimedNew creates n requests, from callers cli0, cli0+1, ..., due at
// base, and claims them all for node1.
func claimedNew(t *testing.T, s callback.Store, n, cli0 int) []*callback.Request {
	t.Helper()
	for i := range n {
		create(t, s, newRequest(fmt.Sprint(cli0+i), base))
	}
	rs := claim(t, s, "node1", base, n)
	if len(rs) != n {
		t.Fatalf("claimed %d, want %d", len(rs), n)
	}
	return rs
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
	}
}

// batchedEndsNotified: call ends that share a transaction share its
// statements too (one history INSERT, one read of the requests and their
// webhooks, one outbox INSERT, where the database returns a multi-row
// INSERT's ids). Each end still gets its own notifications, naming its own
// history line and request, and the rows handed to this process's sender
// carry the ids they were stored under.
func batchedEndsNotified(t *testing.T, s callback.Store) {
	b := batcher(t, s)
	ws, local := hookedAccount(t, s, webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal}, webhook.EventsFinal, 20, 5)
	const n = 8
	rs := claimedNew(t, s, n, 4930000200)
	txs0, ups0 := b.UpdateBatching()
	got, errs := queueUpdates(t, s, b, rs, func(ctx context.Context, r *callback.Request) (*callback.Request, error) {
		return s.Update(ctx, callback.Lease{RequestID: r.ID, Attempt: r.Attempt, Owner: "node1"},
			callback.Change{From: r.Status, To: callback.StatusFinished, Result: callback.ResultExpired, Cause: 19, Note: fmt.Sprint("end of ", r.ID)})
	}).wait()
	if txs, ups := b.UpdateBatching(); ups-ups0 <= txs-txs0 {
		t.Errorf("%d Updates in %d transactions: none shared one", ups-ups0, txs-txs0)
	}
	stored := map[int64]*webhook.Delivery{}
	for i, r := range rs {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", r.ID, errs[i])
		}
		if got[i].ID != r.ID || got[i].Status != callback.StatusFinished || got[i].Result != callback.ResultExpired {
			t.Errorf("request %d returned as %d %q %q", r.ID, got[i].ID, got[i].Status, got[i].Result)
		}
		var line int64
		if err := raw(t, s).QueryRowContext(t.Context(), "SELECT id FROM callback_request_events WHERE request_id = ? AND status = ?",
			r.ID, string(callback.StatusFinished)).Scan(&line); err != nil {
			t.Fatal(err)
		}
		ds := deliveries(t, ws, r.ID)
		if len(ds) != 2 {
			t.Fatalf("request %d has %d notifications, want 2 (global, account)", r.ID, len(ds))
		}
		for _, d := range ds {
			stored[d.ID] = d
			var p webhook.Payload
			if err := json.Unmarshal(d.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if d.EventID != line || p.ID != line || p.Request.ID != r.ID || p.PreviousStatus != r.Status || p.Status != callback.StatusFinished ||
				p.Result != callback.ResultExpired || p.Cause != 19 || p.Note != fmt.Sprint("end of ", r.ID) {
				t.Errorf("request %d (history line %d): notification %d for event %d, body %+v", r.ID, line, d.ID, d.EventID, p)
			}
		}
	}
	handed := local.take()
	if len(handed) != 5 || local.wakes == 0 {
		t.Fatalf("%d rows handed to the local sender and %d wakes, want 5 and at least 1", len(handed), local.wakes)
	}
	for _, h := range handed {
		d := stored[h.ID]
		if d == nil || d.EventID != h.EventID || d.Account != h.Account || d.RequestID != h.RequestID || d.LeaseOwner != "n1/run1" ||
			string(d.Payload) != string(h.Payload) {
			t.Errorf("row handed over as %d (request %d, event %d, account %q) is not the row stored under that id", h.ID, h.RequestID, h.EventID, h.Account)
		}
	}
}

// EndsUnderHeldLock: call ends that come while another client holds a
// lock the store's writes need (lock takes it, release lets it go) wait
// for it, alone or queued for a shared transaction; when the lock
// outlasts the store's query timeout each of them fails with
// callback.ErrUnavailable and none is written, and once the lock is gone
// they go through. s should have a short query timeout.
func EndsUnderHeldLock(t *testing.T, s callback.Store, lock func() (release func())) {
	ctx := t.Context()
	const n = 6
	rs := claimedNew(t, s, n, 4930000300)
	finishAll := func() []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, r := range rs {
			wg.Go(func() {
				_, errs[i] = s.Update(ctx, callback.Lease{RequestID: r.ID, Attempt: r.Attempt, Owner: "node1"},
					callback.Change{From: r.Status, To: callback.StatusFinished, Result: callback.ResultExpired})
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatal("ends still waiting a minute on")
		}
		return errs
	}
	release := lock()
	for i, err := range finishAll() {
		if !errors.Is(err, callback.ErrUnavailable) {
			t.Errorf("finish request %d under another client's lock: %v, want ErrUnavailable", rs[i].ID, err)
		}
	}
	release()
	for _, r := range rs {
		if got := get(t, s, r.ID); got.Status != r.Status {
			t.Fatalf("request %d after the failed ends: %q, want %q", r.ID, got.Status, r.Status)
		}
	}
	for i, err := range finishAll() {
		if err != nil {
			t.Errorf("finish request %d after the lock is gone: %v", rs[i].ID, err)
		}
	}
}
