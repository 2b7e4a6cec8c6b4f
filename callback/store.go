package callback

import (
	"context"
	"time"
)

// Lease is the claim a node holds on a request. Every update made under it
// is guarded by all three fields, so a node that lost its lease (it stalled,
// and the rescuer gave the row to another node) can never finish the row.
type Lease struct {
	RequestID int64
	Attempt   int
	Owner     string
}

// Change is one guarded update of a request: a move from From to To, plus
// the columns that move sets. Zero fields are left as they are.
type Change struct {
	From   Status
	To     Status
	Result Result

	NextCall       time.Time // Waiting for retry: when to try again
	CallID         string
	TwowayCallID   string
	CountCall      bool // call_count = call_count + 1 (an attempt was dialled)
	SetupTime      time.Time
	ConnectTime    time.Time
	DisconnectTime time.Time
	Cause          int
	SIPCode        int
	Error          string // stored in last_error
	Note           string // written to the history only
}

// RequestFilter selects requests for listing. Zero fields do not filter.
type RequestFilter struct {
	Status   Status
	Result   Result
	Username string
	CLI      string
	Source   Source
	Finished *bool
	AfterID  int64 // keyset paging: only ids greater than this
	Limit    int   // 0 means 100
}

// ClaimParams says who claims, at what time, how many rows and for how long.
type ClaimParams struct {
	Owner    string
	Now      time.Time
	Limit    int
	LeaseFor time.Duration
	// OnInvalid, when set, is told of every row the claim could not use
	// (see InvalidRow), after the claim's transaction has ended.
	OnInvalid func(InvalidRow)
}

// InvalidRow is a row the queue met that can never be read or dialled (a
// value a SQL client wrote that no request can hold: a flag of 7, a
// next_call that is not a time, a status the seed does not have). It was
// finished Finished / Invalid request, by its id, with last_error naming
// the column and the value; or, when even that write failed (Err), it was
// skipped, and the other rows were claimed as usual.
type InvalidRow struct {
	ID     int64
	Reason string // "<column> = <value>: <why>", as written to last_error
	Err    error  // the write that failed; nil when the row was finished
}

// RescueParams tells the rescuer what to do with expired leases.
type RescueParams struct {
	Now         time.Time
	MaxAttempts int           // a rescued dialled attempt past this finishes Out of retries
	Backoff     time.Duration // a rescued dialled attempt is retried after this
	// StaleOwnerPrefix, when set, also rescues at once every unexpired lease
	// whose owner starts with it but is not Self: leases this node held in a
	// previous life (it was killed and restarted).
	StaleOwnerPrefix string
	Self             string
	// OnInvalid, when set, is told of every row the rescuer finished (or
	// skipped) as an InvalidRow: it also sweeps unleased, unfinished rows
	// that no claim could ever take (a status the seed does not have or no
	// request waits in, a next_call that is not a time, finished other than
	// 0 or 1).
	OnInvalid func(InvalidRow)
}

// Queue is the callback_requests table used as a job queue.
type Queue interface {
	// CreateRequest inserts r, filling ID, CreationTime and the seed's
	// defaults; ErrConflict when r.RequestKey is taken.
	CreateRequest(ctx context.Context, r *Request) error
	GetRequest(ctx context.Context, id int64) (*Request, error)
	GetRequestByKey(ctx context.Context, key string) (*Request, error)
	ListRequests(ctx context.Context, f RequestFilter) ([]*Request, error)
	// PendingForCLI returns the oldest unfinished, uncanceled request that
	// would call cli back, or ErrNotFound: a caller who rings three times
	// gets one callback. Rows that will never call back are passed over:
	// unreadable ones (see InvalidRow), those in a status no request waits
	// or runs in, those Request.Validate refuses.
	PendingForCLI(ctx context.Context, cli string) (*Request, error)
	// PendingForCLISince is PendingForCLI that also passes over requests
	// that have waited since before since (Request.Age): too old to be
	// dialled, they end Expired when claimed and must not hold a new
	// callback back. The zero since passes over none.
	PendingForCLISince(ctx context.Context, cli string, since time.Time) (*Request, error)
	// History returns a request's events, oldest first; the first is its
	// creation, written by the database so rows inserted by SQL have it
	// too. ErrNotFound for an unknown id.
	History(ctx context.Context, id int64) ([]Event, error)

	// Cancel sets canceled; a request no node holds is finished Canceled at
	// once, a held one is finished by its holder, which hangs up its legs.
	// A finished request is returned unchanged; ErrNotFound for unknown ids.
	Cancel(ctx context.Context, id int64, now time.Time) (*Request, error)

	// Claim leases up to p.Limit unfinished, unleased rows with
	// next_call <= p.Now, oldest next_call first, incrementing attempt.
	// Concurrent claimers never get the same row. A candidate row that
	// cannot be read as a request is finished Invalid request instead (see
	// InvalidRow), so one bad row never fails the claim of the others.
	Claim(ctx context.Context, p ClaimParams) ([]*Request, error)
	// NextDue returns the earliest next_call of an unfinished, unleased row.
	NextDue(ctx context.Context) (time.Time, bool, error)
	// Update applies c under l; ErrLeaseLost if l no longer holds, a
	// *TransitionError if the move is illegal. Finished and Waiting for
	// retry release the lease.
	Update(ctx context.Context, l Lease, c Change) (*Request, error)
	// Renew extends l to until; ErrLeaseLost if l no longer holds.
	Renew(ctx context.Context, l Lease, until time.Time) error
	// Release gives the row back without a status change, due at nextCall
	// (zero: unchanged), recording note in the history. The row keeps its
	// age: due_since keeps the next_call it had when it was first given
	// back, until an Update sets a new next_call.
	Release(ctx context.Context, l Lease, nextCall time.Time, note string) error
	// Rescue returns expired leases to the queue (see RescueParams) and
	// reports how many rows it touched.
	Rescue(ctx context.Context, p RescueParams) (int, error)
	// CanceledHeld lists the ids of rows held by owner whose canceled flag
	// was set from outside.
	CanceledHeld(ctx context.Context, owner string) ([]int64, error)
	// LiveCalls counts the unfinished requests in a Live status paid by
	// username: their Payer, or their Username when Payer is empty.
	LiveCalls(ctx context.Context, username string) (int, error)
}

// Accounts stores accounts and their caller IDs.
type Accounts interface {
	CreateAccount(ctx context.Context, a *Account) error
	// UpdateAccount writes every field of the account named a.Username but
	// Balance, which only SetBalance and Settle move, so an edit never
	// undoes a concurrent debit. ErrNotFound, or ErrConflict for a taken PIN.
	UpdateAccount(ctx context.Context, a *Account) error
	GetAccount(ctx context.Context, username string) (*Account, error)
	AccountByPIN(ctx context.Context, pin string) (*Account, error)
	// AccountByCLI looks cli up in accounts (username, then associated
	// number, with or without a leading +), then in the account CLI map, as
	// seed 000 orders it.
	AccountByCLI(ctx context.Context, cli string) (*Account, error)
	ListAccounts(ctx context.Context) ([]*Account, error)
	SetBalance(ctx context.Context, username string, balance Money) error
	AddCLI(ctx context.Context, c AccountCLI) error
	ListCLIs(ctx context.Context, username string) ([]AccountCLI, error)
}

// AccessNumbers stores the access numbers and their options.
type AccessNumbers interface {
	// PutAccessNumber inserts or replaces n.
	PutAccessNumber(ctx context.Context, n *AccessNumber) error
	GetAccessNumber(ctx context.Context, number string) (*AccessNumber, error)
	ListAccessNumbers(ctx context.Context) ([]*AccessNumber, error)
	DeleteAccessNumber(ctx context.Context, number string) error
}

// Tariffs stores currencies and tariff rates.
type Tariffs interface {
	PutCurrency(ctx context.Context, c Currency) error
	GetCurrency(ctx context.Context, code string) (Currency, error)
	ListCurrencies(ctx context.Context) ([]Currency, error)
	// ImportRates writes rates into tariff, replacing the tariff's rates
	// when replace is true, in one transaction.
	ImportRates(ctx context.Context, tariff string, rates []TariffRate, replace bool) (int, error)
	ListRates(ctx context.Context, tariff string) ([]TariffRate, error)
	// TariffsVersion changes whenever any rate changes, so in-memory prefix
	// tables know when to reload.
	TariffsVersion(ctx context.Context) (int64, error)
}

// CDRFilter selects CDRs.
type CDRFilter struct {
	RequestID int64
	Account   string
	Limit     int
}

// Billing writes CDRs and moves money.
type Billing interface {
	// Settle records cdrs and debits their charges from the accounts named
	// in them, in one transaction, exactly once: a CDR whose
	// (request, leg, channel) is already recorded is skipped with its
	// charge. A debit never takes a balance below the credit limit; what
	// could not be charged is reported in the CDR's Charge. A CDR without
	// Account or Leg is ErrInvalid; an unknown account is ErrNotFound and
	// nothing of the batch is recorded. A duplicate CDR gets the recorded ID
	// and Charge.
	Settle(ctx context.Context, cdrs []*CDR) error
	ListCDRs(ctx context.Context, f CDRFilter) ([]*CDR, error)
	// SpentSince sums the charges of an account's CDRs that started at or
	// after t; the zero t sums them all.
	SpentSince(ctx context.Context, username string, t time.Time) (Money, error)

	// Reserve holds money for legs in progress, all of rs or none, so that
	// concurrent calls of one account cannot together spend more than it
	// has: each account's balance minus its credit limit minus the amounts
	// it already holds must cover what rs asks of it, or nothing is held and
	// the error is ErrInsufficientFunds. A reservation is keyed by (request,
	// leg, channel) like a CDR; reserving a key again replaces its amount,
	// number and answer time, and the check then leaves the old amount out.
	// Created is filled. An unknown account is ErrNotFound; a reservation
	// without Username or Leg, or with a negative Amount, is ErrInvalid.
	Reserve(ctx context.Context, rs ...*Reservation) error
	// ReleaseReservation drops the reservation of (request, leg, channel);
	// releasing one that is not there is not an error. (Release is the
	// queue's: it gives a request back.)
	ReleaseReservation(ctx context.Context, requestID int64, leg Leg, channelID string) error
	// ListReservations lists the reservations held by username, or all of
	// them for "", oldest first.
	ListReservations(ctx context.Context, username string) ([]*Reservation, error)
	// SettleAndRelease is Settle, and in the same transaction drops the
	// reservation of each CDR's (request, leg, channel), so that money is
	// never both held and charged. Settling the same CDRs again changes
	// nothing.
	SettleAndRelease(ctx context.Context, cdrs []*CDR) error
}

// Reservation is money held for one leg in progress, so that what the call
// may still spend is not promised to another call of the same account.
type Reservation struct {
	RequestID int64
	Leg       Leg
	ChannelID string // the leg's channel, as in its CDR
	Username  string // whose money is held
	Number    string // the number the leg calls, to rate it if its end is never seen
	Amount    Money
	Created   time.Time
	Answered  time.Time // when the leg answered; zero while it rings
}

// Store is everything callbackd keeps. store/mysql and store/sqlite
// implement it; store/storetest is the suite both pass.
type Store interface {
	Queue
	Accounts
	AccessNumbers
	Tariffs
	Billing
	// Ping checks the database is reachable, for /readyz.
	Ping(ctx context.Context) error
	Close() error
}
