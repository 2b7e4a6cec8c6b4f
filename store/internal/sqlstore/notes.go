package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/callbackd/callbackd/callback"
	"github.com/jmoiron/sqlx"
)

// Note appends a history line in the request's current status, under l's
// guard: ErrLeaseLost if l no longer holds the request.
func (db *DB) Note(ctx context.Context, l callback.Lease, cause, sipCode int, note string) error {
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		var st struct {
			Status string         `db:"status"`
			Result sql.NullString `db:"result"`
		}
		err := tx.GetContext(ctx, &st, "SELECT status, result FROM callback_requests"+leaseGuard, leaseArgs(l)...)
		if errors.Is(err, sql.ErrNoRows) {
			return leaseLost(l)
		}
		if err != nil {
			return err
		}
		return db.addEvent(ctx, tx, event{id: l.RequestID, attempt: l.Attempt, status: callback.Status(st.Status),
			result: callback.Result(st.Result.String), cause: cause, sipCode: sipCode, note: note})
	})
	if err != nil {
		return db.fail(err, "note on request %d", l.RequestID)
	}
	return nil
}
