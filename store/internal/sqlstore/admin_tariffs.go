package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// ImportRatesAudited is ImportRates with its audit entry, which records how
// many rates the tariff had and has (not every rate).
func (db *DB) ImportRatesAudited(ctx context.Context, tariff string, rates []callback.TariffRate, replace bool, audit *admin.AuditEntry) (int, error) {
	if tariff == "" {
		return 0, fmt.Errorf("import rates: %w", &callback.ValidationError{Field: "tariff", Reason: "empty"})
	}
	err := db.bulkTx(ctx, importStatements(rates)+1, func(tx *sqlx.Tx) error {
		// The count the last import kept, its row locked: an import into
		// the same tariff waits for this one.
		var before int64
		err := tx.GetContext(ctx, &before, "SELECT rates FROM tariff_rate_counts WHERE tariff = ?"+db.d.LockRows, tariff)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		after, err := db.importRates(ctx, tx, tariff, rates, replace)
		if err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, map[string]any{"tariff": tariff, "rates": before},
			map[string]any{"tariff": tariff, "rates": after, "imported": len(rates), "replace": replace})
	})
	if err != nil {
		return 0, db.fail(err, "import %d rates into %q", len(rates), tariff)
	}
	return len(rates), nil
}

// PutCurrencyAudited is PutCurrency with its audit entry.
func (db *DB) PutCurrencyAudited(ctx context.Context, c callback.Currency, audit *admin.AuditEntry) error {
	if c.Code == "" || c.Rate <= 0 {
		return db.PutCurrency(ctx, c) // its refusal
	}
	view := func(c callback.Currency) map[string]string {
		return map[string]string{"code": c.Code, "rate": c.Rate.String()}
	}
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		var before any
		var row currencyRow
		err := tx.GetContext(ctx, &row, "SELECT code, rate FROM currencies WHERE code = ?"+db.d.LockRows, c.Code)
		switch {
		case err == nil:
			before = view(callback.Currency{Code: row.Code, Rate: callback.ExchangeRate(row.Rate)})
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO currencies (code, rate) VALUES (?, ?)"+
			db.d.Upsert([]string{"code"}, []string{"rate"}), c.Code, int64(c.Rate)); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, before, view(c))
	})
	if err != nil {
		return db.fail(err, "put currency %s", c.Code)
	}
	return nil
}
