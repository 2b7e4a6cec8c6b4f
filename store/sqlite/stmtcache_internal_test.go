package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	sqlite "modernc.org/sqlite"
)

// openCached opens a one-connection pool on a new file whose connection
// keeps at most size statements, and returns it with that connection.
func openCached(t *testing.T, size int) (*sql.DB, func() *cachingConn) {
	t.Helper()
	c, err := sqlite.NewConnector(filepath.Join(t.TempDir(), "cache.db") + "?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	var conn *cachingConn
	db := sql.OpenDB(recordingConnector{cachingConnector{Connector: c, size: size}, &conn})
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db, func() *cachingConn { return conn }
}

// recordingConnector keeps the last connection it made.
type recordingConnector struct {
	cachingConnector
	last **cachingConn
}

func (r recordingConnector) Connect(ctx context.Context) (_ driver.Conn, err error) {
	c, err := r.cachingConnector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	*r.last = c.(*cachingConn)
	return c, nil
}

func TestStmtCacheCompilesOnce(t *testing.T) {
	db, conn := openCached(t, 8)
	for i := range 3 {
		if _, err := db.Exec(`INSERT INTO t (id, v) VALUES (?, ?)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	var first *cachedStmt
	for i := range 3 {
		var v string
		if err := db.QueryRow(`SELECT v FROM t WHERE id = ?`, i).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint("v", i); v != want {
			t.Fatalf("row %d: got %q, want %q", i, v, want)
		}
		s := conn().stmts[`SELECT v FROM t WHERE id = ?`]
		if s == nil {
			t.Fatal("the query with arguments was not kept")
		}
		if first == nil {
			first = s
		} else if s != first {
			t.Fatal("the query was compiled again")
		}
	}
	if n := len(conn().stmts); n != 2 {
		t.Fatalf("%d statements kept, want 2 (the insert and the select; the CREATE has no arguments)", n)
	}
}

// The same query asked again while its rows are open is compiled for that
// call alone, and both read their own rows.
func TestStmtCacheBusyStatement(t *testing.T) {
	db, conn := openCached(t, 8)
	for i := range 3 {
		if _, err := db.Exec(`INSERT INTO t (id, v) VALUES (?, ?)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	const q = `SELECT id, v FROM t WHERE id >= ? ORDER BY id`
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	outer, err := tx.Query(q, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var id int
		var v string
		if err := outer.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM (`+q+`)`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.Query(q, id)
		if err != nil {
			t.Fatal(err)
		}
		var m int
		for inner.Next() {
			m++
		}
		if err := errors.Join(inner.Err(), inner.Close()); err != nil {
			t.Fatal(err)
		}
		if m != n || m != 3-id {
			t.Fatalf("inner query from %d: %d rows, count says %d, want %d", id, m, n, 3-id)
		}
		got = append(got, v)
	}
	if err := errors.Join(outer.Err(), outer.Close()); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[v0 v1 v2]" {
		t.Fatalf("outer rows %v", got)
	}
	if s := conn().stmts[q]; s == nil || s.busy {
		t.Fatalf("the outer statement is not kept idle after its rows closed: %+v", s)
	}
}

func TestStmtCacheEvictsLeastRecentlyUsed(t *testing.T) {
	db, conn := openCached(t, 3)
	query := func(col string) {
		t.Helper()
		var n int
		if err := db.QueryRow(`SELECT count(`+col+`) FROM t WHERE id > ?`, -1).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	query("id")
	query("v")
	query("*")
	query("id") // the count(v) query is now the least recently used
	query("1")
	if n := len(conn().stmts); n != 3 {
		t.Fatalf("%d statements kept, want the bound, 3", n)
	}
	if _, ok := conn().stmts[`SELECT count(v) FROM t WHERE id > ?`]; ok {
		t.Fatal("the least recently used statement was kept")
	}
	for _, col := range []string{"id", "*", "1"} {
		if _, ok := conn().stmts[`SELECT count(`+col+`) FROM t WHERE id > ?`]; !ok {
			t.Fatalf("count(%s) was dropped", col)
		}
	}
}

// A schema change under a kept statement: SQLite compiles it again by
// itself, so the next call sees the new column.
func TestStmtCacheSchemaChange(t *testing.T) {
	db, _ := openCached(t, 8)
	if _, err := db.Exec(`INSERT INTO t (id, v) VALUES (?, ?)`, 1, "a"); err != nil {
		t.Fatal(err)
	}
	cols := func() int {
		t.Helper()
		rows, err := db.Query(`SELECT * FROM t WHERE id = ?`, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		return len(c)
	}
	if n := cols(); n != 2 {
		t.Fatalf("%d columns before the change", n)
	}
	if _, err := db.Exec(`ALTER TABLE t ADD COLUMN w TEXT NOT NULL DEFAULT 'x'`); err != nil {
		t.Fatal(err)
	}
	if n := cols(); n != 3 {
		t.Fatalf("%d columns after ADD COLUMN, want 3", n)
	}
}

// A call whose context ends does not spoil the kept statement.
func TestStmtCacheCanceledCall(t *testing.T) {
	db, _ := openCached(t, 8)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (?, ?)`, 1, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled insert: %v", err)
	}
	if _, err := db.Exec(`INSERT INTO t (id, v) VALUES (?, ?)`, 1, "a"); err != nil {
		t.Fatalf("insert after a canceled one: %v", err)
	}
	if _, err := db.Exec(`INSERT INTO t (id, v) VALUES (?, ?)`, 1, "b"); err == nil {
		t.Fatal("a duplicate key was accepted")
	}
	var v string
	if err := db.QueryRow(`SELECT v FROM t WHERE id = ?`, 1).Scan(&v); err != nil || v != "a" {
		t.Fatalf("row 1: %q, %v", v, err)
	}
}
