package sqlstore

import (
	"context"
	"fmt"

	"github.com/callbackd/callbackd/callback"
	"github.com/jmoiron/sqlx"
)

// PutCurrency inserts c or replaces its rate.
func (db *DB) PutCurrency(ctx context.Context, c callback.Currency) error {
	switch {
	case c.Code == "":
		return fmt.Errorf("put currency: %w", &callback.ValidationError{Field: "code", Reason: "empty"})
	case c.Rate <= 0:
		return fmt.Errorf("put currency %s: %w", c.Code, &callback.ValidationError{Field: "rate", Reason: "must be positive"})
	}
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO currencies (code, rate) VALUES (?, ?)"+
			db.d.Upsert([]string{"code"}, []string{"rate"}), c.Code, int64(c.Rate))
		return err
	})
	if err != nil {
		return db.fail(err, "put currency %s", c.Code)
	}
	return nil
}

type currencyRow struct {
	Code string `db:"code"`
	Rate int64  `db:"rate"`
}

// GetCurrency returns the currency code.
func (db *DB) GetCurrency(ctx context.Context, code string) (callback.Currency, error) {
	var row currencyRow
	if err := db.r.GetContext(ctx, &row, "SELECT code, rate FROM currencies WHERE code = ?", code); err != nil {
		return callback.Currency{}, db.fail(err, "get currency %s", code)
	}
	return callback.Currency{Code: row.Code, Rate: callback.ExchangeRate(row.Rate)}, nil
}

// ListCurrencies returns every currency by code.
func (db *DB) ListCurrencies(ctx context.Context) ([]callback.Currency, error) {
	var rows []currencyRow
	if err := db.r.SelectContext(ctx, &rows, "SELECT code, rate FROM currencies ORDER BY code"); err != nil {
		return nil, db.fail(err, "list currencies")
	}
	out := make([]callback.Currency, len(rows))
	for i, r := range rows {
		out[i] = callback.Currency{Code: r.Code, Rate: callback.ExchangeRate(r.Rate)}
	}
	return out, nil
}

// rateBatch is how many rates one INSERT carries: large imports (tens of
// thousands of prefixes) take a few hundred statements, not one per row.
const rateBatch = 200

var rateCols = []string{"tariff", "prefix", "description", "price_per_minute", "connection_fee",
	"first_increment", "next_increment", "blocked"}

// ImportRates writes rates into tariff in one transaction, first deleting
// the tariff's rates when replace is set; a prefix already in the tariff
// takes the new values. It bumps the tariffs version so every node's
// prefix tables reload.
func (db *DB) ImportRates(ctx context.Context, tariff string, rates []callback.TariffRate, replace bool) (int, error) {
	if tariff == "" {
		return 0, fmt.Errorf("import rates: %w", &callback.ValidationError{Field: "tariff", Reason: "empty"})
	}
	for _, r := range rates {
		if r.Tariff != "" && r.Tariff != tariff {
			return 0, fmt.Errorf("import rates into %q: %w", tariff,
				&callback.ValidationError{Field: "tariff", Reason: fmt.Sprintf("prefix %s belongs to tariff %q", r.Prefix, r.Tariff)})
		}
	}
	// The query timeout holds for each statement of a large import.
	err := db.bulkTx(ctx, importStatements(rates), func(tx *sqlx.Tx) error {
		_, err := db.importRates(ctx, tx, tariff, rates, replace)
		return err
	})
	if err != nil {
		return 0, db.fail(err, "import %d rates into %q", len(rates), tariff)
	}
	return len(rates), nil
}

// importStatements is how many statements an import of rates runs.
func importStatements(rates []callback.TariffRate) int { return 4 + (len(rates)+rateBatch-1)/rateBatch }

// importRates is ImportRates in tx; it returns how many rates the tariff
// has after it.
func (db *DB) importRates(ctx context.Context, tx *sqlx.Tx, tariff string, rates []callback.TariffRate, replace bool) (int64, error) {
	if replace {
		if _, err := tx.ExecContext(ctx, "DELETE FROM tariff_rates WHERE tariff = ?", tariff); err != nil {
			return 0, err
		}
	}
	for start := 0; start < len(rates); start += rateBatch {
		batch := rates[start:min(start+rateBatch, len(rates))]
		q := "INSERT INTO tariff_rates (" + rateColumns + ") VALUES "
		args := make([]any, 0, len(batch)*len(rateCols))
		for i, r := range batch {
			if i > 0 {
				q += ", "
			}
			q += placeholders(len(rateCols))
			args = append(args, tariff, r.Prefix, str(r.Description), int64(r.PricePerMinute),
				int64(r.ConnectionFee), r.FirstIncrement, r.NextIncrement, r.Blocked)
		}
		q += db.d.Upsert([]string{"tariff", "prefix"}, rateCols[2:])
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return 0, err
		}
	}
	n, err := db.keepRateCount(ctx, tx, tariff)
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, "UPDATE tariffs_version SET version = version + 1 WHERE id = 1")
	return n, err
}

// keepRateCount stores in tariff_rate_counts the number of rates tariff
// has now, for the tariff list, and returns it; none removes its row. On MariaDB the count
// is a locking read: it sees the rates committed by an import that ran
// meanwhile (not the transaction's snapshot) and keeps another from adding
// to the tariff until this one commits. SQLite has one writer at a time.
func (db *DB) keepRateCount(ctx context.Context, tx *sqlx.Tx, tariff string) (int64, error) {
	var n int64
	if err := tx.GetContext(ctx, &n, "SELECT COUNT(*) FROM tariff_rates WHERE tariff = ?"+db.d.LockRows, tariff); err != nil {
		return 0, err
	}
	if n == 0 {
		_, err := tx.ExecContext(ctx, "DELETE FROM tariff_rate_counts WHERE tariff = ?", tariff)
		return 0, err
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO tariff_rate_counts (tariff, rates) VALUES (?, ?)"+db.d.Upsert([]string{"tariff"}, []string{"rates"}), tariff, n)
	return n, err
}

// ListRates returns the rates of tariff by prefix.
func (db *DB) ListRates(ctx context.Context, tariff string) ([]callback.TariffRate, error) {
	var rows []rateRow
	if err := db.r.SelectContext(ctx, &rows, "SELECT "+rateColumns+" FROM tariff_rates WHERE tariff = ? ORDER BY prefix", tariff); err != nil {
		return nil, db.fail(err, "list rates of %q", tariff)
	}
	out := make([]callback.TariffRate, len(rows))
	for i := range rows {
		out[i] = rows[i].rate()
	}
	return out, nil
}

// TariffsVersion returns the counter ImportRates bumps.
func (db *DB) TariffsVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := db.r.GetContext(ctx, &v, "SELECT version FROM tariffs_version WHERE id = 1"); err != nil {
		return 0, db.fail(err, "tariffs version")
	}
	return v, nil
}
