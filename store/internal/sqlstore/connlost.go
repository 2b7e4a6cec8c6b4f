package sqlstore

import (
	"context"
	"errors"
	"fmt"
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
