package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// leaseFor is the lease of the rows the rescue tests claim at base.
const leaseFor = time.Minute

// held creates a request, claims it for owner at base and walks it to
// status, as a node that then died would have left it.
func held(t *testing.T, s callback.Store, cli, owner string, status callback.Status) (*callback.Request, callback.Lease) {
	t.Helper()
	create(t, s, newRequest(cli, base))
	got, err := s.Claim(t.Context(), callback.ClaimParams{Owner: owner, Now: base, Limit: 1, LeaseFor: leaseFor})
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %d rows, %v", len(got), err)
	}
	r := got[0]
	l := callback.Lease{RequestID: r.ID, Attempt: r.Attempt, Owner: owner}
	path := map[callback.Status][]callback.Change{
		callback.StatusRequestReceived:    nil,
		callback.StatusFirstLegInitiated:  {{To: callback.StatusFirstLegInitiated, CountCall: true}},
		callback.StatusFirstLegConnected:  {{To: callback.StatusFirstLegInitiated, CountCall: true}, {To: callback.StatusFirstLegConnected}},
		callback.StatusSecondLegInitiated: {{To: callback.StatusFirstLegInitiated, CountCall: true}, {To: callback.StatusFirstLegConnected}, {To: callback.StatusSecondLegInitiated}},
		callback.StatusSecondLegConnected: {{To: callback.StatusFirstLegInitiated, CountCall: true}, {To: callback.StatusFirstLegConnected}, {To: callback.StatusSecondLegInitiated}, {To: callback.StatusSecondLegConnected}},
	}
	if status == callback.StatusWaitingForRetry {
		// Waiting for retry releases the lease; the row is held again once
		// claimed for its next attempt.
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFirstLegInitiated, CountCall: true})
		update(t, s, l, callback.Change{From: r.Status, To: callback.StatusWaitingForRetry, NextCall: base})
		got, err := s.Claim(t.Context(), callback.ClaimParams{Owner: owner, Now: base, Limit: 1, LeaseFor: leaseFor})
		if err != nil || len(got) != 1 {
			t.Fatalf("claim again: %d rows, %v", len(got), err)
		}
		return got[0], callback.Lease{RequestID: r.ID, Attempt: got[0].Attempt, Owner: owner}
	}
	for _, c := range path[status] {
		c.From = r.Status
		r = update(t, s, l, c)
	}
	return r, l
}

var rescueTests = map[string]func(t *testing.T, s callback.Store){
	"ByStatus": func(t *testing.T, s callback.Store) {
		now := base.Add(leaseFor + time.Second)
		p := callback.RescueParams{Now: now, MaxAttempts: 3, Backoff: 10 * time.Second}
		cases := []struct {
			status     callback.Status
			wantStatus callback.Status
			wantResult callback.Result
			wantNext   time.Time
			dialled    bool
		}{
			{callback.StatusRequestReceived, callback.StatusRequestReceived, callback.ResultNone, base, false},
			{callback.StatusWaitingForRetry, callback.StatusWaitingForRetry, callback.ResultNone, base, false},
			{callback.StatusFirstLegInitiated, callback.StatusWaitingForRetry, callback.ResultNone, now.Add(10 * time.Second), true},
			{callback.StatusFirstLegConnected, callback.StatusFinished, callback.ResultFirstLegAborted, base, true},
			{callback.StatusSecondLegInitiated, callback.StatusFinished, callback.ResultFirstLegAborted, base, true},
			{callback.StatusSecondLegConnected, callback.StatusFinished, callback.ResultSuccessful, base, true},
		}
		rows := make([]*callback.Request, len(cases))
		for i, c := range cases {
			rows[i], _ = held(t, s, "49301111"+string(rune('0'+i)), "dead-node/1", c.status)
		}
		// Not yet expired: nothing to do.
		if n, err := s.Rescue(t.Context(), callback.RescueParams{Now: base.Add(leaseFor), MaxAttempts: 3}); err != nil || n != 0 {
			t.Fatalf("rescue before expiry: %d %v", n, err)
		}
		n, err := s.Rescue(t.Context(), p)
		if err != nil || n != len(cases) {
			t.Fatalf("rescue: %d %v, want %d", n, err, len(cases))
		}
		for i, c := range cases {
			got := get(t, s, rows[i].ID)
			if got.Status != c.wantStatus || got.Result != c.wantResult || !got.NextCall.Equal(c.wantNext) ||
				got.LeaseOwner != "" || !got.LeaseExpires.IsZero() || got.Finished != (c.wantStatus == callback.StatusFinished) {
				t.Errorf("%s: rescued to %q/%q next %s owner %q finished %v; want %q/%q next %s", c.status,
					got.Status, got.Result, got.NextCall, got.LeaseOwner, got.Finished, c.wantStatus, c.wantResult, c.wantNext)
			}
			if c.dialled != !got.DisconnectTime.IsZero() || (c.dialled && !got.DisconnectTime.Equal(now)) {
				t.Errorf("%s: disconnect_time %s", c.status, got.DisconnectTime)
			}
			h, _ := s.History(t.Context(), got.ID)
			last := h[len(h)-1]
			if last.Status != c.wantStatus || last.Result != c.wantResult || !last.Time.Equal(now) ||
				!strings.Contains(last.Note, "dead-node/1") || !strings.Contains(last.Note, "expired") {
				t.Errorf("%s: last event %+v", c.status, last)
			}
		}
		if n, err := s.Rescue(t.Context(), p); err != nil || n != 0 {
			t.Errorf("second rescue: %d %v", n, err)
		}
		// The rows left in the queue are due again.
		if got := claim(t, s, "live/1", now.Add(time.Minute), 10); len(got) != 3 {
			t.Errorf("claimed %d rescued rows, want 3", len(got))
		}
	},

	"OutOfRetries": func(t *testing.T, s callback.Store) {
		r, _ := held(t, s, "4930111111", "dead/1", callback.StatusFirstLegInitiated)
		n, err := s.Rescue(t.Context(), callback.RescueParams{Now: base.Add(time.Hour), MaxAttempts: 1, Backoff: time.Second})
		if err != nil || n != 1 {
			t.Fatalf("rescue: %d %v", n, err)
		}
		got := get(t, s, r.ID)
		if got.Status != callback.StatusFinished || got.Result != callback.ResultOutOfRetries || !got.Finished {
			t.Errorf("dialled last attempt rescued to %q/%q", got.Status, got.Result)
		}
	},

	"StaleOwnerPrefix": func(t *testing.T, s callback.Store) {
		old, _ := held(t, s, "4930111111", "node-a/old", callback.StatusSecondLegConnected)
		self, selfLease := held(t, s, "4930222222", "node-a/new", callback.StatusFirstLegInitiated)
		other, _ := held(t, s, "4930333333", "node-ab/x", callback.StatusFirstLegInitiated)
		// Before any lease expired.
		p := callback.RescueParams{Now: base, MaxAttempts: 3, Backoff: time.Second, StaleOwnerPrefix: "node-a/", Self: "node-a/new"}
		n, err := s.Rescue(t.Context(), p)
		if err != nil || n != 1 {
			t.Fatalf("rescue: %d %v, want 1", n, err)
		}
		if got := get(t, s, old.ID); got.Status != callback.StatusFinished || got.Result != callback.ResultSuccessful {
			t.Errorf("previous life's row: %q/%q", got.Status, got.Result)
		}
		h, _ := s.History(t.Context(), old.ID)
		if note := h[len(h)-1].Note; !strings.Contains(note, "node-a/old") || !strings.Contains(note, "previous run") {
			t.Errorf("note %q", note)
		}
		for _, r := range []*callback.Request{self, other} {
			if got := get(t, s, r.ID); got.LeaseOwner == "" || got.Status != callback.StatusFirstLegInitiated {
				t.Errorf("row %d of %s was rescued", r.ID, r.LeaseOwner)
			}
		}
		// This run's own lease still holds.
		if err := s.Renew(t.Context(), selfLease, base.Add(time.Hour)); err != nil {
			t.Error(err)
		}
	},
}
