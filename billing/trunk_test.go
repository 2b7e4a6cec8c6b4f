package billing_test

import (
	"testing"
	"time"

	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
)

// Each CDR names the trunk that carried its leg.
func TestSettleNamesTheTrunks(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		ctx := t.Context()
		f := newFixture(t, st)
		answered := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
		call := f.b.Open(ctx, callback.Request{ID: 77, Username: "alice", OriginalCLI: "15550001", ConnectTime: answered}, "c-a", nil)
		q, err := call.Quote(ctx, "4420")
		if err != nil {
			t.Fatal(err)
		}
		if err := call.Reserve(ctx, q, "c-b"); err != nil {
			t.Fatal(err)
		}
		call.Answered(ctx, answered.Add(2*time.Second))
		call.SetTrunk(callback.LegA, "carrier-us")
		call.SetTrunk(callback.LegB, "carrier-1")
		call.SetTrunk(callback.LegB, "carrier-2") // failed over: the last one carried it
		if _, err := call.Settle(ctx, billing.End{A: answered.Add(30 * time.Second), B: answered.Add(30 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		cdrs, err := st.ListCDRs(ctx, callback.CDRFilter{RequestID: 77})
		if err != nil || len(cdrs) != 2 {
			t.Fatalf("CDRs %v %v", cdrs, err)
		}
		for _, c := range cdrs {
			want := map[callback.Leg]string{callback.LegA: "carrier-us", callback.LegB: "carrier-2"}[c.Leg]
			if c.Trunk != want {
				t.Errorf("leg %s CDR trunk %q, want %q", c.Leg, c.Trunk, want)
			}
		}
	})
}
