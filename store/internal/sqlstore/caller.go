package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// callerByCLI is AccountByCLI's lookup and the first pendingScan rows of
// PendingForCLISince's in one statement: the account's row (its columns as
// a_<column>, i_callback_request 0) and the requests' rows (a_* NULL), so
// a new caller with neither costs no row at all.
var callerByCLI = func() string {
	var acct, acctNull, req, reqNull []string
	for c := range strings.SplitSeq(accountColumns, ",") {
		c = strings.TrimSpace(c)
		acct = append(acct, "a."+c+" AS a_"+c)
		acctNull = append(acctNull, "NULL")
	}
	for c := range strings.SplitSeq(requestColumns, ",") {
		c = strings.TrimSpace(c)
		req = append(req, "r."+c)
		if c == "i_callback_request" {
			reqNull = append(reqNull, "0 AS i_callback_request")
		} else {
			reqNull = append(reqNull, "NULL AS "+c)
		}
	}
	return "SELECT " + strings.Join(acct, ", ") + ", " + strings.Join(reqNull, ", ") + ` FROM accounts a
	WHERE a.username = COALESCE(
		(SELECT username FROM accounts WHERE username = ?),
		(SELECT username FROM accounts WHERE associated_number IN (?, ?) ORDER BY username LIMIT 1),
		(SELECT username FROM account_clis WHERE cli = ?))
	UNION ALL SELECT ` + strings.Join(acctNull, ", ") + ", " + strings.Join(req, ", ") + ` FROM (SELECT ` + requestColumns + `
		FROM callback_requests WHERE original_cli = ? AND finished = 0 AND canceled = 0
		ORDER BY i_callback_request LIMIT ` + fmt.Sprint(pendingScan) + `) r
	ORDER BY i_callback_request`
}()

// callerRow is one row of callerByCLI.
type callerRow struct {
	AID               sql.NullInt64  `db:"a_id"`
	AUsername         sql.NullString `db:"a_username"`
	APasswordHash     sql.NullString `db:"a_password_hash"`
	AHA1              sql.NullString `db:"a_ha1"`
	APINHash          sql.NullString `db:"a_pin_hash"`
	APINKeyID         sql.NullString `db:"a_pin_key_id"`
	ABalance          sql.NullInt64  `db:"a_balance"`
	ACurrency         sql.NullString `db:"a_currency"`
	ACreditLimit      sql.NullInt64  `db:"a_credit_limit"`
	AMaxSessions      sql.NullInt64  `db:"a_max_sessions"`
	AAssociatedNumber sql.NullString `db:"a_associated_number"`
	ALanguage         sql.NullString `db:"a_language"`
	ABlocked          sql.NullBool   `db:"a_blocked"`
	ATariff           sql.NullString `db:"a_tariff"`
	ADailyCap         sql.NullInt64  `db:"a_daily_cap"`
	ACreated          Time           `db:"a_created"`
	requestRow
}

// callerRowColumns is how many columns callerByCLI returns.
const callerRowColumns = 16 + requestRowColumns

// dest appends the addresses rows.Scan fills, in the order of callerByCLI's
// columns: accountColumns, then requestColumns.
func (c *callerRow) dest(d []any) []any {
	d = append(d, &c.AID, &c.AUsername, &c.APasswordHash, &c.AHA1, &c.APINHash, &c.APINKeyID, &c.ABalance,
		&c.ACurrency, &c.ACreditLimit, &c.AMaxSessions, &c.AAssociatedNumber, &c.ALanguage, &c.ABlocked,
		&c.ATariff, &c.ADailyCap, &c.ACreated)
	return c.requestRow.dest(d)
}

func (c *callerRow) account() *callback.Account {
	if !c.AUsername.Valid {
		return nil
	}
	a := accountRow{ID: c.AID.Int64, Username: c.AUsername.String, PasswordHash: c.APasswordHash, HA1: c.AHA1,
		PINHash: c.APINHash, PINKeyID: c.APINKeyID, Balance: c.ABalance.Int64, Currency: c.ACurrency,
		CreditLimit: c.ACreditLimit.Int64, MaxSessions: int(c.AMaxSessions.Int64), AssociatedNumber: c.AAssociatedNumber,
		Language: c.ALanguage, Blocked: c.ABlocked.Bool, Tariff: c.ATariff, DailyCap: c.ADailyCap.Int64, Created: c.ACreated}
	return a.account()
}

// CallerByCLI answers what a trigger asks about a caller in one round
// trip: the account AccountByCLI finds for cli (nil when none) and the
// request PendingForCLISince(cli, since) returns (nil when none). Only a
// caller with more than pendingScan unfinished rows, none of which would
// call back, costs a second read.
func (db *DB) CallerByCLI(ctx context.Context, cli string, since time.Time) (*callback.Account, *callback.Request, error) {
	if cli == "" {
		return nil, nil, fmt.Errorf("caller by CLI: empty CLI: %w", callback.ErrNotFound)
	}
	var rows []callerRow
	var dest [callerRowColumns]any
	err := db.scanRows(ctx, db.r, callerByCLI, []any{cli, cli, "+" + cli, cli, cli}, func(r *sql.Rows) error {
		rows = append(rows, callerRow{})
		return r.Scan(rows[len(rows)-1].dest(dest[:0])...)
	})
	if err != nil {
		return nil, nil, db.fail(err, "caller by CLI %s", cli)
	}
	var a *callback.Account
	read := 0
	for i := range rows {
		if rows[i].ID == 0 {
			a = rows[i].account() // the account's row comes first
			continue
		}
		read++
		r := rows[i].request()
		if len(rows[i].problems()) > 0 || r.Validate() != nil {
			continue
		}
		if r.Status.Live() || waiting(r.Status) && (since.IsZero() || r.Age(since) <= 0) {
			return a, r, nil
		}
	}
	if read < pendingScan {
		return a, nil, nil
	}
	r, err := db.PendingForCLISince(ctx, cli, since)
	switch {
	case err == nil:
		return a, r, nil
	case errors.Is(err, callback.ErrNotFound):
		return a, nil, nil
	}
	return nil, nil, err
}
