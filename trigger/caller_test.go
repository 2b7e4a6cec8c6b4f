package trigger_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackd/callbackd/agi/agitest"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/storetest"
	"github.com/callbackd/callbackd/trigger"
)

// lookupCounter counts the store's answers about a caller: the combined
// lookup, and the two lookups it replaces.
type lookupCounter struct {
	callback.Store
	combined, apart atomic.Int32
}

func (s *lookupCounter) CallerByCLI(ctx context.Context, cli string, since time.Time) (*callback.Account, *callback.Request, error) {
	s.combined.Add(1)
	return s.Store.(storetest.CallerLookup).CallerByCLI(ctx, cli, since)
}

func (s *lookupCounter) AccountByCLI(ctx context.Context, cli string) (*callback.Account, error) {
	s.apart.Add(1)
	return s.Store.AccountByCLI(ctx, cli)
}

func (s *lookupCounter) PendingForCLISince(ctx context.Context, cli string, since time.Time) (*callback.Request, error) {
	s.apart.Add(1)
	return s.Store.PendingForCLISince(ctx, cli, since)
}

func TestTriggerRoundTripsSQLite(t *testing.T) {
	testTriggerRoundTrips(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestTriggerRoundTripsMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testTriggerRoundTrips(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

func testTriggerRoundTrips(t *testing.T, open func(t *testing.T) callback.Store) {
	t.Run("OneStoreLookupPerCaller", func(t *testing.T) {
		// The caller's account and the "already pending" check are one
		// query: a new caller, the same caller again (a duplicate), and a
		// known caller.
		st := &lookupCounter{Store: open(t)}
		f := newFixture(t, st, trigger.DefaultLimits())
		f.number(ani("18005550100", withDefault))
		first := f.ring("ani", "18005550100", "4930777777")
		again := f.ring("ani", "18005550100", "4930777777")
		known := f.ring("ani", "18005550100", "4930111111")
		for i, tr := range []*agitest.Transcript{first, again, known} {
			if tr.Variables[trigger.VarAction] != "callback" || tr.Variables[trigger.VarRequestID] == "" {
				t.Fatalf("ring %d: %v", i+1, tr.Variables)
			}
		}
		if again.Variables[trigger.VarRequestID] != first.Variables[trigger.VarRequestID] {
			t.Errorf("the second ring queued request %s, want the pending %s", again.Variables[trigger.VarRequestID], first.Variables[trigger.VarRequestID])
		}
		if known.Variables[trigger.VarAccount] == "" {
			t.Errorf("known caller not identified: %v", known.Variables)
		}
		if c, a := st.combined.Load(), st.apart.Load(); c != 3 || a != 0 {
			t.Errorf("%d combined lookups and %d separate ones for 3 calls, want 3 and 0", c, a)
		}
	})

	t.Run("VariablesInOneRoundTrip", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", withDefault))
		tr := f.ring("ani", "18005550100", "4930777777")
		var mset, set int
		for _, c := range tr.Commands {
			switch {
			case strings.HasPrefix(c.Line, "EXEC MSet "):
				mset++
			case strings.HasPrefix(c.Line, "SET VARIABLE "):
				set++
			}
		}
		if mset != 1 || set != 0 {
			t.Fatalf("%d MSet and %d SET VARIABLE, want one MSet: %q", mset, set, tr.Exec())
		}
		if tr.Variables[trigger.VarAction] != "callback" || tr.Variables[trigger.VarRequestID] == "" ||
			tr.Variables[trigger.VarLanguage] != "en" || !strings.HasPrefix(tr.Variables[trigger.VarReason], "callback ") {
			t.Fatalf("variables %v", tr.Variables)
		}
	})

	t.Run("ValuesArriveExactly", func(t *testing.T) {
		// The reason quotes the dialled number: every character MSet's
		// split acts on comes through as sent; a '$' goes by SET VARIABLE,
		// which AGIEXECFULL cannot expand.
		f := newFixture(t, open(t), trigger.DefaultLimits())
		for _, tt := range []struct {
			number string
			mset   bool
		}{
			{`12,3(4"5\6[7]=8`, true},
			{`12${EXTEN}3`, false},
		} {
			tr := f.ring("ani", tt.number, "4930777777")
			want := fmt.Sprintf("%q is not an access number", tt.number)
			if got := tr.Variables[trigger.VarReason]; got != want || tr.Variables[trigger.VarAction] != "reject" {
				t.Errorf("number %s: reason %q, want %q (%v)", tt.number, got, want, tr.Variables)
			}
			mset := slices.ContainsFunc(tr.Commands, func(c agitest.Command) bool { return strings.HasPrefix(c.Line, "EXEC MSet ") })
			if mset != tt.mset {
				t.Errorf("number %s: MSet sent %v, want %v: %q", tt.number, mset, tt.mset, tr.Exec())
			}
		}
	})
}

func withDefault(n *callback.AccessNumber) { n.DefaultAccountUsername = "default" }
