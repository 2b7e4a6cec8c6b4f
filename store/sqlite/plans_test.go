package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/store/storetest"
)

// planQuery is a read of callback_requests as the store writes it, with
// the indexes its plan may use.
type planQuery struct {
	name  string
	query string
	args  []any
	// want lists the indexes any of which the plan may read; the plan
	// must read one of them, and scan no table without an index.
	want []string
	// sorted: the plan reads the rows in the order asked, with no sort of
	// its own.
	sorted bool
}

// endQueries are the reads of the indexes migration 00018 changed (the
// claim, lease and live calls indexes, partial to the unfinished rows;
// creation_result dropped), and the reads those indexes answered before,
// with the indexes their plans read before the migration.
var endQueries = []planQuery{
	{"claim", `SELECT i_callback_request FROM callback_requests WHERE finished = 0 AND lease_owner IS NULL AND next_call <= ?
		AND status IN ('Request received', 'Waiting for retry') ORDER BY next_call, i_callback_request LIMIT ?`,
		[]any{"2030-01-01 00:00:00.000", 64}, []string{"callback_requests_claim"}, true},
	{"next due", `SELECT MIN(next_call) FROM callback_requests WHERE finished = 0 AND lease_owner IS NULL
		AND status IN ('Request received', 'Waiting for retry')`, nil, []string{"callback_requests_claim"}, false},
	{"canceled held", `SELECT i_callback_request FROM callback_requests WHERE finished = 0 AND lease_owner = ? AND canceled = 1
		ORDER BY i_callback_request`, []any{"node-1"}, []string{"callback_requests_claim", "callback_requests_live", "callback_requests_finished"}, false},
	{"rescue", `SELECT i_callback_request, status, call_count, attempt, lease_owner, lease_expires FROM callback_requests
		WHERE finished = 0 AND lease_owner IS NOT NULL AND (lease_expires IS NULL OR lease_expires < ?) ORDER BY i_callback_request LIMIT ?`,
		[]any{"2030-01-01 00:00:00.000", 500}, []string{"callback_requests_claim", "callback_requests_lease", "callback_requests_live", "callback_requests_finished"}, false},
	{"stuck", `SELECT i_callback_request FROM callback_requests WHERE finished = 0 AND lease_owner IS NULL
		AND (NOT status IN ('Request received', 'Waiting for retry') OR NOT (next_call GLOB '[0-9]*')) ORDER BY i_callback_request LIMIT ?`,
		[]any{500}, []string{"callback_requests_claim", "callback_requests_live", "callback_requests_finished"}, false},
	{"live count", `SELECT COUNT(*) FROM callback_requests WHERE finished = 0 AND status IN (?, ?, ?, ?)`,
		[]any{"First leg initiated", "First leg connected", "Second leg initiated", "Second leg connected"}, []string{"callback_requests_live"}, false},
	{"live count of a node", `SELECT COUNT(*) FROM callback_requests WHERE finished = 0 AND status IN (?, ?, ?, ?) AND lease_owner = ?`,
		[]any{"First leg initiated", "First leg connected", "Second leg initiated", "Second leg connected", "node-1"}, []string{"callback_requests_live"}, false},
	{"live page of a node", `SELECT * FROM callback_requests WHERE finished = 0 AND status = ? AND i_callback_request > ? AND lease_owner = ?
		ORDER BY i_callback_request LIMIT ?`, []any{"First leg initiated", 0, "node-1", 51}, []string{"callback_requests_live"}, true},
	{"live page", `SELECT * FROM callback_requests WHERE finished = 0 AND status = ? AND i_callback_request > ? ORDER BY i_callback_request LIMIT ?`,
		[]any{"First leg initiated", 0, 51}, []string{"callback_requests_status", "callback_requests_live", "callback_requests_finished"}, false},
	{"live calls of an account", `SELECT COUNT(*) FROM callback_requests WHERE finished = 0 AND status IN (?, ?, ?, ?)
		AND (payer = ? OR (payer IS NULL AND username = ?))`,
		[]any{"First leg initiated", "First leg connected", "Second leg initiated", "Second leg connected", "acct0001", "acct0001"},
		[]string{"callback_requests_payer", "callback_requests_username", "callback_requests_live"}, false},
	{"unfinished of a day", `SELECT status, COALESCE(result, '') AS result, 1 AS n FROM callback_requests
		WHERE finished = 0 AND creation_time >= ? AND creation_time < ?`, []any{"2026-01-02 00:00:00.000", "2026-01-03 00:00:00.000"},
		[]string{"callback_requests_finished", "callback_requests_live", "callback_requests_claim", "callback_requests_lease", "callback_requests_creation"}, false},
	{"result filter", `SELECT * FROM callback_requests WHERE result = ? ORDER BY i_callback_request LIMIT ?`, []any{"Invalid request", 51},
		[]string{"callback_requests_result"}, true},
	{"status and result filter", `SELECT * FROM callback_requests WHERE status = ? AND result = ? ORDER BY i_callback_request LIMIT ?`,
		[]any{"Finished", "Canceled", 51}, []string{"callback_requests_result", "callback_requests_status"}, true},
	{"account and result filter", `SELECT * FROM callback_requests WHERE username = ? AND result = ? ORDER BY i_callback_request LIMIT ?`,
		[]any{"acct0001", "Canceled", 51}, []string{"callback_requests_result", "callback_requests_username"}, false},
	{"requests paid by an account", `SELECT 1 FROM callback_requests WHERE payer = ?`, []any{"acct0001"}, []string{"callback_requests_payer"}, false},
	{"finished filter", `SELECT * FROM callback_requests WHERE finished = ? ORDER BY i_callback_request LIMIT ?`, []any{0, 51},
		[]string{"callback_requests_finished"}, true},
	{"requests by result off the hour", `SELECT status, COALESCE(result, '') AS result, COUNT(*) AS n FROM callback_requests
		WHERE creation_time >= ? AND creation_time < ? GROUP BY status, result ORDER BY status, result`,
		[]any{"2026-01-02 00:30:00.000", "2026-01-02 01:30:00.000"}, []string{"callback_requests_creation"}, false},
	{"totals rebuild", `SELECT substr(creation_time, 1, 13), status, COALESCE(result, ''), i_callback_request % 8, COUNT(*)
		FROM callback_requests WHERE finished = 1 AND creation_time >= ? AND creation_time < ? GROUP BY 1, 2, 3, 4`,
		[]any{"2026-01-02 00:00:00.000", "2026-01-02 01:00:00.000"}, []string{"callback_requests_creation", "callback_requests_finished"}, false},
}

// The reads of the indexes migration 00018 made partial (claim, lease,
// live calls) still read them, with the planner's statistics and without,
// and the reads callback_requests_creation_result answered read another
// index: none of them scans the table.
func TestEndIndexPlans(t *testing.T) {
	st := dbtest.SQLite(t)
	storetest.SeedRequests(t, st, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 3, 30_000, 300)
	raw := st.RawDB()
	for _, stats := range []bool{false, true} {
		if stats {
			if _, err := raw.ExecContext(t.Context(), "ANALYZE"); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range endQueries {
			rows, err := raw.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q.query, q.args...)
			if err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "; ")
			t.Logf("stats %v, %s: %s", stats, q.name, text)
			uses := false
			for _, ix := range q.want {
				uses = uses || strings.Contains(text, "INDEX "+ix+" ")
			}
			for _, step := range plan {
				if step == "SCAN callback_requests" {
					uses = false
				}
			}
			if !uses {
				t.Errorf("stats %v, %s: plan %q reads none of %v", stats, q.name, text, q.want)
			}
			if q.sorted && strings.Contains(text, "TEMP B-TREE") {
				t.Errorf("stats %v, %s: plan %q sorts the rows", stats, q.name, text)
			}
		}
	}
}

// indexed counts the rows of callback_requests that the index ix holds
// for where (a condition the index's own WHERE must allow).
func indexed(t *testing.T, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, ix, where string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM callback_requests INDEXED BY "+ix+" WHERE "+where).Scan(&n); err != nil {
		t.Fatalf("%s: %v", ix, err)
	}
	return n
}

// Requests written before migration 00018 are in its partial indexes as
// their rows say: the unfinished in the claim, lease and live calls
// indexes, those with a payer or a result in theirs; the queue claims the
// due ones, and a request that finishes leaves the unfinished ones' indexes
// and enters the result's.
func TestEndIndexesMigrationKeepsOlderRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbackd.db")
	old, err := sqlite.MigrateUpTo(t.Context(), path, 17)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('801', '4930001', '2way_1', '2030-01-01 00:00:00.000')`,
		`INSERT INTO callback_requests (username, original_cli, original_cld, payer, next_call) VALUES ('801', '4930002', '2way_1', '900', '2030-01-01 00:00:01.000')`,
		`INSERT INTO callback_requests (username, original_cli, original_cld, status, lease_owner, lease_expires, attempt, call_count, next_call)
			VALUES ('801', '4930003', '2way_1', 'Second leg connected', 'n/1', '2030-01-01 00:00:00.000', 1, 1, '2029-01-01 00:00:00.000')`,
		`INSERT INTO callback_requests (username, original_cli, original_cld, finished, status, result, payer, next_call)
			VALUES ('801', '4930004', '2way_1', 1, 'Finished', 'Successful', '900', '2029-01-01 00:00:00.000')`,
	} {
		if _, err := old.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	raw := st.RawDB()
	for _, c := range []struct {
		ix, where string
		want      int
	}{
		{"callback_requests_claim", "finished = 0", 3},
		{"callback_requests_lease", "finished = 0", 3},
		{"callback_requests_live", "finished = 0", 3},
		{"callback_requests_payer", "payer = '900'", 2},
		{"callback_requests_result", "result = 'Successful'", 1},
	} {
		if got := indexed(t, raw, c.ix, c.where); got != c.want {
			t.Errorf("%s holds %d rows WHERE %s, want %d", c.ix, got, c.where, c.want)
		}
	}
	if live, err := st.CountLiveRequests(t.Context(), admin.LiveFilter{}); err != nil || live != 1 {
		t.Errorf("live calls %d, %v; want 1", live, err)
	}
	got, err := st.Claim(t.Context(), callback.ClaimParams{Owner: "n/2", Now: time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC), Limit: 10, LeaseFor: time.Minute})
	if err != nil || len(got) != 2 {
		t.Fatalf("claimed %d requests, %v; want the 2 due", len(got), err)
	}
	if _, err := st.Update(t.Context(), callback.Lease{RequestID: 3, Attempt: 1, Owner: "n/1"}, callback.Change{From: callback.StatusSecondLegConnected,
		To: callback.StatusFinished, Result: callback.ResultSuccessful, Cause: 16, DisconnectTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ix, where string
		want      int
	}{
		{"callback_requests_claim", "finished = 0", 2},
		{"callback_requests_lease", "finished = 0", 2},
		{"callback_requests_live", "finished = 0", 2},
		{"callback_requests_result", "result = 'Successful'", 2},
	} {
		if got := indexed(t, raw, c.ix, c.where); got != c.want {
			t.Errorf("after a finish, %s holds %d rows WHERE %s, want %d", c.ix, got, c.where, c.want)
		}
	}
	var ok string
	if err := raw.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check: %q, %v", ok, err)
	}
}
