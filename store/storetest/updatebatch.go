package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// UpdateBatcher is what a store that lets Updates share transactions
// shows of it.
type UpdateBatcher interface {
	BatchesUpdates() bool
	UpdateBatching() (txs, updates uint64)
	UpdateQueue() (running, waiting int)
}

// holdWriter keeps the writes of s, an SQLite store, waiting until
// release is called, by holding its one writer connection.
func holdWriter(t *testing.T, s callback.Store) (release func()) {
	t.Helper()
	conn, err := raw(t, s).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return func() { conn.Close() }
}

// refuseHistory installs, as someone else's SQL could, a trigger that
// refuses every history line of request id (SQLite's syntax).
func refuseHistory(t *testing.T, s callback.Store, id int64) {
	t.Helper()
	q := fmt.Sprintf(`CREATE TRIGGER refuse_history BEFORE INSERT ON callback_request_events
		WHEN NEW.request_id = %d BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END`, id)
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
	b, ok := s.(UpdateBatcher)
	if !ok {
		t.Fatalf("%T does not say whether it batches Updates", s)
	}
	if !b.BatchesUpdates() || isMySQL(t, s) {
		// MariaDB runs each Update in a transaction of its own (see
		// sqlstore.Dialect.UpdateBatches).
		t.Skip("this store runs each Update in a transaction of its own")
	}
	ctx := t.Context()
	const n = 12
	for i := range n + 1 {
		create(t, s, newRequest(fmt.Sprint(4930000100+i), base))
	}
	rs := claim(t, s, "node1", base, n+1)
	if len(rs) != n+1 {
		t.Fatalf("claimed %d, want %d", len(rs), n+1)
	}
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
	release := holdWriter(t, s)
	got := make([]*callback.Request, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	// Each Update in turn, once the one before has either taken a
	// transaction (and waits on the writer) or queued. The lost and the
	// refused one come last, when the transactions are all taken, so
	// they wait in the queue with others.
	for i, r := range rs {
		wg.Go(func() { got[i], errs[i] = finish(ctx, r) })
		waitFor(t, "an Update running or queued", func() bool { r, w := b.UpdateQueue(); return r+w == i+1 })
	}
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
	release()
	wg.Wait()

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

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
	}
}
