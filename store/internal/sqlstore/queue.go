package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/callbackd/callbackd/callback"
	"github.com/jmoiron/sqlx"
)

const selectRequest = "SELECT " + requestColumns + " FROM callback_requests"

// insertReturning is CreateRequest's INSERT ... RETURNING for the columns
// in c, optional saying which of the four columns added only when set are
// among them: the text is made once for each of the 16 column sets.
func insertReturning(c *columns, optional uint) string {
	p := &insertReturningQueries[optional]
	if q := p.Load(); q != nil {
		return *q
	}
	q := c.insert("callback_requests") + " RETURNING " + requestColumns
	p.Store(&q)
	return q
}

var insertReturningQueries [16]atomic.Pointer[string]

// insertNewCaller is CreateRequestForNewCaller's statement for the columns
// in c (optional as for insertReturning), checking the accounts too or
// not. Its arguments after the columns' values: cli for the pending
// check, then, with accounts, cli, cli, "+" + cli, cli.
func insertNewCaller(c *columns, optional uint, accounts bool) string {
	i := 0
	if accounts {
		i = 1
	}
	p := &insertNewCallerQueries[i][optional]
	if q := p.Load(); q != nil {
		return *q
	}
	q := "INSERT INTO callback_requests (" + strings.Join(c.names, ", ") + ") SELECT " +
		strings.TrimSuffix(strings.Repeat("?, ", len(c.names)), ", ") + `
	WHERE NOT EXISTS (SELECT 1 FROM callback_requests WHERE original_cli = ? AND finished = 0 AND canceled = 0)`
	if accounts {
		q += `
	AND NOT EXISTS (SELECT 1 FROM accounts WHERE username = ?)
	AND NOT EXISTS (SELECT 1 FROM accounts WHERE associated_number IN (?, ?))
	AND NOT EXISTS (SELECT 1 FROM account_clis WHERE cli = ?)`
	}
	q += " RETURNING " + requestColumns
	p.Store(&q)
	return q
}

var insertNewCallerQueries [2][16]atomic.Pointer[string]

// CreateRequest inserts r and reads it back, so r holds what the database
// filled in: the id, and the column defaults for the fields left zero
// (status, source, next_call = now + 5 s, creation_time). An empty authname
// is written as the username, which is what the authname trigger makes of
// it for other SQL clients. Where the database has INSERT ... RETURNING the
// row comes back from the insert itself, one statement that commits on its
// own (the history trigger runs inside it); elsewhere a transaction inserts
// and reads the row.
func (db *DB) CreateRequest(ctx context.Context, r *callback.Request) error {
	c, optional := db.requestInsert(r, 0)
	var got *callback.Request
	var err error
	if db.d.Returning {
		got, err = db.insertRequest(ctx, insertReturning(&c, optional), c.args)
		if err == nil && got == nil {
			err = sql.ErrNoRows
		}
	} else {
		err = db.tx(ctx, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, c.insert("callback_requests"), c.args...)
			if err != nil {
				return err
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			got, err = getRequest(ctx, tx, id)
			return err
		})
	}
	if err != nil {
		return db.fail(err, "create request for %q", r.Username)
	}
	*r = *got
	return nil
}

// insertRequest runs q, an INSERT ... RETURNING requestColumns, and
// returns the row it inserted: nil when it inserted none.
func (db *DB) insertRequest(ctx context.Context, q string, args []any) (*callback.Request, error) {
	var got *callback.Request
	err := db.retry(ctx, func() error {
		got = nil
		var row requestRow
		var dest [requestRowColumns]any
		read := false
		err := db.scanRows(ctx, db.w, q, args, func(r *sql.Rows) error {
			read = true
			return r.Scan(row.dest(dest[:0])...)
		})
		if err == nil && read {
			got = row.request()
		}
		return err
	})
	return got, err
}

// CreateRequestForNewCaller is CreateRequest for a request queued on the
// assumption that cli belongs to nobody and has nothing pending, the
// caller's account and pending request still unread: it inserts r only
// while no unfinished request calls cli back (finished and canceled 0,
// whether or not PendingForCLISince would count it) and, with accounts,
// no account is found for cli as AccountByCLI looks (username, associated
// number with or without '+', the CLI map). The checks and the insert are
// one statement and one round trip, INSERT ... SELECT ... RETURNING. ok is
// false, and nothing is written, when a row was found (or the database has
// no RETURNING): the caller then reads them (CallerByCLI) and decides as
// it would have without this.
func (db *DB) CreateRequestForNewCaller(ctx context.Context, r *callback.Request, cli string, accounts bool) (ok bool, err error) {
	if !db.d.Returning || cli == "" {
		return false, nil
	}
	c, optional := db.requestInsert(r, 5)
	c.args = append(c.args, cli)
	if accounts {
		c.args = append(c.args, cli, cli, "+"+cli, cli)
	}
	got, err := db.insertRequest(ctx, insertNewCaller(&c, optional, accounts), c.args)
	switch {
	case err != nil:
		return false, db.fail(err, "create request for %q", r.Username)
	case got == nil:
		return false, nil
	}
	*r = *got
	return true, nil
}

// CreatesForNewCallers reports whether CreateRequestForNewCaller can insert
// at all: the database has INSERT ... RETURNING.
func (db *DB) CreatesForNewCallers() bool { return db.d.Returning }

// requestInsert returns the columns and values CreateRequest inserts for
// r, with room for extra more values, and which of the four columns added
// only when set are among them (see insertReturning).
func (db *DB) requestInsert(r *callback.Request, extra int) (columns, uint) {
	// Sized for every column, so that adding them does not grow the
	// slices again and again.
	c := columns{names: make([]string, 0, requestRowColumns), args: make([]any, 0, requestRowColumns+extra)}
	var optional uint // which of the columns added only when set are there
	c.add("username", r.Username)
	c.add("authname", str(cmp.Or(r.Authname, r.Username)))
	c.add("md5secret", str(r.MD5Secret))
	c.add("original_cli", str(r.OriginalCLI))
	c.add("original_set_cli", str(r.OriginalSetCLI))
	c.add("original_cld", str(r.OriginalCLD))
	c.add("twoway_cli", str(r.TwowayCLI))
	c.add("twoway_authname", str(r.TwowayAuthname))
	c.add("twoway_md5secret", str(r.TwowayMD5Secret))
	c.add("call_id", str(r.CallID))
	c.add("twoway_call_id", str(r.TwowayCallID))
	if !r.NextCall.IsZero() {
		c.add("next_call", db.ts(r.NextCall))
		optional |= 1
	}
	c.add("call_count", r.CallCount)
	c.add("canceled", r.Canceled)
	c.add("credit_time", num(r.CreditTime))
	c.add("anon_acct_enabled", r.AnonAcctEnabled)
	c.add("default_user_used", r.DefaultUserUsed)
	c.add("finished", r.Finished)
	if r.Status != "" {
		c.add("status", string(r.Status))
		optional |= 2
	}
	c.add("result", str(string(r.Result)))
	if !r.CreationTime.IsZero() {
		c.add("creation_time", db.ts(r.CreationTime))
		optional |= 4
	}
	c.add("setup_time", db.ts(r.SetupTime))
	c.add("connect_time", db.ts(r.ConnectTime))
	c.add("disconnect_time", db.ts(r.DisconnectTime))
	c.add("attempt", r.Attempt)
	c.add("lease_owner", str(r.LeaseOwner))
	c.add("lease_expires", db.ts(r.LeaseExpires))
	c.add("last_cause", num(r.LastCause))
	c.add("last_sip_code", num(r.LastSIPCode))
	c.add("last_error", str(r.LastError))
	if r.Source != "" {
		c.add("source", string(r.Source))
		optional |= 8
	}
	c.add("access_number", str(r.AccessNumber))
	c.add("payer", str(r.Payer))
	c.add("language", str(r.Language))
	c.add("ask_pin", r.AskPIN)
	c.add("request_key", str(r.RequestKey))
	c.add("destination", str(r.Destination))
	c.add("due_since", db.ts(r.DueSince))
	return c, optional
}

func getRequest(ctx context.Context, q sqlx.QueryerContext, id int64) (*callback.Request, error) {
	var row requestRow
	if err := sqlx.GetContext(ctx, q, &row, selectRequest+" WHERE i_callback_request = ?", id); err != nil {
		return nil, err
	}
	return row.request(), nil
}

func selectRequests(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) ([]*callback.Request, error) {
	var rows []requestRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]*callback.Request, len(rows))
	for i := range rows {
		out[i] = rows[i].request()
	}
	return out, nil
}

// GetRequest returns request id or callback.ErrNotFound.
func (db *DB) GetRequest(ctx context.Context, id int64) (*callback.Request, error) {
	var row requestRow
	if err := db.getRow(ctx, db.r, &row, selectRequest+" WHERE i_callback_request = ?", id); err != nil {
		return nil, db.fail(err, "get request %d", id)
	}
	return row.request(), nil
}

// GetRequestByKey returns the request created with idempotency key key.
func (db *DB) GetRequestByKey(ctx context.Context, key string) (*callback.Request, error) {
	if key == "" {
		return nil, fmt.Errorf("get request by key: empty key: %w", callback.ErrNotFound)
	}
	var row requestRow
	if err := db.r.GetContext(ctx, &row, selectRequest+" WHERE request_key = ?", key); err != nil {
		return nil, db.fail(err, "get request by key %q", key)
	}
	return row.request(), nil
}

// ListRequests returns the requests f selects, by ascending id.
func (db *DB) ListRequests(ctx context.Context, f callback.RequestFilter) ([]*callback.Request, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.Result != "" {
		add("result = ?", string(f.Result))
	}
	if f.Username != "" {
		add("username = ?", f.Username)
	}
	if f.CLI != "" {
		add("original_cli = ?", f.CLI)
	}
	if f.Source != "" {
		add("source = ?", string(f.Source))
	}
	if f.Finished != nil {
		add("finished = ?", *f.Finished)
	}
	if f.AfterID > 0 {
		add("i_callback_request > ?", f.AfterID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := selectRequest
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY i_callback_request LIMIT ?"
	args = append(args, limit)
	out, err := selectRequests(ctx, db.r, q, args...)
	if err != nil {
		return nil, db.fail(err, "list requests")
	}
	return out, nil
}

// PendingForCLI returns the oldest unfinished request that calls cli back
// and may still be dialled. A request canceled from outside does not count:
// it is about to finish, and the caller who rings again wants a new
// callback. Nor do rows that will never call back (they are finished
// Invalid request when the dispatcher meets them): unreadable values, a
// status no request waits or runs in, a request Validate refuses. Rows are
// read pendingScan at a time, so a caller with many such rows is looked up
// in a bounded number of reads.
func (db *DB) PendingForCLI(ctx context.Context, cli string) (*callback.Request, error) {
	return db.PendingForCLISince(ctx, cli, time.Time{})
}

// PendingForCLISince is PendingForCLI that also passes over the requests
// waiting since before since (too old to be dialled: see
// callback.Request.Age); the zero since passes over none.
func (db *DB) PendingForCLISince(ctx context.Context, cli string, since time.Time) (*callback.Request, error) {
	var after int64
	for {
		var rows []requestRow
		err := db.selectRows(ctx, db.r, &rows, selectRequest+
			" WHERE original_cli = ? AND finished = 0 AND canceled = 0 AND i_callback_request > ? ORDER BY i_callback_request LIMIT ?",
			cli, after, pendingScan)
		if err != nil {
			return nil, db.fail(err, "pending request for CLI %s", cli)
		}
		for i := range rows {
			r := rows[i].request()
			if len(rows[i].problems()) > 0 || r.Validate() != nil {
				continue
			}
			if r.Status.Live() || waiting(r.Status) && (since.IsZero() || r.Age(since) <= 0) {
				return r, nil
			}
		}
		if len(rows) < pendingScan {
			return nil, fmt.Errorf("pending request for CLI %s: %w", cli, callback.ErrNotFound)
		}
		after = rows[len(rows)-1].ID
	}
}

// pendingScan is how many unfinished rows of one CLI PendingForCLI reads at
// a time; as a rule a number has one, so one read answers.
const pendingScan = 4

// waiting reports a status a request waits in to be claimed.
func waiting(s callback.Status) bool {
	return s == callback.StatusRequestReceived || s == callback.StatusWaitingForRetry
}

// History returns the events of request id, oldest first.
func (db *DB) History(ctx context.Context, id int64) ([]callback.Event, error) {
	var rows []eventRow
	err := db.r.SelectContext(ctx, &rows, "SELECT "+eventColumns+
		" FROM callback_request_events WHERE request_id = ? ORDER BY id", id)
	if err != nil {
		return nil, db.fail(err, "history of request %d", id)
	}
	if len(rows) == 0 {
		// No history may mean no request: tell the two apart.
		var one int
		if err := db.r.GetContext(ctx, &one, "SELECT 1 FROM callback_requests WHERE i_callback_request = ?", id); err != nil {
			return nil, db.fail(err, "history of request %d", id)
		}
	}
	out := make([]callback.Event, len(rows))
	for i := range rows {
		out[i] = rows[i].event()
	}
	return out, nil
}

// event is one history line to append.
type event struct {
	at      time.Time // zero: the store's clock
	id      int64
	attempt int
	status  callback.Status
	result  callback.Result
	cause   int
	sipCode int
	note    string
	// prev, when set, is the status the change moved the request from
	// (a guarded update knows it); otherwise the outbox reads it from the
	// history line before this one.
	prev callback.Status
}

func (db *DB) addEvent(ctx context.Context, tx *sqlx.Tx, e event) error {
	_, err := db.appendEvent(ctx, tx, e)
	return err
}

// appendEvent is addEvent that also returns the request as the change
// left it when the outbox read it for a notification; nil otherwise.
func (db *DB) appendEvent(ctx context.Context, tx *sqlx.Tx, e event) (*callback.Request, error) {
	if e.at.IsZero() {
		e.at = db.now()
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO callback_request_events ("+eventColumns+") VALUES "+placeholders(8),
		e.id, db.ts(e.at), e.attempt, string(e.status), str(string(e.result)), num(e.cause), num(e.sipCode), str(e.note))
	if err != nil {
		return nil, fmt.Errorf("append history: %w", err)
	}
	return db.addOutbox(ctx, tx, e, res) // the webhooks' notification of the change, in the same transaction
}

// appendEvents is appendEvent for the history lines of several requests,
// one each, with the statements shared where the database returns the
// ids of a multi-row INSERT: one INSERT of the lines, one read of the
// requests and their webhooks, one INSERT of the outbox rows. out[i] is
// the request of es[i] as the outbox read it, nil when it read none.
func (db *DB) appendEvents(ctx context.Context, tx *sqlx.Tx, es []event) ([]*callback.Request, error) {
	out := make([]*callback.Request, len(es))
	seen := make(map[int64]bool, len(es))
	together := len(es) > 1 && db.d.Returning
	for i := range es {
		if es[i].at.IsZero() {
			es[i].at = db.now()
		}
		together = together && !seen[es[i].id] && es[i].prev != ""
		seen[es[i].id] = true
	}
	if !together {
		for i, e := range es {
			r, err := db.appendEvent(ctx, tx, e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	var q strings.Builder
	q.WriteString("INSERT INTO callback_request_events (" + eventColumns + ") VALUES ")
	args := make([]any, 0, 8*len(es))
	for i, e := range es {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(placeholders(8))
		args = append(args, e.id, db.ts(e.at), e.attempt, string(e.status), str(string(e.result)), num(e.cause), num(e.sipCode), str(e.note))
	}
	// Returned in no promised order: a line is known by its request, one
	// line each here.
	q.WriteString(" RETURNING id, request_id")
	var lines []struct {
		ID        int64 `db:"id"`
		RequestID int64 `db:"request_id"`
	}
	if err := tx.SelectContext(ctx, &lines, q.String(), args...); err != nil {
		return nil, fmt.Errorf("append history: %w", err)
	}
	ids := make(map[int64]int64, len(lines))
	for _, l := range lines {
		ids[l.RequestID] = l.ID
	}
	p := db.outboxPolicy()
	if p == nil {
		return out, nil
	}
	// The notifications of the lines that changed a status.
	var changed []int
	var reqs []int64
	for i, e := range es {
		if ids[e.id] == 0 {
			return nil, fmt.Errorf("append history: no id returned for request %d", e.id)
		}
		if e.prev != e.status {
			changed = append(changed, i)
			reqs = append(reqs, e.id)
		}
	}
	if len(changed) == 0 {
		return out, nil
	}
	query, qargs, err := sqlx.In(selectRequestHooks, reqs)
	if err != nil {
		return nil, err
	}
	var hooked []requestHookRow
	if err := tx.SelectContext(ctx, &hooked, query, qargs...); err != nil {
		// One row no request can be read from fails the whole read: the
		// caller runs each alone, where it is read by itself.
		return nil, fmt.Errorf("outbox: read requests: %w", err)
	}
	byID := make(map[int64]requestHookRow, len(hooked))
	for _, h := range hooked {
		byID[h.ID] = h
	}
	var rows []outboxRow
	for _, i := range changed {
		e := es[i]
		row, read := byID[e.id]
		r, rs, err := db.outboxRows(ctx, tx, p, e, ids[e.id], e.prev, row, read)
		if err != nil {
			return nil, err
		}
		out[i] = r
		rows = append(rows, rs...)
	}
	return out, db.insertOutbox(ctx, tx, rows, true)
}

// Cancel sets the canceled flag and records the cancel, at now, in the
// history. A request no node holds is finished Canceled in the same
// transaction; a held one keeps its status, and its holder, which sees it
// through CanceledHeld, hangs up and finishes it. A finished request is
// returned unchanged.
func (db *DB) Cancel(ctx context.Context, id int64, now time.Time) (*callback.Request, error) {
	var got *callback.Request
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		got, err = db.cancel(ctx, tx, id, now)
		return err
	})
	if err != nil {
		return nil, db.fail(err, "cancel request %d", id)
	}
	return got, nil
}

// cancel is Cancel in tx.
func (db *DB) cancel(ctx context.Context, tx *sqlx.Tx, id int64, now time.Time) (*callback.Request, error) {
	var row requestRow
	if err := tx.GetContext(ctx, &row, selectRequest+" WHERE i_callback_request = ?"+db.d.LockRows, id); err != nil {
		return nil, err
	}
	r := row.request()
	if r.Finished {
		return r, nil
	}
	e := event{at: now, id: id, attempt: r.Attempt, status: r.Status}
	if r.LeaseOwner == "" && callback.CheckTransition(r.Status, callback.StatusFinished, callback.ResultCanceled) == nil {
		_, err := tx.ExecContext(ctx, `UPDATE callback_requests SET canceled = 1, finished = 1, status = ?, result = ?,
			lease_expires = NULL WHERE i_callback_request = ? AND status = ? AND lease_owner IS NULL AND finished = 0`,
			string(callback.StatusFinished), string(callback.ResultCanceled), id, string(r.Status))
		if err != nil {
			return nil, err
		}
		e.status, e.result, e.note = callback.StatusFinished, callback.ResultCanceled, "canceled; no node held the request"
	} else {
		if _, err := tx.ExecContext(ctx, "UPDATE callback_requests SET canceled = 1 WHERE i_callback_request = ?", id); err != nil {
			return nil, err
		}
		e.note = "cancel requested"
		if r.LeaseOwner != "" {
			e.note += "; " + r.LeaseOwner + " holds the request and hangs up its legs"
		}
	}
	if err := db.addEvent(ctx, tx, e); err != nil {
		return nil, err
	}
	return getRequest(ctx, tx, id)
}

// Claim leases due rows. On MySQL the locking read skips rows another
// claimer has locked; on SQLite the write transaction holds the database
// lock, so claimers run one after the other.
//
// The candidates are chosen by id with a query that cannot fail on a
// row's values, then read into raw types and checked in Go: a row that
// cannot be a request (see requestRow.problems) is finished Invalid
// request by its id and the others are leased. A row whose finishing fails
// too is skipped for skipFor and reported, so it cannot hold up the rows
// behind it either.
func (db *DB) Claim(ctx context.Context, p callback.ClaimParams) ([]*callback.Request, error) {
	switch {
	case p.Owner == "":
		return nil, fmt.Errorf("claim requests: empty owner: %w", callback.ErrInvalid)
	case p.LeaseFor <= 0:
		return nil, fmt.Errorf("claim requests: lease of %s: %w", p.LeaseFor, callback.ErrInvalid)
	case p.Limit <= 0:
		return nil, nil
	}
	var out []*callback.Request
	var bad []callback.InvalidRow
	lost, err := db.claimTx(ctx, func(tx *sqlx.Tx, lost []int64, tried *[]int64) error {
		out, bad = nil, nil
		q := `SELECT i_callback_request FROM callback_requests
			WHERE finished = 0 AND lease_owner IS NULL AND next_call <= ? AND ` + claimable
		args := []any{db.ts(p.Now)}
		if skip := append(db.skipped.list(p.Now), lost...); len(skip) > 0 {
			q += " AND i_callback_request NOT IN (?)"
			args = append(args, skip)
		}
		q += " ORDER BY next_call, i_callback_request LIMIT ?" + db.d.SkipLocked
		args = append(args, p.Limit)
		if len(args) > 2 {
			var err error
			if q, args, err = sqlx.In(q, args...); err != nil {
				return err
			}
		}
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, q, args...); err != nil || len(ids) == 0 {
			return err
		}
		*tried = ids
		rows, err := db.readRows(ctx, tx, ids)
		if err != nil {
			return err
		}
		var good []int64
		var goodRows []*requestRow
		for _, id := range ids {
			rr := rows[id]
			why := rr.why()
			if why == "" {
				good = append(good, id)
				goodRows = append(goodRows, rr.row)
				continue
			}
			inv, err := db.finishInvalid(ctx, tx, p.Now, id, rr, why)
			if err != nil {
				return err
			}
			bad = append(bad, inv)
		}
		if len(good) == 0 {
			return nil
		}
		expires := db.ts(p.Now.Add(p.LeaseFor))
		q, args, err = sqlx.In(`UPDATE callback_requests SET lease_owner = ?, lease_expires = ?, attempt = attempt + 1
			WHERE i_callback_request IN (?) AND lease_owner IS NULL`, p.Owner, expires, good)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n != int64(len(good)) {
			return errLostClaim
		}
		for _, row := range goodRows {
			r := row.request()
			r.Attempt++
			r.LeaseOwner = p.Owner
			r.LeaseExpires = p.Now.Add(p.LeaseFor).UTC().Truncate(time.Millisecond)
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, db.fail(err, "claim requests for %s", p.Owner)
	}
	if lost {
		// The last try was rolled back: nothing is leased to p.Owner.
		return nil, nil
	}
	db.report(p.Now, bad, p.OnInvalid)
	return out, nil
}

// readRow is a row as read for the claim: the row, or why it could not be
// read at all.
type readRow struct {
	row *requestRow
	err error
}

// why says what makes the row unusable, "" when nothing does.
func (r readRow) why() string {
	if r.err != nil {
		return "unreadable row: " + r.err.Error()
	}
	if r.row == nil {
		return "unreadable row: not found"
	}
	if ps := r.row.problems(); len(ps) > 0 {
		return describe(ps)
	}
	return ""
}

// readRows reads rows ids, all in one query; should that fail (a value the
// driver cannot hand over at all), one by one, so that each row that
// cannot be read is told apart from the rest.
func (db *DB) readRows(ctx context.Context, tx *sqlx.Tx, ids []int64) (map[int64]readRow, error) {
	out := make(map[int64]readRow, len(ids))
	q, args, err := sqlx.In(selectRequest+" WHERE i_callback_request IN (?)", ids)
	if err != nil {
		return nil, err
	}
	var rows []requestRow
	err = tx.SelectContext(ctx, &rows, q, args...)
	switch {
	case err == nil:
		for i := range rows {
			out[rows[i].ID] = readRow{row: &rows[i]}
		}
		return out, nil
	case ctx.Err() != nil || db.d.IsRetryable(err):
		return nil, err
	}
	for _, id := range ids {
		var row requestRow
		err := tx.GetContext(ctx, &row, selectRequest+" WHERE i_callback_request = ?", id)
		switch {
		case err == nil:
			out[id] = readRow{row: &row}
		case ctx.Err() != nil || db.d.IsRetryable(err):
			return nil, err
		default:
			out[id] = readRow{err: err}
		}
	}
	return out, nil
}

// finishInvalid finishes the unleased row id Finished / Invalid request
// with why in last_error, in tx. The values that break the schema's rules
// are replaced in the same update (a flag by 1, a negative counter by 0, a
// negative credit_time and an unreadable optional time by NULL, an
// unreadable next_call or creation_time by now), so that the update passes
// the CHECK constraints the row itself breaks; why keeps what was there. A
// failure of the update is returned in the InvalidRow, and the row is
// skipped, unless it is one after which the transaction must be run again.
func (db *DB) finishInvalid(ctx context.Context, tx *sqlx.Tx, now time.Time, id int64, rr readRow, why string) (callback.InvalidRow, error) {
	why = cut(why, 1000)
	inv := callback.InvalidRow{ID: id, Reason: why}
	var s sets
	s.set("status = ?", string(callback.StatusFinished))
	s.set("result = ?", string(callback.ResultInvalid))
	s.set("finished = 1")
	s.set("lease_owner = NULL")
	s.set("lease_expires = NULL")
	s.set("last_error = ?", why)
	for _, col := range []string{"canceled", "anon_acct_enabled", "default_user_used", "ask_pin"} {
		s.set(col + " = CASE WHEN " + col + " = 0 THEN 0 ELSE 1 END")
	}
	for _, col := range []string{"call_count", "attempt"} {
		s.set(col + " = CASE WHEN " + col + " > 0 THEN " + col + " ELSE 0 END")
	}
	s.set("credit_time = CASE WHEN credit_time < 0 THEN NULL ELSE credit_time END")
	attempt := 0
	if rr.row != nil {
		attempt = max(int(rr.row.Attempt.Int64), 0)
		for _, c := range rr.row.times() {
			switch {
			case c.v.bad == "" && !(c.v.null && !c.nullable):
			case c.nullable:
				s.set(c.col + " = NULL")
			default:
				s.set(c.col+" = ?", db.ts(now))
			}
		}
	} else {
		// Nothing could be read: every time column may be the culprit.
		s.set("next_call = ?", db.ts(now))
	}
	res, err := tx.ExecContext(ctx, "UPDATE callback_requests SET "+s.String()+
		" WHERE i_callback_request = ? AND lease_owner IS NULL", append(s.args, id)...)
	if err == nil {
		var n int64
		if n, err = rowsAffected(res); err == nil && n == 0 {
			err = errors.New("the row changed meanwhile")
		}
	}
	if err == nil {
		err = db.addEvent(ctx, tx, event{at: now, id: id, attempt: attempt, status: callback.StatusFinished,
			result: callback.ResultInvalid, note: why})
	}
	if err != nil {
		if ctx.Err() != nil || db.d.IsRetryable(err) {
			return inv, err
		}
		inv.Err = fmt.Errorf("finish invalid request %d: %w", id, err)
	}
	return inv, nil
}

// report remembers the rows that could not be finished, so claims pass
// over them for a while, and hands every invalid row to fn.
func (db *DB) report(now time.Time, rows []callback.InvalidRow, fn func(callback.InvalidRow)) {
	for _, r := range rows {
		if r.Err != nil {
			db.skipped.add(r.ID, now)
		}
		if fn != nil {
			fn(r)
		}
	}
}

// cut shortens s to at most n bytes.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// skipFor is how long claims pass over a row that could be neither read
// nor finished Invalid request; then it is tried, and reported, again.
const skipFor = time.Minute

// maxSkipped bounds the rows passed over at once.
const maxSkipped = 256

// skipList holds the rows claims pass over, each with when it was added.
type skipList struct {
	mu sync.Mutex
	m  map[int64]time.Time
}

func (l *skipList) add(id int64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[int64]time.Time{}
	}
	if len(l.m) < maxSkipped {
		l.m[id] = now
	}
}

// list returns the rows to pass over at now, dropping those skipped for
// skipFor already.
func (l *skipList) list(now time.Time) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for id, at := range l.m {
		if now.Sub(at) >= skipFor {
			delete(l.m, id)
			continue
		}
		out = append(out, id)
	}
	return out
}

// claimable limits claims to the statuses a request waits in. A row that a
// SQL client inserted or edited into any other status is never dialled (and
// never makes the dispatcher spin on a next_call it cannot claim).
const claimable = "status IN ('Request received', 'Waiting for retry')"

// NextDue returns the earliest next_call the dispatcher could claim.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	q := "SELECT MIN(next_call) FROM callback_requests WHERE finished = 0 AND lease_owner IS NULL AND " + claimable
	var args []any
	// A row claims pass over is not due for them either: else the
	// dispatcher would wake for it again and again.
	if skip := db.skipped.list(db.now()); len(skip) > 0 {
		var err error
		if q, args, err = sqlx.In(q+" AND i_callback_request NOT IN (?)", skip); err != nil {
			return time.Time{}, false, err
		}
	}
	var t rawTime
	err := db.r.QueryRowxContext(ctx, q, args...).Scan(&t)
	if err != nil {
		return time.Time{}, false, db.fail(err, "next due request")
	}
	// An earliest next_call that is not a time says nothing of when a row
	// is due: the claim (if it sorts as due) or the rescuer's sweep
	// finishes that row, and the dispatcher polls meanwhile.
	return t.t, !t.t.IsZero(), nil
}

// leaseGuard is the WHERE clause every update under a lease carries. The
// lease's expiry is not part of it: as in river, a holder past its expiry
// may still finish its row until the rescuer has taken the row back (which
// clears lease_owner), and that is what the guard sees.
const leaseGuard = " WHERE i_callback_request = ? AND attempt = ? AND lease_owner = ? AND finished = 0"

func leaseArgs(l callback.Lease) []any { return []any{l.RequestID, l.Attempt, l.Owner} }

func leaseLost(l callback.Lease) error {
	return fmt.Errorf("request %d attempt %d owner %s: %w", l.RequestID, l.Attempt, l.Owner, callback.ErrLeaseLost)
}

// Update applies c under l. The transition is checked before the database
// is touched, so an illegal move is reported as such even by a node that
// has also lost its lease.
func (db *DB) Update(ctx context.Context, l callback.Lease, c callback.Change) (*callback.Request, error) {
	if err := callback.CheckTransition(c.From, c.To, c.Result); err != nil {
		return nil, fmt.Errorf("update request %d: %w", l.RequestID, err)
	}
	var s sets
	s.set("status = ?", string(c.To))
	s.set("result = ?", str(string(c.Result)))
	if c.To == callback.StatusFinished {
		s.set("finished = 1")
	}
	if c.To == callback.StatusFinished || c.To == callback.StatusWaitingForRetry {
		s.set("lease_owner = NULL")
		s.set("lease_expires = NULL")
	}
	if !c.NextCall.IsZero() {
		s.set("next_call = ?", db.ts(c.NextCall))
		s.set("due_since = NULL") // a new schedule: the age counts from it
	}
	if c.CallID != "" {
		s.set("call_id = ?", c.CallID)
	}
	if c.TwowayCallID != "" {
		s.set("twoway_call_id = ?", c.TwowayCallID)
	}
	if c.CountCall {
		s.set("call_count = call_count + 1")
	}
	for _, t := range []struct {
		col string
		v   time.Time
	}{{"setup_time", c.SetupTime}, {"connect_time", c.ConnectTime}, {"disconnect_time", c.DisconnectTime}} {
		if !t.v.IsZero() {
			s.set(t.col+" = ?", db.ts(t.v))
		}
	}
	if c.Cause != 0 {
		s.set("last_cause = ?", c.Cause)
	}
	if c.SIPCode != 0 {
		s.set("last_sip_code = ?", c.SIPCode)
	}
	if c.Error != "" {
		s.set("last_error = ?", c.Error)
	}
	note := c.Note
	if note == "" {
		note = c.Error
	}
	var got *callback.Request
	args := slices.Concat(s.args, leaseArgs(l), []any{string(c.From)})
	// The guarded UPDATE comes first: a lost lease writes nothing (see
	// runBatch).
	guard := func(ctx context.Context, tx *sqlx.Tx) error {
		return execMatched(ctx, tx, leaseLost(l), "UPDATE callback_requests SET "+s.String()+leaseGuard+" AND status = ?", args...)
	}
	// The guard matched status c.From: the change is from it.
	e := event{id: l.RequestID, attempt: l.Attempt, status: c.To, result: c.Result, cause: c.Cause, sipCode: c.SIPCode, note: note,
		prev: c.From}
	err := db.runUpdate(&updateWrite{ctx: ctx, end: &endWrite{guard: guard, ev: e, got: &got},
		applied: func(ctx context.Context, tx *sqlx.Tx) (bool, error) {
			// The change took effect when the attempt is at c.To: moves go
			// forward only, and only this lease's holder moves it.
			r, err := getRequest(ctx, tx, l.RequestID)
			if err != nil {
				return false, err
			}
			got = r
			return r.Attempt == l.Attempt && r.Status == c.To && (r.LeaseOwner == l.Owner || r.LeaseOwner == ""), nil
		}})
	if err != nil {
		return nil, db.fail(err, "update request %d %q -> %q", l.RequestID, c.From, c.To)
	}
	return got, nil
}

// Renew moves the lease's expiry to until.
func (db *DB) Renew(ctx context.Context, l callback.Lease, until time.Time) error {
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		return execMatched(ctx, tx, leaseLost(l), "UPDATE callback_requests SET lease_expires = ?"+leaseGuard,
			append([]any{db.ts(until)}, leaseArgs(l)...)...)
	})
	if err != nil {
		return db.fail(err, "renew lease")
	}
	return nil
}

// Release gives the row back to the queue unchanged but for next_call.
func (db *DB) Release(ctx context.Context, l callback.Lease, nextCall time.Time, note string) error {
	var s sets
	s.set("lease_owner = NULL")
	s.set("lease_expires = NULL")
	// Set before next_call moves (MySQL assigns left to right, SQLite from
	// the old row): the row keeps the age it had when first given back.
	s.set("due_since = COALESCE(due_since, next_call)")
	if !nextCall.IsZero() {
		s.set("next_call = ?", db.ts(nextCall))
	}
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		if err := execMatched(ctx, tx, leaseLost(l), "UPDATE callback_requests SET "+s.String()+leaseGuard, slices.Concat(s.args, leaseArgs(l))...); err != nil {
			return err
		}
		var st struct {
			Status string         `db:"status"`
			Result sql.NullString `db:"result"`
		}
		if err := tx.GetContext(ctx, &st, "SELECT status, result FROM callback_requests WHERE i_callback_request = ?", l.RequestID); err != nil {
			return err
		}
		if note == "" {
			note = "released by " + l.Owner
		}
		return db.addEvent(ctx, tx, event{id: l.RequestID, attempt: l.Attempt, status: callback.Status(st.Status),
			result: callback.Result(st.Result.String), note: note})
	})
	if err != nil {
		return db.fail(err, "release request %d", l.RequestID)
	}
	return nil
}

// rescueBatch bounds one rescue transaction, so a node that died holding
// thousands of rows is taken back in several short transactions.
const rescueBatch = 500

// heldRow is what the rescuer reads of a leased row, in types that read
// whatever a SQL client wrote since the claim: a lease_expires that is not
// a time counts as no expiry, and the row is taken back.
type heldRow struct {
	ID           int64         `db:"i_callback_request"`
	Status       string        `db:"status"`
	CallCount    sql.NullInt64 `db:"call_count"`
	Attempt      int64         `db:"attempt"`
	LeaseOwner   string        `db:"lease_owner"`
	LeaseExpires rawTime       `db:"lease_expires"`
}

// Rescue takes back rows whose lease expired (or, with StaleOwnerPrefix,
// rows a previous run of this node held) and decides from the status how
// far the call had got, as the holder would have:
//
//   - Request received, Waiting for retry: nothing was dialled; the lease
//     is cleared and the row is due again at its next_call.
//   - First leg initiated: a dialled attempt that never answered; Waiting
//     for retry after Backoff, or Finished/Out of retries once call_count
//     reaches MaxAttempts.
//   - First leg connected, Second leg initiated: the user answered but was
//     never connected; Finished/First leg aborted.
//   - Second leg connected: the conversation took place;
//     Finished/Successful.
//
// Each change is guarded like a holder's update and leaves a history line
// naming the owner that lost the row.
//
// Then it sweeps the rows no claim could ever take (see sweepStuck).
func (db *DB) Rescue(ctx context.Context, p callback.RescueParams) (int, error) {
	total := 0
	for {
		n, more, err := db.rescueBatch(ctx, p)
		total += n
		if err != nil {
			return total, db.fail(err, "rescue expired leases")
		}
		if !more {
			break
		}
	}
	if err := db.sweepStuck(ctx, p); err != nil {
		return total, db.fail(err, "sweep rows that can never be claimed")
	}
	return total, nil
}

// sweepStuck finishes Invalid request the rows that would otherwise stay
// unfinished for ever, because no claim can take them: unleased rows in a
// status that is not one a request waits in (the claim leaves those alone,
// so they never become due), with a next_call that is not a time (on SQLite
// such text may sort after every real time), or with finished other than
// 0 or 1. The first kind is found through the claim index's leading
// (finished, lease_owner), the last through finished alone; a sweep takes
// at most rescueBatch rows of each.
func (db *DB) sweepStuck(ctx context.Context, p callback.RescueParams) error {
	// Looked for first on the readers, so that the common case, nothing
	// stuck, takes no write transaction (on SQLite: no write lock).
	var stuck []int64
	if err := db.r.SelectContext(ctx, &stuck, `SELECT i_callback_request FROM callback_requests
		WHERE finished = 0 AND lease_owner IS NULL AND (NOT `+claimable+` OR `+db.d.BadTime("next_call")+`)
		LIMIT 1`); err != nil {
		return err
	}
	if len(stuck) == 0 {
		if err := db.r.SelectContext(ctx, &stuck, `SELECT i_callback_request FROM callback_requests
			WHERE (finished < 0 OR finished > 1) AND lease_owner IS NULL LIMIT 1`); err != nil {
			return err
		}
	}
	if len(stuck) == 0 {
		return nil
	}
	var bad []callback.InvalidRow
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		bad = nil
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, `SELECT i_callback_request FROM callback_requests
			WHERE finished = 0 AND lease_owner IS NULL AND (NOT `+claimable+` OR `+db.d.BadTime("next_call")+`)
			ORDER BY i_callback_request LIMIT ?`+db.d.SkipLocked, rescueBatch); err != nil {
			return err
		}
		var odd []int64
		if err := tx.SelectContext(ctx, &odd, `SELECT i_callback_request FROM callback_requests
			WHERE (finished < 0 OR finished > 1) AND lease_owner IS NULL
			ORDER BY i_callback_request LIMIT ?`+db.d.SkipLocked, rescueBatch); err != nil {
			return err
		}
		ids = append(ids, odd...)
		if len(ids) == 0 {
			return nil
		}
		rows, err := db.readRows(ctx, tx, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			rr := rows[id]
			why := rr.why()
			if why == "" {
				st := callback.Status(rr.row.Status.String)
				if waiting(st) && rr.row.Finished.Int64 == 0 {
					continue // the database's and Go's reading of a time differ; the claim decides
				}
				why = describe([]problem{{"status", quote(string(st)), "no request waits in it without a lease, so it can never be dialled"}})
			}
			inv, err := db.finishInvalid(ctx, tx, p.Now, id, rr, why)
			if err != nil {
				return err
			}
			bad = append(bad, inv)
		}
		return nil
	})
	if err != nil {
		return err
	}
	db.report(p.Now, bad, p.OnInvalid)
	return nil
}

func (db *DB) rescueBatch(ctx context.Context, p callback.RescueParams) (n int, more bool, err error) {
	now := p.Now
	err = db.tx(ctx, func(tx *sqlx.Tx) error {
		n, more = 0, false
		cond := "(lease_expires IS NULL OR lease_expires < ?)"
		args := []any{db.ts(now)}
		if p.StaleOwnerPrefix != "" {
			cond = "(" + cond + " OR (SUBSTR(lease_owner, 1, ?) = ? AND lease_owner <> ?))"
			args = append(args, utf8.RuneCountInString(p.StaleOwnerPrefix), p.StaleOwnerPrefix, p.Self)
		}
		var held []heldRow
		err := tx.SelectContext(ctx, &held, `SELECT i_callback_request, status, call_count, attempt, lease_owner, lease_expires
			FROM callback_requests WHERE finished = 0 AND lease_owner IS NOT NULL AND `+cond+`
			ORDER BY i_callback_request LIMIT ?`+db.d.SkipLocked, append(args, rescueBatch)...)
		if err != nil {
			return err
		}
		more = len(held) == rescueBatch
		for _, h := range held {
			ok, err := db.rescueOne(ctx, tx, p, h)
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		return nil
	})
	return n, more, err
}

func (db *DB) rescueOne(ctx context.Context, tx *sqlx.Tx, p callback.RescueParams, h heldRow) (bool, error) {
	var why string
	switch {
	case h.LeaseExpires.t.IsZero():
		why = fmt.Sprintf("lease of %s had no expiry", h.LeaseOwner)
	case h.LeaseExpires.t.Before(p.Now):
		why = fmt.Sprintf("lease of %s expired at %s", h.LeaseOwner, h.LeaseExpires.t.Format(time.RFC3339Nano))
	default:
		why = fmt.Sprintf("lease of %s taken back: a previous run of this node held it", h.LeaseOwner)
	}
	from := callback.Status(h.Status)
	// Nobody heard how the call ended: the status it reached decides.
	end := callback.EndAttempt(callback.AttemptEnd{From: from, CallCount: int(h.CallCount.Int64),
		MaxAttempts: p.MaxAttempts, Now: p.Now, Backoff: p.Backoff})
	to, result := end.Status, end.Result
	why += "; " + end.Why
	var s sets
	s.set("lease_owner = NULL")
	s.set("lease_expires = NULL")
	if !end.NextCall.IsZero() {
		s.set("next_call = ?", db.ts(end.NextCall))
		s.set("due_since = NULL")
	}
	if to != from {
		if err := callback.CheckTransition(from, to, result); err != nil {
			return false, err
		}
		s.set("status = ?", string(to))
		s.set("result = ?", str(string(result)))
		s.set("disconnect_time = ?", db.ts(p.Now))
		s.set("last_error = ?", why)
		if to == callback.StatusFinished {
			s.set("finished = 1")
		}
	}
	args := slices.Concat(s.args, []any{h.ID, h.Attempt, h.LeaseOwner, h.Status})
	res, err := tx.ExecContext(ctx, "UPDATE callback_requests SET "+s.String()+
		" WHERE i_callback_request = ? AND attempt = ? AND lease_owner = ? AND status = ? AND finished = 0", args...)
	if err != nil {
		return false, err
	}
	if n, err := rowsAffected(res); err != nil || n == 0 {
		return false, err
	}
	return true, db.addEvent(ctx, tx, event{at: p.Now, id: h.ID, attempt: int(h.Attempt), status: to, result: result, note: why})
}

// CanceledHeld lists the rows owner holds that were canceled from outside.
func (db *DB) CanceledHeld(ctx context.Context, owner string) ([]int64, error) {
	var ids []int64
	err := db.r.SelectContext(ctx, &ids, `SELECT i_callback_request FROM callback_requests
		WHERE finished = 0 AND lease_owner = ? AND canceled = 1 ORDER BY i_callback_request`, owner)
	if err != nil {
		return nil, db.fail(err, "canceled requests held by %s", owner)
	}
	return ids, nil
}

// LiveCalls counts the unfinished requests paid by username (its payer, or
// its username when no other payer is named) whose call is being set up or
// is up.
func (db *DB) LiveCalls(ctx context.Context, username string) (int, error) {
	var n int
	err := db.r.GetContext(ctx, &n, `SELECT COUNT(*) FROM callback_requests
		WHERE finished = 0 AND status IN (?, ?, ?, ?) AND (payer = ? OR (payer IS NULL AND username = ?))`,
		string(callback.StatusFirstLegInitiated), string(callback.StatusFirstLegConnected),
		string(callback.StatusSecondLegInitiated), string(callback.StatusSecondLegConnected), username, username)
	if err != nil {
		return 0, db.fail(err, "live calls of %s", username)
	}
	return n, nil
}
