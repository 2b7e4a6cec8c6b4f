package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// Every attempt of a notification keeps a row of its own, written with
// the outcome it records and only then, kept across resends and deleted
// with the notification.
func init() {
	webhookTests["AttemptsKept"] = testAttemptsKept
	webhookTests["AttemptsOnlyWhenRecorded"] = testAttemptsOnlyWhenRecorded
}

// canceledHook cancels a new request with the global webhook told of its
// end only, and returns its one notification.
func canceledHook(t *testing.T, s callback.Store, ws webhook.Store, cli string) *webhook.Delivery {
	t.Helper()
	r := create(t, s, newRequest(cli, base.Add(time.Hour)))
	if _, err := s.Cancel(t.Context(), r.ID, base); err != nil {
		t.Fatal(err)
	}
	ds := deliveries(t, ws, r.ID)
	if len(ds) != 1 {
		t.Fatalf("%d outbox rows of a cancel, want 1", len(ds))
	}
	return ds[0]
}

func attemptsOf(t *testing.T, ws webhook.Store, id int64) []*webhook.Attempt {
	t.Helper()
	as, err := ws.ListDeliveryAttempts(t.Context(), id)
	if err != nil {
		t.Fatalf("attempts of %d: %v", id, err)
	}
	return as
}

func attemptRows(t *testing.T, s callback.Store, id int64) int {
	t.Helper()
	var n int
	if err := raw(t, s).QueryRowContext(t.Context(), "SELECT COUNT(*) FROM webhook_attempts WHERE delivery_id = ?", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func finish(t *testing.T, ws webhook.Store, want int, outs ...webhook.Outcome) {
	t.Helper()
	if n, err := ws.FinishDeliveries(t.Context(), outs); err != nil || n != want {
		t.Fatalf("finish: %d recorded, %v; want %d", n, err, want)
	}
}

func testAttemptsKept(t *testing.T, s callback.Store) {
	ws := hooks(t, s, webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
	d := canceledHook(t, s, ws, "4930000201")
	other := canceledHook(t, s, ws, "4930000202")
	if as := attemptsOf(t, ws, d.ID); len(as) != 0 {
		t.Fatalf("attempts before any: %+v", as)
	}
	now := time.Now().UTC().Truncate(time.Millisecond).Add(time.Second)
	ms := time.Millisecond

	// 1: answered 503, due again. The error is cut as last_error is.
	a := claimHooks(t, ws, "n1/a", now, 10)
	if len(a) != 2 {
		t.Fatalf("claimed %d, want 2", len(a))
	}
	long := strings.Repeat("x", 1500)
	finish(t, ws, 2,
		webhook.Outcome{ID: d.ID, Owner: "n1/a", Attempts: 1, State: webhook.StatePending, Started: now, At: now.Add(120 * ms),
			NextAttempt: now, Code: 503, Error: long},
		webhook.Outcome{ID: other.ID, Owner: "n1/a", Attempts: 1, State: webhook.StateDelivered, Started: now, At: now.Add(7 * ms), Code: 200})
	// An outcome under a lost lease records nothing and writes no attempt.
	finish(t, ws, 0, webhook.Outcome{ID: d.ID, Owner: "n1/a", Attempts: 1, State: webhook.StateFailed, Started: now, At: now, Code: 500})
	// 2: no answer, given up, by another node.
	b := claimHooks(t, ws, "n2/b", now.Add(time.Second), 10)
	if len(b) != 1 || b[0].ID != d.ID || b[0].Attempts != 2 {
		t.Fatalf("second claim: %+v", b)
	}
	finish(t, ws, 1, webhook.Outcome{ID: d.ID, Owner: "n2/b", Attempts: 2, State: webhook.StateFailed, Started: now.Add(time.Second),
		At: now.Add(time.Second + 10*ms), Error: "dial tcp 127.0.0.1:9: connection refused"})
	// A resend keeps them; 3: a 2xx answer counts under a lost lease too
	// (another node took the row meanwhile), under the lease it was made.
	if _, err := resend(t, s, d.ID, now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if as := attemptsOf(t, ws, d.ID); len(as) != 2 {
		t.Fatalf("after the resend: %d attempts, want 2", len(as))
	}
	c := claimHooks(t, ws, "n1/c", now.Add(2*time.Second), 10)
	if len(c) != 1 || c[0].Attempts != 3 {
		t.Fatalf("after the resend: %+v", c)
	}
	claimHooks(t, ws, "n2/d", now.Add(4*time.Minute), 10) // n1/c's lease expired: attempt 4 in flight
	finish(t, ws, 1, webhook.Outcome{ID: d.ID, Owner: "n1/c", Attempts: 3, State: webhook.StateDelivered, Started: now.Add(2 * time.Second),
		At: now.Add(2*time.Second + 40*ms), Code: 204})
	// The delivered row takes no more outcomes, nor attempts.
	finish(t, ws, 0, webhook.Outcome{ID: d.ID, Owner: "n2/d", Attempts: 4, State: webhook.StateDelivered, Started: now, At: now, Code: 200})

	var got []string
	for _, a := range attemptsOf(t, ws, d.ID) {
		if a.DeliveryID != d.ID || a.ID == 0 {
			t.Errorf("attempt %+v of delivery %d", a, d.ID)
		}
		got = append(got, fmt.Sprintf("%d %s+%s %d %q %s", a.Attempt, a.Started.Sub(now), a.Duration(), a.Code, a.Error[:min(len(a.Error), 12)], a.Owner))
	}
	sameList(t, "attempts", got, []string{
		`1 0s+120ms 503 "xxxxxxxxxxxx" n1/a`,
		`2 1s+10ms 0 "dial tcp 127" n2/b`,
		`3 2s+40ms 204 "" n1/c`,
	})
	if as := attemptsOf(t, ws, d.ID); len(as[0].Error) != 1000 || !as[0].Finished.Equal(now.Add(120*ms)) {
		t.Errorf("first attempt: error of %d bytes, finished %s", len(as[0].Error), as[0].Finished)
	}
	if as := attemptsOf(t, ws, other.ID); len(as) != 1 || as[0].Code != 200 || as[0].Owner != "n1/a" || as[0].Attempt != 1 {
		t.Errorf("the other notification's attempts: %+v", as)
	}
	if as := attemptsOf(t, ws, 999999); len(as) != 0 {
		t.Errorf("attempts of an unknown notification: %+v", as)
	}

	// Pruned with their notification.
	if n, err := ws.PruneDeliveries(t.Context(), time.Now().Add(time.Hour), 1); err != nil || n != 1 {
		t.Fatalf("pruned %d %v, want 1", n, err)
	}
	if _, err := ws.GetDelivery(t.Context(), d.ID); err == nil {
		t.Fatal("the first notification outlived the prune")
	}
	if n := attemptRows(t, s, d.ID); n != 0 {
		t.Errorf("%d attempt rows of a pruned notification", n)
	}
	if n := attemptRows(t, s, other.ID); n != 1 {
		t.Errorf("%d attempt rows of the notification kept, want 1", n)
	}
}

// Two nodes record outcomes for the same rows at once (each received its
// own copy): each row gets the one attempt row of the outcome that
// recorded it, and the counts agree.
func testAttemptsOnlyWhenRecorded(t *testing.T, s callback.Store) {
	ws := hooks(t, s, webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
	const n = 40
	ids := make([]int64, n)
	for i := range n {
		ids[i] = canceledHook(t, s, ws, fmt.Sprintf("49302%05d", i)).ID
	}
	now := time.Now().Add(time.Second)
	if got := claimHooks(t, ws, "n1/a", now, n); len(got) != n {
		t.Fatalf("claimed %d, want %d", len(got), n)
	}
	var wg sync.WaitGroup
	recorded := make([]int, 4)
	for w := range recorded {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs := make([]webhook.Outcome, 0, n)
			for i := range n {
				// Node w retries some rows and delivers the rest, in its
				// own order.
				id := ids[(i*7+w*13)%n]
				o := webhook.Outcome{ID: id, Owner: "n1/a", Attempts: 1, State: webhook.StateDelivered, Started: now, At: now, Code: 200 + w}
				if (i+w)%3 == 0 {
					o.State, o.NextAttempt, o.Code, o.Error = webhook.StatePending, now.Add(time.Hour), 500, "HTTP 500"
				}
				outs = append(outs, o)
			}
			m, err := ws.FinishDeliveries(t.Context(), outs)
			if err != nil {
				t.Error(err)
			}
			recorded[w] = m
		}()
	}
	wg.Wait()
	total := 0
	for _, m := range recorded {
		total += m
	}
	rows := 0
	for _, id := range ids {
		as := attemptsOf(t, ws, id)
		rows += len(as)
		d, err := ws.GetDelivery(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case len(as) == 0:
			t.Errorf("delivery %d (%s): no attempt row", id, d.State)
		case d.State == webhook.StateDelivered && as[len(as)-1].Code != d.LastCode:
			t.Errorf("delivery %d delivered with %d, its attempts %+v", id, d.LastCode, as)
		case len(as) > 2 || len(as) == 2 && as[0].Code != 500:
			t.Errorf("delivery %d: attempts %+v", id, as)
		}
	}
	if rows != total {
		t.Errorf("%d attempt rows for %d outcomes recorded", rows, total)
	}
}
