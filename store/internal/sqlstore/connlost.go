package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// errConnLost marks a transaction that failed, before its commit was
// sent, because its connection or server went away: a database server
// killed or restarted, a Galera node leaving the cluster. The server
// rolls such a transaction back, so it is run again from the start on
// another connection, which may reach another server (a DSN listing
// several, a proxy). A failed commit is not marked: whether it took
// effect is unknown, and running it again could apply it twice.
var errConnLost = errors.New("connection lost before commit")

// connLost returns err marked with errConnLost when it says the database
// could not be reached and ctx is not the reason.
func (db *DB) connLost(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, errConnLost) || !db.isUnavailable(err) || db.d.IsRetryable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", errConnLost, err)
}

// errCommitUnknown marks a commit whose answer was lost with its
// connection: the transaction may or may not have taken effect.
var errCommitUnknown = errors.New("commit outcome unknown: the connection was lost")

// commitLost returns err marked with errCommitUnknown when the commit
// failed because the database could not be reached.
func (db *DB) commitLost(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || !db.isUnavailable(err) || db.d.IsRetryable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", errCommitUnknown, err)
}

// txResolving is tx for a write whose effect can be recognised afterwards:
// when its commit's answer was lost, applied (run in a new transaction on
// a new connection) reports whether the write took effect, and if it did
// not, the write is run again.
func (db *DB) txResolving(ctx context.Context, fn func(tx *sqlx.Tx) error, applied func(tx *sqlx.Tx) (bool, error)) error {
	err := db.tx(ctx, fn)
	if !errors.Is(err, errCommitUnknown) {
		return err
	}
	return db.resolveCommit(ctx, err, fn, applied)
}

// resolveCommit follows a commit of fn that failed with err, its answer
// lost: applied, in a new transaction, tells whether fn took effect; if
// it did not, fn is run again. err is returned when that cannot be told.
func (db *DB) resolveCommit(ctx context.Context, err error, fn func(tx *sqlx.Tx) error, applied func(tx *sqlx.Tx) (bool, error)) error {
	var done bool
	if rerr := db.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		done, err = applied(tx)
		return err
	}); rerr != nil {
		return err
	}
	if done {
		return nil
	}
	return db.tx(ctx, fn)
}
