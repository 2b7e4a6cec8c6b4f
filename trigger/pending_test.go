package trigger_test

import (
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/trigger"
)

// The "already pending" check (F1) against rows that will never call back,
// on both real stores.
func TestPendingCheckSQLite(t *testing.T) {
	testPendingCheck(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestPendingCheckMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testPendingCheck(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

func rawDB(t *testing.T, st callback.Store) *sql.DB {
	t.Helper()
	r, ok := st.(interface{ RawDB() *sql.DB })
	if !ok {
		t.Fatalf("%T has no RawDB", st)
	}
	return r.RawDB()
}

func testPendingCheck(t *testing.T, open func(t *testing.T) callback.Store) {
	t.Run("StuckAndExpiredRowsDoNotRefuseTheCaller", func(t *testing.T) {
		// A row in a status no request waits in, and one too old to be
		// dialled (the dispatcher was down): neither will ever call 801
		// back, so 801 ringing again gets a new callback, not "already
		// pending" for ever.
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100"))
		old := time.Now().UTC().Add(-2 * time.Hour).Format("2006-01-02 15:04:05.000")
		for _, q := range []string{
			`INSERT INTO callback_requests (username, original_cli, original_cld, status) VALUES ('801', '801', 'callingcard', 'Ringing')`,
			`INSERT INTO callback_requests (username, original_cli, original_cld, creation_time, next_call) VALUES ('801', '801', 'callingcard', '` + old + `', '` + old + `')`,
		} {
			if _, err := rawDB(t, f.store).ExecContext(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
		tr := f.ring("ani", "18005550100", "801")
		id := tr.Variables[trigger.VarRequestID]
		if id != "3" {
			t.Fatalf("no new callback: request %q, variables %v", id, tr.Variables)
		}
		// And the new one is pending: the next ring points at it.
		if tr := f.ring("ani", "18005550100", "801"); tr.Variables[trigger.VarRequestID] != id {
			t.Fatalf("second ring: request %q, want %s", tr.Variables[trigger.VarRequestID], id)
		}
	})

	t.Run("FailedLookupRefusesThatCallAndIsCounted", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100"))
		var failed atomic.Int32
		f.engine.PendingLookupFailed = func(error) { failed.Add(1) }
		if _, err := rawDB(t, f.store).ExecContext(t.Context(), "ALTER TABLE callback_requests RENAME TO callback_requests_away"); err != nil {
			t.Fatal(err)
		}
		d, err := f.engine.Handle(t.Context(), trigger.InboundCall{CLI: "801", Number: "18005550100"})
		if err == nil || d.Action != trigger.ActionReject || d.Reason != "pending request lookup failed" || failed.Load() != 1 {
			t.Fatalf("decision %+v, err %v, %d counted", d, err, failed.Load())
		}
	})
}
