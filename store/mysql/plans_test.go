package mysql_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/storetest"
)

// The reads callback_requests_creation_result answered before migration
// 00018 dropped it read another index, not the whole table; and the count
// of a day's unfinished requests reads none of a day's finished ones.
func TestEndIndexPlans(t *testing.T) {
	st := dbtest.MySQL(t)
	storetest.SeedRequests(t, st, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 3, 30_000, 300)
	raw := st.RawDB()
	if _, err := raw.ExecContext(t.Context(), "ANALYZE TABLE callback_requests"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		name, query string
		args        []any
	}{
		{"unfinished of a day", `SELECT status, COALESCE(result, '') AS result, 1 AS n FROM callback_requests
			WHERE finished = 0 AND creation_time >= ? AND creation_time < ?`, []any{"2026-01-02 00:00:00", "2026-01-03 00:00:00"}},
		{"requests by result off the hour", `SELECT status, COALESCE(result, '') AS result, COUNT(*) AS n FROM callback_requests
			WHERE creation_time >= ? AND creation_time < ? GROUP BY status, result ORDER BY status, result`,
			[]any{"2026-01-02 00:30:00", "2026-01-02 01:30:00"}},
		{"totals rebuild", `SELECT DATE_FORMAT(creation_time, '%Y-%m-%d %H'), status, COALESCE(result, ''), i_callback_request % 8, COUNT(*)
			FROM callback_requests WHERE finished = 1 AND creation_time >= ? AND creation_time < ? GROUP BY 1, 2, 3, 4`,
			[]any{"2026-01-02 00:00:00", "2026-01-02 01:00:00"}},
	} {
		rows, err := raw.QueryContext(t.Context(), "EXPLAIN "+q.query, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := map[string]string{}
			for i, c := range cols {
				row[c] = vals[i].String
			}
			t.Logf("%s: type %s key %s rows %s extra %s", q.name, row["type"], row["key"], row["rows"], row["Extra"])
			if row["table"] == "callback_requests" && (row["type"] == "ALL" || row["key"] == "") {
				t.Errorf("%s: reads the whole table: %v", q.name, row)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
}
