package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
	"github.com/jmoiron/sqlx"
)

var _ webhook.Store = (*DB)(nil)

// SetWebhookPolicy says which status changes write outbox rows from now
// on (see webhook.Policy); a store starts with the outbox off.
func (db *DB) SetWebhookPolicy(p webhook.Policy) { db.hooks.Store(&p) }

// localSender holds the webhook.Local of SetLocalSender.
type localSender struct{ webhook.Local }

// SetLocalSender hands the rows this store writes from now on to l, once
// their transaction has committed (see webhook.Local); nil stops it.
func (db *DB) SetLocalSender(l webhook.Local) {
	if l == nil {
		db.local.Store(nil)
		return
	}
	db.local.Store(&localSender{l})
}

// handoff is what a transaction's outbox rows leave for the local sender:
// the rows written leased to it, and whether rows were written due now
// without it.
type handoff struct {
	l     webhook.Local
	rows  []*webhook.Delivery
	unled bool
}

// handoffOf returns tx's handoff to l, made on first use.
func (db *DB) handoffOf(tx *sqlx.Tx, l webhook.Local) *handoff {
	if h, ok := db.handoffs.Load(tx); ok {
		return h.(*handoff)
	}
	h := &handoff{l: l}
	db.handoffs.Store(tx, h)
	return h
}

// afterTx gives tx's outbox rows to the local sender once tx committed,
// and gives their places back when it did not: those rows were never
// written (a commit whose answer was lost may have written them, leased
// to the sender, which then sends them when the lease expires).
func (db *DB) afterTx(tx *sqlx.Tx, committed bool) {
	v, ok := db.handoffs.LoadAndDelete(tx)
	if !ok {
		return
	}
	h := v.(*handoff)
	for _, d := range h.rows {
		if committed {
			h.l.Hand(d)
		} else {
			h.l.Unreserve()
		}
	}
	if committed && h.unled {
		h.l.Wake()
	}
}

// addOutbox writes, in tx, the outbox rows of the history line e just
// appended as eventID: none unless the outbox is on and e moved the
// request to another status (e.prev, or else the line before it in the
// history, says from which); then one for the global webhook when it wants
// e, and one for the request's account's webhook when it has one that
// wants e. The body is built here, from the request as the change left
// it, which it returns (nil when it read none) so the caller need not
// read it again.
func (db *DB) addOutbox(ctx context.Context, tx *sqlx.Tx, e event, res sql.Result) (*callback.Request, error) {
	p := db.outboxPolicy()
	if p == nil {
		return nil, nil
	}
	eventID, err := res.LastInsertId()
	if err != nil {
		return nil, fmt.Errorf("outbox: history id: %w", err)
	}
	prev := string(e.prev)
	if prev == "" {
		err = tx.GetContext(ctx, &prev, "SELECT status FROM callback_request_events WHERE request_id = ? AND id < ? ORDER BY id DESC LIMIT 1", e.id, eventID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, fmt.Errorf("outbox: previous status: %w", err)
		}
	}
	if callback.Status(prev) == e.status {
		return nil, nil // no status change: a release, a cancel asked of a holder
	}
	// The request and its account's webhook, in one statement.
	var row requestHookRow
	read := true
	switch err := tx.GetContext(ctx, &row, selectRequestHook, e.id); {
	case err == nil:
	case ctx.Err() != nil || db.d.IsRetryable(err):
		return nil, fmt.Errorf("outbox: read request: %w", err)
	default:
		read = false // a row that cannot be read as a request: the body names its id only
	}
	r, rows, err := db.outboxRows(ctx, tx, p, e, eventID, callback.Status(prev), row, read)
	if err != nil {
		return nil, err
	}
	return r, db.insertOutbox(ctx, tx, rows, false)
}

// outboxPolicy is the webhook policy when it writes outbox rows; nil when
// none are written.
func (db *DB) outboxPolicy() *webhook.Policy {
	p := db.hooks.Load()
	if p == nil || !p.Enabled && !p.ReplyEmail && !p.ReplySMS {
		return nil
	}
	return p
}

// outboxRow is an outbox row to insert, and the delivery it is handed to
// this process's sender as, if it is.
type outboxRow struct {
	args    []any // the 14 columns of outboxInsert
	eventID int64
	channel webhook.Channel
	global  bool // account is NULL
	d       *webhook.Delivery
}

const outboxInsert = `INSERT INTO webhook_outbox (request_id, event_id, channel, account, address, status, result, payload,
			created, queued, next_attempt, attempts, lease_owner, lease_expires) VALUES `

// outboxRows returns the outbox rows of history line e, appended as
// eventID, which moved the request from prev: one for the global webhook
// when it wants e, one for the request's account's webhook when it has
// one that wants e, one for the reply to the requester of an email or SMS
// trigger. row is the request with its account's webhook as the change
// left it, when read (else the body names the request's id only); it is
// returned as a request.
func (db *DB) outboxRows(ctx context.Context, tx *sqlx.Tx, p *webhook.Policy, e event, eventID int64, prev callback.Status,
	row requestHookRow, read bool) (*callback.Request, []outboxRow, error) {
	var r *callback.Request
	if read {
		r = row.request()
	}
	type target struct {
		channel webhook.Channel
		account any // nil for the global webhook
		address any
	}
	var targets []target
	if p.Enabled && p.Global && p.GlobalEvents.Wants(e.status) {
		targets = append(targets, target{webhook.ChannelWebhook, nil, nil})
	}
	var hook *webhook.AccountWebhook // the account's webhook, for a row handed to the local sender
	if p.Enabled && r != nil && row.HookURL.Valid && webhook.Events(row.HookEvents.String).Wants(e.status) {
		hook = &webhook.AccountWebhook{Username: r.Username, URL: row.HookURL.String, Secret: row.HookSecret.String,
			Events: webhook.Events(row.HookEvents.String)}
		targets = append(targets, target{webhook.ChannelWebhook, r.Username, nil})
	}
	if r != nil && e.status == callback.StatusFinished {
		switch {
		case p.ReplySMS && r.Source == callback.SourceSMS && r.OriginalCLI != "":
			targets = append(targets, target{webhook.ChannelSMS, nil, r.OriginalCLI})
		case p.ReplyEmail && r.Source == callback.SourceEmail:
			var addr string
			err := tx.GetContext(ctx, &addr, "SELECT address FROM request_replies WHERE request_id = ?", r.ID)
			switch {
			case errors.Is(err, sql.ErrNoRows): // no From address was kept
			case err != nil:
				return nil, nil, fmt.Errorf("outbox: reply address: %w", err)
			default:
				targets = append(targets, target{webhook.ChannelEmail, nil, addr})
			}
		}
	}
	if len(targets) == 0 {
		return r, nil, nil
	}
	at := e.at
	if at.IsZero() {
		at = db.now()
	}
	body, err := webhook.NewPayload(eventID, prev, callback.Event{RequestID: e.id, Time: at.Truncate(time.Millisecond),
		Attempt: e.attempt, Status: e.status, Result: e.result, Cause: e.cause, SIPCode: e.sipCode, Note: e.note}, r).Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("outbox: payload: %w", err)
	}
	created := db.now()
	now := db.ts(created)
	var local webhook.Local
	if ls := db.local.Load(); ls != nil {
		local = ls.Local
	}
	var rows []outboxRow
	for _, tg := range targets {
		// A row this process's sender has room for is written leased to
		// it, its first attempt counted, and handed to it after the
		// commit; any other is due now, for a claim.
		var owner any
		next, attempts := now, 0
		var d *webhook.Delivery
		if local != nil {
			if o, expires, ok := local.Reserve(created); ok {
				owner, next, attempts = o, db.ts(expires), 1
				d = &webhook.Delivery{RequestID: e.id, EventID: eventID, Channel: tg.channel, Status: e.status, Result: e.result,
					Payload: body, Created: created, Queued: created, State: webhook.StatePending, Attempts: 1,
					NextAttempt: expires, LeaseOwner: o, LeaseExpires: expires}
				if tg.account != nil {
					d.Account, d.URL, d.Secret = hook.Username, hook.URL, hook.Secret
				}
				if a, ok := tg.address.(string); ok {
					d.Address = a
				}
				// Registered before the insert: a failed insert gives the
				// place back with the transaction.
				h := db.handoffOf(tx, local)
				h.rows = append(h.rows, d)
			} else {
				db.handoffOf(tx, local).unled = true
			}
		}
		rows = append(rows, outboxRow{args: []any{e.id, eventID, string(tg.channel), tg.account, tg.address, string(e.status),
			str(string(e.result)), string(body), now, now, next, attempts, owner, ownerExpiry(owner, next)},
			eventID: eventID, channel: tg.channel, global: tg.account == nil, d: d})
	}
	return r, rows, nil
}

// insertOutbox writes rows and sets the ids of those handed to the local
// sender: one statement each, or all in one (INSERT ... RETURNING, where
// the database has it) when together.
func (db *DB) insertOutbox(ctx context.Context, tx *sqlx.Tx, rows []outboxRow, together bool) error {
	if !together || len(rows) < 2 || !db.d.Returning {
		for _, o := range rows {
			res, err := tx.ExecContext(ctx, outboxInsert+placeholders(14), o.args...)
			if err != nil {
				return fmt.Errorf("outbox: insert: %w", err)
			}
			if o.d != nil {
				if o.d.ID, err = res.LastInsertId(); err != nil {
					return fmt.Errorf("outbox: row id: %w", err)
				}
			}
		}
		return nil
	}
	var q strings.Builder
	q.WriteString(outboxInsert)
	args := make([]any, 0, 14*len(rows))
	for i, o := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(placeholders(14))
		args = append(args, o.args...)
	}
	// The rows come back in no promised order: a row is known by its
	// history line, channel and whether it is the global webhook's, which
	// no two rows share.
	q.WriteString(" RETURNING id, event_id, channel, account IS NULL AS global")
	var ids []struct {
		ID      int64  `db:"id"`
		EventID int64  `db:"event_id"`
		Channel string `db:"channel"`
		Global  bool   `db:"global"`
	}
	if err := tx.SelectContext(ctx, &ids, q.String(), args...); err != nil {
		return fmt.Errorf("outbox: insert: %w", err)
	}
	if len(ids) != len(rows) {
		return fmt.Errorf("outbox: insert: %d rows returned for %d written", len(ids), len(rows))
	}
	for _, id := range ids {
		for _, o := range rows {
			if o.d != nil && o.eventID == id.EventID && string(o.channel) == id.Channel && o.global == id.Global {
				o.d.ID = id.ID
			}
		}
	}
	return nil
}

// ownerExpiry is a new outbox row's lease_expires: next, its next attempt,
// when it is leased (owner not nil), else NULL.
func ownerExpiry(owner, next any) any {
	if owner == nil {
		return nil
	}
	return next
}

// selectRequestHook reads a request with its account's webhook, if any:
// the outbox's one read of a status change.
var selectRequestHook = func() string {
	var cols []string
	for c := range strings.SplitSeq(requestColumns, ",") {
		cols = append(cols, "r."+strings.TrimSpace(c))
	}
	return "SELECT " + strings.Join(cols, ", ") + `, w.url AS hook_url, w.secret AS hook_secret, w.events AS hook_events
		FROM callback_requests r LEFT JOIN account_webhooks w ON w.username = r.username WHERE r.i_callback_request = ?`
}()

// selectRequestHooks is selectRequestHook for the requests IN (?).
var selectRequestHooks = strings.TrimSuffix(selectRequestHook, "= ?") + "IN (?)"

// requestHookRow is a row of selectRequestHook.
type requestHookRow struct {
	requestRow
	HookURL    sql.NullString `db:"hook_url"`
	HookSecret sql.NullString `db:"hook_secret"`
	HookEvents sql.NullString `db:"hook_events"`
}

const deliveryColumns = `o.id, o.request_id, o.event_id, o.channel, o.account, o.address, o.status, o.result, o.payload, o.created, o.queued, o.state,
	o.attempts, o.next_attempt, o.lease_owner, o.lease_expires, o.last_code, o.last_error, o.delivered`

type deliveryRow struct {
	ID           int64          `db:"id"`
	RequestID    int64          `db:"request_id"`
	EventID      int64          `db:"event_id"`
	Channel      string         `db:"channel"`
	Account      sql.NullString `db:"account"`
	Address      sql.NullString `db:"address"`
	Status       string         `db:"status"`
	Result       sql.NullString `db:"result"`
	Payload      string         `db:"payload"`
	Created      Time           `db:"created"`
	Queued       Time           `db:"queued"`
	State        string         `db:"state"`
	Attempts     int            `db:"attempts"`
	NextAttempt  Time           `db:"next_attempt"`
	LeaseOwner   sql.NullString `db:"lease_owner"`
	LeaseExpires Time           `db:"lease_expires"`
	LastCode     sql.NullInt64  `db:"last_code"`
	LastError    sql.NullString `db:"last_error"`
	Delivered    Time           `db:"delivered"`
	URL          sql.NullString `db:"url"`
	Secret       sql.NullString `db:"secret"`
}

func (r *deliveryRow) delivery() *webhook.Delivery {
	return &webhook.Delivery{ID: r.ID, RequestID: r.RequestID, EventID: r.EventID, Channel: webhook.Channel(r.Channel),
		Account: r.Account.String, Address: r.Address.String,
		Status: callback.Status(r.Status), Result: callback.Result(r.Result.String), Payload: []byte(r.Payload),
		Created: r.Created.Time, Queued: r.Queued.Time, State: webhook.State(r.State), Attempts: r.Attempts,
		NextAttempt: r.NextAttempt.Time, LeaseOwner: r.LeaseOwner.String, LeaseExpires: r.LeaseExpires.Time,
		LastCode: int(r.LastCode.Int64), LastError: r.LastError.String, Delivered: r.Delivered.Time,
		URL: r.URL.String, Secret: r.Secret.String}
}

// selectDeliveries reads rows with their account's webhook.
const selectDeliveries = "SELECT " + deliveryColumns + ", w.url, w.secret FROM webhook_outbox o LEFT JOIN account_webhooks w ON w.username = o.account"

func selectDeliveryRows(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) ([]*webhook.Delivery, error) {
	var rows []deliveryRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]*webhook.Delivery, len(rows))
	for i := range rows {
		out[i] = rows[i].delivery()
	}
	return out, nil
}

// ClaimDeliveries leases due pending rows. The lease's expiry is also the
// row's next_attempt, so a held row is not due (and not scanned by the
// claim's index range) until its lease runs out.
func (db *DB) ClaimDeliveries(ctx context.Context, p webhook.ClaimParams) ([]*webhook.Delivery, error) {
	switch {
	case p.Owner == "":
		return nil, fmt.Errorf("claim deliveries: empty owner: %w", callback.ErrInvalid)
	case p.LeaseFor <= 0:
		return nil, fmt.Errorf("claim deliveries: lease of %s: %w", p.LeaseFor, callback.ErrInvalid)
	case p.Limit <= 0:
		return nil, nil
	}
	var out []*webhook.Delivery
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		out = nil
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, `SELECT id FROM webhook_outbox WHERE state = 'pending' AND next_attempt <= ?
			ORDER BY next_attempt, id LIMIT ?`+db.d.SkipLocked, db.ts(p.Now), p.Limit); err != nil || len(ids) == 0 {
			return err
		}
		expires := db.ts(p.Now.Add(p.LeaseFor))
		q, args, err := sqlx.In(`UPDATE webhook_outbox SET lease_owner = ?, lease_expires = ?, next_attempt = ?, attempts = attempts + 1
			WHERE id IN (?) AND state = 'pending'`, p.Owner, expires, expires, ids)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		q, args, err = sqlx.In(selectDeliveries+" WHERE o.id IN (?) ORDER BY o.next_attempt, o.id", ids)
		if err != nil {
			return err
		}
		out, err = selectDeliveryRows(ctx, tx, q, args...)
		return err
	})
	if err != nil {
		return nil, db.fail(err, "claim deliveries for %s", p.Owner)
	}
	return out, nil
}

// FinishDeliveries records outcomes, each guarded by its lease, and
// writes the attempt row of each outcome recorded.
//
// Which outcomes are recorded is decided once, up front: one SELECT reads
// the pending rows among the outcomes' ids, locking them (FOR UPDATE on
// MariaDB; SQLite's write transaction holds the whole database), so no
// other transaction changes them before this one commits. A 2xx outcome
// is recorded on a row found pending, whoever holds it; any other on a
// row found pending under the outcome's own lease (owner and attempts).
// The UPDATEs then name only those rows, so they match exactly the
// outcomes chosen, and the attempt rows (one multi-row INSERT) are
// written for those and no others. Reading the matches back from the
// grouped UPDATE ... WHERE id IN (...) is not possible (it returns a
// count), and an INSERT ... SELECT without the lock would on MariaDB read
// the rows without locking them (READ COMMITTED), so a row changed by
// another node in between could get an attempt row without its outcome
// or the other way round.
func (db *DB) FinishDeliveries(ctx context.Context, outs []webhook.Outcome) (int, error) {
	if len(outs) == 0 {
		return 0, nil
	}
	ids := make([]int64, len(outs))
	for i, o := range outs {
		switch o.State {
		case webhook.StateDelivered, webhook.StateFailed:
		case webhook.StatePending:
			if o.NextAttempt.IsZero() {
				return 0, fmt.Errorf("delivery %d: pending without a next attempt: %w", o.ID, callback.ErrInvalid)
			}
		default:
			return 0, fmt.Errorf("delivery %d: state %q: %w", o.ID, o.State, callback.ErrInvalid)
		}
		ids[i] = o.ID
	}
	var n int
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		n = 0
		q, args, err := sqlx.In("SELECT id, lease_owner, attempts FROM webhook_outbox WHERE id IN (?) AND state = 'pending'"+db.d.LockRows, ids)
		if err != nil {
			return err
		}
		var rows []struct {
			ID       int64          `db:"id"`
			Owner    sql.NullString `db:"lease_owner"`
			Attempts int            `db:"attempts"`
		}
		if err := tx.SelectContext(ctx, &rows, q, args...); err != nil || len(rows) == 0 {
			return err
		}
		type lease struct {
			owner    string
			attempts int
		}
		pending := make(map[int64]lease, len(rows))
		for _, r := range rows {
			pending[r.ID] = lease{r.Owner.String, r.Attempts}
		}
		// The outcomes recorded, as the updates below apply them: the
		// 2xx answers first, then the others under their lease; a row
		// takes one outcome.
		recorded := make([]*webhook.Outcome, 0, len(rows))
		// A 2xx answer is recorded whoever holds the row now: the
		// receiver has the notification. Those are written in one
		// statement per HTTP status, at the latest time among them; the
		// others one by one.
		type group struct {
			ids []int64
			at  time.Time
		}
		delivered := map[int]*group{}
		var codes []int
		for i := range outs {
			o := &outs[i]
			if o.State != webhook.StateDelivered {
				continue
			}
			if _, ok := pending[o.ID]; !ok {
				continue
			}
			delete(pending, o.ID)
			recorded = append(recorded, o)
			g := delivered[o.Code]
			if g == nil {
				g = &group{}
				delivered[o.Code] = g
				codes = append(codes, o.Code)
			}
			g.ids = append(g.ids, o.ID)
			if o.At.After(g.at) {
				g.at = o.At
			}
		}
		rest := len(recorded)
		for i := range outs {
			o := &outs[i]
			if o.State == webhook.StateDelivered {
				continue
			}
			if l, ok := pending[o.ID]; ok && l.owner == o.Owner && l.attempts == o.Attempts {
				delete(pending, o.ID)
				recorded = append(recorded, o)
			}
		}
		if len(recorded) == 0 {
			return nil
		}
		if err := db.insertAttempts(ctx, tx, recorded); err != nil {
			return err
		}
		for _, code := range codes {
			g := delivered[code]
			q, args, err := sqlx.In(`UPDATE webhook_outbox SET state = 'delivered', delivered = ?, last_code = ?, last_error = NULL,
				lease_owner = NULL, lease_expires = NULL WHERE id IN (?) AND state = 'pending'`, db.ts(g.at), num(code), g.ids)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return err
			}
			m, err := rowsAffected(res)
			if err != nil {
				return err
			}
			n += int(m)
		}
		for _, o := range recorded[rest:] {
			var s sets
			s.set("lease_owner = NULL")
			s.set("lease_expires = NULL")
			s.set("last_code = ?", num(o.Code))
			if o.State == webhook.StateFailed {
				s.set("state = 'failed'")
			} else {
				s.set("next_attempt = ?", db.ts(o.NextAttempt))
			}
			s.set("last_error = ?", str(cut(o.Error, 1000)))
			res, err := tx.ExecContext(ctx, "UPDATE webhook_outbox SET "+s.String()+
				" WHERE id = ? AND lease_owner = ? AND attempts = ? AND state = 'pending'", append(s.args, o.ID, o.Owner, o.Attempts)...)
			if err != nil {
				return err
			}
			m, err := rowsAffected(res)
			if err != nil {
				return err
			}
			n += int(m)
		}
		return nil
	})
	if err != nil {
		return 0, db.fail(err, "record %d delivery outcomes", len(outs))
	}
	return n, nil
}

// attemptColumns are the columns of a webhook_attempts row as written.
const attemptColumns = "delivery_id, attempt, started, finished, code, error, owner"

// insertAttempts writes the attempt rows of outs, recorded in tx, in one
// statement: the sender records at most a few hundred outcomes at a time.
func (db *DB) insertAttempts(ctx context.Context, tx *sqlx.Tx, outs []*webhook.Outcome) error {
	var b strings.Builder
	b.WriteString("INSERT INTO webhook_attempts (" + attemptColumns + ") VALUES ")
	row := placeholders(7)
	args := make([]any, 0, 7*len(outs))
	for i, o := range outs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
		finished := o.At
		if finished.IsZero() {
			finished = db.now()
		}
		started := o.Started
		if started.IsZero() || started.After(finished) {
			started = finished
		}
		args = append(args, o.ID, o.Attempts, db.ts(started), db.ts(finished), num(o.Code), str(cut(o.Error, 1000)), o.Owner)
	}
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("attempts: insert: %w", err)
	}
	return nil
}

// TakeBackDeliveries frees the pending rows held by earlier runs of this
// node.
func (db *DB) TakeBackDeliveries(ctx context.Context, prefix, self string, now time.Time) (int, error) {
	if prefix == "" {
		return 0, nil
	}
	var n int64
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_outbox SET lease_owner = NULL, lease_expires = NULL, next_attempt = ?
			WHERE state = 'pending' AND lease_owner IS NOT NULL AND SUBSTR(lease_owner, 1, ?) = ? AND lease_owner <> ?`,
			db.ts(now), utf8.RuneCountInString(prefix), prefix, self)
		if err != nil {
			return err
		}
		n, err = rowsAffected(res)
		return err
	})
	if err != nil {
		return 0, db.fail(err, "take back deliveries of %s*", prefix)
	}
	return int(n), nil
}

// NextDelivery returns the earliest next_attempt of a pending row.
func (db *DB) NextDelivery(ctx context.Context) (time.Time, bool, error) {
	var t Time
	if err := db.getRow(ctx, db.r, &t, "SELECT MIN(next_attempt) FROM webhook_outbox WHERE state = 'pending'"); err != nil {
		return time.Time{}, false, db.fail(err, "next delivery")
	}
	return t.Time, !t.IsZero(), nil
}

// CountDeliveries counts the rows in state s.
func (db *DB) CountDeliveries(ctx context.Context, s webhook.State) (int, error) {
	var n int
	if err := db.r.GetContext(ctx, &n, "SELECT COUNT(*) FROM webhook_outbox WHERE state = ?", string(s)); err != nil {
		return 0, db.fail(err, "count %s deliveries", s)
	}
	return n, nil
}

// PruneDeliveries deletes old delivered and failed rows, and with them
// their attempts: webhook_attempts.delivery_id is a foreign key ON DELETE
// CASCADE (both stores keep foreign keys on, as for the requests' history
// lines), so the same DELETE takes them.
func (db *DB) PruneDeliveries(ctx context.Context, t time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int64
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, `SELECT id FROM webhook_outbox WHERE (state = 'delivered' AND delivered < ?)
			OR (state = 'failed' AND queued < ?) ORDER BY id LIMIT ?`, db.ts(t), db.ts(t), limit); err != nil || len(ids) == 0 {
			return err
		}
		q, args, err := sqlx.In("DELETE FROM webhook_outbox WHERE id IN (?) AND state <> 'pending'", ids)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = rowsAffected(res)
		return err
	})
	if err != nil {
		return 0, db.fail(err, "prune deliveries")
	}
	return int(n), nil
}

// ListDeliveries returns the rows f selects, newest first. A URL filter
// that takes in the global webhook's rows reads them and the accounts'
// in two queries, each walking the (account, id) index newest first, and
// merges the two pages: one query with an OR would sort them all.
func (db *DB) ListDeliveries(ctx context.Context, f webhook.Filter) ([]*webhook.Delivery, error) {
	limit := pageLimit(f.Limit)
	if f.URL == "" {
		return db.listDeliveries(ctx, f, "", nil, limit)
	}
	out, err := db.listDeliveries(ctx, f, "o.account IN (SELECT username FROM account_webhooks WHERE url = ?)", []any{f.URL}, limit)
	if err != nil || !f.Global {
		return out, err
	}
	global, err := db.listDeliveries(ctx, f, "o.account IS NULL", nil, limit)
	if err != nil {
		return nil, err
	}
	out = append(out, global...)
	slices.SortFunc(out, func(a, b *webhook.Delivery) int { return cmp.Compare(b.ID, a.ID) })
	return out[:min(len(out), limit)], nil
}

// listDeliveries is one query of ListDeliveries; target, when not empty,
// selects the webhook rows of some targets.
func (db *DB) listDeliveries(ctx context.Context, f webhook.Filter, target string, targetArgs []any, limit int) ([]*webhook.Delivery, error) {
	var where []string
	var args []any
	switch f.State {
	case "":
	case webhook.StateRetrying:
		where = append(where, "o.state = 'pending' AND (o.last_code IS NOT NULL OR o.last_error IS NOT NULL)")
	default:
		where, args = append(where, "o.state = ?"), append(args, string(f.State))
	}
	if target != "" {
		where, args = append(where, "o.channel = 'webhook' AND "+target), append(args, targetArgs...)
	}
	if f.RequestID > 0 {
		where, args = append(where, "o.request_id = ?"), append(args, f.RequestID)
	}
	if f.Account != "" {
		where, args = append(where, "o.account = ?"), append(args, f.Account)
	}
	if f.BeforeID > 0 {
		where, args = append(where, "o.id < ?"), append(args, f.BeforeID)
	}
	q := selectDeliveries
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	out, err := selectDeliveryRows(ctx, db.r, q+" ORDER BY o.id DESC LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, db.fail(err, "list deliveries")
	}
	return out, nil
}

// GetDelivery returns row id.
func (db *DB) GetDelivery(ctx context.Context, id int64) (*webhook.Delivery, error) {
	out, err := selectDeliveryRows(ctx, db.r, selectDeliveries+" WHERE o.id = ?", id)
	if err == nil && len(out) == 0 {
		err = sql.ErrNoRows
	}
	if err != nil {
		return nil, db.fail(err, "get delivery %d", id)
	}
	return out[0], nil
}

// ListDeliveryAttempts returns the attempts kept of row id, oldest first.
func (db *DB) ListDeliveryAttempts(ctx context.Context, id int64) ([]*webhook.Attempt, error) {
	var rows []struct {
		ID         int64          `db:"id"`
		DeliveryID int64          `db:"delivery_id"`
		Attempt    int            `db:"attempt"`
		Started    Time           `db:"started"`
		Finished   Time           `db:"finished"`
		Code       sql.NullInt64  `db:"code"`
		Error      sql.NullString `db:"error"`
		Owner      string         `db:"owner"`
	}
	if err := db.r.SelectContext(ctx, &rows, "SELECT id, "+attemptColumns+" FROM webhook_attempts WHERE delivery_id = ? ORDER BY id", id); err != nil {
		return nil, db.fail(err, "attempts of delivery %d", id)
	}
	out := make([]*webhook.Attempt, len(rows))
	for i, r := range rows {
		out[i] = &webhook.Attempt{ID: r.ID, DeliveryID: r.DeliveryID, Attempt: r.Attempt, Started: r.Started.Time, Finished: r.Finished.Time,
			Code: int(r.Code.Int64), Error: r.Error.String, Owner: r.Owner}
	}
	return out, nil
}

// ResendDelivery makes row id pending and due now, with a new retry
// window, and writes its audit entry. A sender holding it loses its
// lease: its outcome is not recorded, and the row is sent again. The
// attempts made so far keep their rows: the next attempt is numbered on
// from them.
func (db *DB) ResendDelivery(ctx context.Context, id int64, now time.Time, audit *admin.AuditEntry) (*webhook.Delivery, error) {
	var got *webhook.Delivery
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		got = nil
		before, err := selectDeliveryRows(ctx, tx, selectDeliveries+" WHERE o.id = ?"+db.d.LockRows, id)
		if err != nil {
			return err
		}
		if len(before) == 0 {
			return sql.ErrNoRows
		}
		if err := execMatched(ctx, tx, sql.ErrNoRows, `UPDATE webhook_outbox SET state = 'pending', queued = ?, next_attempt = ?,
			lease_owner = NULL, lease_expires = NULL, delivered = NULL WHERE id = ?`, db.ts(now), db.ts(now), id); err != nil {
			return err
		}
		out, err := selectDeliveryRows(ctx, tx, selectDeliveries+" WHERE o.id = ?", id)
		if err != nil {
			return err
		}
		if len(out) != 1 {
			return sql.ErrNoRows
		}
		got = out[0]
		return db.insertAudit(ctx, tx, audit, before[0], got)
	})
	if err != nil {
		return nil, db.fail(err, "resend delivery %d", id)
	}
	return got, nil
}

// EditAccountWebhook applies edit to an account's webhook under the
// account's row lock and stores its result (nil removes the webhook),
// with the audit entry.
func (db *DB) EditAccountWebhook(ctx context.Context, username string,
	edit func(cur *webhook.AccountWebhook) (*webhook.AccountWebhook, error), audit *admin.AuditEntry) (*webhook.AccountWebhook, error) {
	var got *webhook.AccountWebhook
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		got = nil
		var one int
		if err := tx.GetContext(ctx, &one, "SELECT 1 FROM accounts WHERE username = ?"+db.d.LockRows, username); err != nil {
			return err
		}
		cur, err := getAccountWebhook(ctx, tx, username)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cur = nil
		case err != nil:
			return err
		}
		next, err := edit(cur)
		if err != nil {
			return err
		}
		switch {
		case next == nil && cur == nil:
			return nil // nothing to remove
		case next == nil:
			if _, err := tx.ExecContext(ctx, "DELETE FROM account_webhooks WHERE username = ?", username); err != nil {
				return err
			}
		default:
			if err := next.Validate(); err != nil {
				return err
			}
			if next.Username != username {
				return fmt.Errorf("account webhook of %q written as %q: %w", username, next.Username, callback.ErrInvalid)
			}
			next.Events, _ = webhook.ParseEvents(string(next.Events))
			if cur != nil {
				_, err = tx.ExecContext(ctx, "UPDATE account_webhooks SET url = ?, secret = ?, events = ? WHERE username = ?",
					next.URL, next.Secret, string(next.Events), username)
			} else {
				_, err = tx.ExecContext(ctx, "INSERT INTO account_webhooks (username, url, secret, events) VALUES (?, ?, ?, ?)",
					username, next.URL, next.Secret, string(next.Events))
			}
			if err != nil {
				return err
			}
		}
		got = next
		return db.insertAudit(ctx, tx, audit, cur, next)
	})
	if err != nil {
		return nil, db.fail(err, "set webhook of account %q", username)
	}
	return got, nil
}

func getAccountWebhook(ctx context.Context, q sqlx.QueryerContext, username string) (*webhook.AccountWebhook, error) {
	var w struct {
		URL    string `db:"url"`
		Secret string `db:"secret"`
		Events string `db:"events"`
	}
	if err := sqlx.GetContext(ctx, q, &w, "SELECT url, secret, events FROM account_webhooks WHERE username = ?", username); err != nil {
		return nil, err
	}
	return &webhook.AccountWebhook{Username: username, URL: w.URL, Secret: w.Secret, Events: webhook.Events(w.Events)}, nil
}

// GetAccountWebhook returns an account's webhook.
func (db *DB) GetAccountWebhook(ctx context.Context, username string) (*webhook.AccountWebhook, error) {
	w, err := getAccountWebhook(ctx, db.r, username)
	if err != nil {
		return nil, db.fail(err, "webhook of account %q", username)
	}
	return w, nil
}

// ListAccountWebhooks returns every account's webhook, by username.
func (db *DB) ListAccountWebhooks(ctx context.Context) ([]*webhook.AccountWebhook, error) {
	var rows []struct {
		Username string `db:"username"`
		URL      string `db:"url"`
		Secret   string `db:"secret"`
		Events   string `db:"events"`
	}
	if err := db.r.SelectContext(ctx, &rows, "SELECT username, url, secret, events FROM account_webhooks ORDER BY username"); err != nil {
		return nil, db.fail(err, "list account webhooks")
	}
	out := make([]*webhook.AccountWebhook, len(rows))
	for i, r := range rows {
		out[i] = &webhook.AccountWebhook{Username: r.Username, URL: r.URL, Secret: r.Secret, Events: webhook.Events(r.Events)}
	}
	return out, nil
}

// SetReplyAddress keeps the address an email request came from.
func (db *DB) SetReplyAddress(ctx context.Context, requestID int64, address string) error {
	if p := db.hooks.Load(); p == nil || !p.ReplyEmail || address == "" {
		return nil
	}
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE request_replies SET address = ? WHERE request_id = ?", address, requestID)
		if err != nil {
			return err
		}
		if n, err := rowsAffected(res); err != nil || n > 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO request_replies (request_id, address) VALUES (?, ?)", requestID, address)
		return err
	})
	if err != nil {
		return db.fail(err, "keep the reply address of request %d", requestID)
	}
	return nil
}
