package trigger_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/trigger"
)

func TestStoreDownSQLite(t *testing.T) {
	testStoreDown(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestStoreDownMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testStoreDown(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

// With the store down a trigger call is rejected unanswered with the
// access number's own Hangup SIP Response Code (as last read) and a
// CALLBACKD_REASON that says why; a number never read gets the default
// code. Nothing is queued, and the caller's line is free to ring again.
func testStoreDown(t *testing.T, open func(t *testing.T) callback.Store) {
	st := open(t)
	f := newFixture(t, st, trigger.DefaultLimits())
	f.number(ani("18005550100", func(n *callback.AccessNumber) { n.HangupSIPCode = 486; n.Region = "DE" }))
	f.number(ani("18005550199", func(n *callback.AccessNumber) { n.HangupSIPCode = 480 }))
	// Every call reads the number again, as one does once the cache's
	// second has passed.
	f.engine.AccessNumberTTL = time.Nanosecond
	if tr := f.ring("ani", "18005550100", "030 111111"); tr.SIPCode != 486 || tr.Variables[trigger.VarAction] != "callback" {
		t.Fatalf("before the outage: SIP %d, %v", tr.SIPCode, tr.Variables)
	}
	if err := st.(io.Closer).Close(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		number string
		code   int
	}{
		{"18005550100", 486}, // read before the outage
		{"18005550199", 603}, // never read: the default code
	} {
		tr := f.ring("ani", tt.number, "030 222222")
		reason := tr.Variables[trigger.VarReason]
		if tr.Answered || tr.SIPCode != tt.code || tr.Variables[trigger.VarAction] != "reject" ||
			!strings.HasPrefix(reason, trigger.ReasonStoreUnavailable) {
			t.Errorf("%s with the store down: answered=%v SIP %d, %s=%q %s=%q; want an unanswered %d, reject, %q...",
				tt.number, tr.Answered, tr.SIPCode, trigger.VarAction, tr.Variables[trigger.VarAction],
				trigger.VarReason, reason, tt.code, trigger.ReasonStoreUnavailable)
		}
	}
}
