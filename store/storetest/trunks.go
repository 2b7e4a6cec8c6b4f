package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// trunkTests: what several trunks need of the store: a history line for
// each leg tried again on another trunk, and the trunk in each CDR.
var trunkTests = map[string]func(t *testing.T, s callback.Store){
	"NoteAddsAHistoryLineOnly": func(t *testing.T, s callback.Store) {
		ctx := t.Context()
		n, ok := s.(callback.Noter)
		if !ok {
			t.Fatal("the store is no callback.Noter")
		}
		r := create(t, s, newRequest("4930111111", base))
		got, err := s.Claim(ctx, callback.ClaimParams{Owner: "node-a/1", Now: base.Add(time.Minute), Limit: 1, LeaseFor: time.Minute})
		if err != nil || len(got) != 1 {
			t.Fatalf("claim: %v %d", err, len(got))
		}
		l := callback.Lease{RequestID: r.ID, Attempt: got[0].Attempt, Owner: "node-a/1"}
		if _, err := s.Update(ctx, l, callback.Change{From: callback.StatusRequestReceived, To: callback.StatusFirstLegInitiated,
			CallID: "cb-a", CountCall: true, SetupTime: base}); err != nil {
			t.Fatal(err)
		}
		before, err := s.GetRequest(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Note(ctx, l, 34, 503, "leg A via trunk t1 failed; trying trunk t2"); err != nil {
			t.Fatal(err)
		}
		after, err := s.GetRequest(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if after.Status != before.Status || after.CallCount != before.CallCount || after.LastCause != before.LastCause ||
			after.LastSIPCode != before.LastSIPCode || after.LeaseOwner != before.LeaseOwner {
			t.Errorf("a note changed the request: %+v -> %+v", before, after)
		}
		h, err := s.History(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		last := h[len(h)-1]
		if last.Status != callback.StatusFirstLegInitiated || last.Cause != 34 || last.SIPCode != 503 ||
			last.Note != "leg A via trunk t1 failed; trying trunk t2" || last.Attempt != l.Attempt {
			t.Errorf("history line %+v", last)
		}
		stale := callback.Lease{RequestID: r.ID, Attempt: l.Attempt, Owner: "node-b/1"}
		if err := n.Note(ctx, stale, 0, 0, "x"); !errors.Is(err, callback.ErrLeaseLost) {
			t.Errorf("note under a lease not held: %v, want ErrLeaseLost", err)
		}
		if h2, _ := s.History(ctx, r.ID); len(h2) != len(h) {
			t.Errorf("a refused note was written: %d lines, want %d", len(h2), len(h))
		}
	},
	"CDRNamesItsTrunk": func(t *testing.T, s callback.Store) {
		createAccount(t, s, callback.Account{Username: "alice", Balance: 100_000, Currency: "EUR"})
		a := &callback.CDR{RequestID: 9, Leg: callback.LegA, Account: "alice", ChannelID: "cb-9-1-a", Trunk: "carrier-1",
			Start: base, End: base.Add(time.Minute), Disposition: "ANSWERED"}
		b := &callback.CDR{RequestID: 9, Leg: callback.LegB, Account: "alice", ChannelID: "cb-9-1-b",
			Start: base, End: base.Add(time.Minute), Disposition: "FAILED"}
		if err := s.Settle(t.Context(), []*callback.CDR{a, b}); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListCDRs(t.Context(), callback.CDRFilter{RequestID: 9})
		if err != nil || len(list) != 2 {
			t.Fatalf("CDRs: %v %v", list, err)
		}
		if list[0].Trunk != "carrier-1" || list[1].Trunk != "" {
			t.Errorf("trunks %q %q, want carrier-1 and none", list[0].Trunk, list[1].Trunk)
		}
	},
}
