package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/jmoiron/sqlx"
)

// DefaultQueryTimeout is how long a store call may take when
// Config.QueryTimeout is not set (database.query_timeout).
const DefaultQueryTimeout = 5 * time.Second

// pool is a connection pool whose calls each get the store's deadline and
// whose failures to reach the database are reported as
// callback.ErrUnavailable. Every query of the store goes through a pool (or
// a transaction begun on one, see DB.tx), so a database that accepts
// connections and never answers holds a caller for the query timeout at
// most, waiting for a free connection included.
type pool struct {
	*sqlx.DB
	db *DB
}

// deadline returns ctx bounded by the query timeout.
func (db *DB) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.timeout)
}

// rowsDeadline is deadline for a call that hands back rows still to be
// read: the deadline cannot end when the call returns, so it is released
// when it expires or when ctx ends, whichever comes first.
func (db *DB) rowsDeadline(ctx context.Context) context.Context {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	context.AfterFunc(ctx, cancel)
	return ctx
}

func (p *pool) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	ctx, cancel := p.db.deadline(ctx)
	defer cancel()
	return p.db.unavailable(p.DB.GetContext(ctx, dest, query, args...))
}

func (p *pool) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	ctx, cancel := p.db.deadline(ctx)
	defer cancel()
	return p.db.unavailable(p.DB.SelectContext(ctx, dest, query, args...))
}

func (p *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, cancel := p.db.deadline(ctx)
	defer cancel()
	res, err := p.DB.ExecContext(ctx, query, args...)
	return res, p.db.unavailable(err)
}

func (p *pool) PingContext(ctx context.Context) error {
	ctx, cancel := p.db.deadline(ctx)
	defer cancel()
	return p.db.unavailable(p.DB.PingContext(ctx))
}

func (p *pool) PreparexContext(ctx context.Context, query string) (*sqlx.Stmt, error) {
	ctx, cancel := p.db.deadline(ctx)
	defer cancel()
	st, err := p.DB.PreparexContext(ctx, query)
	return st, p.db.unavailable(err)
}

func (p *pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := p.DB.QueryContext(p.db.rowsDeadline(ctx), query, args...)
	return rows, p.db.unavailable(err)
}

func (p *pool) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	rows, err := p.DB.QueryxContext(p.db.rowsDeadline(ctx), query, args...)
	return rows, p.db.unavailable(err)
}

func (p *pool) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	return p.DB.QueryRowxContext(p.db.rowsDeadline(ctx), query, args...)
}

var _ sqlx.QueryerContext = (*pool)(nil)

// unavailable marks err with callback.ErrUnavailable when it says the
// database could not be reached or did not answer in time, so that every
// front end tells "try again later" from a fault of the request in one
// place. Other errors are returned as they are.
func (db *DB) unavailable(err error) error {
	if err == nil || errors.Is(err, callback.ErrUnavailable) || !db.isUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", callback.ErrUnavailable, err)
}

func (db *DB) isUnavailable(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		// The caller went away; the database may be fine.
		return false
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.As(err, &ne):
		return true
	case strings.Contains(err.Error(), "sql: database is closed"):
		// database/sql has no exported error for a closed pool.
		return true
	}
	return db.d.IsUnavailable != nil && db.d.IsUnavailable(err)
}
