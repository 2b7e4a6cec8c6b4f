package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

var queueTests = map[string]func(t *testing.T, s callback.Store){
	"UpdatesShareTransactions": updatesShareTransactions,
	"RowsInOtherStatusesAreNeverClaimed": func(t *testing.T, s callback.Store) {
		// A SQL client inserts rows in statuses no request waits in: they
		// must never be dialled, nor hold NextDue at a time nothing can claim.
		for _, st := range []string{"Second leg connected", "Ringing"} {
			if _, err := raw(t, s).ExecContext(t.Context(), `INSERT INTO callback_requests
				(username, original_cli, original_cld, status, next_call) VALUES ('801', '4930111111', '2way_1', ?, ?)`,
				st, "2030-03-14 15:09:26.535"); err != nil {
				t.Fatal(err)
			}
		}
		if got := claim(t, s, "node-a/1", base.Add(time.Hour), 10); len(got) != 0 {
			t.Fatalf("claimed %v", ids(got))
		}
		if next, ok, err := s.NextDue(t.Context()); err != nil || ok {
			t.Fatalf("NextDue = %s, %v, %v; want nothing due", next, ok, err)
		}
	},
	"ClaimOrderLimitAndLease": func(t *testing.T, s callback.Store) {
		rs := createDue(t, s, 5)
		later := create(t, s, newRequest("4930777777", base.Add(time.Hour)))
		got := claim(t, s, "node-a/1", base.Add(2*time.Millisecond), 10)
		if want := ids(rs[:3]); !slices.Equal(ids(got), want) {
			t.Fatalf("claimed %v, want the due rows oldest first %v", ids(got), want)
		}
		for _, r := range got {
			if r.LeaseOwner != "node-a/1" || r.Attempt != 1 || !r.LeaseExpires.Equal(base.Add(2*time.Millisecond+time.Minute)) {
				t.Errorf("claimed row %d: owner %q attempt %d expires %s", r.ID, r.LeaseOwner, r.Attempt, r.LeaseExpires)
			}
			if r.Status != callback.StatusRequestReceived || r.CallCount != 0 {
				t.Errorf("a claim changed status or call_count: %q %d", r.Status, r.CallCount)
			}
		}
		got = claim(t, s, "node-b/1", base.Add(time.Minute), 1)
		if !slices.Equal(ids(got), []int64{rs[3].ID}) {
			t.Fatalf("limit 1 claimed %v, want [%d]", ids(got), rs[3].ID)
		}
		got = claim(t, s, "node-b/1", base.Add(time.Minute), 10)
		if !slices.Equal(ids(got), []int64{rs[4].ID}) {
			t.Fatalf("claimed %v, want only the last due row %d", ids(got), rs[4].ID)
		}
		if got := claim(t, s, "node-b/1", base.Add(time.Minute), 10); len(got) != 0 {
			t.Fatalf("claimed leased or future rows: %v", ids(got))
		}
		if got := claim(t, s, "node-b/1", base.Add(time.Hour), 10); !slices.Equal(ids(got), []int64{later.ID}) {
			t.Fatalf("claimed %v once the later row is due", ids(got))
		}
		if _, err := s.Claim(t.Context(), callback.ClaimParams{Now: base, Limit: 1, LeaseFor: time.Minute}); !errors.Is(err, callback.ErrInvalid) {
			t.Errorf("claim without owner: %v, want ErrInvalid", err)
		}
	},

	"ClaimConcurrentNoDuplicates": func(t *testing.T, s callback.Store) {
		const rows, claimers = 300, 8
		seedDue(t, s, rows)
		now := time.Now().Add(time.Hour)
		claimed := make([][]int64, claimers)
		errs := make([]error, claimers)
		var wg sync.WaitGroup
		for i := range claimers {
			wg.Go(func() {
				owner := fmt.Sprintf("claimer-%d/1", i)
				for {
					got, err := s.Claim(t.Context(), callback.ClaimParams{Owner: owner, Now: now, Limit: 7, LeaseFor: time.Minute})
					if err != nil {
						errs[i] = err
						return
					}
					if len(got) == 0 {
						return
					}
					for _, r := range got {
						if r.LeaseOwner != owner {
							errs[i] = fmt.Errorf("row %d claimed by %s is leased to %q", r.ID, owner, r.LeaseOwner)
							return
						}
						claimed[i] = append(claimed[i], r.ID)
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		all := slices.Concat(claimed...)
		slices.Sort(all)
		if dups := len(all) - len(slices.Compact(slices.Clone(all))); dups != 0 {
			t.Fatalf("%d rows were claimed twice", dups)
		}
		if len(all) != rows {
			t.Fatalf("claimed %d rows, want %d", len(all), rows)
		}
		for i, c := range claimed {
			t.Logf("claimer %d: %d rows", i, len(c))
		}
	},

	"NextDue": func(t *testing.T, s callback.Store) {
		if _, ok, err := s.NextDue(t.Context()); err != nil || ok {
			t.Fatalf("empty queue: ok=%v err=%v", ok, err)
		}
		create(t, s, newRequest("4930111111", base.Add(time.Minute)))
		early := create(t, s, newRequest("4930222222", base))
		next, ok, err := s.NextDue(t.Context())
		if err != nil || !ok || !next.Equal(base) {
			t.Fatalf("next due = %s %v %v, want %s", next, ok, err, base)
		}
		// A leased row is not due; a finished one never is.
		r, l := claimOne(t, s, "n", base)
		if r.ID != early.ID {
			t.Fatalf("claimed %d", r.ID)
		}
		if next, _, _ := s.NextDue(t.Context()); !next.Equal(base.Add(time.Minute)) {
			t.Fatalf("next due with the early row leased = %s", next)
		}
		update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFinished, Result: callback.ResultExpired})
		if next, _, _ := s.NextDue(t.Context()); !next.Equal(base.Add(time.Minute)) {
			t.Fatalf("next due with the early row finished = %s", next)
		}
	},

	"SuccessfulCallAndHistory": func(t *testing.T, s callback.Store) {
		created := create(t, s, newRequest("4930111111", base))
		r, l := claimOne(t, s, "node-a/1", base)
		t0 := base.Add(time.Second)
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFirstLegInitiated, CallID: "cb-a", CountCall: true, SetupTime: t0})
		if r.CallCount != 1 || r.CallID != "cb-a" || !r.SetupTime.Equal(t0) || r.LeaseOwner != "node-a/1" {
			t.Fatalf("after First leg initiated: %+v", r)
		}
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFirstLegConnected, ConnectTime: t0.Add(time.Second)})
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusSecondLegInitiated, TwowayCallID: "cb-b", Note: "dialling 12345"})
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusSecondLegConnected})
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFinished, Result: callback.ResultSuccessful,
			DisconnectTime: t0.Add(time.Minute), Cause: 16})
		want := *created
		want.Status, want.Result, want.Finished = callback.StatusFinished, callback.ResultSuccessful, true
		want.Attempt, want.CallCount, want.CallID, want.TwowayCallID = 1, 1, "cb-a", "cb-b"
		want.SetupTime, want.ConnectTime, want.DisconnectTime = t0, t0.Add(time.Second), t0.Add(time.Minute)
		want.LastCause = 16
		mustEqual(t, "finished request", r, &want)
		mustEqual(t, "finished request as read", get(t, s, r.ID), &want)

		h, err := s.History(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range h {
			got = append(got, fmt.Sprintf("%d %s/%s %d %q", e.Attempt, e.Status, e.Result, e.Cause, e.Note))
			if e.RequestID != r.ID || e.Time.IsZero() {
				t.Errorf("event %+v", e)
			}
		}
		wantH := []string{
			`0 Request received/ 0 "request created (source api)"`,
			`1 First leg initiated/ 0 ""`,
			`1 First leg connected/ 0 ""`,
			`1 Second leg initiated/ 0 "dialling 12345"`,
			`1 Second leg connected/ 0 ""`,
			`1 Finished/Successful 16 ""`,
		}
		if !slices.Equal(got, wantH) {
			t.Errorf("history:\n\t%s\nwant:\n\t%s", join(got), join(wantH))
		}
	},

	"GuardedUpdates": func(t *testing.T, s callback.Store) {
		create(t, s, newRequest("4930111111", base))
		r, l := claimOne(t, s, "node-a/1", base)
		ch := callback.Change{From: r.Status, To: callback.StatusFirstLegInitiated, CountCall: true}
		for name, bad := range map[string]callback.Lease{
			"stale attempt": {RequestID: l.RequestID, Attempt: l.Attempt - 1, Owner: l.Owner},
			"other owner":   {RequestID: l.RequestID, Attempt: l.Attempt, Owner: "node-b/1"},
			"unknown row":   {RequestID: l.RequestID + 1000, Attempt: l.Attempt, Owner: l.Owner},
		} {
			if _, err := s.Update(t.Context(), bad, ch); !errors.Is(err, callback.ErrLeaseLost) {
				t.Errorf("%s: %v, want ErrLeaseLost", name, err)
			}
			if err := s.Renew(t.Context(), bad, base.Add(time.Hour)); !errors.Is(err, callback.ErrLeaseLost) {
				t.Errorf("renew with %s: %v, want ErrLeaseLost", name, err)
			}
			if err := s.Release(t.Context(), bad, time.Time{}, ""); !errors.Is(err, callback.ErrLeaseLost) {
				t.Errorf("release with %s: %v, want ErrLeaseLost", name, err)
			}
		}
		// The row moved on: an update from a status it has left is lost.
		r = update(t, s, l, ch)
		if _, err := s.Update(t.Context(), l, ch); !errors.Is(err, callback.ErrLeaseLost) {
			t.Errorf("update from a status the row left: %v, want ErrLeaseLost", err)
		}
		// Illegal moves are refused before anything is written.
		var te *callback.TransitionError
		for _, c := range []callback.Change{
			{From: r.Status, To: callback.StatusSecondLegConnected},
			{From: r.Status, To: callback.StatusFinished, Result: callback.ResultSuccessful},
			{From: r.Status, To: callback.StatusFinished},
			{From: r.Status, To: callback.StatusWaitingForRetry, Result: callback.ResultExpired},
		} {
			_, err := s.Update(t.Context(), l, c)
			if !errors.As(err, &te) || !errors.Is(err, callback.ErrInvalid) {
				t.Errorf("%q -> %q/%q: %v, want a *TransitionError", c.From, c.To, c.Result, err)
			}
		}
		if got := get(t, s, r.ID); got.Status != callback.StatusFirstLegInitiated || got.CallCount != 1 {
			t.Errorf("refused updates changed the row: %q call_count %d", got.Status, got.CallCount)
		}
		// A rival that claimed the row after a rescue fences the old holder off.
		if n, err := s.Rescue(t.Context(), callback.RescueParams{Now: base.Add(time.Hour), MaxAttempts: 3, Backoff: time.Second}); err != nil || n != 1 {
			t.Fatalf("rescue: %d %v", n, err)
		}
		r2, l2 := claimOne(t, s, "node-b/1", base.Add(2*time.Hour))
		if r2.Attempt != 2 {
			t.Fatalf("second claim attempt = %d, want 2", r2.Attempt)
		}
		if _, err := s.Update(t.Context(), l, callback.Change{From: r2.Status, To: callback.StatusFirstLegInitiated}); !errors.Is(err, callback.ErrLeaseLost) {
			t.Errorf("the old holder updated a row claimed again: %v", err)
		}
		update(t, s, l2, callback.Change{From: r2.Status, To: callback.StatusFirstLegInitiated, CountCall: true})
	},

	"RetryThenOutOfRetries": func(t *testing.T, s callback.Store) {
		create(t, s, newRequest("4930111111", base))
		r, l := claimOne(t, s, "n/1", base)
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFirstLegInitiated, CountCall: true, CallID: "a1"})
		retryAt := base.Add(10 * time.Second)
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusWaitingForRetry, NextCall: retryAt,
			Cause: 17, SIPCode: 486, Error: "user busy", DisconnectTime: base.Add(5 * time.Second)})
		if r.LeaseOwner != "" || !r.LeaseExpires.IsZero() || r.Finished || !r.NextCall.Equal(retryAt) ||
			r.LastCause != 17 || r.LastSIPCode != 486 || r.LastError != "user busy" || r.Result != callback.ResultNone {
			t.Fatalf("waiting for retry: %+v", r)
		}
		if got := claim(t, s, "n/1", retryAt.Add(-time.Millisecond), 10); len(got) != 0 {
			t.Fatal("claimed before the backoff")
		}
		r, l = claimOne(t, s, "n/1", retryAt)
		if r.Attempt != 2 || r.Status != callback.StatusWaitingForRetry {
			t.Fatalf("second claim: attempt %d status %q", r.Attempt, r.Status)
		}
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFirstLegInitiated, CountCall: true, CallID: "a2"})
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFinished, Result: callback.ResultOutOfRetries, Cause: 19})
		if !r.Finished || r.CallCount != 2 || r.CallID != "a2" || r.LeaseOwner != "" || r.LastCause != 19 {
			t.Fatalf("out of retries: %+v", r)
		}
		h, _ := s.History(t.Context(), r.ID)
		if n := len(h); n != 5 || h[2].Note != "user busy" || h[2].SIPCode != 486 {
			t.Errorf("history %+v", h)
		}
	},

	"RenewAndRelease": func(t *testing.T, s callback.Store) {
		create(t, s, newRequest("4930111111", base))
		r, l := claimOne(t, s, "n/1", base)
		until := base.Add(time.Hour)
		if err := s.Renew(t.Context(), l, until); err != nil {
			t.Fatal(err)
		}
		// Renewing to the same expiry is not a lost lease.
		if err := s.Renew(t.Context(), l, until); err != nil {
			t.Fatalf("renew to the same expiry: %v", err)
		}
		if got := get(t, s, r.ID); !got.LeaseExpires.Equal(until) {
			t.Fatalf("lease expires %s, want %s", got.LeaseExpires, until)
		}
		// Renewed past the original expiry: the rescuer leaves it alone.
		if n, err := s.Rescue(t.Context(), callback.RescueParams{Now: base.Add(30 * time.Minute), MaxAttempts: 3}); err != nil || n != 0 {
			t.Fatalf("rescued a renewed lease: %d %v", n, err)
		}
		next := base.Add(2 * time.Minute)
		if err := s.Release(t.Context(), l, next, "Max Sessions 2 reached"); err != nil {
			t.Fatal(err)
		}
		got := get(t, s, r.ID)
		if got.LeaseOwner != "" || !got.NextCall.Equal(next) || got.Status != callback.StatusRequestReceived || got.Attempt != 1 {
			t.Fatalf("released: %+v", got)
		}
		if err := s.Release(t.Context(), l, time.Time{}, ""); !errors.Is(err, callback.ErrLeaseLost) {
			t.Errorf("second release: %v", err)
		}
		h, _ := s.History(t.Context(), r.ID)
		if len(h) != 2 || h[1].Note != "Max Sessions 2 reached" || h[1].Status != callback.StatusRequestReceived {
			t.Errorf("history %+v", h)
		}
		// Zero nextCall keeps next_call.
		_, l = claimOne(t, s, "n/1", next)
		if err := s.Release(t.Context(), l, time.Time{}, "not dialled"); err != nil {
			t.Fatal(err)
		}
		if got := get(t, s, r.ID); !got.NextCall.Equal(next) || got.Attempt != 2 {
			t.Errorf("release without next call: %+v", got)
		}
	},

	"CancelUnleased": func(t *testing.T, s callback.Store) {
		r := create(t, s, newRequest("4930111111", base))
		got, err := s.Cancel(t.Context(), r.ID, base)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Canceled || !got.Finished || got.Status != callback.StatusFinished || got.Result != callback.ResultCanceled {
			t.Fatalf("canceled unleased request: %+v", got)
		}
		if c := claim(t, s, "n", base.Add(time.Hour), 10); len(c) != 0 {
			t.Fatal("claimed a canceled request")
		}
		// Canceling again, or a finished request, changes nothing.
		again, err := s.Cancel(t.Context(), r.ID, base)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "canceled twice", again, got)
		h, _ := s.History(t.Context(), r.ID)
		if len(h) != 2 || h[1].Status != callback.StatusFinished || h[1].Result != callback.ResultCanceled || !h[1].Time.Equal(base) {
			t.Errorf("history %+v", h)
		}
		// A request waiting for retry is unleased too.
		create(t, s, newRequest("4930222222", base))
		w, l := claimOne(t, s, "n/1", base)
		w = update(t, s, l, callback.Change{From: w.Status, To: callback.StatusFirstLegInitiated, CountCall: true})
		w = update(t, s, l, callback.Change{From: w.Status, To: callback.StatusWaitingForRetry, NextCall: base.Add(time.Minute)})
		if w, err = s.Cancel(t.Context(), w.ID, base); err != nil || w.Result != callback.ResultCanceled {
			t.Fatalf("cancel waiting for retry: %+v %v", w, err)
		}
	},

	"CancelLeased": func(t *testing.T, s callback.Store) {
		create(t, s, newRequest("4930111111", base))
		other := create(t, s, newRequest("4930222222", base.Add(time.Millisecond)))
		r, l := claimOne(t, s, "node-a/1", base)
		_, _ = claimOne(t, s, "node-a/1", base.Add(time.Millisecond))
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFirstLegInitiated, CountCall: true})
		got, err := s.Cancel(t.Context(), r.ID, base)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Canceled || got.Finished || got.Status != callback.StatusFirstLegInitiated || got.LeaseOwner != "node-a/1" {
			t.Fatalf("canceled held request: %+v", got)
		}
		held, err := s.CanceledHeld(t.Context(), "node-a/1")
		if err != nil || !slices.Equal(held, []int64{r.ID}) {
			t.Fatalf("canceled held = %v %v, want [%d] (not %d)", held, err, r.ID, other.ID)
		}
		if held, _ := s.CanceledHeld(t.Context(), "node-b/1"); len(held) != 0 {
			t.Fatalf("another node sees %v", held)
		}
		update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFinished, Result: callback.ResultCanceled})
		if held, _ := s.CanceledHeld(t.Context(), "node-a/1"); len(held) != 0 {
			t.Fatalf("still held after finishing: %v", held)
		}
	},

	"LiveCalls": func(t *testing.T, s callback.Store) {
		count := func(u string) int {
			t.Helper()
			n, err := s.LiveCalls(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		a := newRequest("4930111111", base)
		create(t, s, a)
		b := newRequest("4930222222", base.Add(time.Millisecond))
		b.Payer = "default"
		create(t, s, b)
		create(t, s, newRequest("4930333333", base.Add(2*time.Millisecond)))
		if n := count("801"); n != 0 {
			t.Fatalf("queued requests are not live calls: %d", n)
		}
		ra, la := claimOne(t, s, "n/1", base)
		if n := count("801"); n != 0 {
			t.Fatalf("a claimed, undialled request is not a live call: %d", n)
		}
		update(t, s, la, callback.Change{From: ra.Status, To: callback.StatusFirstLegInitiated, CountCall: true})
		rb, lb := claimOne(t, s, "n/1", base.Add(time.Millisecond))
		rb = update(t, s, lb, callback.Change{From: rb.Status, To: callback.StatusFirstLegInitiated, CountCall: true})
		update(t, s, lb, callback.Change{From: rb.Status, To: callback.StatusFirstLegConnected})
		if n := count("801"); n != 1 {
			t.Errorf("live calls of 801 = %d, want 1 (the other is paid by default)", n)
		}
		if n := count("default"); n != 1 {
			t.Errorf("live calls of default = %d, want 1", n)
		}
	},
}

// seedDue inserts n requests through plain SQL in a few statements, due
// 5 s after insertion (the column default), for the tests and benchmarks
// that need many rows quickly.
func seedDue(tb testing.TB, s callback.Store, n int) {
	tb.Helper()
	db, ok := s.(RawDBer)
	if !ok {
		tb.Fatalf("%T has no RawDB method", s)
	}
	const perStatement = 500
	for start := 0; start < n; start += perStatement {
		q := "INSERT INTO callback_requests (username, original_cli, original_cld) VALUES "
		for i := start; i < min(start+perStatement, n); i++ {
			if i > start {
				q += ", "
			}
			q += fmt.Sprintf("('801', '49%09d', '2way_12345')", i)
		}
		if _, err := db.RawDB().ExecContext(tb.Context(), q); err != nil {
			tb.Fatalf("seed requests: %v", err)
		}
	}
}

func join(s []string) string { return strings.Join(s, "\n\t") }
