package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/jmoiron/sqlx"
)

// settled is what Settle learned about one CDR; it is copied into the
// caller's CDR only once the transaction committed, because a transaction
// that deadlocked runs again from the start.
type settled struct {
	id       int64
	charge   callback.Money
	currency string
}

// Settle records cdrs and debits their charges in one transaction. Each
// account row is locked before its balance is read, so two settlements for
// one account cannot both spend the same credit. A CDR already recorded
// (same request, leg and channel) is not inserted again and its charge is
// not taken again: the caller's CDR gets the recorded ID and Charge.
func (db *DB) Settle(ctx context.Context, cdrs []*callback.CDR) error {
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
		}
		return nil
	})
	if err != nil {
		return db.fail(err, "settle %d CDRs", len(cdrs))
	}
	for i, c := range cdrs {
		c.ID, c.Charge, c.Currency = out[i].id, out[i].charge, out[i].currency
	}
	return nil
}

func (db *DB) settleOne(ctx context.Context, tx *sqlx.Tx, c *callback.CDR) (settled, error) {
	var acct struct {
		Balance     int64          `db:"balance"`
		CreditLimit int64          `db:"credit_limit"`
		Currency    sql.NullString `db:"currency"`
	}
	err := tx.GetContext(ctx, &acct, "SELECT balance, credit_limit, currency FROM accounts WHERE username = ?"+db.d.LockRows, c.Account)
	if errors.Is(err, sql.ErrNoRows) {
		return settled{}, fmt.Errorf("account %q: %w", c.Account, callback.ErrNotFound)
	}
	if err != nil {
		return settled{}, err
	}
	charge := c.Charge
	if charge > 0 {
		// Charge what the credit limit allows; the CDR records what was
		// actually taken.
		charge = min(charge, callback.Money(max(acct.Balance-acct.CreditLimit, 0)))
	}
	currency := c.Currency
	if currency == "" {
		currency = acct.Currency.String
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO cdrs (request_id, leg, account, number, caller_id, channel_id, trunk, start_time, "+
		"answer_time, end_time, billsec, cause, sip_code, prefix, charge, currency, disposition) VALUES "+placeholders(17),
		c.RequestID, string(c.Leg), c.Account, str(c.Number), str(c.CallerID), c.ChannelID, c.Trunk, db.ts(c.Start),
		db.ts(c.Answer), db.ts(c.End), c.BillSec, num(c.Cause), num(c.SIPCode), str(c.Prefix), int64(charge),
		str(currency), str(c.Disposition))
	if db.d.IsUnique(err) {
		var prev struct {
			ID       int64          `db:"id"`
			Charge   int64          `db:"charge"`
			Currency sql.NullString `db:"currency"`
		}
		err := tx.GetContext(ctx, &prev, "SELECT id, charge, currency FROM cdrs WHERE request_id = ? AND leg = ? AND channel_id = ?",
			c.RequestID, string(c.Leg), c.ChannelID)
		return settled{id: prev.ID, charge: callback.Money(prev.Charge), currency: prev.Currency.String}, err
	}
	if err != nil {
		return settled{}, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return settled{}, err
	}
	if charge != 0 {
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - ? WHERE username = ?", int64(charge), c.Account); err != nil {
			return settled{}, err
		}
	}
	return settled{id: id, charge: charge, currency: currency}, nil
}

// ListCDRs returns the CDRs f selects, by ascending id.
func (db *DB) ListCDRs(ctx context.Context, f callback.CDRFilter) ([]*callback.CDR, error) {
	var where []string
	var args []any
	if f.RequestID != 0 {
		where = append(where, "request_id = ?")
		args = append(args, f.RequestID)
	}
	if f.Account != "" {
		where = append(where, "account = ?")
		args = append(args, f.Account)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := "SELECT " + cdrColumns + " FROM cdrs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id LIMIT ?"
	var rows []cdrRow
	if err := db.r.SelectContext(ctx, &rows, q, append(args, limit)...); err != nil {
		return nil, db.fail(err, "list CDRs")
	}
	out := make([]*callback.CDR, len(rows))
	for i := range rows {
		out[i] = rows[i].cdr()
	}
	return out, nil
}

// SpentSince sums what was charged to username for calls that started at
// or after t; the zero t sums every call.
func (db *DB) SpentSince(ctx context.Context, username string, t time.Time) (callback.Money, error) {
	q, args := "SELECT COALESCE(SUM(charge), 0) FROM cdrs WHERE account = ?", []any{username}
	if !t.IsZero() {
		q += " AND start_time >= ?"
		args = append(args, db.ts(t))
	}
	var sum int64
	err := db.r.GetContext(ctx, &sum, q, args...)
	if err != nil {
		return 0, db.fail(err, "spent by %q since %s", username, t.Format(time.RFC3339))
	}
	return callback.Money(sum), nil
}
