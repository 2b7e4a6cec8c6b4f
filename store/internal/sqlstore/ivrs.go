package sqlstore

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/callbackd/callbackd/callback"
)

var _ callback.IVRStore = (*DB)(nil)

type ivrRow struct {
	ID     int    `db:"id"`
	SubApp string `db:"sub_app"`
}

// PutIVR inserts the IVR v.ID or replaces its sub-application.
func (db *DB) PutIVR(ctx context.Context, v callback.IVR) error {
	if err := v.Validate(); err != nil {
		return fmt.Errorf("put IVR: %w", err)
	}
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO ivrs (id, sub_app) VALUES (?, ?)"+db.d.Upsert([]string{"id"}, []string{"sub_app"}), v.ID, v.SubApp)
		return err
	})
	if err != nil {
		return db.fail(err, "put IVR %d", v.ID)
	}
	return nil
}

// GetIVR returns the IVR id; ErrNotFound when there is none.
func (db *DB) GetIVR(ctx context.Context, id int) (*callback.IVR, error) {
	var row ivrRow
	if err := db.getRow(ctx, db.r, &row, "SELECT id, sub_app FROM ivrs WHERE id = ?", id); err != nil {
		return nil, db.fail(err, "get IVR %d", id)
	}
	return &callback.IVR{ID: row.ID, SubApp: row.SubApp}, nil
}

// ListIVRs returns every IVR by id.
func (db *DB) ListIVRs(ctx context.Context) ([]callback.IVR, error) {
	var rows []ivrRow
	if err := db.r.SelectContext(ctx, &rows, "SELECT id, sub_app FROM ivrs ORDER BY id"); err != nil {
		return nil, db.fail(err, "list IVRs")
	}
	out := make([]callback.IVR, len(rows))
	for i, r := range rows {
		out[i] = callback.IVR{ID: r.ID, SubApp: r.SubApp}
	}
	return out, nil
}

// DeleteIVR removes the IVR id; ErrNotFound when there is none.
func (db *DB) DeleteIVR(ctx context.Context, id int) error {
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		return execMatched(ctx, tx, callback.ErrNotFound, "DELETE FROM ivrs WHERE id = ?", id)
	})
	if err != nil {
		return db.fail(err, "delete IVR %d", id)
	}
	return nil
}
