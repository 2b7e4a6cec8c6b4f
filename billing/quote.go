package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/tariff"
)

// Funds is what one account may spend now.
type Funds struct {
	Account    *callback.Account
	Held       callback.Money // reserved by the account's other calls
	SpentToday callback.Money // charged since the start of the day (UTC)
}

// free is the money above the credit limit not held by other calls, and
// what is left under the daily cap (capped is false without one).
func (f Funds) free() (money, capLeft callback.Money, capped bool) {
	money = f.Account.Balance - f.Account.CreditLimit - f.Held
	if f.Account.DailyCap > 0 {
		return money, f.Account.DailyCap - f.SpentToday - f.Held, true
	}
	return money, 0, false
}

// PricedLeg is one leg as it will be charged.
type PricedLeg struct {
	Leg       callback.Leg
	ChannelID string // "" for leg B until it is dialled
	Account   string
	Number    string
	Rate      callback.TariffRate
	Rated     bool          // false: the tariff has no rate; the leg is charged nothing
	Up        time.Duration // how long the leg had been up when the quote was made
}

// Cost is what the leg costs if it stays up talk longer than Up.
func (l PricedLeg) Cost(talk time.Duration) callback.Money {
	if !l.Rated {
		return 0
	}
	return tariff.Charge(l.Rate, l.Up+talk)
}

// Quote is what a destination costs and how long the money lets the call
// last from At.
type Quote struct {
	Number   string
	Legs     []PricedLeg // leg A, the real account's leg A when it is also charged, leg B
	TalkTime time.Duration
	At       time.Time
}

// LegB returns the quote's leg B (leg A's when the quote has no leg B).
func (q *Quote) LegB() PricedLeg { return q.Legs[len(q.Legs)-1] }

// PerMinute is the combined price per minute of the legs, as announced.
func (q *Quote) PerMinute() callback.Money {
	var sum callback.Money
	for _, l := range q.Legs {
		if l.Rated {
			sum += l.Rate.PricePerMinute
		}
	}
	return sum
}

// Pricing is the input of Price: who pays, what each payer may spend, and
// the legs' numbers.
type Pricing struct {
	Payers  Payers
	Funds   []Funds // one per distinct account in Payers
	ANumber string
	// AFree: leg A is the caller's own inbound call, rated on the access
	// number; without a rate it is charged nothing (the caller pays their
	// own carrier) rather than refused.
	AFree   bool
	AUp     time.Duration // how long leg A has been up
	BNumber string        // "": leg A alone (the destination is not known yet)
	// Limit caps the talk time (credit_time left); zero: no cap beyond
	// the Biller's MaxTalkTime.
	Limit time.Duration
}

func (p *Pricing) funds(username string) (Funds, bool) {
	for _, f := range p.Funds {
		if f.Account != nil && f.Account.Username == username {
			return f, true
		}
	}
	return Funds{}, false
}

// Price rates both legs and computes the talk time (B2, B4, F2). Each
// number, leg A's and the destination, must not start with an
// always-blocked prefix and must have a rate in its payer's tariff that is
// not blocked: a leg without a rate is refused (no rate for <number>), not
// free; a price of 0 is a price. The one exception is leg A of an inbound
// IVR call (AFree), rated on the access number: without a rate it costs
// nothing. The money each account has above its credit limit, less what
// its other calls hold, and under its daily cap, must pay the first
// increment of every leg it pays. It reads rates through the cache only,
// so it is cheap enough to run for every destination.
func (b *Biller) Price(ctx context.Context, p *Pricing) (*Quote, error) {
	payer := p.Payers.B
	if p.BNumber == "" {
		payer = p.Payers.A
	}
	q := &Quote{Number: p.BNumber, Legs: make([]PricedLeg, 0, 3)}
	for _, who := range []string{p.Payers.A, p.Payers.ABind} {
		if who == "" {
			continue
		}
		f, ok := p.funds(who)
		if !ok {
			return nil, fmt.Errorf("price leg A: no funds of %q: %w", who, callback.ErrInvalid)
		}
		if who == p.Payers.A && !p.AFree {
			if prefix, blocked := b.blockedPrefix(p.ANumber); blocked {
				return nil, &RefusedError{Leg: callback.LegA, Number: p.ANumber, Account: who, Prefix: prefix, Err: ErrDestinationBlocked}
			}
		}
		ra, rated, err := b.rates.Lookup(ctx, f.Account.Tariff, p.ANumber)
		switch {
		case err != nil:
			return nil, fmt.Errorf("rate %s in tariff %q: %w", p.ANumber, f.Account.Tariff, err)
		case !rated && who == p.Payers.ABind:
			continue // the real account's tariff does not cover the callback number
		case !rated && !p.AFree:
			return nil, &RefusedError{Leg: callback.LegA, Number: p.ANumber, Account: who, Err: ErrDestinationUnknown}
		case rated && ra.Blocked && !p.AFree:
			return nil, &RefusedError{Leg: callback.LegA, Number: p.ANumber, Account: who, Prefix: ra.Prefix, Err: ErrDestinationBlocked}
		}
		q.Legs = append(q.Legs, PricedLeg{Leg: callback.LegA, Account: who, Number: p.ANumber, Rate: ra, Rated: rated, Up: p.AUp})
	}
	var rb callback.TariffRate
	if p.BNumber != "" {
		fb, ok := p.funds(p.Payers.B)
		if !ok {
			return nil, fmt.Errorf("price %s: no funds of leg B's payer %q: %w", p.BNumber, p.Payers.B, callback.ErrInvalid)
		}
		refuse := func(prefix string, err error) error {
			return &RefusedError{Leg: callback.LegB, Number: p.BNumber, Account: p.Payers.B, Prefix: prefix, Err: err}
		}
		if prefix, blocked := b.blockedPrefix(p.BNumber); blocked {
			return nil, refuse(prefix, ErrDestinationBlocked)
		}
		var err error
		rb, ok, err = b.rates.Lookup(ctx, fb.Account.Tariff, p.BNumber)
		switch {
		case err != nil:
			return nil, fmt.Errorf("rate %s in tariff %q: %w", p.BNumber, fb.Account.Tariff, err)
		case !ok:
			return nil, refuse("", ErrDestinationUnknown)
		case rb.Blocked:
			return nil, refuse(rb.Prefix, ErrDestinationBlocked)
		}
		q.Legs = append(q.Legs, PricedLeg{Leg: callback.LegB, Account: p.Payers.B, Number: p.BNumber, Rate: rb, Rated: true})
	}
	if len(q.Legs) == 0 {
		return nil, fmt.Errorf("price: no leg to price: %w", callback.ErrInvalid)
	}

	limit := b.maxTalk
	if p.Limit > 0 {
		limit = min(limit, p.Limit)
	}
	withCap, err := talkTime(q.Legs, p, limit, true)
	if err != nil {
		return nil, err
	}
	if withCap < time.Second {
		number := p.BNumber
		if number == "" {
			number = p.ANumber
		}
		refused := &RefusedError{Number: number, Account: payer, Prefix: rb.Prefix, Err: ErrInsufficientFunds}
		// Say which limit stopped it: the daily cap has its own prompt.
		if without, err := talkTime(q.Legs, p, limit, false); err == nil && without >= time.Second {
			refused.Err = ErrDailyCapReached
		}
		return nil, refused
	}
	q.TalkTime = withCap
	return q, nil
}

// maxAccounts bounds the distinct payers of one call: A, the real account
// charged for A, and B.
const maxAccounts = 3

// talkTime is the longest whole number of seconds, up to limit, that every
// account's legs cost within its money: tariff.MaxTalkTime generalised to
// legs paid by different accounts and to a leg A already up for a while.
// Cost grows with time, so a binary search finds it; with every leg unpaid
// for so far and one account it equals tariff.MaxTalkTime.
func talkTime(legs []PricedLeg, p *Pricing, limit time.Duration, useCap bool) (time.Duration, error) {
	var names [maxAccounts]string
	var avail [maxAccounts]callback.Money
	var idx [maxAccounts]int
	n := 0
	for i, l := range legs {
		j := 0
		for j < n && names[j] != l.Account {
			j++
		}
		if j == n {
			if n == maxAccounts {
				return 0, fmt.Errorf("talk time: more than %d payers: %w", maxAccounts, callback.ErrInvalid)
			}
			f, ok := p.funds(l.Account)
			if !ok {
				return 0, fmt.Errorf("talk time: no funds of %q: %w", l.Account, callback.ErrInvalid)
			}
			money, capLeft, capped := f.free()
			if capped && useCap {
				money = min(money, capLeft)
			}
			names[j], avail[j] = l.Account, money
			n++
		}
		idx[i] = j
	}
	fits := func(secs int) bool {
		var cost [maxAccounts]callback.Money
		for i, l := range legs {
			cost[idx[i]] += l.Cost(time.Duration(secs) * time.Second)
		}
		for j := range n {
			if cost[j] > avail[j] {
				return false
			}
		}
		return true
	}
	if !fits(1) {
		return 0, nil
	}
	hi := int(limit / time.Second)
	if hi <= 1 {
		return time.Duration(hi) * time.Second, nil
	}
	if fits(hi) {
		return time.Duration(hi) * time.Second, nil
	}
	lo := 1 // fits(lo) && !fits(hi): about 17 rounds for a day
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return time.Duration(lo) * time.Second, nil
}
