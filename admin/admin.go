// Package admin is the operator's side of callbackd: operators with roles
// and API tokens, the audit log of every change they make, and the
// services the admin API, the console and the command line share for
// accounts (settings, ledger entries for the balance, caller IDs), access
// numbers, callback requests, webhook notifications, CDR export and
// reports. Each rule lives here once; the surfaces only translate input
// and output.
//
// Every change goes through a Service method with an Actor (who, with
// which role, and the request's idempotency key); the store writes the
// change and its audit entry in one transaction.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// Role is what an operator may do.
type Role string

// The roles of the issue: admin changes everything, support reads,
// cancels callback requests and resends webhook notifications, reporting
// reads only.
const (
	RoleAdmin     Role = "admin"
	RoleSupport   Role = "support"
	RoleReporting Role = "reporting"
)

// Roles lists the roles, most powerful first.
var Roles = []Role{RoleAdmin, RoleSupport, RoleReporting}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleSupport || r == RoleReporting }

// Permission is a kind of operation, checked against a Role.
type Permission int

// The permissions, from least to most.
const (
	PermRead   Permission = iota // list, get, export, reports
	PermCancel                   // cancel a callback request
	PermResend                   // send a webhook notification again
	PermWrite                    // every other change
)

func (p Permission) String() string {
	switch p {
	case PermRead:
		return "read"
	case PermCancel:
		return "cancel"
	case PermResend:
		return "resend"
	}
	return "write"
}

// Allows reports whether r may do p.
func (r Role) Allows(p Permission) bool {
	switch r {
	case RoleAdmin:
		return true
	case RoleSupport:
		return p == PermRead || p == PermCancel || p == PermResend
	case RoleReporting:
		return p == PermRead
	}
	return false
}

// Operator is a person or program that runs callbackd through the admin
// API, the console or the command line.
type Operator struct {
	ID           int64
	Name         string
	Role         Role
	PasswordHash string // bcrypt; never logged or shown
	Disabled     bool
	Created      time.Time
}

// Token is an operator's API token as stored: its SHA-256, never the token.
type Token struct {
	ID       int64
	Operator string
	Hash     string // hex SHA-256 of the token's text
	Label    string
	Created  time.Time
}

// Actor is who makes a change and how: the operator, their role, and the
// Idempotency-Key of the request with a hash of what it asked, so that the
// same request sent twice changes things once.
type Actor struct {
	Name           string
	Role           Role
	IdempotencyKey string
	RequestHash    string
}

// CLIActor is the actor of the command line, which runs with the
// database's credentials and so with every right.
var CLIActor = Actor{Name: "cli", Role: RoleAdmin}

// AuditEntry is one change: who, when, what, on which object, and the
// object before (nil for a creation) and after (nil for a deletion).
type AuditEntry struct {
	ID             int64
	Time           time.Time
	Operator       string
	Action         string // e.g. account.update
	Object         string // e.g. account/801
	Before         json.RawMessage
	After          json.RawMessage
	IdempotencyKey string
	RequestHash    string
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	Operator string
	Object   string
	BeforeID int64 // cursor: only ids below this
	Limit    int
}

// LedgerKind is why a balance moved.
type LedgerKind string

// The ledger entries an operator makes.
const (
	LedgerTopUp      LedgerKind = "topup"      // money paid in: positive
	LedgerAdjustment LedgerKind = "adjustment" // a correction of either sign
)

// LedgerEntry is one change of a balance made by an operator.
type LedgerEntry struct {
	ID           int64
	Time         time.Time
	Username     string
	Kind         LedgerKind
	Amount       callback.Money // added to the balance; negative takes away
	BalanceAfter callback.Money
	Currency     string
	Reason       string
	Operator     string
	// SetTo, when not nil, makes Amount what takes the balance to it,
	// computed under the account's row lock (the command line's
	// "account balance -set").
	SetTo *callback.Money
}

// AccountFilter selects accounts for a page, by username.
type AccountFilter struct {
	UsernamePrefix string
	Blocked        *bool
	Tariff         string
	Currency       string
	After          string // cursor: only usernames after this
	Limit          int
}

// CDRFilter selects CDRs by start time [From, To), account and leg.
type CDRFilter struct {
	From, To time.Time
	Account  string
	Leg      callback.Leg
	BeforeID int64 // cursor of a page, which is newest first: only ids below this
	Limit    int
}

// ReportBy is the second dimension of a report, after the day.
type ReportBy string

// The report dimensions.
const (
	ByAccount      ReportBy = "account"
	ByAccessNumber ReportBy = "access_number"
	ByPrefix       ReportBy = "prefix"
)

// Valid reports whether b is a report dimension.
func (b ReportBy) Valid() bool { return b == ByAccount || b == ByAccessNumber || b == ByPrefix }

// ReportFilter selects the CDRs a report sums.
type ReportFilter struct {
	From, To time.Time
	By       ReportBy
	Account  string
	Leg      callback.Leg
}

// ReportRow is one day × key × currency of a report. The sums are the
// database's; ASR and ACD derive from them.
type ReportRow struct {
	Day      string // YYYY-MM-DD, UTC
	Key      string // the account, access number or prefix ("" when none)
	Currency string
	Attempts int64 // legs
	Answered int64 // legs with an answer time
	BillSec  int64 // billed seconds
	Revenue  callback.Money
}

// ASR is the answer-seizure ratio in percent, to two decimals (rounded
// half up), as basis points: 5000 is 50.00 %.
func (r ReportRow) ASR() int64 {
	if r.Attempts == 0 {
		return 0
	}
	return (r.Answered*10000*2 + r.Attempts) / (2 * r.Attempts)
}

// ACD is the average call duration of answered legs, in whole seconds
// rounded half up.
func (r ReportRow) ACD() int64 {
	if r.Answered == 0 {
		return 0
	}
	return (r.BillSec*2 + r.Answered) / (2 * r.Answered)
}

// Store is what the admin services need of a store beyond callback.Store.
// Both SQL stores implement it. Every method that changes something takes
// the audit entry to write in the same transaction (its Before and After
// filled by the store with Snapshot); an entry whose (Operator,
// IdempotencyKey) is taken fails with callback.ErrConflict and changes
// nothing.
type Store interface {
	callback.Store
	ConsoleStore
	LiveStore

	CreateOperator(ctx context.Context, op *Operator, audit *AuditEntry) error
	GetOperator(ctx context.Context, name string) (*Operator, error)
	ListOperators(ctx context.Context) ([]*Operator, error)
	// EditOperator applies edit to the operator under its row lock.
	EditOperator(ctx context.Context, name string, edit func(op *Operator) error, audit *AuditEntry) (*Operator, error)
	AddToken(ctx context.Context, t *Token, audit *AuditEntry) error
	// OperatorByToken returns the operator holding the token whose hash
	// is hash; ErrNotFound when none does.
	OperatorByToken(ctx context.Context, hash string) (*Operator, error)

	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
	// AuditByKey returns the entry operator wrote with key; ErrNotFound.
	AuditByKey(ctx context.Context, operator, key string) (*AuditEntry, error)

	ListAccountsPage(ctx context.Context, f AccountFilter) ([]*callback.Account, error)
	CreateAccountAudited(ctx context.Context, a *callback.Account, audit *AuditEntry) error
	// EditAccount applies edit to the account under its row lock and
	// writes every field but the balance, as UpdateAccount does.
	EditAccount(ctx context.Context, username string, edit func(a *callback.Account) error, audit *AuditEntry) (*callback.Account, error)
	// PostLedger adds e.Amount to the balance of e.Username and records e
	// (ID, Time, BalanceAfter and Currency filled), in one transaction.
	PostLedger(ctx context.Context, e *LedgerEntry, audit *AuditEntry) (*callback.Account, error)
	ListLedger(ctx context.Context, username string, beforeID int64, limit int) ([]*LedgerEntry, error)
	AddCLIAudited(ctx context.Context, c callback.AccountCLI, audit *AuditEntry) error
	// RemoveCLI unmaps c.CLI from c.Username; ErrNotFound when it is not
	// theirs.
	RemoveCLI(ctx context.Context, c callback.AccountCLI, audit *AuditEntry) error

	// EditAccessNumber creates number (create: ErrConflict when it
	// exists) or changes it (ErrNotFound when it does not), applying edit
	// under the row lock.
	EditAccessNumber(ctx context.Context, number string, create bool, edit func(n *callback.AccessNumber) error, audit *AuditEntry) (*callback.AccessNumber, error)
	DeleteAccessNumberAudited(ctx context.Context, number string, check func(n *callback.AccessNumber) error, audit *AuditEntry) error

	// CancelAudited is Store.Cancel with the audit entry.
	CancelAudited(ctx context.Context, id int64, now time.Time, audit *AuditEntry) (*callback.Request, error)
	// RetryNow makes an unfinished request that no node holds due at now
	// (a request in Waiting for retry, or one scheduled later), noting it
	// in its history. A finished or held one is ErrInvalid.
	RetryNow(ctx context.Context, id int64, now time.Time, audit *AuditEntry) (*callback.Request, error)

	// ListCDRsPage returns a page of the CDRs f selects, newest (highest
	// id) first.
	ListCDRsPage(ctx context.Context, f CDRFilter) ([]*callback.CDR, error)

	// ImportRatesAudited is Tariffs.ImportRates with the audit entry.
	ImportRatesAudited(ctx context.Context, tariff string, rates []callback.TariffRate, replace bool, audit *AuditEntry) (int, error)
	// PutCurrencyAudited is Tariffs.PutCurrency with the audit entry.
	PutCurrencyAudited(ctx context.Context, c callback.Currency, audit *AuditEntry) error
	// EachCDR calls fn with each CDR f selects, by start time then id,
	// reading them a page at a time from the database; an error of fn
	// stops it and is returned. fn must not keep the CDR it is given: the
	// same one is refilled for the next row.
	EachCDR(ctx context.Context, f CDRFilter, fn func(*callback.CDR) error) error
	// Report sums the CDRs f selects per day (UTC), f.By and currency.
	Report(ctx context.Context, f ReportFilter) ([]ReportRow, error)

	// The webhook outbox and the accounts' webhooks.
	ListDeliveries(ctx context.Context, f webhook.Filter) ([]*webhook.Delivery, error)
	// GetDelivery returns outbox row id, or ErrNotFound.
	GetDelivery(ctx context.Context, id int64) (*webhook.Delivery, error)
	// ListDeliveryAttempts returns the attempts kept of outbox row id,
	// oldest first.
	ListDeliveryAttempts(ctx context.Context, id int64) ([]*webhook.Attempt, error)
	// ResendDelivery makes outbox row id pending and due at now, with a
	// new retry window from now, whatever its state (a sender holding it
	// loses its lease); ErrNotFound for an unknown id.
	ResendDelivery(ctx context.Context, id int64, now time.Time, audit *AuditEntry) (*webhook.Delivery, error)
	// GetAccountWebhook returns an account's webhook, or ErrNotFound.
	GetAccountWebhook(ctx context.Context, username string) (*webhook.AccountWebhook, error)
	// EditAccountWebhook applies edit, under the account's row lock, to
	// its webhook (nil when it has none) and stores what edit returns:
	// a webhook to set, or nil to remove it. ErrNotFound for an unknown
	// account.
	EditAccountWebhook(ctx context.Context, username string,
		edit func(cur *webhook.AccountWebhook) (*webhook.AccountWebhook, error), audit *AuditEntry) (*webhook.AccountWebhook, error)
}

// ErrPreconditionFailed: the If-Match ETag names a version of the object
// that is no longer the current one; someone changed it in between.
var ErrPreconditionFailed = errors.New("precondition failed: the object changed")

// ErrForbidden: the operator's role does not allow the operation.
var ErrForbidden = errors.New("forbidden")

// ForbiddenError says which permission a role lacks.
type ForbiddenError struct {
	Role Role
	Need Permission
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("role %s may not %s", e.Role, e.Need)
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Check returns a *ForbiddenError when a may not do p.
func (a Actor) Check(p Permission) error {
	if !a.Role.Allows(p) {
		return &ForbiddenError{Role: a.Role, Need: p}
	}
	return nil
}
