package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// cdrWhere is the WHERE clause of f's time range, account and leg.
func (db *DB) cdrWhere(f admin.CDRFilter) ([]string, []any) {
	var where []string
	var args []any
	if !f.From.IsZero() {
		where, args = append(where, "start_time >= ?"), append(args, db.ts(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "start_time < ?"), append(args, db.ts(f.To))
	}
	if f.Account != "" {
		where, args = append(where, "account = ?"), append(args, f.Account)
	}
	if f.Leg != "" {
		where, args = append(where, "leg = ?"), append(args, string(f.Leg))
	}
	return where, args
}

// ListCDRsPage returns a page of CDRs, newest first: by id, or, when f
// has a time range, by start time then id, so the range is read from the
// start time index whatever its age. The cursor is the id of the last row
// of the previous page either way.
func (db *DB) ListCDRsPage(ctx context.Context, f admin.CDRFilter) ([]*callback.CDR, error) {
	where, args := db.cdrWhere(f)
	order := " ORDER BY id DESC"
	ranged := !f.From.IsZero() || !f.To.IsZero()
	switch {
	case ranged && f.BeforeID > 0:
		const at = "(SELECT start_time FROM cdrs WHERE id = ?)"
		where = append(where, "start_time <= "+at+" AND (start_time < "+at+" OR id < ?)")
		args = append(args, f.BeforeID, f.BeforeID, f.BeforeID)
	case f.BeforeID > 0:
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	if ranged {
		order = " ORDER BY start_time DESC, id DESC"
	}
	q := "SELECT " + cdrColumns + " FROM cdrs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += order + " LIMIT ?"
	var rows []cdrRow
	if err := db.r.SelectContext(ctx, &rows, q, append(args, pageLimit(f.Limit))...); err != nil {
		return nil, db.fail(err, "list CDRs")
	}
	out := make([]*callback.CDR, len(rows))
	for i := range rows {
		out[i] = rows[i].cdr()
	}
	return out, nil
}

// exportBatch is how many CDRs EachCDR reads per query. Each query, with
// the writing of its rows, has the query timeout, so an export of any
// size is a series of short reads, resumed after the (start_time, id) of
// the last row sent.
const exportBatch = 1000

// EachCDR calls fn with each CDR of f's range by start time then id,
// reading them from the database a batch at a time through rows.Next, so
// memory does not grow with the export. CDRs without a start time are
// only exported when f has no range.
func (db *DB) EachCDR(ctx context.Context, f admin.CDRFilter, fn func(*callback.CDR) error) error {
	unranged := f.From.IsZero() && f.To.IsZero()
	var row cdrRow
	dest := row.fields()
	var (
		resumed bool
		lastID  int64
	)
	for {
		// A batch after the first starts its range at the last row's start
		// time instead of f.From: one lower bound, which SQLite too reads
		// as the start of the index range (with two it may take the
		// looser, and scan every row sent so far again).
		bf := f
		if resumed {
			bf.From = row.Start.Time
		}
		w, a := db.cdrWhere(bf)
		if unranged && !resumed {
			w = append(w, "start_time IS NOT NULL")
		}
		if resumed {
			w = append(w, "(start_time > ? OR id > ?)")
			a = append(a, db.ts(bf.From), lastID)
		}
		q := "SELECT " + cdrColumns + " FROM cdrs WHERE " + strings.Join(w, " AND ") +
			fmt.Sprintf(" ORDER BY start_time, id LIMIT %d", exportBatch)
		n, err := db.eachRow(ctx, q, a, dest, func() error {
			lastID = row.ID
			return fn(row.cdr())
		})
		if err != nil {
			return err
		}
		if n < exportBatch {
			break
		}
		resumed = true
	}
	if unranged {
		// The CDRs that never started (a leg that failed before its
		// channel existed), by id.
		where, args := db.cdrWhere(f)
		where = append(where, "start_time IS NULL", "id > ?")
		lastID = 0
		for {
			q := "SELECT " + cdrColumns + " FROM cdrs WHERE " + strings.Join(where, " AND ") +
				fmt.Sprintf(" ORDER BY id LIMIT %d", exportBatch)
			n, err := db.eachRow(ctx, q, append(args[:len(args):len(args)], lastID), dest, func() error {
				lastID = row.ID
				return fn(row.cdr())
			})
			if err != nil {
				return err
			}
			if n < exportBatch {
				break
			}
		}
	}
	return nil
}

// eachRow runs q and scans each row into dest (a pointer per column),
// calling fn after each, and returns how many rows it read.
func (db *DB) eachRow(ctx context.Context, q string, args []any, dest []any, fn func() error) (int, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.QueryxContext(ctx, q, args...)
	if err != nil {
		return 0, db.fail(err, "export CDRs")
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, db.fail(err, "export CDRs: read row")
		}
		n++
		if err := fn(); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, db.fail(db.unavailable(err), "export CDRs")
	}
	return n, nil
}

// reportTimeout bounds a report's one query: it may sum millions of CDRs.
func (db *DB) reportTimeout() time.Duration { return 12 * db.timeout }

// Report sums CDRs per day (UTC), dimension and currency in one GROUP BY
// query.
func (db *DB) Report(ctx context.Context, f admin.ReportFilter) ([]admin.ReportRow, error) {
	day := "DATE_FORMAT(c.start_time, '%Y-%m-%d')"
	if db.d.Name == "sqlite3" {
		day = "substr(c.start_time, 1, 10)"
	}
	var key, join string
	switch f.By {
	case admin.ByAccount:
		key = "c.account"
	case admin.ByPrefix:
		key = "COALESCE(c.prefix, '')"
	case admin.ByAccessNumber:
		key = "COALESCE(r.access_number, '')"
		join = " LEFT JOIN callback_requests r ON r.i_callback_request = c.request_id"
	default:
		return nil, fmt.Errorf("report: %w", &callback.ValidationError{Field: "by", Reason: fmt.Sprintf("%q: want account, access_number or prefix", f.By)})
	}
	where, args := []string{"c.start_time IS NOT NULL"}, []any{}
	if !f.From.IsZero() {
		where, args = append(where, "c.start_time >= ?"), append(args, db.ts(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "c.start_time < ?"), append(args, db.ts(f.To))
	}
	if f.Account != "" {
		where, args = append(where, "c.account = ?"), append(args, f.Account)
	}
	if f.Leg != "" {
		where, args = append(where, "c.leg = ?"), append(args, string(f.Leg))
	}
	q := "SELECT " + day + " AS day, " + key + " AS k, COALESCE(c.currency, '') AS currency, COUNT(*) AS attempts, " +
		"COALESCE(SUM(CASE WHEN c.answer_time IS NOT NULL THEN 1 ELSE 0 END), 0) AS answered, " +
		"COALESCE(SUM(c.billsec), 0) AS billsec, COALESCE(SUM(c.charge), 0) AS revenue " +
		"FROM cdrs c" + join + " WHERE " + strings.Join(where, " AND ") +
		" GROUP BY day, k, currency ORDER BY day, k, currency"
	var rows []struct {
		Day      string `db:"day"`
		Key      string `db:"k"`
		Currency string `db:"currency"`
		Attempts int64  `db:"attempts"`
		Answered int64  `db:"answered"`
		BillSec  int64  `db:"billsec"`
		Revenue  int64  `db:"revenue"`
	}
	ctx, cancel := context.WithTimeout(ctx, db.reportTimeout())
	defer cancel()
	if err := db.r.DB.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, db.fail(err, "report by %s", f.By)
	}
	out := make([]admin.ReportRow, len(rows))
	for i, r := range rows {
		out[i] = admin.ReportRow{Day: r.Day, Key: r.Key, Currency: r.Currency, Attempts: r.Attempts, Answered: r.Answered,
			BillSec: r.BillSec, Revenue: callback.Money(r.Revenue)}
	}
	return out, nil
}
