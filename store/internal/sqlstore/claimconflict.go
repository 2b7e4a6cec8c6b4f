package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// On a MariaDB Galera cluster written through several nodes, row locks are
// not replicated: two nodes' claims can both lock and lease the same rows,
// and the second to commit fails certification with a deadlock error
// (1213). That claim lost: the other node has the rows. It is neither an
// error nor a reason to wait; the claim is run again at once, passing over
// the rows it lost (the winner's lease may not have been applied on this
// node yet), and is counted (ClaimConflicts).

// maxClaimTries bounds how often one Claim call runs its transaction after
// losing rows to another claimer. After that the call returns no rows, as
// if nothing were due: the next scan claims again.
const maxClaimTries = 5

// errLostClaim says a lease update matched fewer rows than the claim had
// locked: another claimer leased one of them meanwhile. The transaction is
// rolled back so no row is handed out twice.
var errLostClaim = errors.New("claim: a row was leased by another claimer meanwhile")

// ClaimConflicts returns how many claim transactions of this store lost
// their rows to another claimer (a certification conflict on Galera, a
// deadlock elsewhere) and were run again.
func (db *DB) ClaimConflicts() uint64 { return db.claimConflicts.Load() }

// claimTx runs fn, the claim transaction, in a write transaction under the
// query timeout. fn is told the rows lost in earlier tries so it passes
// over them, and reports the rows it locked through tried. A try that
// loses (a deadlock or certification conflict, or errLostClaim) is counted
// and run again; once maxClaimTries have lost, claimTx returns lost = true
// and no error.
func (db *DB) claimTx(ctx context.Context, fn func(tx *sqlx.Tx, exclude []int64, tried *[]int64) error) (lost bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	var exclude []int64
	for try := 1; ; try++ {
		var tried []int64
		err := db.tryTx(ctx, func(tx *sqlx.Tx) error { return fn(tx, exclude, &tried) })
		switch {
		case err == nil:
			return false, nil
		case ctx.Err() != nil || !errors.Is(err, errLostClaim) && !db.d.IsRetryable(err) && !errors.Is(err, errConnLost):
			return false, db.unavailable(err)
		case errors.Is(err, errConnLost):
			// Not a conflict: the next try runs on another connection.
			if try == maxClaimTries {
				return false, db.unavailable(err)
			}
			continue
		}
		db.claimConflicts.Add(1)
		if try == maxClaimTries {
			return true, nil
		}
		exclude = append(exclude, tried...)
		// A pause only after repeated losses: the first retry takes other
		// rows, which is the point.
		if try > 1 {
			t := time.NewTimer(time.Duration(try) * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return false, db.unavailable(ctx.Err())
			case <-t.C:
			}
		}
	}
}
