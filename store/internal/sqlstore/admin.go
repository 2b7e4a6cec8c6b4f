package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// The admin store (admin.Store): operators, their tokens, the audit log,
// the ledger, and the audited versions of the account, access number and
// request changes. Each change writes its audit entry in its own
// transaction, so a change is never without its entry nor an entry
// without its change.

var _ admin.Store = (*DB)(nil)

// insertAudit writes e with the snapshots of before and after. An entry
// whose (operator, idempotency_key) is taken fails as a duplicate.
func (db *DB) insertAudit(ctx context.Context, tx *sqlx.Tx, e *admin.AuditEntry, before, after any) error {
	if e == nil {
		return fmt.Errorf("audit entry: %w", callback.ErrInvalid)
	}
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	e.Before, e.After = admin.Snapshot(before), admin.Snapshot(after)
	var c columns
	c.add("event_time", db.ts(e.Time))
	c.add("operator", e.Operator)
	c.add("action", e.Action)
	c.add("object", e.Object)
	c.add("before_json", rawJSON(e.Before))
	c.add("after_json", rawJSON(e.After))
	c.add("idempotency_key", str(e.IdempotencyKey))
	c.add("request_hash", str(e.RequestHash))
	res, err := tx.ExecContext(ctx, c.insert("audit_log"), c.args...)
	if err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return nil
}

func rawJSON(b json.RawMessage) any {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return string(b)
}

const auditColumns = "id, event_time, operator, action, object, before_json, after_json, idempotency_key, request_hash"

type auditRow struct {
	ID             int64          `db:"id"`
	Time           Time           `db:"event_time"`
	Operator       string         `db:"operator"`
	Action         string         `db:"action"`
	Object         string         `db:"object"`
	Before         sql.NullString `db:"before_json"`
	After          sql.NullString `db:"after_json"`
	IdempotencyKey sql.NullString `db:"idempotency_key"`
	RequestHash    sql.NullString `db:"request_hash"`
}

func (r *auditRow) entry() *admin.AuditEntry {
	e := &admin.AuditEntry{ID: r.ID, Time: r.Time.Time, Operator: r.Operator, Action: r.Action, Object: r.Object,
		IdempotencyKey: r.IdempotencyKey.String, RequestHash: r.RequestHash.String}
	if r.Before.Valid {
		e.Before = json.RawMessage(r.Before.String)
	}
	if r.After.Valid {
		e.After = json.RawMessage(r.After.String)
	}
	return e
}

// pageLimit is a page's size: 100 when not given, at most 1000.
func pageLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}

// ListAudit lists entries newest first.
func (db *DB) ListAudit(ctx context.Context, f admin.AuditFilter) ([]*admin.AuditEntry, error) {
	var where []string
	var args []any
	if f.Operator != "" {
		where, args = append(where, "operator = ?"), append(args, f.Operator)
	}
	if f.Object != "" {
		where, args = append(where, "object = ?"), append(args, f.Object)
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	q := "SELECT " + auditColumns + " FROM audit_log"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	var rows []auditRow
	if err := db.r.SelectContext(ctx, &rows, q, append(args, pageLimit(f.Limit))...); err != nil {
		return nil, db.fail(err, "list audit log")
	}
	out := make([]*admin.AuditEntry, len(rows))
	for i := range rows {
		out[i] = rows[i].entry()
	}
	return out, nil
}

// AuditByKey returns the entry operator wrote with the idempotency key.
func (db *DB) AuditByKey(ctx context.Context, operator, key string) (*admin.AuditEntry, error) {
	var row auditRow
	if err := db.w.GetContext(ctx, &row, "SELECT "+auditColumns+" FROM audit_log WHERE operator = ? AND idempotency_key = ?", operator, key); err != nil {
		return nil, db.fail(err, "audit entry of key %q", key)
	}
	return row.entry(), nil
}

// Operators.

const operatorColumns = "id, name, role, password_hash, disabled, created"

type operatorRow struct {
	ID           int64          `db:"id"`
	Name         string         `db:"name"`
	Role         string         `db:"role"`
	PasswordHash sql.NullString `db:"password_hash"`
	Disabled     bool           `db:"disabled"`
	Created      Time           `db:"created"`
}

func (r *operatorRow) operator() *admin.Operator {
	return &admin.Operator{ID: r.ID, Name: r.Name, Role: admin.Role(r.Role), PasswordHash: r.PasswordHash.String,
		Disabled: r.Disabled, Created: r.Created.Time}
}

func getOperator(ctx context.Context, q sqlx.QueryerContext, query string, arg any) (*admin.Operator, error) {
	var row operatorRow
	if err := sqlx.GetContext(ctx, q, &row, query, arg); err != nil {
		return nil, err
	}
	return row.operator(), nil
}

// CreateOperator inserts op, filling ID and Created.
func (db *DB) CreateOperator(ctx context.Context, op *admin.Operator, audit *admin.AuditEntry) error {
	var got *admin.Operator
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO operators (name, role, password_hash, disabled) VALUES (?, ?, ?, ?)",
			op.Name, string(op.Role), str(op.PasswordHash), op.Disabled); err != nil {
			return err
		}
		var err error
		if got, err = getOperator(ctx, tx, "SELECT "+operatorColumns+" FROM operators WHERE name = ?", op.Name); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, nil, got)
	})
	if err != nil {
		return db.fail(err, "create operator %q", op.Name)
	}
	*op = *got
	return nil
}

// GetOperator returns the operator name.
func (db *DB) GetOperator(ctx context.Context, name string) (*admin.Operator, error) {
	op, err := getOperator(ctx, db.r, "SELECT "+operatorColumns+" FROM operators WHERE name = ?", name)
	if err != nil {
		return nil, db.fail(err, "get operator %q", name)
	}
	return op, nil
}

// ListOperators returns every operator by name.
func (db *DB) ListOperators(ctx context.Context) ([]*admin.Operator, error) {
	var rows []operatorRow
	if err := db.r.SelectContext(ctx, &rows, "SELECT "+operatorColumns+" FROM operators ORDER BY name"); err != nil {
		return nil, db.fail(err, "list operators")
	}
	out := make([]*admin.Operator, len(rows))
	for i := range rows {
		out[i] = rows[i].operator()
	}
	return out, nil
}

// EditOperator applies edit to the operator under its row lock.
func (db *DB) EditOperator(ctx context.Context, name string, edit func(op *admin.Operator) error, audit *admin.AuditEntry) (*admin.Operator, error) {
	var got *admin.Operator
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		before, err := getOperator(ctx, tx, "SELECT "+operatorColumns+" FROM operators WHERE name = ?"+db.d.LockRows, name)
		if err != nil {
			return err
		}
		op := *before
		if err := edit(&op); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE operators SET role = ?, password_hash = ?, disabled = ? WHERE name = ?",
			string(op.Role), str(op.PasswordHash), op.Disabled, name); err != nil {
			return err
		}
		if got, err = getOperator(ctx, tx, "SELECT "+operatorColumns+" FROM operators WHERE name = ?", name); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, before, got)
	})
	if err != nil {
		return nil, db.fail(err, "edit operator %q", name)
	}
	return got, nil
}

// AddToken stores a token hash for an existing operator.
func (db *DB) AddToken(ctx context.Context, t *admin.Token, audit *admin.AuditEntry) error {
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := getOperator(ctx, tx, "SELECT "+operatorColumns+" FROM operators WHERE name = ?", t.Operator); err != nil {
			return err
		}
		if t.Created.IsZero() {
			t.Created = db.now()
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO operator_tokens (operator, token_hash, label, created) VALUES (?, ?, ?, ?)",
			t.Operator, t.Hash, str(t.Label), db.ts(t.Created))
		if err != nil {
			return err
		}
		if t.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, nil, t)
	})
	if err != nil {
		return db.fail(err, "add token of operator %q", t.Operator)
	}
	return nil
}

// OperatorByToken returns the operator holding the token hash.
func (db *DB) OperatorByToken(ctx context.Context, hash string) (*admin.Operator, error) {
	var row operatorRow
	err := db.getRow(ctx, db.r, &row, "SELECT o.id, o.name, o.role, o.password_hash, o.disabled, o.created FROM operator_tokens t "+
		"JOIN operators o ON o.name = t.operator WHERE t.token_hash = ?", hash)
	if err != nil {
		return nil, db.fail(err, "operator by token")
	}
	return row.operator(), nil
}

// Accounts.

// ListAccountsPage returns the accounts f selects, by username after
// f.After.
func (db *DB) ListAccountsPage(ctx context.Context, f admin.AccountFilter) ([]*callback.Account, error) {
	var where []string
	var args []any
	if f.UsernamePrefix != "" {
		// A range on the username index rather than LIKE, whose wildcards
		// and collation differ between the databases.
		where, args = append(where, "username >= ? AND username < ?"), append(args, f.UsernamePrefix, f.UsernamePrefix+"\U0010FFFF")
	}
	if f.Blocked != nil {
		where, args = append(where, "blocked = ?"), append(args, *f.Blocked)
	}
	if f.Tariff != "" {
		where, args = append(where, "tariff = ?"), append(args, f.Tariff)
	}
	if f.Currency != "" {
		where, args = append(where, "currency = ?"), append(args, f.Currency)
	}
	if f.After != "" {
		where, args = append(where, "username > ?"), append(args, f.After)
	}
	q := selectAccount
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY username LIMIT ?"
	var rows []accountRow
	if err := db.r.SelectContext(ctx, &rows, q, append(args, pageLimit(f.Limit))...); err != nil {
		return nil, db.fail(err, "list accounts")
	}
	out := make([]*callback.Account, len(rows))
	for i := range rows {
		out[i] = rows[i].account()
	}
	return out, nil
}

// CreateAccountAudited creates a; a non-zero opening balance is written
// to the ledger as an adjustment in the same transaction.
func (db *DB) CreateAccountAudited(ctx context.Context, a *callback.Account, audit *admin.AuditEntry) error {
	c, err := db.accountInsert(a)
	if err != nil {
		return err
	}
	var got *callback.Account
	err = db.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if got, err = insertAccount(ctx, tx, c, a.Username); err != nil {
			return err
		}
		if got.Balance != 0 {
			e := &admin.LedgerEntry{Time: audit.Time, Username: got.Username, Kind: admin.LedgerAdjustment, Amount: got.Balance,
				BalanceAfter: got.Balance, Currency: got.Currency, Reason: "opening balance", Operator: audit.Operator}
			if err := db.insertLedger(ctx, tx, e); err != nil {
				return err
			}
		}
		return db.insertAudit(ctx, tx, audit, nil, got)
	})
	if err != nil {
		return db.fail(err, "create account %q", a.Username)
	}
	*a = *got
	return nil
}

// EditAccount applies edit to username under its row lock and writes its
// settings (never its balance).
func (db *DB) EditAccount(ctx context.Context, username string, edit func(a *callback.Account) error, audit *admin.AuditEntry) (*callback.Account, error) {
	var got *callback.Account
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		before, err := getAccount(ctx, tx, "username = ?"+db.d.LockRows, username)
		if err != nil {
			return err
		}
		a := *before
		if err := edit(&a); err != nil {
			return err
		}
		a.Username = username
		pinHash, pinKeyID, err := db.pinColumns(&a)
		if err != nil {
			return err
		}
		if got, err = updateAccount(ctx, tx, &a, pinHash, pinKeyID); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, before, got)
	})
	if err != nil {
		return nil, db.fail(err, "edit account %q", username)
	}
	return got, nil
}

func (db *DB) insertLedger(ctx context.Context, tx *sqlx.Tx, e *admin.LedgerEntry) error {
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO account_ledger (entry_time, username, kind, amount, balance_after, currency, reason, operator)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, db.ts(e.Time), e.Username, string(e.Kind), int64(e.Amount), int64(e.BalanceAfter),
		str(e.Currency), e.Reason, e.Operator)
	if err != nil {
		return fmt.Errorf("write ledger entry: %w", err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("write ledger entry: %w", err)
	}
	return nil
}

// PostLedger adds e.Amount (or what takes the balance to *e.SetTo) to the
// balance under the account's row lock and records the entry.
func (db *DB) PostLedger(ctx context.Context, e *admin.LedgerEntry, audit *admin.AuditEntry) (*callback.Account, error) {
	var got *callback.Account
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		before, err := getAccount(ctx, tx, "username = ?"+db.d.LockRows, e.Username)
		if err != nil {
			return err
		}
		if e.SetTo != nil {
			e.Amount = *e.SetTo - before.Balance
		}
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance + ? WHERE username = ?", int64(e.Amount), e.Username); err != nil {
			return err
		}
		if got, err = getAccount(ctx, tx, "username = ?", e.Username); err != nil {
			return err
		}
		e.BalanceAfter, e.Currency = got.Balance, got.Currency
		if err := db.insertLedger(ctx, tx, e); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, before, got)
	})
	if err != nil {
		return nil, db.fail(err, "%s of account %q", e.Kind, e.Username)
	}
	return got, nil
}

// ListLedger lists an account's entries newest first, below beforeID when
// it is set.
func (db *DB) ListLedger(ctx context.Context, username string, beforeID int64, limit int) ([]*admin.LedgerEntry, error) {
	q, args := `SELECT id, entry_time, username, kind, amount, balance_after, currency, reason, operator
		FROM account_ledger WHERE username = ?`, []any{username}
	if beforeID > 0 {
		q, args = q+" AND id < ?", append(args, beforeID)
	}
	var rows []struct {
		ID           int64          `db:"id"`
		Time         Time           `db:"entry_time"`
		Username     string         `db:"username"`
		Kind         string         `db:"kind"`
		Amount       int64          `db:"amount"`
		BalanceAfter int64          `db:"balance_after"`
		Currency     sql.NullString `db:"currency"`
		Reason       string         `db:"reason"`
		Operator     string         `db:"operator"`
	}
	if err := db.r.SelectContext(ctx, &rows, q+" ORDER BY id DESC LIMIT ?", append(args, pageLimit(limit))...); err != nil {
		return nil, db.fail(err, "list ledger of %q", username)
	}
	out := make([]*admin.LedgerEntry, len(rows))
	for i, r := range rows {
		out[i] = &admin.LedgerEntry{ID: r.ID, Time: r.Time.Time, Username: r.Username, Kind: admin.LedgerKind(r.Kind),
			Amount: callback.Money(r.Amount), BalanceAfter: callback.Money(r.BalanceAfter), Currency: r.Currency.String,
			Reason: r.Reason, Operator: r.Operator}
	}
	return out, nil
}

// AddCLIAudited maps c.CLI to an existing account.
func (db *DB) AddCLIAudited(ctx context.Context, c callback.AccountCLI, audit *admin.AuditEntry) error {
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := getAccount(ctx, tx, "username = ?", c.Username); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO account_clis (cli, username) VALUES (?, ?)", c.CLI, c.Username); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, nil, map[string]string{"cli": c.CLI, "username": c.Username})
	})
	if err != nil {
		return db.fail(err, "add CLI %s to account %q", c.CLI, c.Username)
	}
	return nil
}

// RemoveCLI unmaps c.CLI from c.Username.
func (db *DB) RemoveCLI(ctx context.Context, c callback.AccountCLI, audit *admin.AuditEntry) error {
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		if err := execMatched(ctx, tx, sql.ErrNoRows, "DELETE FROM account_clis WHERE cli = ? AND username = ?", c.CLI, c.Username); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, map[string]string{"cli": c.CLI, "username": c.Username}, nil)
	})
	if err != nil {
		return db.fail(err, "remove CLI %s of account %q", c.CLI, c.Username)
	}
	return nil
}

// Access numbers.

func getAccessNumberTx(ctx context.Context, tx *sqlx.Tx, number, lock string) (*callback.AccessNumber, error) {
	var row accessNumberRow
	if err := tx.GetContext(ctx, &row, "SELECT "+accessNumberColumns+" FROM access_numbers WHERE number = ?"+lock, number); err != nil {
		return nil, err
	}
	return row.accessNumber(), nil
}

// EditAccessNumber creates or changes number, applying edit under the row
// lock.
func (db *DB) EditAccessNumber(ctx context.Context, number string, create bool, edit func(n *callback.AccessNumber) error, audit *admin.AuditEntry) (*callback.AccessNumber, error) {
	defer db.accessWrites.Add(1)
	var got *callback.AccessNumber
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		before, err := getAccessNumberTx(ctx, tx, number, db.d.LockRows)
		switch {
		case err == nil && create:
			return fmt.Errorf("access number %s exists: %w", number, callback.ErrConflict)
		case errors.Is(err, sql.ErrNoRows) && create:
			before = nil
		case err != nil:
			return err
		}
		n := &callback.AccessNumber{Number: number}
		if before != nil {
			*n = *before
		}
		if err := edit(n); err != nil {
			return err
		}
		n.Number = number
		if err := db.putAccessNumber(ctx, tx, n); err != nil {
			return err
		}
		if got, err = getAccessNumberTx(ctx, tx, number, ""); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, before, got)
	})
	if err != nil {
		return nil, db.fail(err, "edit access number %s", number)
	}
	return got, nil
}

// DeleteAccessNumberAudited removes number once check passes.
func (db *DB) DeleteAccessNumberAudited(ctx context.Context, number string, check func(n *callback.AccessNumber) error, audit *admin.AuditEntry) error {
	defer db.accessWrites.Add(1)
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		before, err := getAccessNumberTx(ctx, tx, number, db.d.LockRows)
		if err != nil {
			return err
		}
		if err := check(before); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM access_numbers WHERE number = ?", number); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, before, nil)
	})
	if err != nil {
		return db.fail(err, "delete access number %s", number)
	}
	return nil
}

// Requests.

// CancelAudited is Cancel with its audit entry.
func (db *DB) CancelAudited(ctx context.Context, id int64, now time.Time, audit *admin.AuditEntry) (*callback.Request, error) {
	var got *callback.Request
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		before, err := getRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		if got, err = db.cancel(ctx, tx, id, now); err != nil {
			return err
		}
		if before.Finished {
			return nil // nothing changed
		}
		return db.insertAudit(ctx, tx, audit, before, got)
	})
	if err != nil {
		return nil, db.fail(err, "cancel request %d", id)
	}
	return got, nil
}

// RetryNow makes an unfinished, unheld request due at now.
func (db *DB) RetryNow(ctx context.Context, id int64, now time.Time, audit *admin.AuditEntry) (*callback.Request, error) {
	var got *callback.Request
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		var row requestRow
		if err := tx.GetContext(ctx, &row, selectRequest+" WHERE i_callback_request = ?"+db.d.LockRows, id); err != nil {
			return err
		}
		before := row.request()
		switch {
		case before.Finished:
			return &callback.ValidationError{Field: "id", Reason: fmt.Sprintf("the request finished (%s): create a new one", before.Result)}
		case before.LeaseOwner != "":
			return &callback.ValidationError{Field: "id", Reason: "a node is calling it now"}
		case before.Canceled:
			return &callback.ValidationError{Field: "id", Reason: "it is being canceled"}
		}
		if err := execMatched(ctx, tx, callback.ErrLeaseLost, `UPDATE callback_requests SET next_call = ?
			WHERE i_callback_request = ? AND finished = 0 AND lease_owner IS NULL`, db.ts(now), id); err != nil {
			return err
		}
		note := "retry now"
		if audit != nil {
			note += " (operator " + audit.Operator + ")"
		}
		if err := db.addEvent(ctx, tx, event{at: now, id: id, attempt: before.Attempt, status: before.Status, result: before.Result, note: note}); err != nil {
			return err
		}
		var err error
		if got, err = getRequest(ctx, tx, id); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit, before, got)
	})
	if err != nil {
		return nil, db.fail(err, "retry request %d", id)
	}
	return got, nil
}
