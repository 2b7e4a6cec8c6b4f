// Package webhook tells operators' systems when a callback request changes
// status: a signed JSON POST to the global webhook (webhooks.url) and to
// the request's account's own webhook, on every status change or only when
// the request finishes.
//
// Notifications go through an outbox. The store writes one outbox row per
// webhook to tell in the same transaction that changes the request's
// status, so a committed change always has its notification and a change
// that rolled back has none. The Sender claims due rows with a lease (so
// several nodes share the work, and a row held by a node that died is sent
// again once the lease expires); the rows its own process writes while it
// has room are written already leased to it and handed to it when their
// transaction commits (Local), without a claim or a wait for the poll. It
// POSTs them and records the outcome:
// delivered on a 2xx answer, due again after an exponential backoff on
// anything else, failed once the retry window (a day by default) has
// passed. Delivery is at least once: a receiver may see a notification
// twice and tells copies apart by the Callbackd-Delivery header or the
// body's id. Sending never runs on the call path: a receiver that is slow,
// answers 5xx or is down delays only its own notifications.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// Events says which status changes a webhook is told of.
type Events string

const (
	// EventsAll: every status change.
	EventsAll Events = "all"
	// EventsFinal: only the change to Finished, with the request's result.
	EventsFinal Events = "final"
)

// ParseEvents reads an events setting; "" is EventsAll.
func ParseEvents(s string) (Events, error) {
	switch Events(s) {
	case "", EventsAll:
		return EventsAll, nil
	case EventsFinal:
		return EventsFinal, nil
	}
	return "", fmt.Errorf("events %q: want all or final: %w", s, callback.ErrInvalid)
}

// Wants reports whether a webhook with events e is told of a change to s.
func (e Events) Wants(s callback.Status) bool {
	return e != EventsFinal || s == callback.StatusFinished
}

// Policy is what the store needs to know to write the outbox: whether
// webhooks are on at all, whether and for which changes the global webhook
// is told, and which requesters get a reply when their callback ends.
// Account webhooks are looked up in the store itself.
type Policy struct {
	// Enabled turns the webhooks on (webhooks.enabled). Off, no status
	// change writes a webhook row, whatever the accounts' webhooks say.
	Enabled bool
	// Global: a global webhook (webhooks.url) is configured.
	Global       bool
	GlobalEvents Events
	// ReplyEmail and ReplySMS: a request made by email (SMS) that
	// finishes writes a reply to its sender's address (number).
	ReplyEmail bool
	ReplySMS   bool
}

// Channel is how an outbox row is sent.
type Channel string

const (
	ChannelWebhook Channel = "webhook" // POST to a webhook
	ChannelEmail   Channel = "email"   // a reply mailed to the requester through the SMTP relay
	ChannelSMS     Channel = "sms"     // a reply texted to the requester through the SMS gateway
)

// State is where an outbox row stands.
type State string

const (
	StatePending   State = "pending"   // to be sent, at NextAttempt
	StateDelivered State = "delivered" // a 2xx answer came
	StateFailed    State = "failed"    // the retry window passed; only a resend sends it again
)

// StateRetrying selects, in a list, the pending rows whose latest attempt
// failed: the notifications that are failing now and will be tried again.
// No row is stored in this state.
const StateRetrying State = "retrying"

// ParseState reads a state of a list's filter; "" is no state (no
// filter).
func ParseState(s string) (State, error) {
	switch State(s) {
	case "", StatePending, StateRetrying, StateDelivered, StateFailed:
		return State(s), nil
	}
	return "", fmt.Errorf("state %q: want pending, retrying, delivered or failed: %w", s, callback.ErrInvalid)
}

// Delivery is one outbox row: one notification of one status change to one
// webhook.
type Delivery struct {
	ID        int64
	RequestID int64
	EventID   int64 // the history line of the change (Payload's id)
	Channel   Channel
	Account   string          // a webhook row: "" the global webhook, else the account whose webhook
	Address   string          // a reply row: the email address or number of the requester
	Status    callback.Status // the request's status after the change
	Result    callback.Result
	Payload   []byte // the JSON body, as of the change
	Created   time.Time
	Queued    time.Time // start of the retry window
	State     State
	Attempts  int // POSTs tried so far, counting the one in flight
	// NextAttempt is when a pending row is due; while a sender holds the
	// row it is the lease's expiry, after which any sender may take it.
	NextAttempt  time.Time
	LeaseOwner   string
	LeaseExpires time.Time
	LastCode     int // HTTP status of the latest attempt; 0: no answer
	LastError    string
	Delivered    time.Time

	// URL and Secret are the account's webhook as it is now, filled by
	// ClaimDeliveries for an account's row (for a row handed over to the
	// local sender, as the change found it); empty when the account has
	// none any more.
	URL    string
	Secret string
}

// Local is a sender running in the process that writes the outbox: the
// store hands it the rows it writes, once their transaction has committed,
// so they are sent at once, without a claim. A row handed over is written
// already leased to the sender (Reserve's owner and expiry, its first
// attempt counted), so no other sender takes it, and it is sent again
// exactly like a claimed row if this process dies: by the next run of this
// node at once, by any node once the lease expires.
type Local interface {
	// Reserve asks for a place for one row about to be written at now;
	// false when the sender has no room (the row is then written due
	// now, for a claim). A place reserved is given back by Hand or
	// Unreserve.
	Reserve(now time.Time) (owner string, expires time.Time, ok bool)
	// Hand gives the sender a row written under a reservation, after its
	// transaction committed. It never blocks.
	Hand(d *Delivery)
	// Unreserve gives back the place of a row whose transaction did not
	// commit.
	Unreserve()
	// Wake tells the sender that rows it was not handed are due now.
	Wake()
}

// ClaimParams says who claims due rows, at what time, how many and for how
// long.
type ClaimParams struct {
	Owner    string
	Now      time.Time
	Limit    int
	LeaseFor time.Duration
}

// Outcome is what became of one claimed delivery: its attempt, recorded
// on the outbox row and kept as an Attempt.
type Outcome struct {
	ID       int64
	Owner    string // the lease it was sent under
	Attempts int    // Delivery.Attempts when claimed: the fencing token
	// State: StateDelivered, StatePending (due again at NextAttempt) or
	// StateFailed.
	State State
	// Started is when the attempt began (the POST, the email, the SMS);
	// At when its answer or its error came. A zero Started is taken as
	// At.
	Started     time.Time
	At          time.Time
	NextAttempt time.Time
	Code        int
	Error       string
}

// Attempt is one attempt of a delivery, as the store keeps it: one row
// per outcome recorded, kept across resends, deleted with the delivery.
type Attempt struct {
	ID         int64
	DeliveryID int64
	Attempt    int // 1-based: Delivery.Attempts when it was made
	Started    time.Time
	Finished   time.Time
	Code       int    // HTTP status of the answer; 0: no answer
	Error      string // why it failed; "" a 2xx answer
	Owner      string // the node/boot that made it
}

// Duration is how long the attempt took.
func (a *Attempt) Duration() time.Duration { return a.Finished.Sub(a.Started) }

// Filter selects outbox rows for listing. Zero fields do not filter.
type Filter struct {
	State     State // StateRetrying: pending rows whose latest attempt failed
	RequestID int64
	Account   string
	// URL selects the webhook rows POSTed to this URL: those of the
	// accounts whose webhook has it, and the global rows when Global.
	URL string
	// Global, with URL, adds the global webhook's rows: URL is
	// webhooks.url, which only the configuration knows.
	Global   bool
	BeforeID int64 // keyset paging, newest first: only ids below this
	Limit    int   // 0 means 100
}

// AccountWebhook is an account's own webhook.
type AccountWebhook struct {
	Username string
	URL      string
	Secret   string
	Events   Events
}

// MinSecretBytes is the shortest secret accepted for a webhook.
const MinSecretBytes = 16

// Validate checks the URL and the secret.
func (w *AccountWebhook) Validate() error {
	if w.Username == "" {
		return &callback.ValidationError{Field: "username", Reason: "empty"}
	}
	if err := CheckURL(w.URL); err != nil {
		return &callback.ValidationError{Field: "url", Reason: err.Error()}
	}
	if len(w.Secret) < MinSecretBytes {
		return &callback.ValidationError{Field: "secret", Reason: fmt.Sprintf("at least %d bytes", MinSecretBytes)}
	}
	if _, err := ParseEvents(string(w.Events)); err != nil {
		return &callback.ValidationError{Field: "events", Reason: "want all or final"}
	}
	return nil
}

// CheckURL accepts an absolute http or https URL with a host.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("want an http:// or https:// URL")
	case u.Hostname() == "":
		return errors.New("no host")
	}
	return nil
}

// Store is the outbox as the sender and the admin surfaces use it. Both SQL
// stores implement it.
type Store interface {
	// ClaimDeliveries leases up to p.Limit pending rows due at p.Now,
	// oldest first, counting an attempt on each; concurrent claimers never
	// get the same row. A row's lease ends by itself at p.Now+p.LeaseFor,
	// when the row is due again for anyone.
	ClaimDeliveries(ctx context.Context, p ClaimParams) ([]*Delivery, error)
	// FinishDeliveries records outcomes, in one transaction, and returns
	// how many were recorded. A retry or a failure whose lease no longer
	// holds (another sender took the row, or it was resent) is passed
	// over; a delivery (2xx) is recorded on any pending row, whoever holds
	// it: the receiver has the notification. Each outcome recorded also
	// writes its Attempt; one passed over writes none.
	FinishDeliveries(ctx context.Context, outs []Outcome) (int, error)
	// TakeBackDeliveries frees at once the pending rows leased by owners
	// that start with prefix but are not self: a previous run of this node.
	TakeBackDeliveries(ctx context.Context, prefix, self string, now time.Time) (int, error)
	// NextDelivery returns when the earliest pending row is due.
	NextDelivery(ctx context.Context) (time.Time, bool, error)
	// CountDeliveries counts the rows in state s.
	CountDeliveries(ctx context.Context, s State) (int, error)
	// PruneDeliveries deletes up to limit delivered rows delivered before
	// t, and failed rows queued before t; it returns how many it deleted.
	PruneDeliveries(ctx context.Context, t time.Time, limit int) (int, error)
	ListDeliveries(ctx context.Context, f Filter) ([]*Delivery, error)
	// GetDelivery returns row id, or callback.ErrNotFound.
	GetDelivery(ctx context.Context, id int64) (*Delivery, error)
	// ListDeliveryAttempts returns the attempts kept of row id, oldest
	// first; none for an unknown id.
	ListDeliveryAttempts(ctx context.Context, id int64) ([]*Attempt, error)
	// GetAccountWebhook returns an account's webhook or callback.ErrNotFound.
	// The changes (a resend, setting or removing an account's webhook)
	// are the admin store's, each with its audit entry.
	GetAccountWebhook(ctx context.Context, username string) (*AccountWebhook, error)
	ListAccountWebhooks(ctx context.Context) ([]*AccountWebhook, error)
	// SetWebhookPolicy says which status changes write outbox rows.
	SetWebhookPolicy(p Policy)
	// SetLocalSender gives the store this process's sender, which then
	// takes the rows this process writes straight from their transaction
	// (see Local); nil takes it away.
	SetLocalSender(l Local)
	// SetReplyAddress keeps the address an email request came from, for
	// the reply when it ends; it keeps nothing while replies by email are
	// off (Policy.ReplyEmail).
	SetReplyAddress(ctx context.Context, requestID int64, address string) error
}
