package trigger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/trigger"
)

// Mizu iscallback 1 (act based on anumberhandling, seed 003): a caller
// authenticated by the A number is called back, anyone else goes to the
// IVR. Only anumberhandling 2 and 3 accept a known A number; a number a
// PIN login added (anumberhandling 1 and 3) is accepted on the next call
// only where the number also accepts (3).
func TestIsCallbackOneSQLite(t *testing.T) {
	testIsCallbackOne(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestIsCallbackOneMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testIsCallbackOne(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

func testIsCallbackOne(t *testing.T, open func(t *testing.T) callback.Store) {
	f := newFixture(t, open(t), trigger.Limits{}) // no limits: the same callers ring several numbers
	tests := []struct {
		handling int
		cli      string
		learnt   bool // a PIN login as alice on this number came first
		want     string
	}{
		{0, "801", false, "ivr"}, {0, "87654321", false, "ivr"}, {0, "87654300", true, "ivr"},
		{1, "801", false, "ivr"}, {1, "87654321", false, "ivr"}, {1, "87654301", true, "ivr"},
		{2, "801", false, "callback"}, {2, "87654321", false, "ivr"}, {2, "87654302", true, "ivr"},
		{3, "801", false, "callback"}, {3, "87654321", false, "ivr"}, {3, "87654303", true, "callback"},
		// Below the Minimum Balance: not authenticated.
		{3, "4930222222", false, "ivr"},
	}
	for i, tt := range tests {
		number := fmt.Sprintf("180055503%02d", i)
		f.number(ani(number, func(n *callback.AccessNumber) {
			n.DefaultAccountUsername, n.IsCallback, n.ANumberHandling, n.MinimumBalance = "default", 1, tt.handling, "2"
		}))
		if tt.learnt {
			if _, err := f.engine.LearnCLI(t.Context(), number, tt.cli, "alice"); err != nil {
				t.Fatal(err)
			}
		}
		if r := f.pending(tt.cli); r != nil {
			if _, err := f.store.Cancel(t.Context(), r.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		tr := f.ring("ani", number, tt.cli)
		if got := tr.Variables[trigger.VarAction]; got != tt.want {
			t.Errorf("iscallback 1, anumberhandling %d, CLI %s (learnt %v): %s (%s), want %s",
				tt.handling, tt.cli, tt.learnt, got, tr.Variables[trigger.VarReason], tt.want)
		}
		switch r := f.pending(tt.cli); {
		case tt.want == "callback" && r == nil:
			t.Errorf("anumberhandling %d, CLI %s: no callback queued", tt.handling, tt.cli)
		case tt.want == "ivr" && r != nil:
			t.Errorf("anumberhandling %d, CLI %s: IVR, yet a callback is queued: %+v", tt.handling, tt.cli, r)
		case tt.want == "ivr" && (tr.HungUp || len(apps(tr)) != 0):
			t.Errorf("anumberhandling %d, CLI %s: IVR call was hung up: %q", tt.handling, tt.cli, apps(tr))
		}
	}
}
