package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
)

// The store gathers the query planner's statistics: at open, and when
// Optimize runs (as it does every hour) after the tables grew.
func TestOptimizeGathersStatistics(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "stats.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw := db.writer
	if _, err := raw.ExecContext(ctx, `INSERT INTO accounts (username, currency) VALUES ('801', 'USD')`); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := raw.ExecContext(ctx, `INSERT INTO callback_requests (username, original_cli, original_cld, next_call)
			VALUES ('801', ?, '2way_12345', '2030-01-01 00:00:00.000')`, fmt.Sprint(4930000000+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Optimize(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'callback_requests'`).Scan(&n); err != nil {
		t.Fatalf("sqlite_stat1: %v", err)
	}
	if n == 0 {
		t.Fatal("no statistics for callback_requests after Optimize")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}
