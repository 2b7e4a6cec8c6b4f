package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/jmoiron/sqlx"
)

const reservationColumns = `request_id, leg, channel_id, username, number, amount, created, answered`

type reservationRow struct {
	RequestID int64          `db:"request_id"`
	Leg       string         `db:"leg"`
	ChannelID string         `db:"channel_id"`
	Username  string         `db:"username"`
	Number    sql.NullString `db:"number"`
	Amount    int64          `db:"amount"`
	Created   Time           `db:"created"`
	Answered  Time           `db:"answered"`
}

func (r *reservationRow) reservation() *callback.Reservation {
	return &callback.Reservation{
		RequestID: r.RequestID,
		Leg:       callback.Leg(r.Leg),
		ChannelID: r.ChannelID,
		Username:  r.Username,
		Number:    r.Number.String,
		Amount:    callback.Money(r.Amount),
		Created:   r.Created.Time,
		Answered:  r.Answered.Time,
	}
}

type reservationKey struct {
	request int64
	leg     callback.Leg
	channel string
}

func keyOf(r *callback.Reservation) reservationKey {
	return reservationKey{r.RequestID, r.Leg, r.ChannelID}
}

// Reserve holds money for rs in one transaction. Every account concerned
// is locked before its holds are summed (FOR UPDATE on MariaDB; SQLite's
// BEGIN IMMEDIATE already holds the database), in username order so that
// two batches naming the same accounts cannot deadlock each other.
func (db *DB) Reserve(ctx context.Context, rs ...*callback.Reservation) error {
	if len(rs) == 0 {
		return nil
	}
	need := map[string]callback.Money{}
	keys := map[reservationKey]bool{}
	for _, r := range rs {
		switch {
		case r.Username == "":
			return fmt.Errorf("reserve for request %d leg %s: %w", r.RequestID, r.Leg, &callback.ValidationError{Field: "username", Reason: "empty"})
		case r.Leg == "":
			return fmt.Errorf("reserve for request %d: %w", r.RequestID, &callback.ValidationError{Field: "leg", Reason: "empty"})
		case r.Amount < 0:
			return fmt.Errorf("reserve for request %d leg %s: %w", r.RequestID, r.Leg, &callback.ValidationError{Field: "amount", Reason: "negative"})
		case keys[keyOf(r)]:
			return fmt.Errorf("reserve for request %d leg %s channel %q: %w", r.RequestID, r.Leg, r.ChannelID,
				&callback.ValidationError{Field: "channel", Reason: "named twice in one batch"})
		}
		keys[keyOf(r)] = true
		need[r.Username] += r.Amount
	}
	users := make([]string, 0, len(need))
	for u := range need {
		users = append(users, u)
	}
	slices.Sort(users)
	now := db.now()
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		for _, u := range users {
			var acct struct {
				Balance     int64 `db:"balance"`
				CreditLimit int64 `db:"credit_limit"`
			}
			err := tx.GetContext(ctx, &acct, "SELECT balance, credit_limit FROM accounts WHERE username = ?"+db.d.LockRows, u)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("account %q: %w", u, callback.ErrNotFound)
			}
			if err != nil {
				return err
			}
			// Sums, not rows, in one statement: an account paying for
			// hundreds of calls keeps its lock for one indexed aggregate, not
			// a read of every hold.
			var sums struct {
				All int64 `db:"all_held"`
				Own int64 `db:"own_held"`
			}
			q, args := heldQuery(u, rs)
			if err := tx.GetContext(ctx, &sums, q, args...); err != nil {
				return err
			}
			others := sums.All - sums.Own
			if free := acct.Balance - acct.CreditLimit - others; free < int64(need[u]) {
				return fmt.Errorf("account %q has %s free, %s asked: %w", u, callback.Money(max(free, 0)), need[u], callback.ErrInsufficientFunds)
			}
		}
		cols := []string{"username", "number", "amount", "created", "answered"}
		q := "INSERT INTO account_reservations (" + reservationColumns + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(placeholders(8)+", ", len(rs)), ", ") +
			db.d.Upsert([]string{"request_id", "leg", "channel_id"}, cols)
		args := make([]any, 0, 8*len(rs))
		for _, r := range rs {
			args = append(args, r.RequestID, string(r.Leg), r.ChannelID, r.Username, str(r.Number),
				int64(r.Amount), db.ts(now), db.ts(r.Answered))
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return db.fail(err, "reserve money for request %d", rs[0].RequestID)
	}
	for _, r := range rs {
		r.Created = now.UTC().Truncate(time.Millisecond)
	}
	return nil
}

// heldQuery sums what username's reservations hold (all_held) and what
// those of them named in rs hold now (own_held: they are replaced, not
// added to).
func heldQuery(username string, rs []*callback.Reservation) (string, []any) {
	var b strings.Builder
	var args []any
	for _, r := range rs {
		if r.Username != username {
			continue
		}
		if len(args) > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("(request_id = ? AND leg = ? AND channel_id = ?)")
		args = append(args, r.RequestID, string(r.Leg), r.ChannelID)
	}
	own := "0"
	if len(args) > 0 {
		own = "CASE WHEN " + b.String() + " THEN amount ELSE 0 END"
	}
	return "SELECT COALESCE(SUM(amount), 0) AS all_held, COALESCE(SUM(" + own + "), 0) AS own_held FROM account_reservations WHERE username = ?",
		append(args, username)
}

// HeldBy sums what username's reservations hold, leaving out those of
// request exceptRequest (0: none).
func (db *DB) HeldBy(ctx context.Context, username string, exceptRequest int64) (callback.Money, error) {
	var sum int64
	err := db.r.GetContext(ctx, &sum, "SELECT COALESCE(SUM(amount), 0) FROM account_reservations WHERE username = ? AND request_id <> ?",
		username, exceptRequest)
	if err != nil {
		return 0, db.fail(err, "sum the reservations of %q", username)
	}
	return callback.Money(sum), nil
}

// MarkAnswered records the answer time of the reservations rs name,
// without touching their amounts or the account: no lock is taken on the
// account row.
func (db *DB) MarkAnswered(ctx context.Context, rs ...*callback.Reservation) error {
	for _, r := range rs {
		if _, err := db.w.ExecContext(ctx, "UPDATE account_reservations SET answered = ? WHERE request_id = ? AND leg = ? AND channel_id = ?",
			db.ts(r.Answered), r.RequestID, string(r.Leg), r.ChannelID); err != nil {
			return db.fail(err, "record the answer of request %d leg %s", r.RequestID, r.Leg)
		}
	}
	return nil
}

// ReleaseReservation deletes the reservation of (request, leg, channel).
func (db *DB) ReleaseReservation(ctx context.Context, requestID int64, leg callback.Leg, channelID string) error {
	_, err := db.w.ExecContext(ctx, "DELETE FROM account_reservations WHERE request_id = ? AND leg = ? AND channel_id = ?",
		requestID, string(leg), channelID)
	if err != nil {
		return db.fail(err, "release reservation of request %d leg %s channel %q", requestID, leg, channelID)
	}
	return nil
}

// ListReservations lists username's reservations (all for ""), oldest first.
func (db *DB) ListReservations(ctx context.Context, username string) ([]*callback.Reservation, error) {
	q, args := "SELECT "+reservationColumns+" FROM account_reservations", []any{}
	if username != "" {
		q += " WHERE username = ?"
		args = append(args, username)
	}
	q += " ORDER BY created, request_id, leg, channel_id"
	var rows []reservationRow
	if err := db.r.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, db.fail(err, "list reservations of %q", username)
	}
	out := make([]*callback.Reservation, len(rows))
	for i := range rows {
		out[i] = rows[i].reservation()
	}
	return out, nil
}

// SettleAndRelease settles cdrs as Settle does and deletes their
// reservations in the same transaction. A CDR settled before is skipped
// with its charge and its reservation, if one is somehow back, is dropped:
// money is never held for a leg that is already charged.
func (db *DB) SettleAndRelease(ctx context.Context, cdrs []*callback.CDR) error {
	for _, c := range cdrs {
		switch {
		case c.Account == "":
			return fmt.Errorf("settle CDR of request %d leg %s: %w", c.RequestID, c.Leg,
				&callback.ValidationError{Field: "account", Reason: "empty"})
		case c.Leg == "":
			return fmt.Errorf("settle CDR of request %d: %w", c.RequestID,
				&callback.ValidationError{Field: "leg", Reason: "empty"})
		}
	}
	out := make([]settled, len(cdrs))
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		for i, c := range cdrs {
			s, err := db.settleOne(ctx, tx, c)
			if err != nil {
				return fmt.Errorf("CDR of request %d leg %s channel %q: %w", c.RequestID, c.Leg, c.ChannelID, err)
			}
			out[i] = s
			if _, err := tx.ExecContext(ctx, "DELETE FROM account_reservations WHERE request_id = ? AND leg = ? AND channel_id = ?",
				c.RequestID, string(c.Leg), c.ChannelID); err != nil {
				return fmt.Errorf("release reservation of request %d leg %s channel %q: %w", c.RequestID, c.Leg, c.ChannelID, err)
			}
		}
		return nil
	})
	if err != nil {
		return db.fail(err, "settle and release %d CDRs", len(cdrs))
	}
	for i, c := range cdrs {
		c.ID, c.Charge, c.Currency = out[i].id, out[i].charge, out[i].currency
	}
	return nil
}
