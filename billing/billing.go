// Package billing is the money of a callback: who pays each leg (B3), how
// a leg is rated (B2), how long a call may last on the money there is (B4),
// the reservations that keep two calls of one account from spending the
// same money, and the CDRs that charge both legs when the call ends.
//
// It reads accounts and writes CDRs and reservations through the store
// (callback.Billing: Reserve, SettleAndRelease), and rates numbers through
// a tariff.Cache. Check is the one check of a request's numbers and money
// (rates required, blocked prefixes, daily cap, first increment of both
// legs), run when a request is created and again before its leg A is
// placed, whatever its source. The 2-way sub-application drives a call
// with Admit (Check, and the first slice of money held) before leg A is
// placed, LegAAnswered, Answered, Extend while the legs talk, and Settle
// (or Release when leg A never answered); the calling card in
// ari/callingcard with Open, Login after a PIN, Quote for the entered
// destination, Reserve before leg B is dialled, Answered, Extend and
// Settle. Money is held in slices (Options.ReserveSlice), so that one
// account can pay for many calls at once. Money is callback.Money
// throughout: no float64.
//
// # Calls whose end is never seen
//
// A process that dies mid-call leaves its reservations behind: they keep
// the money held, and the rescuer finishes the request (Second leg
// connected becomes Successful, with disconnect_time set to when it found
// the row). Recover settles such reservations once their request is
// finished: each becomes the leg's CDR, charged for the time from the
// reservation's answer to the request's disconnect_time at the account's
// rate, and never more than was reserved. A reservation refused for want
// of money runs it for the payers and tries once more, so the next call of
// an account settles what the last one left when it stands in the way;
// RecoverAll does it for every account and is meant to run periodically. Both go through SettleAndRelease, whose CDR key (request,
// leg, channel) makes the charge exactly-once: if the process that held
// the call settles after all, or two nodes recover the same reservation,
// the second settlement is skipped.
package billing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// The refusals a destination check ends with. Callers branch with
// errors.Is; each has its own prompt.
var (
	// ErrDestinationUnknown: the payer's tariff has no rate for the number.
	ErrDestinationUnknown = errors.New("destination has no rate")
	// ErrDestinationBlocked: the rate is blocked (premium, satellite) or the
	// number starts with an always-blocked prefix.
	ErrDestinationBlocked = errors.New("destination blocked")
	// ErrDailyCapReached: the account's daily spend cap leaves nothing.
	ErrDailyCapReached = errors.New("daily spend cap reached")
	// ErrInsufficientFunds is callback.ErrInsufficientFunds: the money left
	// does not pay the first increment of both legs.
	ErrInsufficientFunds = callback.ErrInsufficientFunds
)

// RefusedError says why a number was refused, for whom.
type RefusedError struct {
	Leg     callback.Leg // the leg refused: A (the callback number) or B; "" both
	Number  string
	Account string
	Prefix  string // the rate's prefix, or the blocked prefix
	Err     error  // one of the Err* above
}

func (e *RefusedError) Error() string {
	if errors.Is(e.Err, ErrDestinationUnknown) {
		return fmt.Sprintf("no rate for %s in the tariff of account %s", e.Number, e.Account)
	}
	if e.Prefix != "" {
		return fmt.Sprintf("%s for account %s: %v (prefix %s)", e.Number, e.Account, e.Err, e.Prefix)
	}
	return fmt.Sprintf("%s for account %s: %v", e.Number, e.Account, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Store is what billing needs of callback.Store.
type Store interface {
	GetAccount(ctx context.Context, username string) (*callback.Account, error)
	GetRequest(ctx context.Context, id int64) (*callback.Request, error)
	callback.Billing
}

// Rates rates a number in a tariff by its longest prefix; *tariff.Cache
// implements it.
type Rates interface {
	Lookup(ctx context.Context, tariff, number string) (callback.TariffRate, bool, error)
}

// DefaultBlockedPrefixes are refused whatever the tariffs say: Inmarsat
// (870), the global mobile satellite systems (881), international networks
// (882) and premium-rate 900 numbers (F2). Calls to them cost many times a
// normal call and are the first thing abusers of a callback service dial.
var DefaultBlockedPrefixes = []string{"870", "881", "882", "900"}

// DefaultReserveSlice is the talk time held at once by default.
const DefaultReserveSlice = 5 * time.Minute

// Options configures a Biller.
type Options struct {
	// BlockedPrefixes are refused on top of blocked rates; nil takes
	// DefaultBlockedPrefixes, an empty non-nil slice blocks none.
	BlockedPrefixes []string
	// MaxTalkTime caps any call when the money would allow more (default
	// 24 h, what tariff.MaxTalkTime grants a free call).
	MaxTalkTime time.Duration
	// ReserveSlice is how much talk time a call holds money for at once
	// (billing.reserve_slice, default 5 min): the first slice before the
	// destination is dialled, the next ones while the call lasts.
	ReserveSlice time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
}

// Biller applies the money rules over a store and a rate table.
type Biller struct {
	store   Store
	rates   Rates
	blocked []string
	maxTalk time.Duration
	slice   time.Duration
	log     *slog.Logger
	now     func() time.Time
}

// New returns a Biller.
func New(store Store, rates Rates, o Options) *Biller {
	b := &Biller{store: store, rates: rates, blocked: o.BlockedPrefixes, maxTalk: o.MaxTalkTime, log: o.Logger, now: o.Now}
	if b.blocked == nil {
		b.blocked = DefaultBlockedPrefixes
	}
	if b.maxTalk <= 0 {
		b.maxTalk = 24 * time.Hour
	}
	if b.slice = o.ReserveSlice; b.slice <= 0 {
		b.slice = DefaultReserveSlice
	}
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// blockedPrefix returns the always-blocked prefix number starts with.
func (b *Biller) blockedPrefix(number string) (string, bool) {
	number = strings.TrimPrefix(number, "+")
	for _, p := range b.blocked {
		if p != "" && strings.HasPrefix(number, p) {
			return p, true
		}
	}
	return "", false
}

// Payers says whose money each leg takes.
type Payers struct {
	A     string // pays leg A, rated by its tariff on original_cli
	ABind string // also charged for leg A (anonymous accounting); "" none
	B     string // pays leg B, rated by its tariff on the destination
}

// WhoPays applies B3 and T3 to a request; pin is the account of a PIN
// entered in the IVR ("" none).
//
//   - An identified caller (default_user_used unset): Username pays both
//     legs.
//   - An unidentified caller (default_user_used): the default account,
//     Username, pays leg A (MOR: "If User or Calling Card was not
//     recognized, System owner will be charged for a LEG A"). The real
//     account, when known (the PIN's, else Payer), pays leg B, and with
//     anon_acct_enabled is charged for leg A as well (seed 000,
//     X-2Way-Need-Bind). With no real account the default account pays
//     leg B too.
//   - After a PIN login, the PIN's account pays leg B whoever placed the
//     call.
func WhoPays(r *callback.Request, pin string) Payers {
	p := Payers{A: r.Username, B: r.Username}
	real := pin
	if real == "" && r.DefaultUserUsed {
		real = r.Payer
	}
	if real == "" {
		return p
	}
	p.B = real
	if r.DefaultUserUsed && r.AnonAcctEnabled && real != p.A {
		p.ABind = real
	}
	return p
}

// LegANumber is the number leg A is rated on: the callback number, or for
// a call served on the line by the IVR (the caller's own inbound call) the
// access number the caller dialled, so that an operator can price a
// toll-free access number in the tariff; without a rate for it the inbound
// leg is free.
func LegANumber(r *callback.Request) string {
	if r.Inbound() && r.AccessNumber != "" {
		return r.AccessNumber
	}
	return r.OriginalCLI
}

// BindChannel is the channel key of the CDR and reservation that charge
// the real account for leg A: the leg's own key is the default account's.
func BindChannel(channel string) string { return channel + "+bind" }
