package sqlite

import (
	"cmp"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
)

// A statement cache per connection.
//
// database/sql hands a query with arguments to the driver's ExecContext or
// QueryContext, and modernc.org/sqlite compiles it anew each time: on the
// dispatcher's path (insert, claim, leg updates, end, each with its history
// row) SQLite's parser took over a quarter of the process's CPU. A
// connection of this store keeps what it has compiled, by query text, and
// runs a query it has seen again on the compiled statement (bound, stepped,
// then reset, which modernc does for a prepared statement). SQLite
// recompiles a cached statement by itself when the schema changes under it
// (sqlite3_prepare_v2), so a migration needs nothing from the cache.
//
// Only queries with arguments are cached: those are the store's; a query
// without (a pragma, BEGIN, a migration script of several statements) goes
// to the driver as before. A statement whose rows are still open is busy:
// the same text asked again on the connection meanwhile is compiled for that
// one call and not kept. The cache holds at most stmtCacheSize statements a
// connection, dropping the least recently used.

// stmtCacheSize bounds the statements kept per connection: the store's
// fixed queries number about two hundred, and the lists' filters build a
// few hundred shapes more at most.
const stmtCacheSize = 512

// cachingConnector opens connections that keep their compiled statements.
type cachingConnector struct {
	driver.Connector
	size int // statements kept per connection; 0 is stmtCacheSize
}

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	cc, err := newCachingConn(conn, cmp.Or(c.size, stmtCacheSize))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return cc, nil
}

// driverConn is what the cache needs of the driver's connection; modernc's
// has all of it.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is a driver connection with its compiled statements. Like
// every driver.Conn it is used by one goroutine at a time.
type cachingConn struct {
	driverConn
	stmts map[string]*cachedStmt
	size  int
	clock uint64 // advances on each use, for least-recently-used eviction
}

type cachedStmt struct {
	stmt interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	used uint64
	busy bool // its rows are open
}

func newCachingConn(c driver.Conn, size int) (*cachingConn, error) {
	dc, ok := c.(driverConn)
	if !ok {
		return nil, fmt.Errorf("sqlite statement cache: the driver's connection %T lacks a context method", c)
	}
	return &cachingConn{driverConn: dc, stmts: map[string]*cachedStmt{}, size: size}, nil
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.stmt.Close())
		delete(c.stmts, q)
	}
	errs = append(errs, c.driverConn.Close())
	return errors.Join(errs...)
}

// stmt returns query compiled: from the cache when it is there and idle,
// else compiled now and (when kept is true) cached.
func (c *cachingConn) stmt(ctx context.Context, query string) (s *cachedStmt, kept bool, err error) {
	c.clock++
	if s, ok := c.stmts[query]; ok {
		if !s.busy {
			s.used = c.clock
			return s, true, nil
		}
		st, err := c.prepare(ctx, query)
		return &cachedStmt{stmt: st}, false, err
	}
	st, err := c.prepare(ctx, query)
	if err != nil {
		return nil, false, err
	}
	s = &cachedStmt{stmt: st, used: c.clock}
	if len(c.stmts) >= c.size && !c.evict() {
		return s, false, nil
	}
	c.stmts[query] = s
	return s, true, nil
}

func (c *cachingConn) prepare(ctx context.Context, query string) (interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}, error) {
	ds, err := c.driverConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	})
	if !ok {
		ds.Close()
		return nil, fmt.Errorf("sqlite statement cache: the driver's statement %T lacks a context method", ds)
	}
	return st, nil
}

// evict drops the least recently used idle statement; false when every
// one is busy.
func (c *cachingConn) evict() bool {
	var oldest string
	var at uint64
	found := false
	for q, s := range c.stmts {
		if !s.busy && (!found || s.used < at) {
			oldest, at, found = q, s.used, true
		}
	}
	if !found {
		return false
	}
	c.stmts[oldest].stmt.Close()
	delete(c.stmts, oldest)
	return true
}

// ExecContext runs query on its cached statement when it has arguments.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.driverConn.ExecContext(ctx, query, args)
	}
	s, kept, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := s.stmt.ExecContext(ctx, args)
	if !kept {
		s.stmt.Close()
	}
	return res, err
}

// QueryContext runs query on its cached statement when it has arguments;
// the statement is busy until the rows are closed.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		return c.driverConn.QueryContext(ctx, query, args)
	}
	s, kept, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := s.stmt.QueryContext(ctx, args)
	if err == nil {
		if _, ok := rows.(driverRows); !ok {
			rows.Close()
			err = fmt.Errorf("sqlite statement cache: the driver's rows %T lack a column type method", rows)
		}
	}
	if err != nil {
		if !kept {
			s.stmt.Close()
		}
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: rows, s: s, kept: kept}, nil
}

// cachedRows frees its statement when closed.
type cachedRows struct {
	driver.Rows
	s    *cachedStmt
	kept bool
	done bool
}

func (r *cachedRows) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	err := r.Rows.Close()
	r.s.busy = false
	if !r.kept {
		err = errors.Join(err, r.s.stmt.Close())
	}
	return err
}

// driverRows is what modernc's rows have beyond driver.Rows, passed
// through so that database/sql sees the same column types as without the
// cache.
type driverRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	return r.Rows.(driverRows).ColumnTypeDatabaseTypeName(i)
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	return r.Rows.(driverRows).ColumnTypeLength(i)
}

func (r *cachedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	return r.Rows.(driverRows).ColumnTypeNullable(i)
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	return r.Rows.(driverRows).ColumnTypePrecisionScale(i)
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	return r.Rows.(driverRows).ColumnTypeScanType(i)
}
