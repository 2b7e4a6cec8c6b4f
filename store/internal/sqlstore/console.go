package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// The console's reads (admin.ConsoleStore): the tariff list, a page of
// rates, the dashboard's counts, and the deletion of an account without
// history. Every count is the database's GROUP BY over an index.

// ListTariffs lists the tariffs named by a rate or an account: the rates'
// counts as the import keeps them (tariff_rate_counts, a row per tariff),
// accounts and their currencies counted over accounts.
func (db *DB) ListTariffs(ctx context.Context) ([]admin.TariffSummary, error) {
	var rates []struct {
		Tariff string `db:"tariff"`
		N      int64  `db:"n"`
	}
	if err := db.r.SelectContext(ctx, &rates, "SELECT tariff, rates AS n FROM tariff_rate_counts"); err != nil {
		return nil, db.fail(err, "list tariffs: rates")
	}
	var accts []struct {
		Tariff   string `db:"tariff"`
		Currency string `db:"currency"`
		N        int64  `db:"n"`
	}
	if err := db.r.SelectContext(ctx, &accts, "SELECT tariff, COALESCE(currency, '') AS currency, COUNT(*) AS n FROM accounts "+
		"WHERE tariff IS NOT NULL GROUP BY tariff, currency"); err != nil {
		return nil, db.fail(err, "list tariffs: accounts")
	}
	byName := map[string]*admin.TariffSummary{}
	get := func(name string) *admin.TariffSummary {
		t := byName[name]
		if t == nil {
			t = &admin.TariffSummary{Name: name}
			byName[name] = t
		}
		return t
	}
	for _, r := range rates {
		get(r.Tariff).Rates = r.N
	}
	for _, a := range accts {
		t := get(a.Tariff)
		t.Accounts += a.N
		if a.Currency != "" {
			t.Currencies = append(t.Currencies, a.Currency)
		}
	}
	out := make([]admin.TariffSummary, 0, len(byName))
	for _, t := range byName {
		sort.Strings(t.Currencies)
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ListRatesPage returns up to limit rates of tariff after afterPrefix,
// by prefix, over the (tariff, prefix) key.
func (db *DB) ListRatesPage(ctx context.Context, tariff, afterPrefix string, limit int) ([]callback.TariffRate, error) {
	var rows []rateRow
	if err := db.r.SelectContext(ctx, &rows, "SELECT "+rateColumns+" FROM tariff_rates WHERE tariff = ? AND prefix > ? ORDER BY prefix LIMIT ?",
		tariff, afterPrefix, pageLimit(limit)); err != nil {
		return nil, db.fail(err, "list rates of %q after %q", tariff, afterPrefix)
	}
	out := make([]callback.TariffRate, len(rows))
	for i := range rows {
		out[i] = rows[i].rate()
	}
	return out, nil
}

// hourKey is t's UTC hour as the totals tables key it.
func hourKey(t time.Time) string { return t.UTC().Format("2006-01-02 15") }

// onHours reports whether from and to are whole UTC hours, the ranges the
// totals tables answer.
func onHours(from, to time.Time) bool {
	return from.Equal(from.Truncate(time.Hour)) && to.Equal(to.Truncate(time.Hour))
}

// RequestsByResult counts the requests created in [from, to) per status
// and result. When from and to are whole hours, the finished ones come
// from request_totals (a row per hour, status, result and shard, kept by
// the callback_requests triggers of migration 00015) and the unfinished
// ones (the queue and the live calls) from their rows; else all from the
// rows, over callback_requests_creation.
func (db *DB) RequestsByResult(ctx context.Context, from, to time.Time) ([]admin.ResultCount, error) {
	var rows []struct {
		Status string `db:"status"`
		Result string `db:"result"`
		N      int64  `db:"n"`
	}
	q, args := "SELECT status, result, SUM(n) AS n FROM ("+
		"SELECT status, result, n FROM request_totals WHERE hour >= ? AND hour < ? "+
		"UNION ALL SELECT status, COALESCE(result, '') AS result, 1 AS n FROM callback_requests "+
		"WHERE finished = 0 AND creation_time >= ? AND creation_time < ?"+
		") t GROUP BY status, result HAVING SUM(n) <> 0 ORDER BY status, result",
		[]any{hourKey(from), hourKey(to), db.ts(from), db.ts(to)}
	if !onHours(from, to) {
		q, args = "SELECT status, COALESCE(result, '') AS result, COUNT(*) AS n FROM callback_requests "+
			"WHERE creation_time >= ? AND creation_time < ? GROUP BY status, result ORDER BY status, result", []any{db.ts(from), db.ts(to)}
	}
	if err := db.r.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, db.fail(err, "count requests by result")
	}
	out := make([]admin.ResultCount, len(rows))
	for i, r := range rows {
		out[i] = admin.ResultCount{Status: callback.Status(r.Status), Result: callback.Result(r.Result), Count: r.N}
	}
	return out, nil
}

// HourlyCallbacks counts the first legs that started in [from, to) per
// UTC hour: from cdr_totals when from and to are whole hours, else from
// the cdrs_start_leg_answer index.
func (db *DB) HourlyCallbacks(ctx context.Context, from, to time.Time) ([]admin.HourCount, error) {
	var rows []struct {
		Hour     string `db:"h"`
		Attempts int64  `db:"attempts"`
		Answered int64  `db:"answered"`
	}
	q, args := "SELECT hour AS h, SUM(attempts) AS attempts, SUM(answered) AS answered FROM cdr_totals "+
		"WHERE hour >= ? AND hour < ? AND leg = ? GROUP BY hour HAVING SUM(attempts) <> 0 ORDER BY hour",
		[]any{hourKey(from), hourKey(to), string(callback.LegA)}
	if !onHours(from, to) {
		hour := "DATE_FORMAT(start_time, '%Y-%m-%d %H')"
		if db.d.Name == "sqlite3" {
			hour = "substr(start_time, 1, 13)"
		}
		q = "SELECT " + hour + " AS h, COUNT(*) AS attempts, COALESCE(SUM(CASE WHEN answer_time IS NOT NULL THEN 1 ELSE 0 END), 0) AS answered " +
			"FROM cdrs WHERE start_time >= ? AND start_time < ? AND leg = ? GROUP BY h ORDER BY h"
		args = []any{db.ts(from), db.ts(to), string(callback.LegA)}
	}
	if err := db.r.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, db.fail(err, "count callbacks per hour")
	}
	out := make([]admin.HourCount, len(rows))
	for i, r := range rows {
		h, err := time.Parse("2006-01-02 15", r.Hour)
		if err != nil {
			return nil, fmt.Errorf("count callbacks per hour: hour %q: %w", r.Hour, err)
		}
		out[i] = admin.HourCount{Hour: h, Attempts: r.Attempts, Answered: r.Answered}
	}
	return out, nil
}

// CurrencyTotals sums the legs of leg that started in [from, to), whole
// UTC hours, per currency, from cdr_totals (kept by the cdrs triggers of
// migration 00015): the figures of Report summed over its keys.
func (db *DB) CurrencyTotals(ctx context.Context, from, to time.Time, leg callback.Leg) ([]admin.ReportRow, error) {
	if !onHours(from, to) {
		return nil, fmt.Errorf("currency totals: %w", &callback.ValidationError{Field: "from", Reason: "from and to must be whole hours"})
	}
	var rows []struct {
		Currency string `db:"currency"`
		Attempts int64  `db:"attempts"`
		Answered int64  `db:"answered"`
		BillSec  int64  `db:"billsec"`
		Revenue  int64  `db:"revenue"`
	}
	if err := db.r.SelectContext(ctx, &rows, "SELECT currency, SUM(attempts) AS attempts, SUM(answered) AS answered, "+
		"SUM(billsec) AS billsec, SUM(revenue) AS revenue FROM cdr_totals WHERE hour >= ? AND hour < ? AND leg = ? "+
		"GROUP BY currency HAVING SUM(attempts) <> 0 ORDER BY currency", hourKey(from), hourKey(to), string(leg)); err != nil {
		return nil, db.fail(err, "sum %s legs per currency", leg)
	}
	out := make([]admin.ReportRow, len(rows))
	for i, r := range rows {
		out[i] = admin.ReportRow{Currency: r.Currency, Attempts: r.Attempts, Answered: r.Answered, BillSec: r.BillSec, Revenue: callback.Money(r.Revenue)}
	}
	return out, nil
}

// exists reports whether query finds a row.
func exists(ctx context.Context, tx *sqlx.Tx, query string, args ...any) (bool, error) {
	var one int
	err := tx.GetContext(ctx, &one, query+" LIMIT 1", args...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// DeleteAccountAudited deletes username, its caller IDs and its webhook
// once check passes on the account, locked, and its history, each looked
// up over an index.
func (db *DB) DeleteAccountAudited(ctx context.Context, username string, check func(a *callback.Account, h admin.AccountHistory) error, audit *admin.AuditEntry) error {
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		before, err := getAccount(ctx, tx, "username = ?"+db.d.LockRows, username)
		if err != nil {
			return err
		}
		var h admin.AccountHistory
		for _, q := range []struct {
			has   *bool
			query string
			args  []any
		}{
			{&h.Requests, "SELECT 1 FROM callback_requests WHERE username = ?", []any{username}},
			{&h.Requests, "SELECT 1 FROM callback_requests WHERE payer = ?", []any{username}},
			{&h.CDRs, "SELECT 1 FROM cdrs WHERE account = ?", []any{username}},
			{&h.LedgerEntries, "SELECT 1 FROM account_ledger WHERE username = ?", []any{username}},
			{&h.AccessNumbers, "SELECT 1 FROM access_numbers WHERE default_account_username = ? OR internal_account = ?", []any{username, username}},
		} {
			if *q.has {
				continue
			}
			if *q.has, err = exists(ctx, tx, q.query, q.args...); err != nil {
				return err
			}
		}
		if err := check(before, h); err != nil {
			return err
		}
		for _, q := range []string{"DELETE FROM account_clis WHERE username = ?", "DELETE FROM account_webhooks WHERE username = ?",
			"DELETE FROM accounts WHERE username = ?"} {
			if _, err := tx.ExecContext(ctx, q, username); err != nil {
				return err
			}
		}
		return db.insertAudit(ctx, tx, audit, before, nil)
	})
	if err != nil {
		return db.fail(err, "delete account %q", username)
	}
	return nil
}
