package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
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

// EachCDR calls fn with each CDR of f's range by start time then id, and
// with the CDRs that never started (no start time, by id) only when f
// has no range. fn gets the same *callback.CDR each time, refilled: it
// must not keep it.
//
// The rows are read exportBatch at a time, each batch one query under the
// query timeout, resumed after the (start_time, id) of the last row read,
// and copied into one of two page buffers: a goroutine reads the next
// batch while fn is called with the rows of the one before. So the
// database, the reading of rows and fn (the CSV encoding and the
// client's writes) run at once; no query stays open while fn waits on a
// slow client; no read view lasts longer than a batch; and memory is two
// pages whatever the size of the export.
func (db *DB) EachCDR(ctx context.Context, f admin.CDRFilter, fn func(*callback.CDR) error) error {
	ctx, cancel := context.WithCancel(ctx)
	pages, free := make(chan *cdrPage, 1), make(chan *cdrPage, 2)
	free <- &cdrPage{}
	free <- &cdrPage{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(pages)
		db.readCDRPages(ctx, f, free, pages)
	}()
	defer func() {
		cancel()
		<-done
	}()
	var c callback.CDR
	names := make(interned)
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		for i := range p.rows {
			if err := p.cdr(i, &c, names); err != nil {
				return db.fail(err, "export CDRs: read row")
			}
			if err := fn(&c); err != nil {
				return err
			}
		}
		if p.last {
			return nil
		}
		free <- p // one of the two pages: there is room
	}
	// The reader stopped before the last page: ctx ended.
	return db.fail(context.Cause(ctx), "export CDRs")
}

// cdrKey is where a batch of the export resumes: after the (start_time,
// id) of the last row read, or after its id among the CDRs that never
// started.
type cdrKey struct {
	start time.Time
	id    int64
}

// cdrBatchQuery is the query of the next batch of f: the rows after lo
// (from the start of f when !resumed) by (start_time, id) or, unstarted,
// the CDRs without a start time by id.
func (db *DB) cdrBatchQuery(f admin.CDRFilter, lo cdrKey, resumed, unstarted bool) (string, []any) {
	order := " ORDER BY start_time, id"
	var w []string
	var a []any
	switch {
	case unstarted:
		w, a = db.cdrWhere(f)
		w, a = append(w, "start_time IS NULL", "id > ?"), append(a, lo.id)
		order = " ORDER BY id"
	case resumed:
		// A batch after the first starts its range at the last row's
		// start time instead of f.From: one lower bound, which SQLite too
		// reads as the start of the index range (with two it may take the
		// looser, and scan every row sent so far again).
		bf := f
		bf.From = lo.start
		w, a = db.cdrWhere(bf)
		w, a = append(w, "(start_time > ? OR id > ?)"), append(a, db.ts(lo.start), lo.id)
	default:
		w, a = db.cdrWhere(f)
		if f.From.IsZero() && f.To.IsZero() {
			w = append(w, "start_time IS NOT NULL")
		}
	}
	return "SELECT " + cdrColumns + " FROM cdrs WHERE " + strings.Join(w, " AND ") + order +
		fmt.Sprintf(" LIMIT %d", exportBatch), a
}

// readCDRPages reads f's CDRs a batch at a time, each into a page taken
// from free and handed to pages, until the last page (marked so), a
// failure (a page with err), or the end of ctx.
func (db *DB) readCDRPages(ctx context.Context, f admin.CDRFilter, free <-chan *cdrPage, pages chan<- *cdrPage) {
	unranged := f.From.IsZero() && f.To.IsZero()
	for _, unstarted := range []bool{false, true} {
		if unstarted && !unranged {
			return
		}
		var lo cdrKey
		for resumed := false; ; resumed = true {
			var p *cdrPage
			select {
			case p = <-free:
			case <-ctx.Done():
				return
			}
			p.buf, p.rows, p.last = p.buf[:0], p.rows[:0], false
			q, args := db.cdrBatchQuery(f, lo, resumed, unstarted)
			p.err = db.fillCDRPage(ctx, q, args, p)
			more := p.err == nil && len(p.rows) == exportBatch
			if more {
				n := len(p.rows) - 1
				lo.start = p.rows[n].times[0].Time
				if lo.id, p.err = parseDecimal(p.field(n, cdrID)); p.err != nil {
					p.err, more = db.fail(p.err, "export CDRs: read row"), false
				}
			}
			p.last = !more && (unstarted || !unranged)
			select {
			case pages <- p:
			case <-ctx.Done():
				return
			}
			if p.err != nil || p.last {
				return
			}
			if !more {
				break
			}
		}
	}
}

// exportBatch is how many CDRs EachCDR reads per query; a page holds the
// rows of one, about 250 bytes each with their offsets and times. Fewer,
// larger queries would cost the database a little less (each one is
// parsed, planned and positioned in the index), but each must end within
// the query timeout on a slow, busy machine too.
const exportBatch = 1000

// The text fields of a cdrPage row, in cdrColumns order less the times.
const (
	cdrID = iota
	cdrRequestID
	cdrLeg
	cdrAccount
	cdrNumber
	cdrCallerID
	cdrChannelID
	cdrTrunk
	cdrBillSec
	cdrCause
	cdrSIPCode
	cdrPrefix
	cdrCharge
	cdrCurrency
	cdrDisposition
	cdrTextFields
)

// cdrTextNames are the text fields' columns, for errors.
var cdrTextNames = [cdrTextFields]string{"id", "request_id", "leg", "account", "number", "caller_id", "channel_id", "trunk",
	"billsec", "cause", "sip_code", "prefix", "charge", "currency", "disposition"}

// cdrTimesAt is where the three times (start, answer, end) are among
// cdrColumns.
const cdrTimesAt = cdrTrunk + 1

// cdrPage holds the rows of one export query, each column but the times
// as the text the driver returned (NULL as empty), all in one buffer: its
// memory is reused from one page to the next.
type cdrPage struct {
	buf  []byte
	rows []cdrPageRow
	last bool  // no rows after this page
	err  error // the page could not be read
}

// cdrPageRow is one row of a cdrPage.
type cdrPageRow struct {
	ends  [cdrTextFields]int32 // the end of each text field in buf; a row starts where the previous one ended
	times [3]Time              // start, answer, end
}

// field returns text field k of row i.
func (p *cdrPage) field(i, k int) []byte {
	var start int32
	switch {
	case k > 0:
		start = p.rows[i].ends[k-1]
	case i > 0:
		start = p.rows[i-1].ends[cdrTextFields-1]
	}
	return p.buf[start:p.rows[i].ends[k]]
}

// cdr fills c with row i, the columns whose values repeat from row to
// row through names.
func (p *cdrPage) cdr(i int, c *callback.CDR, names interned) error {
	var err error
	num := func(k int) int64 {
		v, e := parseDecimal(p.field(i, k))
		if e != nil && err == nil {
			err = fmt.Errorf("%s: %w", cdrTextNames[k], e)
		}
		return v
	}
	*c = callback.CDR{
		ID:          num(cdrID),
		RequestID:   num(cdrRequestID),
		Leg:         callback.Leg(p.field(i, cdrLeg)),
		Account:     names.get(p.field(i, cdrAccount)),
		Number:      string(p.field(i, cdrNumber)),
		CallerID:    string(p.field(i, cdrCallerID)),
		ChannelID:   string(p.field(i, cdrChannelID)),
		Trunk:       names.get(p.field(i, cdrTrunk)),
		Start:       p.rows[i].times[0].Time,
		Answer:      p.rows[i].times[1].Time,
		End:         p.rows[i].times[2].Time,
		BillSec:     int(num(cdrBillSec)),
		Cause:       int(num(cdrCause)),
		SIPCode:     int(num(cdrSIPCode)),
		Prefix:      names.get(p.field(i, cdrPrefix)),
		Charge:      callback.Money(num(cdrCharge)),
		Currency:    names.get(p.field(i, cdrCurrency)),
		Disposition: names.get(p.field(i, cdrDisposition)),
	}
	return err
}

// interned holds one string per value of the columns that repeat from
// row to row (account, trunk, prefix, currency, disposition), so an
// export converts each value once instead of once a row.
type interned map[string]string

// maxInterned bounds an interned: past it, new values are converted
// each time.
const maxInterned = 4096

// get returns b as a string, the same one for the same bytes.
func (m interned) get(b []byte) string {
	if s, ok := m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(m) < maxInterned {
		m[s] = s
	}
	return s
}

// parseDecimal reads an integer column's text: empty (NULL) is 0. A
// value the driver handed over as a float (SQLite keeps what it is
// given) is read as database/sql would scan it into an int: whole or
// refused.
func parseDecimal(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	neg := b[0] == '-'
	d := b
	if neg {
		d = b[1:]
	}
	if len(d) == 0 || len(d) > 18 {
		return strconv.ParseInt(string(b), 10, 64)
	}
	var v int64
	for _, c := range d {
		if c < '0' || c > '9' {
			return strconv.ParseInt(string(b), 10, 64)
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, nil
}

// fillCDRPage runs q under the query timeout and appends its rows to p.
func (db *DB) fillCDRPage(ctx context.Context, q string, args []any, p *cdrPage) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return db.fail(err, "export CDRs")
	}
	defer rows.Close()
	var raw [cdrTextFields]sql.RawBytes
	var row cdrPageRow
	var dest [cdrTextFields + len(row.times)]any
	for k := range dest {
		switch {
		case k < cdrTimesAt:
			dest[k] = &raw[k]
		case k < cdrTimesAt+len(row.times):
			dest[k] = &row.times[k-cdrTimesAt]
		default:
			dest[k] = &raw[k-len(row.times)]
		}
	}
	for rows.Next() {
		if err := rows.Scan(dest[:]...); err != nil {
			return db.fail(err, "export CDRs: read row")
		}
		for k := range raw {
			p.buf = append(p.buf, raw[k]...)
			row.ends[k] = int32(len(p.buf))
		}
		p.rows = append(p.rows, row)
	}
	if err := rows.Err(); err != nil {
		return db.fail(err, "export CDRs")
	}
	return nil
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
