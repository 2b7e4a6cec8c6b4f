// Package sqlite is the embedded store: callback.Store over one SQLite file,
// through modernc.org/sqlite (pure Go, so callbackd stays a static binary).
// It suits a single node; nodes that share a queue use store/mysql.
//
// The queries are store/internal/sqlstore's; this package opens the file,
// applies the SQLite migrations and supplies the dialect. Timestamps are
// stored as UTC text 'YYYY-MM-DD HH:MM:SS.SSS' (see migrations/).
//
// Writes go through a single connection whose transactions start with
// BEGIN IMMEDIATE: they take the database's write lock up front, so
// concurrent claimers and updaters in this process queue for that
// connection instead of failing with SQLITE_BUSY, and other processes wait
// for the lock under busy_timeout. Reads use a pool of read-only
// connections, which WAL lets run alongside the writer. Every connection
// keeps the statements it compiled (stmtcache.go), and the store keeps the
// query planner's statistics up to date (optimize.go).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/internal/sqlstore"
	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the SQLite store.
type DB struct {
	*sqlstore.DB
	writer        *sql.DB
	stop, stopped chan struct{} // the hourly statistics runs (optimize.go)
}

var _ callback.Store = (*DB)(nil)

// busyTimeout is how long a connection waits for another process's write
// lock before SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Options are the settings of a store beyond its path.
type Options struct {
	// QueryTimeout bounds every store call (database.query_timeout);
	// zero means sqlstore.DefaultQueryTimeout. A wait for another
	// process's write lock is bounded by it too, when it is shorter than
	// busyTimeout.
	QueryTimeout time.Duration
}

// Open opens (creating it if needed) the database file at path and brings
// its schema up to date. ":memory:" opens a private in-memory database on
// one connection, for tests and trials; it vanishes on Close.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*DB, error) {
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = sqlstore.DefaultQueryTimeout
	}
	if path == "" {
		return nil, fmt.Errorf("open sqlite: empty path: %w", callback.ErrInvalid)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite %q: the path may not contain ? or #: %w", path, callback.ErrInvalid)
	}
	// SQLite does not look at the context while it waits for a lock, so
	// the wait itself must end by the query timeout.
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", min(busyTimeout, o.QueryTimeout).Milliseconds())
	writer, err := openDB(path + "?" + common + "&_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		fmt.Sprintf("&_pragma=analysis_limit(%d)", analysisLimit))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// One writer connection, kept open: it serialises this process's write
	// transactions, and for :memory: it is the database.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := migrate(ctx, writer); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	cfg := sqlstore.Config{Dialect: dialect, Writer: writer, QueryTimeout: o.QueryTimeout}
	if path != ":memory:" {
		// Opened after the writer has switched the file to WAL, which
		// readers need to run alongside it.
		reader, err := openDB(path + "?" + common + "&_pragma=query_only(1)")
		if err != nil {
			writer.Close()
			return nil, fmt.Errorf("open sqlite %s for reading: %w", path, err)
		}
		n := max(4, runtime.NumCPU())
		reader.SetMaxOpenConns(n)
		reader.SetMaxIdleConns(n)
		cfg.Reader = reader
	}
	db := &DB{DB: sqlstore.New(cfg)}
	if err := db.startOptimizer(ctx, writer); err != nil {
		db.DB.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return db, nil
}

// openDB opens a pool on dsn whose connections keep their compiled
// statements (stmtcache.go).
func openDB(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(cachingConnector{Connector: c}), nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	if err := connect(ctx, db); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	return sqlstore.Migrate(ctx, db, goose.DialectSQLite3, sub, lockMigrations, nil)
}

// connect opens the writer connection. Its journal_mode(WAL) pragma needs
// an exclusive lock for which SQLite does not wait under busy_timeout, so
// a process opening the file while another is setting it up gets
// SQLITE_BUSY at once; it is retried for as long as busy_timeout would
// have waited.
func connect(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := db.PingContext(ctx)
		if err == nil || !dialect.IsRetryable(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

var dialect = sqlstore.Dialect{
	Name: "sqlite3",
	// RETURNING came with SQLite 3.35; the driver embeds a later one.
	Returning:   true,
	PrepareOnce: true,
	// The Updates waiting for the one writer share its next transaction.
	UpdateBatches: 1,
	Time:          func(t time.Time) any { return t.Format("2006-01-02 15:04:05.000") },
	BadTime: func(col string) string {
		return "NOT (" + col + " GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND julianday(" + col + ") IS NOT NULL AND " + col + " >= '1970-01-01')"
	},
	Upsert: func(key, cols []string) string {
		set := make([]string, len(cols))
		for i, c := range cols {
			set[i] = c + " = excluded." + c
		}
		return " ON CONFLICT (" + strings.Join(key, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
	},
	IsUnique: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	IsRetryable: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		primary := e.Code() & 0xff
		return primary == sqlite3.SQLITE_BUSY || primary == sqlite3.SQLITE_LOCKED
	},
	IsUnavailable: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CORRUPT,
			sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	},
}
