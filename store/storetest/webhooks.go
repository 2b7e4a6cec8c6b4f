package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// RunWebhooks runs the webhook outbox's part of the suite: the rows a
// status change writes in its own transaction, and the sender's claims.
func RunWebhooks(t *testing.T, open func(t *testing.T) callback.Store) {
	for name, test := range webhookTests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, open(t))
		})
	}
}

func hooks(t *testing.T, s callback.Store, p webhook.Policy) webhook.Store {
	t.Helper()
	ws, ok := s.(webhook.Store)
	if !ok {
		t.Fatalf("%T keeps no webhook outbox", s)
	}
	ws.SetWebhookPolicy(p)
	return ws
}

// putHook sets an account's webhook through the admin store, as the admin
// service does.
func putHook(t *testing.T, s callback.Store, w *webhook.AccountWebhook) error {
	t.Helper()
	_, err := adminStore(t, s).EditAccountWebhook(t.Context(), w.Username, func(*webhook.AccountWebhook) (*webhook.AccountWebhook, error) {
		return w, nil
	}, &admin.AuditEntry{Operator: "test", Action: "account.webhook.set", Object: "account/" + w.Username})
	return err
}

// removeHook removes an account's webhook through the admin store.
func removeHook(t *testing.T, s callback.Store, username string) error {
	t.Helper()
	_, err := adminStore(t, s).EditAccountWebhook(t.Context(), username, func(*webhook.AccountWebhook) (*webhook.AccountWebhook, error) {
		return nil, nil
	}, &admin.AuditEntry{Operator: "test", Action: "account.webhook.remove", Object: "account/" + username})
	return err
}

func resend(t *testing.T, s callback.Store, id int64, now time.Time) (*webhook.Delivery, error) {
	t.Helper()
	return adminStore(t, s).ResendDelivery(t.Context(), id, now, &admin.AuditEntry{Operator: "test", Action: "webhook.resend",
		Object: admin.DeliveryObject(id)})
}

func adminStore(t *testing.T, s callback.Store) admin.Store {
	t.Helper()
	as, ok := s.(admin.Store)
	if !ok {
		t.Fatalf("%T is no admin store", s)
	}
	return as
}

var allChanges = webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsAll}

func deliveries(t *testing.T, ws webhook.Store, requestID int64) []*webhook.Delivery {
	t.Helper()
	ds, err := ws.ListDeliveries(t.Context(), webhook.Filter{RequestID: requestID})
	if err != nil {
		t.Fatalf("list deliveries: %v", err)
	}
	slices.Reverse(ds) // oldest first
	return ds
}

func claimHooks(t *testing.T, ws webhook.Store, owner string, now time.Time, limit int) []*webhook.Delivery {
	t.Helper()
	ds, err := ws.ClaimDeliveries(t.Context(), webhook.ClaimParams{Owner: owner, Now: now, Limit: limit, LeaseFor: time.Minute})
	if err != nil {
		t.Fatalf("claim deliveries: %v", err)
	}
	return ds
}

// dialled takes r through a dialled attempt that ends with to/result.
func dialled(t *testing.T, s callback.Store, r *callback.Request, to callback.Status, result callback.Result) {
	t.Helper()
	_, l := claimOne(t, s, "n1/a", r.NextCall)
	update(t, s, l, callback.Change{From: callback.StatusRequestReceived, To: callback.StatusFirstLegInitiated, CountCall: true})
	c := callback.Change{From: callback.StatusFirstLegInitiated, To: to, Result: result, Cause: 17, SIPCode: 486}
	if to == callback.StatusWaitingForRetry {
		c.NextCall = r.NextCall.Add(time.Minute)
	}
	update(t, s, l, c)
}

var webhookTests = map[string]func(t *testing.T, s callback.Store){
	"BatchedEndsNotified": batchedEndsNotified,
	// Each status change writes its notification with it; a change that
	// is no status change (a release) writes none, and so does a store
	// with the outbox off.
	"EventWrittenWithStatusChange": func(t *testing.T, s callback.Store) {
		ws := hooks(t, s, webhook.Policy{})
		off := create(t, s, newRequest("4930000001", base))
		dialled(t, s, off, callback.StatusFinished, callback.ResultOutOfRetries)
		if ds := deliveries(t, ws, off.ID); len(ds) != 0 {
			t.Fatalf("outbox off: %d rows written", len(ds))
		}

		hooks(t, s, allChanges)
		r := create(t, s, newRequest("4930000002", base))
		_, l := claimOne(t, s, "n1/a", base)
		update(t, s, l, callback.Change{From: callback.StatusRequestReceived, To: callback.StatusFirstLegInitiated, CountCall: true})
		update(t, s, l, callback.Change{From: callback.StatusFirstLegInitiated, To: callback.StatusWaitingForRetry, NextCall: base.Add(time.Minute)})
		_, l = claimOne(t, s, "n1/a", base.Add(time.Minute))
		if err := s.Release(t.Context(), l, time.Time{}, "given back"); err != nil { // no status change
			t.Fatal(err)
		}
		_, l = claimOne(t, s, "n1/a", base.Add(time.Hour))
		update(t, s, l, callback.Change{From: callback.StatusWaitingForRetry, To: callback.StatusFirstLegInitiated, CountCall: true})
		update(t, s, l, callback.Change{From: callback.StatusFirstLegInitiated, To: callback.StatusFinished, Result: callback.ResultOutOfRetries,
			Cause: 17, SIPCode: 486, DisconnectTime: base.Add(time.Hour)})
		ds := deliveries(t, ws, r.ID)
		var got []string
		for _, d := range ds {
			got = append(got, fmt.Sprintf("%s/%s/%s/%s", d.Status, d.Result, d.Account, d.State))
		}
		sameList(t, "outbox", got, []string{"First leg initiated///pending", "Waiting for retry///pending",
			"First leg initiated///pending", "Finished/Out of retries//pending"})
		var lastEvent int64
		if err := raw(t, s).QueryRowContext(t.Context(), "SELECT MAX(id) FROM callback_request_events WHERE request_id = ?", r.ID).Scan(&lastEvent); err != nil {
			t.Fatal(err)
		}
		var p webhook.Payload
		last := ds[len(ds)-1]
		if err := json.Unmarshal(last.Payload, &p); err != nil {
			t.Fatalf("payload %s: %v", last.Payload, err)
		}
		if p.Type != webhook.TypeFinished || p.Status != callback.StatusFinished || p.Result != callback.ResultOutOfRetries ||
			p.PreviousStatus != callback.StatusFirstLegInitiated || p.Cause != 17 || p.SIPCode != 486 || p.Request.ID != r.ID ||
			p.Request.OriginalCLI != "4930000002" || !p.Request.Finished || p.Request.CallCount != 2 {
			t.Errorf("payload: %s", last.Payload)
		}
		var evIDs []int64
		for _, d := range ds {
			evIDs = append(evIDs, d.EventID)
		}
		if p.ID != last.EventID || p.ID != lastEvent || !slices.IsSorted(evIDs) {
			t.Errorf("event ids %v, payload id %d, last history line %d", evIDs, p.ID, lastEvent)
		}
	},
	// The global webhook with events final hears only of Finished; an
	// account's own webhook is told as its events say, with its own row.
	"FinalOnlyAndAccountWebhook": func(t *testing.T, s callback.Store) {
		ws := hooks(t, s, webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
		createAccount(t, s, callback.Account{Username: "801", Currency: "USD", MaxSessions: 2})
		if err := putHook(t, s, &webhook.AccountWebhook{Username: "801", URL: "http://127.0.0.1:9/hook",
			Secret: "0123456789abcdef", Events: webhook.EventsAll}); err != nil {
			t.Fatal(err)
		}
		r := create(t, s, newRequest("4930000003", base))
		dialled(t, s, r, callback.StatusFinished, callback.ResultOutOfRetries)
		var got []string
		for _, d := range deliveries(t, ws, r.ID) {
			got = append(got, fmt.Sprintf("%s/%s", d.Status, d.Account))
		}
		sameList(t, "outbox", got, []string{"First leg initiated/801", "Finished/", "Finished/801"})
		claimed := claimHooks(t, ws, "n1/a", time.Now(), 10)
		for _, d := range claimed {
			if (d.Account == "801") != (d.URL == "http://127.0.0.1:9/hook" && d.Secret == "0123456789abcdef") {
				t.Errorf("delivery %d to %q: url %q secret %q", d.ID, d.Account, d.URL, d.Secret)
			}
		}
		if err := putHook(t, s, &webhook.AccountWebhook{Username: "nobody", URL: "http://127.0.0.1:9/",
			Secret: "0123456789abcdef"}); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("webhook of an unknown account: %v, want ErrNotFound", err)
		}
		if err := putHook(t, s, &webhook.AccountWebhook{Username: "801", URL: "ftp://x/", Secret: "0123456789abcdef"}); !errors.Is(err, callback.ErrInvalid) {
			t.Errorf("ftp URL: %v, want ErrInvalid", err)
		}
		if err := removeHook(t, s, "801"); err != nil {
			t.Fatal(err)
		}
		if _, err := ws.GetAccountWebhook(t.Context(), "801"); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("deleted webhook: %v", err)
		}
	},
	// A status change whose transaction fails after its notification was
	// written leaves neither: not the status, not the history line, not
	// the outbox row. (A unique index on event_id makes the second row of
	// one change, the account's, fail after the global one was inserted.)
	"RollbackWritesNone": func(t *testing.T, s callback.Store) {
		ws := hooks(t, s, allChanges)
		createAccount(t, s, callback.Account{Username: "801", Currency: "USD", MaxSessions: 2})
		if err := putHook(t, s, &webhook.AccountWebhook{Username: "801", URL: "http://127.0.0.1:9/",
			Secret: "0123456789abcdef"}); err != nil {
			t.Fatal(err)
		}
		if _, err := raw(t, s).ExecContext(t.Context(), "CREATE UNIQUE INDEX webhook_outbox_one ON webhook_outbox (event_id)"); err != nil {
			t.Fatal(err)
		}
		r := create(t, s, newRequest("4930000004", base))
		_, l := claimOne(t, s, "n1/a", base)
		before, err := s.History(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Update(t.Context(), l, callback.Change{From: callback.StatusRequestReceived, To: callback.StatusFirstLegInitiated, CountCall: true})
		if err == nil {
			t.Fatal("update committed although its second outbox row could not be written")
		}
		if got := get(t, s, r.ID); got.Status != callback.StatusRequestReceived || got.CallCount != 0 {
			t.Errorf("after the rollback: %s, call_count %d", got.Status, got.CallCount)
		}
		after, err := s.History(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) {
			t.Errorf("history grew from %d to %d lines", len(before), len(after))
		}
		if ds := deliveries(t, ws, r.ID); len(ds) != 0 {
			t.Errorf("%d outbox rows of a change that rolled back", len(ds))
		}
		// The same change, once it can be written, writes both rows.
		if _, err := raw(t, s).ExecContext(t.Context(), dropIndex(t, s, "webhook_outbox_one", "webhook_outbox")); err != nil {
			t.Fatal(err)
		}
		update(t, s, l, callback.Change{From: callback.StatusRequestReceived, To: callback.StatusFirstLegInitiated, CountCall: true})
		if ds := deliveries(t, ws, r.ID); len(ds) != 2 {
			t.Errorf("%d outbox rows, want 2", len(ds))
		}
	},
	// Every path that changes a status writes a row: a cancel of an idle
	// request, the rescuer, the claim that finishes an invalid row.
	"EveryStatusPath": func(t *testing.T, s callback.Store) {
		ws := hooks(t, s, allChanges)
		idle := create(t, s, newRequest("4930000005", base.Add(time.Hour)))
		if _, err := s.Cancel(t.Context(), idle.ID, base); err != nil {
			t.Fatal(err)
		}
		held := create(t, s, newRequest("4930000006", base))
		_, l := claimOne(t, s, "n1/a", base)
		update(t, s, l, callback.Change{From: callback.StatusRequestReceived, To: callback.StatusFirstLegInitiated, CountCall: true})
		if _, err := s.Cancel(t.Context(), held.ID, base); err != nil { // held: only the flag, no status change
			t.Fatal(err)
		}
		if _, err := s.Rescue(t.Context(), callback.RescueParams{Now: base.Add(2 * time.Minute), MaxAttempts: 1, Backoff: time.Minute}); err != nil {
			t.Fatal(err)
		}
		bad := create(t, s, newRequest("4930000007", base))
		writeUnchecked(t, s, "UPDATE callback_requests SET canceled = 7 WHERE i_callback_request = ?", bad.ID)
		claim(t, s, "n1/a", base.Add(time.Minute), 10)
		for _, c := range []struct {
			id   int64
			want []string
		}{
			{idle.ID, []string{"Finished/Canceled"}},
			{held.ID, []string{"First leg initiated/", "Finished/Out of retries"}},
			{bad.ID, []string{"Finished/Invalid request"}},
		} {
			var got []string
			for _, d := range deliveries(t, ws, c.id) {
				got = append(got, fmt.Sprintf("%s/%s", d.Status, d.Result))
			}
			sameList(t, fmt.Sprintf("outbox of request %d", c.id), got, c.want)
		}
	},
	// Claims lease rows like the queue's: a held row is nobody else's
	// until its lease expires; an outcome under a lost lease is not
	// recorded; a retry is due at its next attempt; a failed row is
	// pending again after a resend; a previous run's leases are taken back.
	"ClaimLeaseAndOutcomes": func(t *testing.T, s callback.Store) {
		ws := hooks(t, s, allChanges)
		r := create(t, s, newRequest("4930000008", base))
		dialled(t, s, r, callback.StatusFinished, callback.ResultOutOfRetries)
		now := time.Now().UTC().Add(time.Second)
		a := claimHooks(t, ws, "n1/a", now, 10)
		if len(a) != 2 || a[0].Attempts != 1 || a[0].LeaseOwner != "n1/a" {
			t.Fatalf("claimed %d rows: %+v", len(a), a)
		}
		if b := claimHooks(t, ws, "n2/b", now.Add(30*time.Second), 10); len(b) != 0 {
			t.Fatalf("n2 claimed %d held rows", len(b))
		}
		b := claimHooks(t, ws, "n2/b", now.Add(2*time.Minute), 1) // n1's lease expired
		if len(b) != 1 || b[0].ID != a[0].ID || b[0].Attempts != 2 {
			t.Fatalf("after the lease: %+v", b)
		}
		n, err := ws.FinishDeliveries(t.Context(), []webhook.Outcome{
			{ID: a[0].ID, Owner: "n1/a", Attempts: 1, State: webhook.StatePending, At: now, NextAttempt: now, Code: 500}, // lost its lease
			{ID: b[0].ID, Owner: "n2/b", Attempts: 2, State: webhook.StatePending, At: now, NextAttempt: now.Add(time.Hour), Code: 503, Error: "HTTP 503"},
			{ID: a[1].ID, Owner: "n1/a", Attempts: 1, State: webhook.StateFailed, At: now, Code: 500, Error: "HTTP 500"},
		})
		if err != nil || n != 2 {
			t.Fatalf("finish: %d recorded, %v; want 2", n, err)
		}
		d, err := ws.GetDelivery(t.Context(), b[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != webhook.StatePending || d.LastCode != 503 || d.LeaseOwner != "" || !d.NextAttempt.Equal(now.Add(time.Hour).Truncate(time.Millisecond)) {
			t.Errorf("retried row: %+v", d)
		}
		if got := claimHooks(t, ws, "n1/a", now.Add(59*time.Minute), 10); len(got) != 0 {
			t.Errorf("claimed %d rows before their next attempt", len(got))
		}
		if next, ok, err := ws.NextDelivery(t.Context()); err != nil || !ok || !next.Equal(d.NextAttempt) {
			t.Errorf("next delivery %s %v %v, want %s", next, ok, err, d.NextAttempt)
		}
		if c, err := ws.CountDeliveries(t.Context(), webhook.StateFailed); err != nil || c != 1 {
			t.Errorf("failed rows: %d %v", c, err)
		}
		res, err := resend(t, s, a[1].ID, now)
		if err != nil || res.State != webhook.StatePending || !res.Queued.Equal(now.Truncate(time.Millisecond)) {
			t.Fatalf("resend: %+v %v", res, err)
		}
		if _, err := resend(t, s, 999999, now); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("resend of an unknown id: %v", err)
		}
		got := claimHooks(t, ws, "n1/old", now, 10)
		if len(got) != 1 || got[0].ID != a[1].ID {
			t.Fatalf("after the resend: %+v", got)
		}
		if n, err := ws.TakeBackDeliveries(t.Context(), "n1/", "n1/new", now); err != nil || n != 1 {
			t.Fatalf("take back: %d %v", n, err)
		}
		got = claimHooks(t, ws, "n1/new", now, 10)
		if len(got) != 1 || got[0].ID != a[1].ID {
			t.Fatalf("after the take back: %+v", got)
		}
		// A 2xx answer counts whoever holds the row now: the receiver has it.
		if n, err := ws.FinishDeliveries(t.Context(), []webhook.Outcome{{ID: got[0].ID, Owner: "n1/old", Attempts: got[0].Attempts - 1,
			State: webhook.StateDelivered, At: now, Code: 204}}); err != nil || n != 1 {
			t.Fatalf("delivered under a lost lease: %d recorded, %v", n, err)
		}
		if d, err := ws.GetDelivery(t.Context(), got[0].ID); err != nil || d.State != webhook.StateDelivered || d.LastCode != 204 ||
			!d.Delivered.Equal(now.Truncate(time.Millisecond)) || d.LeaseOwner != "" {
			t.Errorf("delivered row: %+v %v", d, err)
		}
		if n, err := ws.PruneDeliveries(t.Context(), now.Add(time.Second), 10); err != nil || n != 1 {
			t.Errorf("pruned %d %v, want the delivered row", n, err)
		}
	},
	// A process with a sender of its own writes the rows it has room for
	// leased to it, first attempt counted, and hands them over only once
	// the change committed: a rolled-back change hands over nothing and
	// gives its places back. Rows it has no room for are written due now,
	// for any claim, and the sender is woken for them.
	"HandedToLocalSender": func(t *testing.T, s callback.Store) {
		ws, local := hookedAccount(t, s, allChanges, webhook.EventsAll, 2, 10)
		r := create(t, s, newRequest("4930000009", base))
		_, l := claimOne(t, s, "n1/a", base)
		update(t, s, l, callback.Change{From: callback.StatusRequestReceived, To: callback.StatusFirstLegInitiated, CountCall: true})
		handed := local.take()
		if len(handed) != 2 || local.reserved != 2 || local.unreserved != 0 || local.wakes != 0 {
			t.Fatalf("handed %d rows, %d reserved, %d given back, %d wakes; want 2, 2, 0, 0", len(handed), local.reserved, local.unreserved, local.wakes)
		}
		for _, h := range handed {
			d, err := ws.GetDelivery(t.Context(), h.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d.LeaseOwner != "n1/run1" || d.Attempts != 1 || h.Attempts != 1 || !d.NextAttempt.Equal(d.LeaseExpires) ||
				!d.LeaseExpires.Equal(h.LeaseExpires.Truncate(time.Millisecond)) || string(d.Payload) != string(h.Payload) ||
				d.RequestID != r.ID || h.RequestID != r.ID || d.EventID != h.EventID || d.Account != h.Account || h.Status != callback.StatusFirstLegInitiated {
				t.Errorf("row %d as stored %+v, as handed over %+v", h.ID, d, h)
			}
			if (h.Account == "801") != (h.URL == "http://127.0.0.1:9/hook" && h.Secret == "0123456789abcdef") {
				t.Errorf("row %d to %q handed with url %q secret %q", h.ID, h.Account, h.URL, h.Secret)
			}
		}
		if got := claimHooks(t, ws, "n2/b", time.Now().Add(time.Second), 10); len(got) != 0 {
			t.Errorf("another sender claimed %d rows held by the local one", len(got))
		}
		// The rows outlive the process that holds them: its next run
		// takes them back.
		if n, err := ws.TakeBackDeliveries(t.Context(), "n1/", "n1/run2", time.Now()); err != nil || n != 2 {
			t.Fatalf("take back: %d %v, want 2", n, err)
		}
		if got := claimHooks(t, ws, "n1/run2", time.Now().Add(time.Second), 10); len(got) != 2 {
			t.Errorf("claimed %d rows after the take back, want 2", len(got))
		}

		// A change that rolls back after its first row was written (the
		// rows so far are done with).
		if _, err := raw(t, s).ExecContext(t.Context(), "DELETE FROM webhook_outbox"); err != nil {
			t.Fatal(err)
		}
		if _, err := raw(t, s).ExecContext(t.Context(), "CREATE UNIQUE INDEX webhook_outbox_one ON webhook_outbox (event_id)"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(t.Context(), l, callback.Change{From: callback.StatusFirstLegInitiated, To: callback.StatusFirstLegConnected}); err == nil {
			t.Fatal("update committed although its second outbox row could not be written")
		}
		if handed := local.take(); len(handed) != 0 || local.reserved != 4 || local.unreserved != 2 {
			t.Errorf("after a rollback: %d rows handed, %d reserved, %d given back", len(handed), local.reserved, local.unreserved)
		}
		if _, err := raw(t, s).ExecContext(t.Context(), dropIndex(t, s, "webhook_outbox_one", "webhook_outbox")); err != nil {
			t.Fatal(err)
		}

		// No room: due now for a claim, and a wake.
		local.room = 0
		update(t, s, l, callback.Change{From: callback.StatusFirstLegInitiated, To: callback.StatusFirstLegConnected})
		if handed := local.take(); len(handed) != 0 || local.wakes != 1 {
			t.Errorf("without room: %d rows handed, %d wakes; want 0, 1", len(handed), local.wakes)
		}
		got := claimHooks(t, ws, "n2/b", time.Now().Add(time.Second), 10)
		if len(got) != 2 || got[0].Status != callback.StatusFirstLegConnected || got[0].Attempts != 1 {
			t.Errorf("claimed without room: %+v", got)
		}
	},
	// Senders on several nodes claiming at once never get the same row.
	"ConcurrentClaims": func(t *testing.T, s callback.Store) {
		ws := hooks(t, s, webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
		const n = 60
		for i := range n {
			r := create(t, s, newRequest(fmt.Sprintf("49301%05d", i), base))
			if _, err := s.Cancel(t.Context(), r.ID, base); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().Add(time.Second)
		var mu sync.Mutex
		seen := map[int64]string{}
		var wg sync.WaitGroup
		for w := range 4 {
			owner := fmt.Sprintf("n%d/x", w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n {
					ds, err := ws.ClaimDeliveries(t.Context(), webhook.ClaimParams{Owner: owner, Now: now, Limit: 5, LeaseFor: time.Minute})
					if err != nil {
						t.Error(err)
						return
					}
					if len(ds) == 0 {
						return
					}
					mu.Lock()
					for _, d := range ds {
						if prev, ok := seen[d.ID]; ok {
							t.Errorf("delivery %d claimed by %s and %s", d.ID, prev, owner)
						}
						seen[d.ID] = owner
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("%d rows claimed, want %d", len(seen), n)
		}
	},
}

func dropIndex(t *testing.T, s callback.Store, index, table string) string {
	if isMySQL(t, s) {
		return "DROP INDEX " + index + " ON " + table
	}
	return "DROP INDEX " + index
}

func sameList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// hookedAccount turns s's outbox on with p, makes account 801 (at most
// maxSessions calls) with a webhook that wants events, and hands the rows
// written to a fakeLocal sender with room rows of room, for the rest of
// the test.
func hookedAccount(t *testing.T, s callback.Store, p webhook.Policy, events webhook.Events, maxSessions, room int) (webhook.Store, *fakeLocal) {
	t.Helper()
	ws := hooks(t, s, p)
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD", MaxSessions: maxSessions})
	if err := putHook(t, s, &webhook.AccountWebhook{Username: "801", URL: "http://127.0.0.1:9/hook",
		Secret: "0123456789abcdef", Events: events}); err != nil {
		t.Fatal(err)
	}
	local := &fakeLocal{owner: "n1/run1", room: room}
	ws.SetLocalSender(local)
	t.Cleanup(func() { ws.SetLocalSender(nil) })
	return ws, local
}

// fakeLocal is a webhook.Local with room for room rows at a time that
// keeps the rows handed to it.
type fakeLocal struct {
	mu                   sync.Mutex
	owner                string
	room                 int
	held                 int // places reserved and not yet handed over or given back
	reserved, unreserved int // calls of Reserve that succeeded, and of Unreserve
	wakes                int
	handed               []*webhook.Delivery
}

func (f *fakeLocal) Reserve(now time.Time) (string, time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held >= f.room {
		return "", time.Time{}, false
	}
	f.held++
	f.reserved++
	return f.owner, now.Add(time.Minute), true
}

func (f *fakeLocal) Hand(d *webhook.Delivery) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handed = append(f.handed, d)
}

func (f *fakeLocal) Unreserve() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held--
	f.unreserved++
}

func (f *fakeLocal) Wake() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wakes++
}

// take returns the rows handed over since the last take, and frees their
// places.
func (f *fakeLocal) take() []*webhook.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.handed
	f.handed = nil
	f.held -= len(h)
	return h
}
