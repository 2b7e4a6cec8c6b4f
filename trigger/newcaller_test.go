package trigger_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/trigger"
)

// sqlStore is what the trigger and its tests use of either SQL store.
type sqlStore interface {
	callback.Store
	callback.IVRStore
	io.Closer
	RawDB() *sql.DB
	AccessNumberWrites() uint64
	CallerByCLI(ctx context.Context, cli string, since time.Time) (*callback.Account, *callback.Request, error)
	CreateRequestForNewCaller(ctx context.Context, r *callback.Request, cli string, accounts bool) (bool, error)
	CreatesForNewCallers() bool
}

// newCallers runs its fixture without the per-account limit, so that the
// ANI trigger queues an unknown caller's callback in one statement (the
// store checks there is no account and nothing pending for the caller as
// it inserts), and counts the combined lookups (CallerByCLI) the trigger
// still makes. The trigger suites run on it too: with the shortcut every
// call must end as it does without it.
type newCallers struct {
	sqlStore
	lookups atomic.Int32
}

func (s *newCallers) CallerByCLI(ctx context.Context, cli string, since time.Time) (*callback.Account, *callback.Request, error) {
	s.lookups.Add(1)
	return s.sqlStore.CallerByCLI(ctx, cli, since)
}

func (*newCallers) noAccountLimit() {}

func openNewCallersMariaDB(t *testing.T) callback.Store {
	return &newCallers{sqlStore: dbtest.MySQL(t)}
}
func openNewCallersSQLite(t *testing.T) callback.Store {
	return &newCallers{sqlStore: dbtest.SQLite(t)}
}

func TestTriggersNewCallersSQLite(t *testing.T) { testTriggers(t, openNewCallersSQLite) }
func TestTriggersNewCallersMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testTriggers(t, openNewCallersMariaDB)
}
func TestPendingCheckNewCallersSQLite(t *testing.T) { testPendingCheck(t, openNewCallersSQLite) }
func TestPendingCheckNewCallersMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testPendingCheck(t, openNewCallersMariaDB)
}
func TestStoreDownNewCallersSQLite(t *testing.T) { testStoreDown(t, openNewCallersSQLite) }
func TestStoreDownNewCallersMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testStoreDown(t, openNewCallersMariaDB)
}

func TestNewCallerOneStatementSQLite(t *testing.T) {
	testNewCallerOneStatement(t, openNewCallersSQLite)
}
func TestNewCallerOneStatementMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testNewCallerOneStatement(t, openNewCallersMariaDB)
}

// An unknown caller with nothing pending is queued without the caller
// lookup; a second ring (pending), a known caller and a caller with a row
// that will never call back are looked up, and each gets what it got
// before: the pending request, the caller's own account, a new request.
func testNewCallerOneStatement(t *testing.T, open func(t *testing.T) callback.Store) {
	st := open(t).(*newCallers)
	f := newFixture(t, st, trigger.DefaultLimits())
	f.number(ani("18005550100", func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default"; n.Region = "DE" }))

	tr := f.ring("ani", "18005550100", "030 999999")
	r := f.pending("4930999999")
	if tr.SIPCode != 603 || tr.Variables[trigger.VarAction] != "callback" || r == nil || r.Username != "default" ||
		!r.DefaultUserUsed || tr.Variables[trigger.VarRequestID] != fmt.Sprint(r.ID) || tr.Variables[trigger.VarAccount] != "" {
		t.Fatalf("new caller: SIP %d, variables %v, queued %+v", tr.SIPCode, tr.Variables, r)
	}
	if n := st.lookups.Load(); n != 0 {
		t.Fatalf("new caller: %d caller lookups, want none (one statement)", n)
	}

	tr = f.ring("ani", "18005550100", "030 999999")
	if tr.Variables[trigger.VarRequestID] != fmt.Sprint(r.ID) || st.lookups.Load() != 1 {
		t.Fatalf("second ring: variables %v, %d lookups; want request %d, one lookup", tr.Variables, st.lookups.Load(), r.ID)
	}

	tr = f.ring("ani", "18005550100", "030 111111") // alice's CLI
	if a := f.pending("4930111111"); a == nil || a.Username != "alice" || tr.Variables[trigger.VarAccount] != "alice" || st.lookups.Load() != 2 {
		t.Fatalf("known caller: variables %v, queued %+v, %d lookups", tr.Variables, a, st.lookups.Load())
	}

	if _, err := rawDB(t, st).ExecContext(t.Context(),
		`INSERT INTO callback_requests (username, original_cli, original_cld, status) VALUES ('801', '4930888888', 'callingcard', 'Ringing')`); err != nil {
		t.Fatal(err)
	}
	tr = f.ring("ani", "18005550100", "030 888888")
	if r := f.pending("4930888888"); tr.Variables[trigger.VarAction] != "callback" || r == nil || r.Username != "default" ||
		tr.Variables[trigger.VarRequestID] != fmt.Sprint(r.ID) || st.lookups.Load() != 3 {
		t.Fatalf("caller with a stuck row: variables %v, pending %+v, %d lookups", tr.Variables, r, st.lookups.Load())
	}
}

// brokenNewCallers is an embedded store whose one-statement insert fails
// (as a statement the database refuses would), the store otherwise well.
type brokenNewCallers struct{ *sqlite.DB }

func (brokenNewCallers) CreateRequestForNewCaller(context.Context, *callback.Request, string, bool) (bool, error) {
	return false, errors.New("near \"SELECT\": syntax error")
}

func (brokenNewCallers) noAccountLimit() {}

// A one-statement insert that fails leaves the call to the usual lookup
// and insert, as a failed combined lookup does: the caller is called back.
func TestNewCallerStatementFailsAsksApart(t *testing.T) {
	st := brokenNewCallers{dbtest.SQLite(t)}
	f := newFixture(t, st, trigger.DefaultLimits())
	f.number(ani("18005550100", func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default"; n.Region = "DE" }))
	tr := f.ring("ani", "18005550100", "030 999999")
	if r := f.pending("4930999999"); tr.Variables[trigger.VarAction] != "callback" || r == nil || tr.Variables[trigger.VarRequestID] != fmt.Sprint(r.ID) {
		t.Fatalf("variables %v, queued %+v", tr.Variables, r)
	}
}
