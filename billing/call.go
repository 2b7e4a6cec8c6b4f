package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/tariff"
)

// Bill is the money of one callback attempt, from its admission (before
// leg A is placed) or leg A's answer to its settlement. It belongs to the
// goroutine that runs the call.
//
// Money is held in slices, as prepaid switches re-authorise during a
// call: Reserve (or Admit) holds the first slice of the talk time
// (Options.ReserveSlice, or the whole talk time if shorter), Extend the
// next ones while the call lasts. End is when the money held runs out.
type Bill struct {
	b         *Biller
	req       callback.Request
	aChannel  string
	aAnswered time.Time
	pin       string
	payers    Payers
	log       *slog.Logger

	quote     *Quote
	reserved  []*callback.Reservation // one per quote leg, in order
	granted   time.Duration           // talk time from quote.At the reservations pay for
	limit     time.Duration           // the most talk time from quote.At: MaxTalkTime, credit_time
	admitted  bool                    // reserved before leg A was placed
	bChannel  string
	bDialled  time.Time
	bAnswered time.Time
	settled   bool
	trunks    map[callback.Leg]string // the trunk that carried each leg
}

// SetTrunk names the trunk that carried leg, for its CDRs; the last one
// set counts (a leg that failed over names the trunk it ended on).
func (c *Bill) SetTrunk(leg callback.Leg, name string) {
	if c.trunks == nil {
		c.trunks = make(map[callback.Leg]string, 2)
	}
	c.trunks[leg] = name
}

// Open starts the money of a call whose leg A (channel aChannel) answered
// at r.ConnectTime. What earlier calls of the payers left behind is
// settled when their holds stand in the way of this one (see Reserve).
func (b *Biller) Open(ctx context.Context, r callback.Request, aChannel string, log *slog.Logger) *Bill {
	if log == nil {
		log = b.log.With("request_id", r.ID, "channel", aChannel)
	}
	c := &Bill{b: b, req: r, aChannel: aChannel, aAnswered: r.ConnectTime, log: log}
	if c.aAnswered.IsZero() {
		c.aAnswered = b.now()
	}
	c.payers = WhoPays(&r, "")
	return c
}

// recover settles what earlier calls of the payers left behind and
// reports whether it freed anything.
func (c *Bill) recover(ctx context.Context) bool {
	seen := map[string]bool{}
	freed := false
	for _, u := range []string{c.payers.A, c.payers.ABind, c.payers.B} {
		if u == "" || seen[u] {
			continue
		}
		seen[u] = true
		if n, err := c.b.Recover(ctx, u); err != nil {
			c.log.Warn("could not settle reservations left by earlier calls", "account", u, "err", err)
		} else if n > 0 {
			freed = true
			c.log.Info("settled reservations left by earlier calls", "account", u, "count", n)
		}
	}
	return freed
}

// Check is the one check every request passes before its leg A is
// placed, whatever its source (AGI, API, XML-RPC, web, email, SMS, CLI,
// a row inserted by SQL), and, through callback.Service, when it is
// created: see Price. Leg A's number needs a rate that is not blocked in
// its payer's tariff (an inbound IVR call's access number excepted), a
// 2-way callback's destination too, and the payers' money and daily caps
// must pay the first increment of both legs. A calling card's destination
// is checked when it is entered. The error is a *RefusedError when the
// request is refused.
func (b *Biller) Check(ctx context.Context, r *callback.Request) (*Quote, error) {
	c := &Bill{b: b, req: *r, payers: WhoPays(r, ""), log: b.log}
	return c.check(ctx)
}

func (c *Bill) check(ctx context.Context) (*Quote, error) {
	var number string
	if cld, err := callback.ParseCLD(c.req.OriginalCLD); err == nil && cld.App == callback.SubAppTwoWay {
		number = cld.Destination
	}
	funds, err := c.Funds(ctx)
	if err != nil {
		return nil, err
	}
	p := &Pricing{Payers: c.payers, Funds: funds, ANumber: LegANumber(&c.req), AFree: c.req.Inbound(), BNumber: number}
	if c.req.CreditTime > 0 {
		p.Limit = time.Duration(c.req.CreditTime) * time.Second
	}
	q, err := c.b.Price(ctx, p)
	if err != nil {
		return nil, err
	}
	q.At = c.b.now()
	return q, nil
}

// Admit checks a 2-way callback before its leg A (channel aChannel) is
// placed, as Check does, and holds the first slice of its talk time on
// every payer, leg B's under bChannel: no user is rung whose call cannot
// be connected for want of money. The talk time counts from leg A's
// answer (LegAAnswered). A refusal is a *RefusedError; Release gives the
// money back if leg A is never answered.
func (b *Biller) Admit(ctx context.Context, r callback.Request, aChannel, bChannel string, log *slog.Logger) (*Bill, error) {
	c := b.Open(ctx, r, aChannel, log)
	c.aAnswered, c.admitted = time.Time{}, true
	recovered := false
	for try := 0; ; try++ {
		q, err := c.check(ctx)
		if err == nil {
			err = c.Reserve(ctx, q, bChannel)
		}
		if err == nil || !errors.Is(err, ErrInsufficientFunds) || try >= 3 {
			return c, err
		}
		var refused *RefusedError
		if errors.As(err, &refused) {
			// The money is not there, unless dead calls of the payers
			// still hold it.
			if recovered {
				return c, err
			}
			recovered = true
			if !c.recover(ctx) {
				return c, err
			}
		}
		// Otherwise another call took the money between the check and
		// the reservation: look again.
	}
}

// Login makes the account of a PIN entered in the IVR the payer of leg B
// and the rest (T3), and, with anonymous accounting, charges it for leg A
// too.
func (c *Bill) Login(ctx context.Context, username string) {
	c.pin = username
	c.payers = WhoPays(&c.req, username)
	c.log.Info("PIN accepted: payers changed", "account", username, "payer_a", c.payers.A, "payer_a_bind", c.payers.ABind, "payer_b", c.payers.B)
}

// Payers returns who pays each leg now.
func (c *Bill) Payers() Payers { return c.payers }

// Account returns the account that pays for what the user dials (leg B's
// payer): its balance and currency are the ones announced.
func (c *Bill) Account(ctx context.Context) (*callback.Account, error) {
	a, err := c.b.store.GetAccount(ctx, c.payers.B)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", c.payers.B, err)
	}
	return a, nil
}

// HeldBy is implemented by stores that sum an account's holds in the
// database rather than listing them.
type HeldBy interface {
	// HeldBy sums what username's reservations hold, those of request
	// exceptRequest left out.
	HeldBy(ctx context.Context, username string, exceptRequest int64) (callback.Money, error)
}

// AnswerMarker is implemented by stores that record a leg's answer in its
// reservations without taking the account's lock.
type AnswerMarker interface {
	// MarkAnswered sets the answer time of the reservations rs name.
	MarkAnswered(ctx context.Context, rs ...*callback.Reservation) error
}

func (c *Bill) held(ctx context.Context, u string) (callback.Money, error) {
	if h, ok := c.b.store.(HeldBy); ok {
		return h.HeldBy(ctx, u, c.req.ID)
	}
	rs, err := c.b.store.ListReservations(ctx, u)
	if err != nil {
		return 0, err
	}
	var sum callback.Money
	for _, r := range rs {
		if r.RequestID != c.req.ID {
			sum += r.Amount
		}
	}
	return sum, nil
}

// Funds reads what each payer may spend now: balance, holds of other
// calls, and the spend since the start of the day (UTC) for the daily cap.
func (c *Bill) Funds(ctx context.Context) ([]Funds, error) {
	var out []Funds
	day := c.b.now().UTC().Truncate(24 * time.Hour)
	for _, u := range []string{c.payers.A, c.payers.ABind, c.payers.B} {
		if u == "" || containsAccount(out, u) {
			continue
		}
		a, err := c.b.store.GetAccount(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("account %s: %w", u, err)
		}
		f := Funds{Account: a}
		if f.Held, err = c.held(ctx, u); err != nil {
			return nil, fmt.Errorf("reservations of %s: %w", u, err)
		}
		if a.DailyCap > 0 {
			if f.SpentToday, err = c.b.store.SpentSince(ctx, u, day); err != nil {
				return nil, fmt.Errorf("spend of %s today: %w", u, err)
			}
		}
		out = append(out, f)
	}
	return out, nil
}

func containsAccount(fs []Funds, u string) bool {
	for _, f := range fs {
		if f.Account.Username == u {
			return true
		}
	}
	return false
}

// Quote checks destination number and says how long the call may last:
// see Price. credit_time counts from leg A's answer.
func (c *Bill) Quote(ctx context.Context, number string) (*Quote, error) {
	funds, err := c.Funds(ctx)
	if err != nil {
		return nil, err
	}
	now := c.b.now()
	p := &Pricing{Payers: c.payers, Funds: funds, ANumber: LegANumber(&c.req), AFree: c.req.Inbound(),
		AUp: max(now.Sub(c.aAnswered), 0), BNumber: number}
	if c.req.CreditTime > 0 {
		p.Limit = time.Duration(c.req.CreditTime)*time.Second - p.AUp
		if p.Limit < time.Second {
			return nil, &RefusedError{Number: number, Account: c.payers.B, Err: ErrInsufficientFunds}
		}
	}
	q, err := c.b.Price(ctx, p)
	if err != nil {
		return nil, err
	}
	q.At = now
	return q, nil
}

// Reserve holds what the first slice of q's talk time costs, on every
// payer at once, before leg B (channel bChannel) is dialled.
// ErrInsufficientFunds means another call of the account took the money
// since the quote; when that happens the reservations left behind by dead
// calls of the payers are settled and the reservation tried once more.
func (c *Bill) Reserve(ctx context.Context, q *Quote, bChannel string) error {
	c.limit = c.b.maxTalk
	if c.req.CreditTime > 0 {
		c.limit = min(c.limit, time.Duration(c.req.CreditTime)*time.Second-q.Legs[0].Up)
	}
	granted := min(q.TalkTime, c.b.slice, c.limit)
	rs := make([]*callback.Reservation, 0, len(q.Legs))
	for i := range q.Legs {
		l := &q.Legs[i]
		switch {
		case l.Leg == callback.LegB:
			l.ChannelID = bChannel
		case l.Account == c.payers.ABind && c.payers.ABind != "":
			l.ChannelID = BindChannel(c.aChannel)
		default:
			l.ChannelID = c.aChannel
		}
		r := &callback.Reservation{RequestID: c.req.ID, Leg: l.Leg, ChannelID: l.ChannelID, Username: l.Account,
			Number: l.Number, Amount: l.Cost(granted)}
		if l.Leg == callback.LegA {
			r.Answered = c.aAnswered
		}
		rs = append(rs, r)
	}
	err := c.b.store.Reserve(ctx, rs...)
	if errors.Is(err, ErrInsufficientFunds) && !c.admitted && c.recover(ctx) {
		err = c.b.store.Reserve(ctx, rs...)
	}
	if err != nil {
		return fmt.Errorf("reserve for %s: %w", q.Number, err)
	}
	c.quote, c.reserved, c.granted, c.bChannel, c.bDialled = q, rs, granted, bChannel, c.b.now()
	for _, r := range rs {
		c.log.Info("money reserved", "account", r.Username, "leg", string(r.Leg), "amount", r.Amount.String(), "talk_time", granted,
			"talk_time_affordable", q.TalkTime)
	}
	return nil
}

// LegBChannel is the channel leg B's money was reserved for; "" before.
func (c *Bill) LegBChannel() string { return c.bChannel }

// Dialled reports whether leg B's money was reserved: leg B was, or was
// about to be, dialled, and gets a CDR.
func (c *Bill) Dialled() bool { return c.bChannel != "" }

// TalkTime is the talk time the money allowed when the call was quoted.
func (c *Bill) TalkTime() time.Duration {
	if c.quote == nil {
		return 0
	}
	return c.quote.TalkTime
}

// QuotedEnd is when the money the payers had at the quote would run out:
// the end of the talk time announced.
func (c *Bill) QuotedEnd() time.Time {
	if c.quote == nil {
		return time.Time{}
	}
	return c.quote.At.Add(c.quote.TalkTime)
}

// End is when the money held so far runs out; zero before anything is
// held.
func (c *Bill) End() time.Time {
	if c.quote == nil {
		return time.Time{}
	}
	return c.quote.At.Add(c.granted)
}

// mark records answers in the reservations rs.
func (c *Bill) mark(ctx context.Context, rs []*callback.Reservation) {
	if len(rs) == 0 {
		return
	}
	var err error
	if m, ok := c.b.store.(AnswerMarker); ok {
		err = m.MarkAnswered(ctx, rs...)
	} else {
		err = c.b.store.Reserve(ctx, rs...)
	}
	if err != nil {
		c.log.Warn("could not record an answer in the call's reservations", "err", err)
	}
}

// LegAAnswered records the answer of leg A of an admitted call at: its
// talk time counts from here. Nothing is written: a process taking over a
// call whose end it never saw bills leg A from the request's
// connect_time.
func (c *Bill) LegAAnswered(at time.Time) {
	c.aAnswered = at
	if c.quote == nil {
		return
	}
	if c.admitted {
		c.quote.At = at
	}
	for _, r := range c.reserved {
		if r.Leg == callback.LegA {
			r.Answered = at
		}
	}
}

// Answered records leg B's answer at and returns how long the call may
// last on the money held now (see End): the slice less the time since the
// quote, in which leg A was up too. The reservation learns the answer, so
// that a process taking over a call whose end it never saw can bill leg B.
func (c *Bill) Answered(ctx context.Context, at time.Time) time.Duration {
	c.bAnswered = at
	if c.quote == nil {
		return 0
	}
	var rs []*callback.Reservation
	for _, r := range c.reserved {
		if r.Leg == callback.LegB {
			r.Answered = at
			rs = append(rs, r)
		}
	}
	c.mark(ctx, rs)
	return max(c.End().Sub(at), 0)
}

// Extend holds the money of the next slice of talk time, as much of it as
// the payers' money and daily caps allow, and returns the new End. ok is
// false when nothing more could be held: the call must end at End.
func (c *Bill) Extend(ctx context.Context) (end time.Time, ok bool, err error) {
	if c.quote == nil || c.settled || c.granted >= c.limit {
		return c.End(), false, nil
	}
	target := min(c.granted+c.b.slice, c.limit)
	for try := 0; ; try++ {
		funds, err := c.Funds(ctx)
		if err != nil {
			return c.End(), false, err
		}
		more, err := talkTime(c.quote.Legs, &Pricing{Funds: funds}, target, true)
		if err != nil {
			return c.End(), false, err
		}
		if more <= c.granted {
			c.log.Info("no further talk time can be held", "talk_time", c.granted)
			return c.End(), false, nil
		}
		rs := make([]*callback.Reservation, len(c.reserved))
		for i, r := range c.reserved {
			cp := *r
			cp.Amount = c.quote.Legs[i].Cost(more)
			rs[i] = &cp
		}
		err = c.b.store.Reserve(ctx, rs...)
		if errors.Is(err, ErrInsufficientFunds) && try == 0 {
			continue // another call took money since Funds: look again
		}
		if err != nil {
			return c.End(), false, fmt.Errorf("reserve the next slice for %s: %w", c.quote.Number, err)
		}
		c.reserved, c.granted = rs, more
		for _, r := range rs {
			c.log.Info("money reserved", "account", r.Username, "leg", string(r.Leg), "amount", r.Amount.String(), "talk_time", more)
		}
		return c.End(), true, nil
	}
}

// Release gives back what an admitted call holds when its leg A was never
// answered: nothing was used, no CDR is written.
func (c *Bill) Release(ctx context.Context) error {
	if c.settled {
		return nil
	}
	for _, r := range c.reserved {
		if err := c.b.store.ReleaseReservation(ctx, r.RequestID, r.Leg, r.ChannelID); err != nil {
			return fmt.Errorf("release the money of request %d: %w", c.req.ID, err)
		}
	}
	c.settled = true
	if len(c.reserved) > 0 {
		c.log.Info("money released: the first leg was not answered")
	}
	return nil
}

// End is how the legs ended.
type End struct {
	A      time.Time // leg A's end
	ACause int
	// B is leg B's end; zero when leg B was never dialled.
	B        time.Time
	BCause   int
	BSIPCode int
}

// Settle writes one CDR per leg (and one for the real account's share of
// leg A), charges them and drops the call's reservations, in one
// transaction. Settling twice writes nothing more.
func (c *Bill) Settle(ctx context.Context, e End) ([]*callback.CDR, error) {
	if c.settled {
		return nil, nil
	}
	legs, err := c.legs(ctx)
	if err != nil {
		return nil, err
	}
	var cdrs []*callback.CDR
	for _, l := range legs {
		cdr := &callback.CDR{RequestID: c.req.ID, Leg: l.Leg, Account: l.Account, Number: l.Number, ChannelID: l.ChannelID,
			Trunk: c.trunks[l.Leg]}
		if l.Rated {
			cdr.Prefix = l.Rate.Prefix
		}
		if l.Leg == callback.LegA {
			cdr.CallerID = c.req.OriginalSetCLI
			cdr.Start, cdr.Answer, cdr.End, cdr.Cause, cdr.Disposition = c.req.SetupTime, c.aAnswered, e.A, e.ACause, "ANSWERED"
			if cdr.Start.IsZero() {
				cdr.Start = c.aAnswered
			}
		} else {
			if e.B.IsZero() {
				e.B = e.A
			}
			cdr.Start, cdr.Answer, cdr.End, cdr.Cause, cdr.SIPCode = c.bDialled, c.bAnswered, e.B, e.BCause, e.BSIPCode
			cdr.Disposition = disposition(!c.bAnswered.IsZero(), e.BCause)
		}
		if !cdr.Answer.IsZero() && cdr.End.After(cdr.Answer) {
			talk := cdr.End.Sub(cdr.Answer)
			if l.Rated {
				cdr.BillSec = tariff.BilledSeconds(l.Rate, talk)
				cdr.Charge = tariff.Charge(l.Rate, talk)
			}
		}
		cdrs = append(cdrs, cdr)
	}
	if err := c.b.store.SettleAndRelease(ctx, cdrs); err != nil {
		return nil, fmt.Errorf("settle request %d: %w", c.req.ID, err)
	}
	c.settled = true
	for _, cdr := range cdrs {
		c.log.Info("leg settled", "leg", string(cdr.Leg), "account", cdr.Account, "leg_channel", cdr.ChannelID,
			"billsec", cdr.BillSec, "charge", cdr.Charge.String(), "currency", cdr.Currency, "disposition", cdr.Disposition)
	}
	return cdrs, nil
}

// legs are the legs to settle: the quote's when leg B was dialled, else
// leg A alone, rated now.
func (c *Bill) legs(ctx context.Context) ([]PricedLeg, error) {
	if c.quote != nil && c.bChannel != "" {
		return c.quote.Legs, nil
	}
	var out []PricedLeg
	num := LegANumber(&c.req)
	for _, who := range []string{c.payers.A, c.payers.ABind} {
		if who == "" {
			continue
		}
		a, err := c.b.store.GetAccount(ctx, who)
		if err != nil {
			return nil, fmt.Errorf("account %s: %w", who, err)
		}
		r, ok, err := c.b.rates.Lookup(ctx, a.Tariff, num)
		if err != nil {
			return nil, fmt.Errorf("rate %s in tariff %q: %w", num, a.Tariff, err)
		}
		ch := c.aChannel
		if who == c.payers.ABind {
			if !ok {
				continue
			}
			ch = BindChannel(c.aChannel)
		}
		switch {
		case ok:
		case c.req.Inbound():
			c.log.Debug("the access number has no rate in the payer's tariff: the inbound leg is charged nothing", "account", who, "access_number", num)
		default:
			c.log.Warn("leg A has no rate in its payer's tariff: charged nothing", "account", who, "cli", num)
		}
		out = append(out, PricedLeg{Leg: callback.LegA, ChannelID: ch, Account: who, Number: num, Rate: r, Rated: ok})
	}
	return out, nil
}

func disposition(answered bool, cause int) string {
	switch {
	case answered:
		return "ANSWERED"
	case callback.Cause(cause) == callback.CauseUserBusy:
		return "BUSY"
	case callback.Cause(cause) == callback.CauseNoAnswer, callback.Cause(cause) == callback.CauseNoUserResponse:
		return "NO ANSWER"
	}
	return "FAILED"
}

// Recover settles the reservations of username ("" every account) whose
// request is finished: their process died before it could settle them.
// Each is charged for the time from its answer to the request's
// disconnect_time, at the account's rate for its number, and never more
// than it held; one never answered is released with a CDR of no charge.
// Requests still running are left alone. It returns how many it settled.
func (b *Biller) Recover(ctx context.Context, username string) (int, error) {
	rs, err := b.store.ListReservations(ctx, username)
	if err != nil {
		return 0, fmt.Errorf("recover reservations: %w", err)
	}
	reqs := map[int64]*callback.Request{}
	n := 0
	for _, r := range rs {
		req, ok := reqs[r.RequestID]
		if !ok {
			req, err = b.store.GetRequest(ctx, r.RequestID)
			switch {
			case errors.Is(err, callback.ErrNotFound):
				req = nil // deleted: nothing says how long the call lasted
			case err != nil:
				return n, fmt.Errorf("recover reservations: request %d: %w", r.RequestID, err)
			}
			reqs[r.RequestID] = req
		}
		if req != nil && !req.Finished {
			continue
		}
		answered := r.Answered
		if answered.IsZero() && r.Leg == callback.LegA && req != nil && req.CallID != "" &&
			(r.ChannelID == req.CallID || r.ChannelID == BindChannel(req.CallID)) {
			// Held before leg A was placed: the answer of the request's
			// last attempt is its leg A's (an earlier attempt's leg A, never
			// answered, has another channel).
			answered = req.ConnectTime
		}
		cdr := &callback.CDR{RequestID: r.RequestID, Leg: r.Leg, Account: r.Username, Number: r.Number, ChannelID: r.ChannelID,
			Start: r.Created, Answer: answered, End: r.Created, Disposition: "FAILED"}
		if req != nil && !answered.IsZero() && req.DisconnectTime.After(answered) {
			cdr.End, cdr.Disposition = req.DisconnectTime, "ANSWERED"
			if err := b.chargeRecovered(ctx, r, cdr); err != nil {
				return n, err
			}
		}
		if err := b.store.SettleAndRelease(ctx, []*callback.CDR{cdr}); err != nil {
			return n, fmt.Errorf("recover reservation of request %d leg %s: %w", r.RequestID, r.Leg, err)
		}
		b.log.Info("settled a call whose end was not seen", "request_id", r.RequestID, "account", r.Username, "leg", string(r.Leg),
			"billsec", cdr.BillSec, "charge", cdr.Charge.String(), "held", r.Amount.String())
		n++
	}
	return n, nil
}

func (b *Biller) chargeRecovered(ctx context.Context, r *callback.Reservation, cdr *callback.CDR) error {
	a, err := b.store.GetAccount(ctx, r.Username)
	if err != nil {
		return fmt.Errorf("recover reservation of request %d: account %s: %w", r.RequestID, r.Username, err)
	}
	rate, ok, err := b.rates.Lookup(ctx, a.Tariff, r.Number)
	if err != nil {
		return fmt.Errorf("recover reservation of request %d: rate %s: %w", r.RequestID, r.Number, err)
	}
	if !ok {
		return nil
	}
	talk := cdr.End.Sub(cdr.Answer)
	cdr.Prefix = rate.Prefix
	cdr.BillSec = tariff.BilledSeconds(rate, talk)
	cdr.Charge = min(tariff.Charge(rate, talk), r.Amount)
	return nil
}

// RecoverAll is Recover for every account, for a periodic sweep.
func (b *Biller) RecoverAll(ctx context.Context) (int, error) { return b.Recover(ctx, "") }
