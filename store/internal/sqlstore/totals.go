package sqlstore

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// The dashboard's totals (cdr_totals, request_totals) are kept by the
// triggers of migration 00015; RebuildTotals counts a range of hours
// again, for rows written while the triggers were off (a restore with
// triggers skipped, a bulk load into a copy of the tables).

// rebuildChunk is how much of a rebuild's range one transaction counts,
// so that each statement stays within the query timeout whatever the
// range: an hour of traffic (a day of 86,400 CDRs passed the 5 s read
// timeout on a loaded MariaDB).
const rebuildChunk = time.Hour

// RebuildTotals replaces the totals of the hours [from, to) by counts of
// the CDRs that started and the requests created in them, an hour per
// transaction, and returns how many it counted. Its reads of cdrs and callback_requests in INSERT ...
// SELECT lock the rows they count on MariaDB, so a CDR or request written
// meanwhile in the range waits for the rebuild and is then counted by its
// trigger once.
func (db *DB) RebuildTotals(ctx context.Context, from, to time.Time) (cdrs, requests int64, err error) {
	for lo := from; lo.Before(to); lo = lo.Add(rebuildChunk) {
		hi := lo.Add(rebuildChunk)
		if hi.After(to) {
			hi = to
		}
		c, r, err := db.rebuildTotals(ctx, lo, hi)
		if err != nil {
			return cdrs, requests, err
		}
		cdrs, requests = cdrs+c, requests+r
	}
	return cdrs, requests, nil
}

// rebuildTotals is RebuildTotals of [from, to) in one transaction.
func (db *DB) rebuildTotals(ctx context.Context, from, to time.Time) (cdrs, requests int64, err error) {
	startHour, creationHour := "DATE_FORMAT(start_time, '%Y-%m-%d %H')", "DATE_FORMAT(creation_time, '%Y-%m-%d %H')"
	if db.d.Name == "sqlite3" {
		startHour, creationHour = "substr(start_time, 1, 13)", "substr(creation_time, 1, 13)"
	}
	// Four statements that each may read many rows.
	err = db.bulkTx(ctx, 4, func(tx *sqlx.Tx) error {
		for _, q := range []string{"DELETE FROM cdr_totals WHERE hour >= ? AND hour < ?", "DELETE FROM request_totals WHERE hour >= ? AND hour < ?"} {
			if _, err := tx.ExecContext(ctx, q, hourKey(from), hourKey(to)); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO cdr_totals (hour, leg, currency, shard, attempts, answered, billsec, revenue) "+
			"SELECT "+startHour+", leg, COALESCE(currency, ''), id % 32, COUNT(*), "+
			"SUM(CASE WHEN answer_time IS NOT NULL THEN 1 ELSE 0 END), SUM(billsec), SUM(charge) "+
			"FROM cdrs WHERE start_time >= ? AND start_time < ? GROUP BY 1, 2, 3, 4", db.ts(from), db.ts(to)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO request_totals (hour, status, result, shard, n) "+
			"SELECT "+creationHour+", status, COALESCE(result, ''), i_callback_request % 8, COUNT(*) "+
			"FROM callback_requests WHERE finished = 1 AND creation_time >= ? AND creation_time < ? GROUP BY 1, 2, 3, 4", db.ts(from), db.ts(to)); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &cdrs, "SELECT COALESCE(SUM(attempts), 0) FROM cdr_totals WHERE hour >= ? AND hour < ?", hourKey(from), hourKey(to)); err != nil {
			return err
		}
		return tx.GetContext(ctx, &requests, "SELECT COALESCE(SUM(n), 0) FROM request_totals WHERE hour >= ? AND hour < ?", hourKey(from), hourKey(to))
	})
	if err != nil {
		return 0, 0, db.fail(err, "rebuild totals from %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return cdrs, requests, nil
}
