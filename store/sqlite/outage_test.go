package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/store/storetest"
)

const testTimeout = 2 * time.Second

// returns runs call and fails the test when it has not returned long after
// the query timeout.
func returns(t *testing.T, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * testTimeout):
		t.Fatalf("%s: no answer long after the query timeout", what)
		return nil
	}
}

// openShort opens a store in a new file with the query timeout of these
// tests; it is closed when the test ends.
func openShort(t *testing.T) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "callbackd.db")
	db, err := sqlite.OpenWith(t.Context(), path, sqlite.Options{QueryTimeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// lockFile takes the write lock of the database file at path, as another
// process would, on a connection of its own; the caller rolls it back.
func lockFile(t *testing.T, path string) *sql.Conn {
	t.Helper()
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	return conn
}

// The database file held by another process (a write lock that is not
// let go: a backup tool, a stuck sqlite3 shell) makes writes fail with
// ErrUnavailable after the query timeout, while reads go on; once the lock
// is gone writes work again.
func TestWriteLockHeld(t *testing.T) {
	db, path := openShort(t)
	ctx := t.Context()
	if err := db.CreateAccount(ctx, &callback.Account{Username: "801", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	conn := lockFile(t, path)
	err := returns(t, "create request", func() error {
		return db.CreateRequest(ctx, &callback.Request{Username: "801", OriginalCLI: "87654321", NextCall: time.Now()})
	})
	if !errors.Is(err, callback.ErrUnavailable) {
		t.Errorf("create request under another process's write lock: %v, want ErrUnavailable", err)
	}
	err = returns(t, "set balance", func() error { return db.SetBalance(ctx, "801", 100) })
	if !errors.Is(err, callback.ErrUnavailable) {
		t.Errorf("set balance under another process's write lock: %v, want ErrUnavailable", err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := db.CreateRequest(ctx, &callback.Request{Username: "801", OriginalCLI: "87654321", NextCall: time.Now()}); err != nil {
		t.Fatalf("create request after the lock is gone: %v", err)
	}
}

// Call ends that queue for the writer while another process holds the
// file's write lock share a transaction once their turn comes; when the
// lock outlasts the query timeout each of them fails with ErrUnavailable
// and none is written, and once the lock is gone they go through.
func TestWriteLockHeldUpdates(t *testing.T) {
	db, path := openShort(t)
	storetest.EndsUnderHeldLock(t, db, func() func() {
		conn := lockFile(t, path)
		return func() {
			if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
			conn.Close()
		}
	})
}

// A store that is closed (the process shutting down) answers every call
// with ErrUnavailable, not an error a front end would take for a fault of
// the request.
func TestClosed(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "callbackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := db.CreateAccount(ctx, &callback.Account{Username: "801", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	checks := map[string]error{}
	_, checks["get account"] = db.GetAccount(ctx, "801")
	_, checks["account by CLI"] = db.AccountByCLI(ctx, "801")
	checks["create request"] = db.CreateRequest(ctx, &callback.Request{Username: "801", OriginalCLI: "87654321", NextCall: time.Now()})
	_, checks["list requests"] = db.ListRequests(ctx, callback.RequestFilter{})
	checks["ping"] = db.Ping(ctx)
	for what, err := range checks {
		if !errors.Is(err, callback.ErrUnavailable) {
			t.Errorf("%s on a closed store: %v, want ErrUnavailable", what, err)
		}
	}
}
