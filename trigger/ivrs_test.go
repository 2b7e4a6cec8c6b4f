package trigger_test

import (
	"strings"
	"testing"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/trigger"
)

// Mizu iscallback above 7 is the id of the IVR to use (seed 003: "other=ivr
// id to use", example iscallback: 8): everyone is called back, as with 6,
// into the sub-application of the IVR of that id; an id with no IVR
// refuses the call. On both stores.
func TestIsCallbackIVRIDSQLite(t *testing.T) {
	testIsCallbackIVRID(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestIsCallbackIVRIDMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testIsCallbackIVRID(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

func testIsCallbackIVRID(t *testing.T, open func(t *testing.T) callback.Store) {
	f := newFixture(t, open(t), trigger.Limits{})
	for _, v := range []callback.IVR{{ID: 8, SubApp: "callingcard_es"}, {ID: 10, SubApp: "2way_4420123"}} {
		if err := f.store.(callback.IVRStore).PutIVR(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	mode := func(v int) func(*callback.AccessNumber) {
		return func(n *callback.AccessNumber) { n.IsCallback, n.Region, n.DefaultAccountUsername = v, "DE", "default" }
	}
	f.number(ani("18005550800", mode(8)))
	f.number(ani("18005550810", mode(10)))
	f.number(ani("18005550809", mode(9)))

	for _, tc := range []struct {
		number, cli, pending, user, cld string
	}{
		{"18005550800", "030 111111", "4930111111", "alice", "callingcard_es"}, // authenticated
		{"18005550800", "87654321", "4987654321", "default", "callingcard_es"}, // not authenticated: called back all the same
		{"18005550810", "030 111111", "4930111111", "alice", "2way_4420123"},
	} {
		tr := f.ring("ani", tc.number, tc.cli)
		r := f.pending(tc.pending)
		if tr.Variables[trigger.VarAction] != "callback" || r == nil {
			t.Fatalf("%s from %s: %s (%s), want a callback", tc.number, tc.cli, tr.Variables[trigger.VarAction], tr.Variables[trigger.VarReason])
		}
		if r.Username != tc.user || r.OriginalCLD != tc.cld {
			t.Errorf("%s from %s: queued %s with %q, want %s with %q", tc.number, tc.cli, r.Username, r.OriginalCLD, tc.user, tc.cld)
		}
		if _, err := f.store.Cancel(t.Context(), r.ID, r.CreationTime); err != nil {
			t.Fatal(err)
		}
	}

	tr := f.ring("ani", "18005550809", "030 111111")
	if tr.Variables[trigger.VarAction] != "reject" || !strings.Contains(tr.Variables[trigger.VarReason], "no IVR 9") {
		t.Errorf("unconfigured IVR 9: %s (%s)", tr.Variables[trigger.VarAction], tr.Variables[trigger.VarReason])
	}
	if r := f.pending("4930111111"); r != nil {
		t.Errorf("queued through an unconfigured IVR: %+v", r)
	}

	// The inbound IVR of such a number runs the IVR of that id.
	r, d, err := f.engine.Inbound(t.Context(), trigger.InboundCall{CLI: "030 111111", Number: "18005550800", Channel: "1763900000.8"})
	if err != nil || r == nil || r.OriginalCLD != "callingcard_es" {
		t.Fatalf("inbound: request %+v, decision %+v, %v", r, d, err)
	}
	if r, d, _ := f.engine.Inbound(t.Context(), trigger.InboundCall{CLI: "030 111111", Number: "18005550809", Channel: "1763900000.9"}); r != nil || d.Action != trigger.ActionReject {
		t.Errorf("inbound through an unconfigured IVR: request %+v, decision %+v", r, d)
	}
}
