// Package sqlstore is the SQL both stores share: the queries of
// callback.Store written once, parameterised by a Dialect for the few places
// where MariaDB/MySQL and SQLite differ (row locking, upserts, how a
// timestamp is stored, which error codes mean "duplicate" or "try again").
//
// store/mysql and store/sqlite open the database, run their own migrations
// (the DDL differs, the logical schema does not) and wrap a *DB.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
	"github.com/jmoiron/sqlx"
)

// Dialect is what differs between the databases.
type Dialect struct {
	// Name is the sqlx driver name, which picks the placeholder style ("?"
	// for both).
	Name string
	// LockRows is appended to a SELECT whose rows the transaction goes on to
	// update (" FOR UPDATE"); empty where the write transaction itself holds
	// the database lock (SQLite's BEGIN IMMEDIATE).
	LockRows string
	// SkipLocked is appended to the claim SELECT (" FOR UPDATE SKIP
	// LOCKED"), so concurrent claimers pass over each other's rows instead
	// of waiting for them.
	SkipLocked string
	// Isolation of write transactions. READ COMMITTED on InnoDB keeps the
	// claim's locking read from taking gap locks that would block inserts.
	Isolation sql.IsolationLevel
	// Time converts a non-zero UTC time, truncated to milliseconds, into the
	// value stored in a timestamp column.
	Time func(t time.Time) any
	// BadTime returns a condition true when the timestamp column col holds
	// a value that is not a usable time (SQLite: text that is not one;
	// MariaDB: a zero date), for the sweep of rows no claim can take.
	BadTime func(col string) string
	// Upsert returns the clause that follows a multi-row INSERT to update
	// cols of the row already holding the same key.
	Upsert func(key, cols []string) string
	// IsUnique reports a unique or primary key violation.
	IsUnique func(err error) bool
	// IsRetryable reports an error after which the whole transaction may
	// simply be run again: a deadlock, a lock wait timeout, a busy database.
	IsRetryable func(err error) bool
	// Returning says the database accepts INSERT ... RETURNING (MariaDB
	// 10.5+, SQLite 3.35+; not MySQL), so an insert hands back the row as
	// stored, defaults included, in the same statement instead of a
	// transaction that inserts and then reads the row again.
	Returning bool
	// PrepareOnce keeps the statements of the hot paths (the lookups and
	// the insert of every trigger call) prepared on each connection instead
	// of compiling them on every call. SQLite's driver otherwise prepares
	// and finalizes each query, which costs more than running it; MariaDB
	// otherwise parses each interpolated query again, while running a
	// prepared one is the same single round trip.
	PrepareOnce bool
	// UpdateBatches, when not 0, makes Updates share transactions and
	// statements (see runUpdate), this many transactions of them at once.
	// 0: each Update has a transaction of its own, as many at once as the
	// pool has connections. SQLite has one (its single writer); MariaDB
	// half its pool, so that batches form only when the ends come faster
	// than the connections serve them, and the rest of the pool stays for
	// the sender, the claims and the triggers.
	UpdateBatches int
	// IsUnavailable reports a driver or server error that means the
	// database cannot serve now (a lost connection, a server shutting
	// down, a lock not granted in time, an unreadable file); the store
	// returns it as callback.ErrUnavailable. Network errors, deadlines and
	// closed pools are recognised without it.
	IsUnavailable func(err error) bool
}

// Config is what a driver package hands to New.
type Config struct {
	Dialect Dialect
	// Writer runs every write transaction.
	Writer *sql.DB
	// Reader runs plain reads; nil means Writer. SQLite uses a separate pool
	// of read-only connections so reads proceed while its single writer
	// connection is busy.
	Reader *sql.DB
	// Now is the clock for history timestamps; nil means time.Now.
	Now func() time.Time
	// QueryTimeout bounds every store call (database.query_timeout); zero
	// means DefaultQueryTimeout.
	QueryTimeout time.Duration
}

// DB implements callback.Store over a Config.
type DB struct {
	d       Dialect
	w       *pool
	r       *pool
	raw     *sql.DB
	now     func() time.Time
	timeout time.Duration

	// accessWrites counts PutAccessNumber and DeleteAccessNumber calls
	// through this DB (see AccessNumberWrites).
	accessWrites atomic.Uint64
	stmts        stmts
	// skipped are the rows claims pass over for a while: they could be
	// neither read nor finished Invalid request.
	skipped skipList
	// claimConflicts counts claim transactions that lost their rows to
	// another claimer (see claimTx).
	claimConflicts atomic.Uint64
	// limitSweep is when rate_limits was last swept (see TakeToken).
	limitSweep limitSweep
	// pinKey hashes PINs (SetPINKey); nil: PINs can be neither set nor
	// looked up.
	pinKey atomic.Pointer[callback.PINKey]
	// hooks says which status changes write webhook outbox rows
	// (SetWebhookPolicy); nil: none.
	hooks atomic.Pointer[webhook.Policy]
	// local is the sender the outbox rows are handed to (SetLocalSender);
	// handoffs holds, by transaction, the rows waiting for its commit.
	local    atomic.Pointer[localSender]
	handoffs sync.Map // *sqlx.Tx → *handoff
	// updates queues the Updates waiting for a transaction (runUpdate).
	updates updateBatcher
}

var _ callback.Store = (*DB)(nil)

// New returns a store over migrated databases.
func New(c Config) *DB {
	db := &DB{d: c.Dialect, raw: c.Writer, now: c.Now, timeout: c.QueryTimeout}
	db.w = &pool{DB: sqlx.NewDb(c.Writer, c.Dialect.Name), db: db}
	db.r = db.w
	if c.Reader != nil && c.Reader != c.Writer {
		db.r = &pool{DB: sqlx.NewDb(c.Reader, c.Dialect.Name), db: db}
	}
	if db.now == nil {
		db.now = time.Now
	}
	if db.timeout <= 0 {
		db.timeout = DefaultQueryTimeout
	}
	return db
}

// RawDB returns the writable database handle, for SQL clients such as the
// tests that insert rows the way an operator's script would.
func (db *DB) RawDB() *sql.DB { return db.raw }

// Ping checks that both pools reach the database.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if db.r != db.w {
		if err := db.r.PingContext(ctx); err != nil {
			return fmt.Errorf("ping database (readers): %w", err)
		}
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	errs := []error{db.stmts.close()}
	if db.r != db.w {
		errs = append(errs, db.r.Close())
	}
	errs = append(errs, db.w.Close())
	return errors.Join(errs...)
}

// maxTxTries bounds how often a transaction that deadlocked is run again.
const maxTxTries = 5

// tx runs fn in a write transaction, again from the start when the database
// asks for it (deadlock, busy), so callers never see those transient errors.
// The whole call, tries included, has the query timeout: when it expires
// the transaction is rolled back and the error is callback.ErrUnavailable.
func (db *DB) tx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return db.bulkTx(ctx, 1, fn)
}

// bulkTx is tx for a transaction of statements statements that each may
// take a while (a bulk import): the deadline is the query timeout for each.
func (db *DB) bulkTx(ctx context.Context, statements int, fn func(tx *sqlx.Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(max(1, statements))*db.timeout)
	defer cancel()
	return db.unavailable(db.retry(ctx, func() error { return db.tryTx(ctx, fn) }))
}

// retry runs fn, a transaction or a single statement that commits on its
// own, again while it fails with an error the database says is transient.
func (db *DB) retry(ctx context.Context, fn func() error) error {
	var err error
	for try := 1; ; try++ {
		err = fn()
		if err == nil || try == maxTxTries || !db.d.IsRetryable(err) && !errors.Is(err, errConnLost) || ctx.Err() != nil {
			return err
		}
		// A short, growing pause lets the transaction we collided with
		// finish first.
		t := time.NewTimer(time.Duration(try*try) * 5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (db *DB) tryTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := db.w.BeginTxx(ctx, &sql.TxOptions{Isolation: db.d.Isolation})
	if err != nil {
		return db.connLost(ctx, err)
	}
	committed := false // only a commit that answered: not on an error or a panic
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
		db.afterTx(tx, committed) // the outbox rows for this process's sender
	}()
	if err = fn(tx); err != nil {
		return db.connLost(ctx, txExpired(ctx, err))
	}
	if err = db.commitLost(ctx, txExpired(ctx, tx.Commit())); err == nil {
		committed = true
	}
	return err
}

// txExpired names ctx's end as the cause of err when err is
// sql.ErrTxDone and ctx has ended: database/sql rolls a transaction back
// when its context ends, and every statement and the commit after that
// answer ErrTxDone. A passed deadline then reads as the database not
// answering in time (ErrUnavailable, through unavailable), a cancel as
// the caller going away.
func txExpired(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return fmt.Errorf("%w: %w", ctx.Err(), err)
}

// fail wraps err with what was being done, mapping a duplicate key to
// callback.ErrConflict, a missing row to callback.ErrNotFound and a database
// that cannot answer to callback.ErrUnavailable so callers can branch with
// errors.Is.
func (db *DB) fail(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	err = db.unavailable(err)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", what, callback.ErrNotFound)
	case db.d.IsUnique(err):
		return fmt.Errorf("%s: %w: %v", what, callback.ErrConflict, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ts is the stored value of t: NULL for the zero time, else UTC to the
// millisecond (the precision of both schemas).
func (db *DB) ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return db.d.Time(t.UTC().Truncate(time.Millisecond))
}

// str stores an empty string as NULL.
func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// num stores 0 as NULL.
func num[T ~int | ~int64](n T) any {
	if n == 0 {
		return nil
	}
	return int64(n)
}

// placeholders returns "(?, ?, ?)" for n columns.
func placeholders(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// columns collects an INSERT's columns and values in step.
type columns struct {
	names []string
	args  []any
}

func (c *columns) add(name string, v any) {
	c.names = append(c.names, name)
	c.args = append(c.args, v)
}

func (c *columns) insert(table string) string {
	return "INSERT INTO " + table + " (" + strings.Join(c.names, ", ") + ") VALUES " + placeholders(len(c.names))
}

// sets collects the assignments of an UPDATE.
type sets struct {
	exprs []string
	args  []any
}

func (s *sets) set(expr string, args ...any) {
	s.exprs = append(s.exprs, expr)
	s.args = append(s.args, args...)
}

func (s *sets) String() string { return strings.Join(s.exprs, ", ") }

// rowsAffected returns how many rows res matched. Both drivers count
// matched rows: SQLite always does, and the MySQL store asks for
// CLIENT_FOUND_ROWS, so an update that sets a value already there still
// counts as a match.
// execMatched runs a statement meant to change one row and returns none
// when it changed nothing (no such row, or a guard that no longer holds).
func execMatched(ctx context.Context, tx *sqlx.Tx, none error, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := rowsAffected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return none
	}
	return nil
}

func rowsAffected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}
