package trigger_test

import (
	"testing"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
)

// Every trigger runs end to end through the fake Asterisk against both
// real stores.
func TestTriggersSQLite(t *testing.T) {
	testTriggers(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestTriggersMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testTriggers(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}
