package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/callbackd/callbackd/callback"

	"github.com/jmoiron/sqlx"
)

// stmts keeps the statements prepared for the hot paths (the trigger's
// lookups and insert), by pool and query text. database/sql prepares a
// statement again on each connection of the pool that runs it and keeps it
// there, so after the first calls no query is compiled again.
type stmts struct {
	mu     sync.Mutex
	m      map[stmtKey]*sqlx.Stmt
	closed bool
}

type stmtKey struct {
	pool  *pool
	query string
}

var errStmtsClosed = fmt.Errorf("%w: store closed", callback.ErrUnavailable)

// get returns query prepared on pool.
func (s *stmts) get(ctx context.Context, pool *pool, query string) (*sqlx.Stmt, error) {
	k := stmtKey{pool, query}
	s.mu.Lock()
	st, ok := s.m[k]
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return nil, errStmtsClosed
	case ok:
		return st, nil
	}
	// Prepared without the lock held: a slow prepare must not hold up the
	// statements already there. Two callers may both prepare; one keeps it.
	st, err := pool.PreparexContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		st.Close()
		return nil, errStmtsClosed
	}
	if have, ok := s.m[k]; ok {
		st.Close()
		return have, nil
	}
	if s.m == nil {
		s.m = map[stmtKey]*sqlx.Stmt{}
	}
	s.m[k] = st
	return st, nil
}

// close closes every statement; get fails from then on.
func (s *stmts) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for k, st := range s.m {
		errs = append(errs, st.Close())
		delete(s.m, k)
	}
	return errors.Join(errs...)
}

// getRow runs query, which returns one row, on pool and scans the row into
// dest: through a kept prepared statement where the dialect asks for it.
// The call has the query timeout.
func (db *DB) getRow(ctx context.Context, pool *pool, dest any, query string, args ...any) error {
	if !db.d.PrepareOnce {
		return pool.GetContext(ctx, dest, query, args...)
	}
	st, err := db.stmts.get(ctx, pool, query)
	if err != nil {
		return err
	}
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.unavailable(st.GetContext(ctx, dest, args...))
}

// selectRows is getRow for a query that returns any number of rows.
func (db *DB) selectRows(ctx context.Context, pool *pool, dest any, query string, args ...any) error {
	if !db.d.PrepareOnce {
		return pool.SelectContext(ctx, dest, query, args...)
	}
	st, err := db.stmts.get(ctx, pool, query)
	if err != nil {
		return err
	}
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.unavailable(st.SelectContext(ctx, dest, args...))
}

// execCount runs query, a statement that changes rows, on pool, through a
// kept prepared statement where the dialect asks for it, again while the
// database says the failure is transient (a deadlock), and returns how
// many rows it matched. Each try has the query timeout.
func (db *DB) execCount(ctx context.Context, pool *pool, query string, args ...any) (int64, error) {
	var n int64
	err := db.retry(ctx, func() error {
		var res sql.Result
		var err error
		if db.d.PrepareOnce {
			var st *sqlx.Stmt
			if st, err = db.stmts.get(ctx, pool, query); err != nil {
				return err
			}
			ctx, cancel := db.deadline(ctx)
			defer cancel()
			res, err = st.ExecContext(ctx, args...)
			err = db.unavailable(err)
		} else {
			res, err = pool.ExecContext(ctx, query, args...)
		}
		if err != nil {
			return err
		}
		n, err = rowsAffected(res)
		return err
	})
	return n, err
}

// scanRows runs query on pool, through a kept prepared statement where the
// dialect asks for it, and calls scan for every row it returns. The
// trigger's hot path reads its rows with it: rows.Scan into the columns in
// the order the query names them, without the reflection and the column
// names sqlx's struct scans take on every call. The call has the query
// timeout.
func (db *DB) scanRows(ctx context.Context, pool *pool, query string, args []any, scan func(*sql.Rows) error) error {
	var st *sqlx.Stmt
	if db.d.PrepareOnce {
		var err error
		if st, err = db.stmts.get(ctx, pool, query); err != nil {
			return err
		}
	}
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var rows *sql.Rows
	var err error
	if st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = pool.DB.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return db.unavailable(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return db.unavailable(err)
		}
	}
	if err := rows.Err(); err != nil {
		return db.unavailable(err)
	}
	return db.unavailable(rows.Close())
}
