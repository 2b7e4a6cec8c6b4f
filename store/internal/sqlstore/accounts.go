package sqlstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/callbackd/callbackd/callback"
	"github.com/jmoiron/sqlx"
)

const selectAccount = "SELECT " + accountColumns + " FROM accounts"

// CreateAccount inserts a and reads it back, filling ID and Created.
// ErrConflict when the username or the PIN is taken.
func (db *DB) CreateAccount(ctx context.Context, a *callback.Account) error {
	if a.Username == "" {
		return fmt.Errorf("create account: %w", &callback.ValidationError{Field: "username", Reason: "empty"})
	}
	c, err := db.accountInsert(a)
	if err != nil {
		return err
	}
	var got *callback.Account
	err = db.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		got, err = insertAccount(ctx, tx, c, a.Username)
		return err
	})
	if err != nil {
		return db.fail(err, "create account %q", a.Username)
	}
	*a = *got
	return nil
}

// accountInsert returns the columns of a new account a.
func (db *DB) accountInsert(a *callback.Account) (*columns, error) {
	var c columns
	c.add("username", a.Username)
	c.add("password_hash", str(a.PasswordHash))
	c.add("ha1", str(a.HA1))
	pinHash, pinKeyID, err := db.pinColumns(a)
	if err != nil {
		return nil, fmt.Errorf("create account %q: %w", a.Username, err)
	}
	c.add("pin_hash", pinHash)
	c.add("pin_key_id", pinKeyID)
	c.add("balance", int64(a.Balance))
	c.add("currency", str(a.Currency))
	c.add("credit_limit", int64(a.CreditLimit))
	c.add("max_sessions", a.MaxSessions)
	c.add("associated_number", str(a.AssociatedNumber))
	c.add("language", str(a.Language))
	c.add("blocked", a.Blocked)
	c.add("tariff", str(a.Tariff))
	c.add("daily_cap", int64(a.DailyCap))
	if !a.Created.IsZero() {
		c.add("created", db.ts(a.Created))
	}
	return &c, nil
}

// insertAccount inserts the account of c in tx and reads it back.
func insertAccount(ctx context.Context, tx *sqlx.Tx, c *columns, username string) (*callback.Account, error) {
	if _, err := tx.ExecContext(ctx, c.insert("accounts"), c.args...); err != nil {
		return nil, err
	}
	return getAccount(ctx, tx, "username = ?", username)
}

// UpdateAccount writes every field of the account named a.Username except
// its balance, which moves only through SetBalance and Settle: an edit of
// an account's settings must never undo a debit made in between.
func (db *DB) UpdateAccount(ctx context.Context, a *callback.Account) error {
	pinHash, pinKeyID, err := db.pinColumns(a)
	if err != nil {
		return fmt.Errorf("update account %q: %w", a.Username, err)
	}
	var got *callback.Account
	err = db.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		got, err = updateAccount(ctx, tx, a, pinHash, pinKeyID)
		return err
	})
	if err != nil {
		return db.fail(err, "update account %q", a.Username)
	}
	*a = *got
	return nil
}

// updateAccount writes the settings of a (not its balance) in tx and reads
// the account back.
func updateAccount(ctx context.Context, tx *sqlx.Tx, a *callback.Account, pinHash, pinKeyID any) (*callback.Account, error) {
	// A PIN still in plain form (no PIN key yet) stays until one is set; a
	// new one replaces it.
	if err := execMatched(ctx, tx, callback.ErrNotFound, `UPDATE accounts SET password_hash = ?, ha1 = ?,
		pin = CASE WHEN ? IS NULL THEN pin ELSE NULL END, pin_hash = ?, pin_key_id = ?, currency = ?,
		credit_limit = ?, max_sessions = ?, associated_number = ?, language = ?, blocked = ?, tariff = ?,
		daily_cap = ? WHERE username = ?`,
		str(a.PasswordHash), str(a.HA1), pinHash, pinHash, pinKeyID, str(a.Currency), int64(a.CreditLimit), a.MaxSessions,
		str(a.AssociatedNumber), str(a.Language), a.Blocked, str(a.Tariff), int64(a.DailyCap), a.Username); err != nil {
		return nil, err
	}
	return getAccount(ctx, tx, "username = ?", a.Username)
}

func getAccount(ctx context.Context, q sqlx.QueryerContext, where string, arg any) (*callback.Account, error) {
	var row accountRow
	if err := sqlx.GetContext(ctx, q, &row, selectAccount+" WHERE "+where, arg); err != nil {
		return nil, err
	}
	return row.account(), nil
}

// GetAccount returns the account username.
func (db *DB) GetAccount(ctx context.Context, username string) (*callback.Account, error) {
	var row accountRow
	if err := db.getRow(ctx, db.r, &row, selectAccount+" WHERE username = ?", username); err != nil {
		return nil, db.fail(err, "get account %q", username)
	}
	return row.account(), nil
}

// SetPINKey sets the key PINs are stored and looked up under
// (auth.pin_key). Without one, accounts cannot be given a PIN and no PIN
// is found.
func (db *DB) SetPINKey(k *callback.PINKey) { db.pinKey.Store(k) }

// pinColumns returns the pin_hash and pin_key_id to write for a: the hash
// of a.PIN when a new PIN is given, else the stored ones as a carries them.
func (db *DB) pinColumns(a *callback.Account) (hash, keyID any, err error) {
	if a.PIN == "" {
		return str(a.PINHash), str(a.PINKeyID), nil
	}
	k := db.pinKey.Load()
	if k == nil {
		return nil, nil, &callback.ValidationError{Field: "pin", Reason: "no PIN key is configured (auth.pin_key), so PINs cannot be stored"}
	}
	return k.Hash(a.PIN), k.ID(), nil
}

// AccountByPIN returns the account whose PIN is pin. It is the one PIN
// lookup (the web page, the IVR's PIN entry and PIN triggers all come
// here): the PIN is hashed under the PIN key and the hash looked up, so
// the PIN itself is never compared, stored or sent to the database.
func (db *DB) AccountByPIN(ctx context.Context, pin string) (*callback.Account, error) {
	if pin == "" {
		return nil, fmt.Errorf("account by PIN: empty PIN: %w", callback.ErrNotFound)
	}
	k := db.pinKey.Load()
	if k == nil {
		return nil, fmt.Errorf("account by PIN: no PIN key is configured: %w", callback.ErrNotFound)
	}
	var row accountRow
	if err := db.getRow(ctx, db.r, &row, selectAccount+" WHERE pin_hash = ?", k.Hash(pin)); err != nil {
		return nil, db.fail(err, "account by PIN")
	}
	return row.account(), nil
}

// HashPlainPINs moves the PINs still stored in plain form (written before
// PINs were hashed) into pin_hash under the PIN key and clears them, and
// returns how many it moved. It is run whenever the store is opened with a
// key, so an operator never enters the PINs again. It works in
// transactions of up to pinBatch accounts; a plain PIN whose hash another
// account holds already is ErrConflict naming the account, and the
// accounts after it keep their plain PINs.
func (db *DB) HashPlainPINs(ctx context.Context) (int, error) {
	k := db.pinKey.Load()
	if k == nil {
		return 0, fmt.Errorf("hash plain PINs: no PIN key is configured: %w", callback.ErrInvalid)
	}
	total := 0
	for {
		var n int
		var user string
		err := db.tx(ctx, func(tx *sqlx.Tx) error {
			n = 0
			var rows []struct {
				Username string `db:"username"`
				PIN      string `db:"pin"`
			}
			if err := tx.SelectContext(ctx, &rows, "SELECT username, pin FROM accounts WHERE pin IS NOT NULL ORDER BY username LIMIT "+
				strconv.Itoa(pinBatch)+db.d.LockRows); err != nil {
				return err
			}
			for _, r := range rows {
				user = r.Username
				if err := execMatched(ctx, tx, callback.ErrNotFound, `UPDATE accounts SET pin_hash = ?, pin_key_id = ?, pin = NULL
					WHERE username = ? AND pin = ?`, k.Hash(r.PIN), k.ID(), r.Username, r.PIN); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, db.fail(err, "hash the plain PIN of account %q", user)
		}
		total += n
		if n < pinBatch {
			return total, nil
		}
	}
}

// pinBatch is how many plain PINs HashPlainPINs hashes per transaction.
const pinBatch = 500

// PINStatus counts the PINs that the current PIN key cannot check: plain
// ones still waiting for HashPlainPINs, and hashes made under another key
// (or any hash when no key is set).
func (db *DB) PINStatus(ctx context.Context) (plain, otherKey int, err error) {
	id := ""
	if k := db.pinKey.Load(); k != nil {
		id = k.ID()
	}
	var counts struct {
		Plain    int `db:"plain"`
		OtherKey int `db:"other_key"`
	}
	err = db.r.GetContext(ctx, &counts, `SELECT
		COUNT(CASE WHEN pin IS NOT NULL THEN 1 END) AS plain,
		COUNT(CASE WHEN pin_hash IS NOT NULL AND (pin_key_id IS NULL OR pin_key_id <> ?) THEN 1 END) AS other_key
		FROM accounts`, id)
	if err != nil {
		return 0, 0, db.fail(err, "count unusable PINs")
	}
	return counts.Plain, counts.OtherKey, nil
}

// accountByCLI is AccountByCLI's one query. The username is chosen as seed
// 000 orders the lookups, each an index lookup: an account named cli, else
// the first by username of the accounts whose associated number is cli
// with or without the leading +, else the account the CLI map names. The
// account is then read by its username.
const accountByCLI = selectAccount + ` WHERE username = COALESCE(
	(SELECT username FROM accounts WHERE username = ?),
	(SELECT username FROM accounts WHERE associated_number IN (?, ?) ORDER BY username LIMIT 1),
	(SELECT username FROM account_clis WHERE cli = ?))`

// AccountByCLI looks cli up as seed 000 orders it: an account named cli,
// then an account whose associated number is cli (stored with or without
// the leading +, while CLIs arrive normalised without it), then the CLI
// map. The three lookups are one query, so one round trip.
func (db *DB) AccountByCLI(ctx context.Context, cli string) (*callback.Account, error) {
	if cli == "" {
		return nil, fmt.Errorf("account by CLI: empty CLI: %w", callback.ErrNotFound)
	}
	var row accountRow
	if err := db.getRow(ctx, db.r, &row, accountByCLI, cli, cli, "+"+cli, cli); err != nil {
		return nil, db.fail(err, "account by CLI %s", cli)
	}
	return row.account(), nil
}

// ListAccounts returns every account by username.
func (db *DB) ListAccounts(ctx context.Context) ([]*callback.Account, error) {
	var rows []accountRow
	if err := db.r.SelectContext(ctx, &rows, selectAccount+" ORDER BY username"); err != nil {
		return nil, db.fail(err, "list accounts")
	}
	out := make([]*callback.Account, len(rows))
	for i := range rows {
		out[i] = rows[i].account()
	}
	return out, nil
}

// SetBalance sets the balance of username.
func (db *DB) SetBalance(ctx context.Context, username string, balance callback.Money) error {
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		return execMatched(ctx, tx, callback.ErrNotFound, "UPDATE accounts SET balance = ? WHERE username = ?", int64(balance), username)
	})
	if err != nil {
		return db.fail(err, "set balance of %q", username)
	}
	return nil
}

// AddCLI maps c.CLI to an existing account; ErrConflict when the CLI is
// mapped already, ErrNotFound when the account does not exist.
func (db *DB) AddCLI(ctx context.Context, c callback.AccountCLI) error {
	if c.CLI == "" {
		return fmt.Errorf("add CLI: %w", &callback.ValidationError{Field: "cli", Reason: "empty"})
	}
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		var one int
		if err := tx.GetContext(ctx, &one, "SELECT 1 FROM accounts WHERE username = ?", c.Username); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO account_clis (cli, username) VALUES (?, ?)", c.CLI, c.Username)
		return err
	})
	if err != nil {
		return db.fail(err, "add CLI %s to account %q", c.CLI, c.Username)
	}
	return nil
}

// ListCLIs returns the CLIs mapped to username.
func (db *DB) ListCLIs(ctx context.Context, username string) ([]callback.AccountCLI, error) {
	var rows []struct {
		CLI      string `db:"cli"`
		Username string `db:"username"`
	}
	if err := db.r.SelectContext(ctx, &rows, "SELECT cli, username FROM account_clis WHERE username = ? ORDER BY cli", username); err != nil {
		return nil, db.fail(err, "list CLIs of %q", username)
	}
	out := make([]callback.AccountCLI, len(rows))
	for i, r := range rows {
		out[i] = callback.AccountCLI{CLI: r.CLI, Username: r.Username}
	}
	return out, nil
}

var accessNumberCols = []string{"number", "trigger_type", "sub_app", "language", "region", "area_code",
	"default_account_username", "disable_cli_authentication", "force_cli_authentication",
	"force_default_account", "minimum_balance", "fixed_cli", "hangup_sip_code", "ringback_time",
	"ringback_type", "diversion_reason", "anonymous_accounting", "delay_before_callback", "iscallback",
	"anumberhandling", "internal_account", "callback_tariff", "ivrauthentication"}

// PutAccessNumber inserts n or replaces the number's options. The options
// are stored as given: callers apply callback.AccessNumber.ApplyDefaults.
func (db *DB) PutAccessNumber(ctx context.Context, n *callback.AccessNumber) error {
	if n.Number == "" {
		return fmt.Errorf("put access number: %w", &callback.ValidationError{Field: "number", Reason: "empty"})
	}
	defer db.accessWrites.Add(1)
	err := db.tx(ctx, func(tx *sqlx.Tx) error { return db.putAccessNumber(ctx, tx, n) })
	if err != nil {
		return db.fail(err, "put access number %s", n.Number)
	}
	return nil
}

// putAccessNumber inserts or replaces n in tx.
func (db *DB) putAccessNumber(ctx context.Context, tx *sqlx.Tx, n *callback.AccessNumber) error {
	args := []any{n.Number, string(n.Trigger), str(n.SubApp), str(n.Language), str(n.Region), str(n.AreaCode),
		str(n.DefaultAccountUsername), n.DisableCLIAuthentication, n.ForceCLIAuthentication,
		n.ForceDefaultAccount, str(n.MinimumBalance), str(n.FixedCLI), n.HangupSIPCode, n.RingbackTime,
		str(n.RingbackType), str(n.DiversionReason), n.AnonymousAccounting, n.DelayBeforeCallback, n.IsCallback,
		n.ANumberHandling, str(n.InternalAccount), str(n.CallbackTariff), n.IVRAuthentication.Seed()}
	q := "INSERT INTO access_numbers (" + accessNumberColumns + ") VALUES " + placeholders(len(accessNumberCols)) +
		db.d.Upsert([]string{"number"}, accessNumberCols[1:])
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// AccessNumberWrites counts the PutAccessNumber and DeleteAccessNumber
// calls made through this store once they have returned, failed ones too (a
// commit that reported an error may still have happened). A cache of access
// numbers in this process compares it before trusting an entry, so a change
// made here is seen at once; changes made by other processes are only seen
// when the cache's entries expire.
func (db *DB) AccessNumberWrites() uint64 { return db.accessWrites.Load() }

// GetAccessNumber returns the options of number.
func (db *DB) GetAccessNumber(ctx context.Context, number string) (*callback.AccessNumber, error) {
	var row accessNumberRow
	if err := db.getRow(ctx, db.r, &row, "SELECT "+accessNumberColumns+" FROM access_numbers WHERE number = ?", number); err != nil {
		return nil, db.fail(err, "get access number %s", number)
	}
	return row.accessNumber(), nil
}

// ListAccessNumbers returns every access number by number.
func (db *DB) ListAccessNumbers(ctx context.Context) ([]*callback.AccessNumber, error) {
	var rows []accessNumberRow
	if err := db.r.SelectContext(ctx, &rows, "SELECT "+accessNumberColumns+" FROM access_numbers ORDER BY number"); err != nil {
		return nil, db.fail(err, "list access numbers")
	}
	out := make([]*callback.AccessNumber, len(rows))
	for i := range rows {
		out[i] = rows[i].accessNumber()
	}
	return out, nil
}

// DeleteAccessNumber removes number; ErrNotFound when there is none.
func (db *DB) DeleteAccessNumber(ctx context.Context, number string) error {
	defer db.accessWrites.Add(1)
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		return execMatched(ctx, tx, callback.ErrNotFound, "DELETE FROM access_numbers WHERE number = ?", number)
	})
	if err != nil {
		return db.fail(err, "delete access number %s", number)
	}
	return nil
}
