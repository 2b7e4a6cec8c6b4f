package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"
)

// batchDB is a DB whose Updates share transactions, over an SQLite file
// with one table and one writer connection.
func batchDB(t *testing.T) (*DB, *sql.DB) {
	t.Helper()
	lite, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "batch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	lite.SetMaxOpenConns(1)
	if _, err := lite.Exec("CREATE TABLE t (v TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return New(Config{Dialect: Dialect{Name: "sqlite", UpdateBatches: 1, IsRetryable: func(error) bool { return false }},
		Writer: lite, QueryTimeout: time.Minute}), lite
}

func insertV(v string) func(ctx context.Context, tx *sqlx.Tx) error {
	return func(ctx context.Context, tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO t (v) VALUES (?)", v)
		return err
	}
}

// run runs w through db's batches on a goroutine of its own, as a caller
// of Update would, and reports its error or its panic.
func run(db *DB, w *updateWrite, wg *sync.WaitGroup, out *string) {
	wg.Go(func() {
		defer func() {
			if p := recover(); p != nil {
				*out = fmt.Sprint("panic: ", p)
			}
		}()
		*out = fmt.Sprint(db.runUpdate(w))
	})
}

// waitAll waits for wg for up to a minute: an Update left waiting for a
// batch that will never wake it fails the test instead of hanging it.
func waitAll(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Updates still waiting a minute on")
	}
}

func waitQueue(t *testing.T, db *DB, running, waiting int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		if r, w := db.UpdateQueue(); r == running && w == waiting {
			return
		}
		if time.Now().After(deadline) {
			r, w := db.UpdateQueue()
			t.Fatalf("queue at %d running, %d waiting; want %d, %d", r, w, running, waiting)
		}
	}
}

// A write that panics in a batch panics in its own caller's goroutine,
// not in the leader's, and the others of its batch are written; one that
// panics alone gives its transaction slot back.
func TestUpdateBatchPanicStaysItsOwn(t *testing.T) {
	db, lite := batchDB(t)
	ctx := t.Context()
	conn, err := lite.Conn(ctx) // the one writer, held: the first Update waits for it
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var a, b, c string
	run(db, &updateWrite{ctx: ctx, write: insertV("a")}, &wg, &a)
	waitQueue(t, db, 1, 0)
	run(db, &updateWrite{ctx: ctx, write: func(context.Context, *sqlx.Tx) error { panic("boom") }}, &wg, &b)
	waitQueue(t, db, 1, 1)
	run(db, &updateWrite{ctx: ctx, write: insertV("c")}, &wg, &c)
	waitQueue(t, db, 1, 2)
	conn.Close()
	waitAll(t, &wg)
	if a != "<nil>" || c != "<nil>" || b != "panic: boom" {
		t.Errorf("outcomes a=%q b=%q c=%q, want <nil>, panic: boom, <nil>", a, b, c)
	}
	if txs, ups := db.UpdateBatching(); txs != 2 || ups != 3 {
		t.Errorf("%d Updates in %d transactions, want 3 in 2 (a alone, b and c together)", ups, txs)
	}

	var p, d string
	run(db, &updateWrite{ctx: ctx, write: func(context.Context, *sqlx.Tx) error { panic("alone") }}, &wg, &p)
	waitAll(t, &wg)
	run(db, &updateWrite{ctx: ctx, write: insertV("d")}, &wg, &d)
	waitAll(t, &wg)
	if p != "panic: alone" || d != "<nil>" {
		t.Errorf("outcomes p=%q d=%q, want panic: alone, <nil>", p, d)
	}
	waitQueue(t, db, 0, 0)
	var got []string
	if err := sqlx.NewDb(lite, "sqlite").SelectContext(ctx, &got, "SELECT v FROM t ORDER BY v"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Errorf("rows %q, want a, c, d", got)
	}
}
