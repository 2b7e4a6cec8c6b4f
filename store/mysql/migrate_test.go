package mysql_test

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/mysql"
	"github.com/callbackd/callbackd/store/storetest"
)

// Rows that break the rules of migration 00003, written before it ran: the
// migration does not fail on them, and the queue then finishes each
// Invalid request and claims the rest.
func TestChecksMigrationKeepsOlderRows(t *testing.T) {
	dsn := dbtest.MySQLDSN(t)
	old, err := mysql.MigrateUpTo(t.Context(), dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, q := range []string{
		`SET STATEMENT sql_mode = '' FOR INSERT INTO callback_requests (username, original_cli, original_cld, canceled, next_call) VALUES ('801', '4930001', '2way_1', 7, '2030-01-01 00:00:00')`,
		`SET STATEMENT sql_mode = '' FOR INSERT INTO callback_requests (username, original_cli, original_cld, call_count, next_call) VALUES ('801', '4930002', '2way_1', -1, '2030-01-01 00:00:01')`,
		`SET STATEMENT sql_mode = '' FOR INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('801', '4930003', '2way_1', '0000-00-00 00:00:00')`,
		`INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('801', '4930004', '2way_1', '2030-01-01 00:00:02')`,
	} {
		res, err := old.ExecContext(t.Context(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		// Galera steps auto-increment values by the cluster size.
		id, err := res.LastInsertId()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	old.Close()
	st, err := mysql.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("migrating a database holding rows that break the new checks: %v", err)
	}
	defer st.Close()
	var bad []int64
	got, err := st.Claim(t.Context(), callback.ClaimParams{Owner: "n/1", Now: time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC), Limit: 10,
		LeaseFor: time.Minute, OnInvalid: func(r callback.InvalidRow) { bad = append(bad, r.ID) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].OriginalCLI != "4930004" {
		t.Fatalf("claimed %+v, want the one good row", got)
	}
	slices.Sort(bad)
	if !slices.Equal(bad, ids[:3]) {
		t.Fatalf("invalid rows %v, want %v", bad, ids[:3])
	}
	for _, id := range bad {
		r, err := st.GetRequest(t.Context(), id)
		if err != nil || r.Result != callback.ResultInvalid || !strings.HasPrefix(r.LastError, "unreadable row: ") {
			t.Errorf("row %d: %+v, %v", id, r, err)
		}
	}
	// New rows that break the checks are refused.
	if _, err := st.RawDB().ExecContext(t.Context(), `INSERT INTO callback_requests (username, original_cli, canceled) VALUES ('801', '1', 7)`); err == nil {
		t.Error("canceled = 7 accepted after the migration")
	}
}

// Rates written before migration 00017 are counted by it: the tariff list
// shows them before any import.
func TestRateCountsMigrationCountsOlderRates(t *testing.T) {
	dsn := dbtest.MySQLDSN(t)
	old, err := mysql.MigrateUpTo(t.Context(), dsn, 14)
	if err != nil {
		t.Fatal(err)
	}
	storetest.RateCountsMigrationCountsOlderRates(t, old, func() (admin.Store, io.Closer, error) {
		st, err := mysql.Open(t.Context(), dsn)
		return st, st, err
	})
}
