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

// callerColumns are accountColumns as a_<column>, then requestColumns as
// they are: one row of CallerByCLI's answer carries the caller's account
// (NULLs when there is none) beside one unfinished request of the CLI.
var callerColumns = func() string {
	var cols []string
	for c := range strings.SplitSeq(accountColumns, ",") {
		c = strings.TrimSpace(c)
		cols = append(cols, "a."+c+" AS a_"+c)
	}
	for c := range strings.SplitSeq(requestColumns, ",") {
		c = strings.TrimSpace(c)
		if c == "i_callback_request" {
			cols = append(cols, "COALESCE(r.i_callback_request, 0) AS i_callback_request")
			continue
		}
		cols = append(cols, "r."+c)
	}
	return strings.Join(cols, ", ")
}()

// callerByCLI is AccountByCLI's lookup and the first pendingScan rows of
// PendingForCLISince's in one statement: the one-row table keeps a row
// when the caller has neither an account nor a request.
var callerByCLI = "SELECT " + callerColumns + ` FROM (SELECT 1 AS one) one
	LEFT JOIN accounts a ON a.username = COALESCE(
		(SELECT username FROM accounts WHERE username = ?),
		(SELECT username FROM accounts WHERE associated_number IN (?, ?) ORDER BY username LIMIT 1),
		(SELECT username FROM account_clis WHERE cli = ?))
	LEFT JOIN (SELECT ` + requestColumns + ` FROM callback_requests
		WHERE original_cli = ? AND finished = 0 AND canceled = 0
		ORDER BY i_callback_request LIMIT ` + fmt.Sprint(pendingScan) + `) r ON 1 = 1
	ORDER BY r.i_callback_request`

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
	if err := db.selectRows(ctx, db.r, &rows, callerByCLI, cli, cli, "+"+cli, cli, cli); err != nil {
		return nil, nil, db.fail(err, "caller by CLI %s", cli)
	}
	if len(rows) == 0 {
		return nil, nil, fmt.Errorf("caller by CLI %s: no row", cli)
	}
	a := rows[0].account()
	read := 0
	for i := range rows {
		if rows[i].ID == 0 {
			continue // no request: the account alone
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
