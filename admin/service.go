package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/callbackd/callbackd/callback"
)

// Service is the one place of the admin rules, for the admin API, the
// console and the command line.
type Service struct {
	Store Store
	// Realm is the SIP realm of HA1 values (ari.realm).
	Realm string
	// Notify is called after a request is made due now, so a dispatcher in
	// this process dials it at once.
	Notify func()
	Now    func() time.Time
	// BcryptCost is the cost of new operator and account passwords; 0 is
	// bcrypt.DefaultCost.
	BcryptCost int
	// Webhooks is the global webhook of the configuration, shown
	// read-only.
	Webhooks WebhookConfig
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) cost() int {
	if s.BcryptCost != 0 {
		return s.BcryptCost
	}
	return bcrypt.DefaultCost
}

// audit starts the entry of a change.
func (s *Service) audit(a Actor, action, object string) *AuditEntry {
	return &AuditEntry{Time: s.now().UTC(), Operator: a.Name, Action: action, Object: object,
		IdempotencyKey: a.IdempotencyKey, RequestHash: a.RequestHash}
}

// Replay is what a change sent again with the Idempotency-Key of an earlier
// one gets: the entry the first one wrote. Created is false then.
type Replay struct {
	Entry *AuditEntry
}

// ErrKeyReused: an Idempotency-Key came again with a different request.
var ErrKeyReused = fmt.Errorf("%w: the idempotency key was used for a different request", callback.ErrConflict)

// replayed looks up the entry of a's idempotency key: nil when the key is
// new (or there is none), ErrKeyReused when it was used for another
// request.
func (s *Service) replayed(ctx context.Context, a Actor, action string) (*AuditEntry, error) {
	if a.IdempotencyKey == "" {
		return nil, nil
	}
	e, err := s.Store.AuditByKey(ctx, a.Name, a.IdempotencyKey)
	switch {
	case errors.Is(err, callback.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case e.RequestHash != a.RequestHash || e.Action != action:
		return nil, ErrKeyReused
	}
	return e, nil
}

// afterConflict handles a create that failed: when the failure is the
// idempotency key taken by a concurrent twin, the twin's entry.
func (s *Service) afterConflict(ctx context.Context, a Actor, action string, err error) (*AuditEntry, error) {
	if !errors.Is(err, callback.ErrConflict) || a.IdempotencyKey == "" {
		return nil, err
	}
	e, rerr := s.replayed(ctx, a, action)
	if rerr != nil {
		return nil, rerr
	}
	if e == nil {
		return nil, err
	}
	return e, nil
}

// Operators.

var namePattern = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// usernamePattern is what an account's username may be: a name or a
// number (with its +), as the triggers look accounts up by either.
var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9._@+-]{1,64}$`)

// CreateOperator adds an operator; password may be empty (token only).
func (s *Service) CreateOperator(ctx context.Context, a Actor, name string, role Role, password string) (*Operator, error) {
	if err := a.Check(PermWrite); err != nil {
		return nil, err
	}
	if !namePattern.MatchString(name) || name == CLIActor.Name {
		return nil, &callback.ValidationError{Field: "name", Reason: `1 to 64 letters, digits and ._@- (and not "cli")`}
	}
	if !role.Valid() {
		return nil, &callback.ValidationError{Field: "role", Reason: fmt.Sprintf("%q: want admin, support or reporting", role)}
	}
	op := &Operator{Name: name, Role: role}
	if password != "" {
		h, err := s.hashPassword(password, minOperatorPassword)
		if err != nil {
			return nil, err
		}
		op.PasswordHash = h
	}
	if err := s.Store.CreateOperator(ctx, op, s.audit(a, "operator.create", "operator/"+name)); err != nil {
		return nil, err
	}
	return op, nil
}

// minOperatorPassword is the shortest operator password: an operator
// can change every account.
const minOperatorPassword = 8

func (s *Service) hashPassword(pw string, minLen int) (string, error) {
	if len(pw) < minLen || len(pw) > 72 {
		return "", &callback.ValidationError{Field: "password", Reason: fmt.Sprintf("%d to 72 bytes", max(minLen, 1))}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.cost())
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// SetOperator changes an operator's role, password (when not empty) or
// disabled flag, guarded by ifMatch (OperatorETag) when not empty.
func (s *Service) SetOperator(ctx context.Context, a Actor, name, ifMatch string, role *Role, password *string, disabled *bool) (*Operator, error) {
	if err := a.Check(PermWrite); err != nil {
		return nil, err
	}
	var hash string
	if password != nil && *password != "" {
		var err error
		if hash, err = s.hashPassword(*password, minOperatorPassword); err != nil {
			return nil, err
		}
	}
	return s.Store.EditOperator(ctx, name, func(op *Operator) error {
		if ifMatch != "" && ifMatch != OperatorETag(op) {
			return ErrPreconditionFailed
		}
		if role != nil {
			if !role.Valid() {
				return &callback.ValidationError{Field: "role", Reason: fmt.Sprintf("%q: want admin, support or reporting", *role)}
			}
			op.Role = *role
		}
		if password != nil {
			op.PasswordHash = hash
		}
		if disabled != nil {
			op.Disabled = *disabled
		}
		return nil
	}, s.audit(a, "operator.update", "operator/"+name))
}

// NewToken makes an API token for operator name and returns its text,
// which is shown once: only its hash is stored.
func (s *Service) NewToken(ctx context.Context, a Actor, name, label string) (string, error) {
	if err := a.Check(PermWrite); err != nil {
		return "", err
	}
	if utf8.RuneCountInString(label) > 255 {
		return "", &callback.ValidationError{Field: "label", Reason: "at most 255 characters"}
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	tok := "cbd_" + base64.RawURLEncoding.EncodeToString(b[:])
	t := &Token{Operator: name, Hash: TokenHash(tok), Label: label}
	if err := s.Store.AddToken(ctx, t, s.audit(a, "operator.token", "operator/"+name)); err != nil {
		return "", err
	}
	return tok, nil
}

// TokenHash is the stored form of an API token.
func TokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// ErrBadCredentials: an unknown or disabled operator, a wrong password or
// token. All read the same.
var ErrBadCredentials = errors.New("bad operator credentials")

// ByToken returns the operator whose API token tok is.
func (s *Service) ByToken(ctx context.Context, tok string) (*Operator, error) {
	if tok == "" || len(tok) > 256 {
		return nil, ErrBadCredentials
	}
	op, err := s.Store.OperatorByToken(ctx, TokenHash(tok))
	switch {
	case errors.Is(err, callback.ErrNotFound):
		return nil, ErrBadCredentials
	case err != nil:
		return nil, err
	case op.Disabled:
		return nil, ErrBadCredentials
	}
	return op, nil
}

// dummyHash is compared with when the operator does not exist, so an
// unknown name costs the time of a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("callbackd-no-such-operator"), bcrypt.DefaultCost)

// Login checks an operator's password (the console's login).
func (s *Service) Login(ctx context.Context, name, password string) (*Operator, error) {
	op, err := s.Store.GetOperator(ctx, name)
	if err != nil && !errors.Is(err, callback.ErrNotFound) {
		return nil, err
	}
	hash := dummyHash
	if op != nil && op.PasswordHash != "" {
		hash = []byte(op.PasswordHash)
	}
	ok := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	if op == nil || op.PasswordHash == "" || op.Disabled || !ok {
		return nil, ErrBadCredentials
	}
	return op, nil
}

// ListOperators lists the operators by name.
func (s *Service) ListOperators(ctx context.Context, a Actor) ([]*Operator, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	return s.Store.ListOperators(ctx)
}

// ListAudit lists audit entries, newest first.
func (s *Service) ListAudit(ctx context.Context, a Actor, f AuditFilter) ([]*AuditEntry, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	return s.Store.ListAudit(ctx, f)
}

// Accounts.

// AccountSettings are an account's settings as an operator writes them:
// money as decimal strings in the account's currency. A create takes
// every field; an update starts from the current values, so a surface
// fills in only what it was given.
type AccountSettings struct {
	Username         string  `json:"username"`
	Currency         string  `json:"currency"`
	CreditLimit      string  `json:"credit_limit"`
	DailyCap         string  `json:"daily_cap"`
	MaxSessions      int     `json:"max_sessions"`
	AssociatedNumber string  `json:"associated_number"`
	Language         string  `json:"language"`
	Tariff           string  `json:"tariff"`
	Blocked          bool    `json:"blocked"`
	Password         *string `json:"password,omitempty"` // nil: unchanged; "": none
	PIN              *string `json:"pin,omitempty"`      // nil: unchanged; "": none
	// SIP stores the password's HA1 too; it needs Password.
	SIP bool `json:"sip,omitempty"`
	// Balance is the opening balance of a create (a ledger entry); an
	// update refuses it: balances move through ledger entries.
	Balance string `json:"balance,omitempty"`
}

// SettingsOf is the settings of a, for an update to start from.
func SettingsOf(a *callback.Account) AccountSettings {
	return AccountSettings{Username: a.Username, Currency: a.Currency, CreditLimit: a.CreditLimit.String(),
		DailyCap: a.DailyCap.String(), MaxSessions: a.MaxSessions, AssociatedNumber: a.AssociatedNumber,
		Language: a.Language, Tariff: a.Tariff, Blocked: a.Blocked}
}

// NewAccountSettings is what a create starts from: the command line's
// defaults.
func NewAccountSettings() AccountSettings {
	return AccountSettings{Currency: "USD", CreditLimit: "0", DailyCap: "0", MaxSessions: 2, Language: "en", Tariff: "default"}
}

var languagePattern = regexp.MustCompile(`^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})?$`)
var tariffPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// apply checks st and writes it onto acct, naming the field of the first
// value that is wrong.
func (s *Service) apply(st AccountSettings, acct *callback.Account, create bool) error {
	bad := func(field, why string) error { return &callback.ValidationError{Field: field, Reason: why} }
	if create {
		if !usernamePattern.MatchString(st.Username) {
			return bad("username", "1 to 64 letters, digits and ._@+-")
		}
		acct.Username = st.Username
		c := strings.ToUpper(st.Currency)
		if a, err := callback.ParseAmount("0 " + c); err != nil || a.Currency != c {
			return bad("currency", fmt.Sprintf("%q is not a 3-letter ISO 4217 code", st.Currency))
		}
		acct.Currency = c
	} else if st.Currency != acct.Currency {
		return bad("currency", "cannot change: the balance and the CDRs are in the account's currency")
	}
	var err error
	if acct.CreditLimit, err = callback.ParseMoney(st.CreditLimit); err != nil {
		return bad("credit_limit", err.Error())
	}
	if acct.CreditLimit > 0 {
		return bad("credit_limit", "the lowest balance allowed: 0 for prepaid, negative for postpaid")
	}
	if acct.DailyCap, err = callback.ParseMoney(st.DailyCap); err != nil {
		return bad("daily_cap", err.Error())
	}
	if acct.DailyCap < 0 {
		return bad("daily_cap", "negative; 0 means no cap")
	}
	acct.MaxSessions = st.MaxSessions
	if err := acct.CheckMaxSessions(); err != nil {
		return err
	}
	if st.AssociatedNumber != "" && !callback.ValidDestination(strings.TrimPrefix(st.AssociatedNumber, "+")) {
		return bad("associated_number", fmt.Sprintf("%q is not a phone number", st.AssociatedNumber))
	}
	acct.AssociatedNumber = st.AssociatedNumber
	if st.Language != "" && !languagePattern.MatchString(st.Language) {
		return bad("language", fmt.Sprintf("%q is not a language code such as en or pt_BR", st.Language))
	}
	acct.Language = st.Language
	if st.Tariff != "" && !tariffPattern.MatchString(st.Tariff) {
		return bad("tariff", "1 to 64 letters, digits and ._-")
	}
	acct.Tariff = st.Tariff
	acct.Blocked = st.Blocked
	if st.SIP && (st.Password == nil || *st.Password == "") {
		return bad("sip", "needs a password")
	}
	if st.Password != nil {
		acct.PasswordHash, acct.HA1 = "", ""
		if *st.Password != "" {
			if acct.PasswordHash, err = s.hashPassword(*st.Password, 1); err != nil {
				return err
			}
			if st.SIP {
				acct.HA1 = callback.HA1(acct.Username, s.Realm, *st.Password)
			}
		}
	}
	if st.PIN != nil {
		if *st.PIN != "" && (len(*st.PIN) < 4 || len(*st.PIN) > 16 || strings.Trim(*st.PIN, "0123456789") != "") {
			return bad("pin", "4 to 16 digits")
		}
		acct.PIN, acct.PINHash, acct.PINKeyID = *st.PIN, "", ""
	}
	return nil
}

// CreateAccount creates an account from st; an opening balance is a ledger
// entry in the same transaction. created is false when the actor's
// idempotency key replays an earlier create.
func (s *Service) CreateAccount(ctx context.Context, a Actor, st AccountSettings) (acct *callback.Account, created bool, err error) {
	if err := a.Check(PermWrite); err != nil {
		return nil, false, err
	}
	const action = "account.create"
	if e, err := s.replayed(ctx, a, action); err != nil || e != nil {
		return s.replayAccount(ctx, e, err)
	}
	acct = &callback.Account{}
	if err := s.apply(st, acct, true); err != nil {
		return nil, false, err
	}
	if st.Balance != "" {
		if acct.Balance, err = callback.ParseMoney(st.Balance); err != nil {
			return nil, false, &callback.ValidationError{Field: "balance", Reason: err.Error()}
		}
	}
	err = s.Store.CreateAccountAudited(ctx, acct, s.audit(a, action, "account/"+acct.Username))
	if err != nil {
		e, err := s.afterConflict(ctx, a, action, err)
		return s.replayAccount(ctx, e, err)
	}
	return acct, true, nil
}

func (s *Service) replayAccount(ctx context.Context, e *AuditEntry, err error) (*callback.Account, bool, error) {
	if err != nil {
		return nil, false, err
	}
	acct, err := s.Store.GetAccount(ctx, strings.TrimPrefix(e.Object, "account/"))
	return acct, false, err
}

// GetAccount returns an account with its caller IDs.
func (s *Service) GetAccount(ctx context.Context, a Actor, username string) (*callback.Account, []callback.AccountCLI, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, nil, err
	}
	acct, err := s.Store.GetAccount(ctx, username)
	if err != nil {
		return nil, nil, err
	}
	clis, err := s.Store.ListCLIs(ctx, username)
	return acct, clis, err
}

// ListAccounts returns a page of accounts by username.
func (s *Service) ListAccounts(ctx context.Context, a Actor, f AccountFilter) ([]*callback.Account, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if f.Tariff != "" && !tariffPattern.MatchString(f.Tariff) {
		return nil, &callback.ValidationError{Field: "tariff", Reason: "1 to 64 letters, digits and ._-"}
	}
	return s.Store.ListAccountsPage(ctx, f)
}

// UpdateAccount changes the settings of username: edit gets the current
// settings and changes what it was given. ifMatch, when not empty, must be
// the account's AccountETag, or nothing changes (ErrPreconditionFailed).
func (s *Service) UpdateAccount(ctx context.Context, a Actor, username, ifMatch string, edit func(st *AccountSettings) error) (*callback.Account, error) {
	if err := a.Check(PermWrite); err != nil {
		return nil, err
	}
	return s.Store.EditAccount(ctx, username, func(acct *callback.Account) error {
		if ifMatch != "" && ifMatch != AccountETag(acct) {
			return ErrPreconditionFailed
		}
		st := SettingsOf(acct)
		if err := edit(&st); err != nil {
			return err
		}
		if st.Username != acct.Username {
			return &callback.ValidationError{Field: "username", Reason: "cannot change"}
		}
		if st.Balance != "" {
			return &callback.ValidationError{Field: "balance", Reason: "moves only through ledger entries (top-up, adjustment)"}
		}
		return s.apply(st, acct, false)
	}, s.audit(a, "account.update", "account/"+username))
}

// SetBlocked blocks or unblocks an account.
func (s *Service) SetBlocked(ctx context.Context, a Actor, username, ifMatch string, blocked bool) (*callback.Account, error) {
	action := "account.unblock"
	if blocked {
		action = "account.block"
	}
	if err := a.Check(PermWrite); err != nil {
		return nil, err
	}
	return s.Store.EditAccount(ctx, username, func(acct *callback.Account) error {
		if ifMatch != "" && ifMatch != AccountETag(acct) {
			return ErrPreconditionFailed
		}
		acct.Blocked = blocked
		return nil
	}, s.audit(a, action, "account/"+username))
}

// maxReason bounds a ledger entry's reason.
const maxReason = 1024

// PostLedger adds a top-up (positive) or an adjustment (either sign, not
// zero) to an account's balance with its reason; the entry and the new
// balance are written in one transaction. created is false when the
// actor's idempotency key replays an earlier entry, whose account is
// returned as it is now.
func (s *Service) PostLedger(ctx context.Context, a Actor, e *LedgerEntry) (acct *callback.Account, created bool, err error) {
	if err := a.Check(PermWrite); err != nil {
		return nil, false, err
	}
	action := "account." + string(e.Kind)
	switch {
	case e.Kind != LedgerTopUp && e.Kind != LedgerAdjustment:
		return nil, false, &callback.ValidationError{Field: "kind", Reason: fmt.Sprintf("%q: want topup or adjustment", e.Kind)}
	case e.SetTo == nil && e.Kind == LedgerTopUp && e.Amount <= 0:
		return nil, false, &callback.ValidationError{Field: "amount", Reason: "a top-up is positive; use an adjustment to take money away"}
	case e.SetTo == nil && e.Amount == 0:
		return nil, false, &callback.ValidationError{Field: "amount", Reason: "zero changes nothing"}
	case strings.TrimSpace(e.Reason) == "":
		return nil, false, &callback.ValidationError{Field: "reason", Reason: "required: why the balance moves"}
	case len(e.Reason) > maxReason:
		return nil, false, &callback.ValidationError{Field: "reason", Reason: fmt.Sprintf("at most %d bytes", maxReason)}
	}
	if rep, err := s.replayed(ctx, a, action); err != nil || rep != nil {
		return s.replayAccount(ctx, rep, err)
	}
	e.Operator, e.Time = a.Name, s.now().UTC()
	acct, err = s.Store.PostLedger(ctx, e, s.audit(a, action, "account/"+e.Username))
	if err != nil {
		rep, err := s.afterConflict(ctx, a, action, err)
		return s.replayAccount(ctx, rep, err)
	}
	return acct, true, nil
}

// ListLedger lists an account's ledger entries, newest first.
func (s *Service) ListLedger(ctx context.Context, a Actor, username string, beforeID int64, limit int) ([]*LedgerEntry, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if _, err := s.Store.GetAccount(ctx, username); err != nil {
		return nil, err
	}
	return s.Store.ListLedger(ctx, username, beforeID, limit)
}

// NormalizeCLI checks a caller ID and returns it as stored (E.164
// digits without +).
func NormalizeCLI(cli string) (string, error) {
	c := strings.TrimPrefix(strings.TrimSpace(cli), "+")
	if !callback.ValidDestination(c) {
		return "", &callback.ValidationError{Field: "cli", Reason: fmt.Sprintf("%q is not a phone number", cli)}
	}
	return c, nil
}

// AddCLI maps a caller ID to an account.
func (s *Service) AddCLI(ctx context.Context, a Actor, username, cli string) (callback.AccountCLI, error) {
	if err := a.Check(PermWrite); err != nil {
		return callback.AccountCLI{}, err
	}
	c, err := NormalizeCLI(cli)
	if err != nil {
		return callback.AccountCLI{}, err
	}
	m := callback.AccountCLI{CLI: c, Username: username}
	if err := s.Store.AddCLIAudited(ctx, m, s.audit(a, "account.cli.add", "account/"+username)); err != nil {
		return m, err
	}
	return m, nil
}

// RemoveCLI unmaps a caller ID from an account.
func (s *Service) RemoveCLI(ctx context.Context, a Actor, username, cli string) error {
	if err := a.Check(PermWrite); err != nil {
		return err
	}
	c, err := NormalizeCLI(cli)
	if err != nil {
		return err
	}
	return s.Store.RemoveCLI(ctx, callback.AccountCLI{CLI: c, Username: username}, s.audit(a, "account.cli.remove", "account/"+username))
}

// Access numbers.

// checkAccessNumber validates n (callback.AccessNumber.Validate) and the
// accounts it names.
func (s *Service) checkAccessNumber(ctx context.Context, n *callback.AccessNumber) error {
	if err := n.Validate(); err != nil {
		return err
	}
	for _, f := range []struct{ field, user string }{
		{"default_account_username", n.DefaultAccountUsername}, {"internal_account", n.InternalAccount},
	} {
		if f.user == "" {
			continue
		}
		if _, err := s.Store.GetAccount(ctx, f.user); err != nil {
			if errors.Is(err, callback.ErrNotFound) {
				return &callback.ValidationError{Field: f.field, Reason: fmt.Sprintf("no account %q", f.user)}
			}
			return err
		}
	}
	if err := s.checkIVRID(ctx, n.IsCallback); err != nil {
		return err
	}
	n.ApplyDefaults()
	return nil
}

// checkIVRID refuses an iscallback that names an IVR (8 or more, Mizu's
// "other=ivr id to use") which the store does not have.
func (s *Service) checkIVRID(ctx context.Context, iscallback int) error {
	if iscallback < callback.FirstIVRID {
		return nil
	}
	is, ok := s.Store.(callback.IVRStore)
	if !ok {
		return &callback.ValidationError{Field: "iscallback", Reason: "this store keeps no IVRs"}
	}
	if _, err := is.GetIVR(ctx, iscallback); err != nil {
		if errors.Is(err, callback.ErrNotFound) {
			return &callback.ValidationError{Field: "iscallback", Reason: fmt.Sprintf(
				"no IVR %d: add it first (callbackd access ivr -id %d -subapp callingcard)", iscallback, iscallback)}
		}
		return fmt.Errorf("look up IVR %d: %w", iscallback, err)
	}
	return nil
}

// PutAccessNumber creates (create) or changes an access number: edit
// writes the given options onto the current view (the seed's defaults for
// a create). ifMatch, when not empty, must be AccessNumberETag.
func (s *Service) PutAccessNumber(ctx context.Context, a Actor, number string, create bool, ifMatch string, edit func(v *AccessNumberView) error) (*callback.AccessNumber, bool, error) {
	if err := a.Check(PermWrite); err != nil {
		return nil, false, err
	}
	action := "access_number.update"
	if create {
		action = "access_number.create"
		if e, err := s.replayed(ctx, a, action); err != nil || e != nil {
			return s.replayAccessNumber(ctx, e, err)
		}
	}
	// The accounts the options name are checked before the transaction:
	// SQLite has one writer connection, which the edit holds.
	var checked *callback.AccessNumber
	build := func(cur *callback.AccessNumber) (*callback.AccessNumber, error) {
		v := NewAccessNumberView()
		if cur != nil {
			v = ViewAccessNumber(cur)
		}
		if err := edit(&v); err != nil {
			return nil, err
		}
		if v.Number != number {
			return nil, &callback.ValidationError{Field: "number", Reason: "cannot change; create the new number and delete this one"}
		}
		return v.AccessNumber(), nil
	}
	if !create {
		cur, err := s.Store.GetAccessNumber(ctx, number)
		if err != nil {
			return nil, false, err
		}
		if checked, err = build(cur); err != nil {
			return nil, false, err
		}
	} else {
		var err error
		if checked, err = build(nil); err != nil {
			return nil, false, err
		}
	}
	if err := s.checkAccessNumber(ctx, checked); err != nil {
		return nil, false, err
	}
	n, err := s.Store.EditAccessNumber(ctx, number, create, func(n *callback.AccessNumber) error {
		if !create && ifMatch != "" && ifMatch != AccessNumberETag(n) {
			return ErrPreconditionFailed
		}
		cur := n
		if create {
			cur = nil
		}
		next, err := build(cur)
		if err != nil {
			return err
		}
		if err := next.Validate(); err != nil {
			return err
		}
		next.ApplyDefaults()
		if next.DefaultAccountUsername != checked.DefaultAccountUsername || next.InternalAccount != checked.InternalAccount {
			return ErrPreconditionFailed
		}
		*n = *next
		return nil
	}, s.audit(a, action, "access_number/"+number))
	if err != nil && create {
		e, err := s.afterConflict(ctx, a, action, err)
		return s.replayAccessNumber(ctx, e, err)
	}
	return n, err == nil, err
}

func (s *Service) replayAccessNumber(ctx context.Context, e *AuditEntry, err error) (*callback.AccessNumber, bool, error) {
	if err != nil {
		return nil, false, err
	}
	n, err := s.Store.GetAccessNumber(ctx, strings.TrimPrefix(e.Object, "access_number/"))
	return n, false, err
}

// DeleteAccessNumber removes an access number, guarded by ifMatch when
// not empty.
func (s *Service) DeleteAccessNumber(ctx context.Context, a Actor, number, ifMatch string) error {
	if err := a.Check(PermWrite); err != nil {
		return err
	}
	return s.Store.DeleteAccessNumberAudited(ctx, number, func(n *callback.AccessNumber) error {
		if ifMatch != "" && ifMatch != AccessNumberETag(n) {
			return ErrPreconditionFailed
		}
		return nil
	}, s.audit(a, "access_number.delete", "access_number/"+number))
}

// Requests.

// CancelRequest cancels a callback request (support may).
func (s *Service) CancelRequest(ctx context.Context, a Actor, id int64) (*callback.Request, error) {
	if err := a.Check(PermCancel); err != nil {
		return nil, err
	}
	return s.Store.CancelAudited(ctx, id, s.now(), s.audit(a, "request.cancel", fmt.Sprintf("request/%d", id)))
}

// RetryRequest makes an unfinished request that no node holds due now.
func (s *Service) RetryRequest(ctx context.Context, a Actor, id int64) (*callback.Request, error) {
	if err := a.Check(PermWrite); err != nil {
		return nil, err
	}
	r, err := s.Store.RetryNow(ctx, id, s.now(), s.audit(a, "request.retry", fmt.Sprintf("request/%d", id)))
	if err == nil && s.Notify != nil {
		s.Notify()
	}
	return r, err
}
