package ari

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
)

// TwoWay is Sippy's 2 Way Callback sub-application (seed 001, E6): once
// the user answered, it calls the destination of original_cld
// ("2way_<CLD>") with the identity of twoway_cli, twoway_authname and
// twoway_md5secret (each falling back to the first leg's: username as CLI,
// authname, md5secret), bridges the two legs and lets them talk. The
// second leg's channel id is Session.SecondLegID: the request's
// twoway_call_id when one was preset, billed or not.
//
// With a Biller (ari.bill_two_way) the call follows the calling card's
// money rules, and more: before leg A is placed (Admit) both numbers are
// checked (rates required, blocked prefixes, daily cap: billing.Check) and
// the first slice of the talk time is reserved, so that no user is rung
// whose call cannot be connected; a refused request finishes Invalid
// request with the reason, its leg A never placed. While the legs talk the
// next slices are reserved; when none can be, the user hears
// one-minute-left Warning before the end, the call is cut and time-is-up
// played. Both legs are settled once. Without a Biller the call is placed
// unrated and the SIP switch bills it.
//
// With BusyPrompts (ari.two_way_busy_prompts) a destination that is busy
// gets the busy prompt played to the user, one that fails otherwise (no
// answer, rejected, unreachable) the failed prompt (E7), before leg A is
// hung up; without, leg A is hung up in silence.
//
// Results: Successful when the conversation ends, First leg aborted when
// the user hangs up before the destination answers, Second leg failed when
// the destination is refused, busy, does not answer, rejects or cannot be
// reached.
type TwoWay struct {
	// Biller rates, reserves and charges the call; nil leaves it unrated.
	Biller *billing.Biller
	// BusyPrompts plays busy or failed to the user when the destination is
	// busy or fails.
	BusyPrompts bool
	// Warning is how long before the money runs out one-minute-left is
	// played: 60 s. A call whose money never paid for more gets none.
	Warning time.Duration
	// Prompts chooses the language of each prompt as the calling card
	// does (the request's language, the next listed, English), logging
	// each missing one once; share the calling card's. nil: a Prompts of
	// the package over the shipped catalogue.
	Prompts *Prompts
}

var _ Admitter = TwoWay{}

// Admit implements Admitter: a billed 2-way callback is checked and the
// first slice of its money held before leg A is placed.
func (t TwoWay) Admit(ctx context.Context, s *Session) *callback.Outcome {
	if t.Biller == nil {
		return nil
	}
	r := s.Request()
	if cld, err := callback.ParseCLD(r.OriginalCLD); err != nil || cld.App != callback.SubAppTwoWay {
		return nil // Run says why
	}
	money, err := t.Biller.Admit(ctx, r, s.LegA(), s.SecondLegID(), s.Logger())
	if err == nil {
		s.Keep(money)
	}
	return AdmitOutcome(ctx, s, err, "hold the money of the call")
}

// AdmitOutcome is how an Admitter's billing error ends the attempt before
// leg A is placed: nil for no error; a refusal (billing.RefusedError)
// finishes the request Invalid request with the reason, logged, so nobody
// is rung; any other error (the store, an interruption) returns the
// request to the queue. doing names the step in the log and the error.
func AdmitOutcome(ctx context.Context, s *Session, err error, doing string) *callback.Outcome {
	var refused *billing.RefusedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused):
		s.Logger().Warn("callback refused: the first leg is not placed", "leg", string(refused.Leg), "number", refused.Number,
			"account", refused.Account, "reason", err)
		return &callback.Outcome{Result: callback.ResultInvalid, Reason: "refused: " + err.Error()}
	case ctx.Err() != nil:
		return &callback.Outcome{Err: context.Cause(ctx), Reason: "interrupted before the first leg"}
	}
	s.Logger().Warn("could not "+doing+": it returns to the queue", "err", err)
	return &callback.Outcome{Err: fmt.Errorf("%s: %w", doing, err)}
}

// Unadmit implements Admitter: the money held for a leg A that was never
// answered is given back.
func (t TwoWay) Unadmit(ctx context.Context, s *Session) {
	if money, ok := s.Kept().(*billing.Bill); ok {
		if err := money.Release(ctx); err != nil {
			s.Logger().Error("could not release the money held for the call; the sweep will", "err", err)
		}
	}
}

var _ App = TwoWay{}

// twoWayCall is one run of TwoWay.
type twoWayCall struct {
	s     *Session
	log   *slog.Logger
	money *billing.Bill // nil: unbilled

	bID     string // leg B's channel id
	bPlaced bool   // DialB was called
	bEnd    time.Time
	bFailed *LegFailedError
	prompts bool // play busy / failed
	voice   *Prompts
	warning time.Duration
}

// Run implements App.
func (t TwoWay) Run(ctx context.Context, s *Session) callback.Outcome {
	r := s.Request()
	cld, err := callback.ParseCLD(r.OriginalCLD)
	if err != nil || cld.App != callback.SubAppTwoWay {
		s.Logger().Error("2-way callback without a 2way_<CLD> destination", "original_cld", r.OriginalCLD)
		hangupA(ctx, s)
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: "original_cld has no 2way_<CLD> destination"}
	}
	c := &twoWayCall{s: s, log: s.Logger(), bID: s.SecondLegID(), prompts: t.BusyPrompts, voice: t.Prompts, warning: t.Warning}
	if c.warning <= 0 {
		c.warning = time.Minute
	}
	if money, ok := s.Kept().(*billing.Bill); ok && t.Biller != nil {
		c.money, c.bID = money, money.LegBChannel()
		defer c.settle(ctx)
		at := r.ConnectTime
		if at.IsZero() {
			at = time.Now()
		}
		money.LegAAnswered(at)
	} else if t.Biller != nil {
		// Not admitted (the caller's own inbound call): quoted now.
		c.money = t.Biller.Open(ctx, r, s.LegA(), c.log)
		defer c.settle(ctx)
		q, err := c.money.Quote(ctx, cld.Destination)
		if err == nil {
			err = c.money.Reserve(ctx, q, c.bID)
		}
		if err != nil {
			c.log.Info("destination refused", "number", cld.Destination, "reason", err)
			hangupA(ctx, s)
			return callback.Outcome{Result: callback.ResultSecondLegFailed, Cause: callback.CauseCallRejected, Reason: err.Error()}
		}
	}
	return c.connect(ctx, cld.Destination)
}

// connect dials the destination into the bridge and lets the legs talk
// until one hangs up or, billed, the money runs out.
func (c *twoWayCall) connect(ctx context.Context, number string) callback.Outcome {
	s := c.s
	r := s.Request()
	cli := r.TwowayCLI
	if cli == "" {
		cli = r.Username
	}
	id := Identity{Authname: r.TwowayAuthname, MD5Secret: r.TwowayMD5Secret}
	if id.Authname == "" {
		id.Authname = r.Identity()
	}
	if id.MD5Secret == "" {
		id.MD5Secret = r.MD5Secret
	}
	c.bPlaced = true
	b, err := s.DialB(ctx, DialSpec{Number: number, CallerID: cli, Identity: id, Bridged: true, ChannelID: c.bID})
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return callback.Outcome{Reason: err.Error()}
	case errors.Is(err, ErrFirstLegGone):
		_, cause := s.Gone(s.LegA())
		c.log.Info("first leg hung up before the second leg answered", "cause", cause)
		return callback.Outcome{Result: callback.ResultFirstLegAborted, Cause: callback.Cause(cause), Reason: "first leg hung up before the second leg connected"}
	case errors.As(err, &c.bFailed):
		f := c.bFailed
		c.log.Info("second leg failed", "cause", f.Cause, "sip_code", f.SIPCode, "reason", f.Reason)
		prompt := "failed"
		if callback.Cause(f.Cause) == callback.CauseUserBusy {
			prompt = "busy"
		}
		c.failurePrompt(ctx, prompt)
		hangupA(ctx, s)
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Cause: callback.Cause(f.Cause), SIPCode: f.SIPCode, Reason: f.Reason}
	default:
		c.log.Error("second leg could not be placed", "err", err)
		c.failurePrompt(ctx, "failed")
		hangupA(ctx, s)
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: err.Error()}
	}

	var first string
	if c.money == nil {
		first, err = s.WaitHangup(ctx, s.LegA(), b)
	} else {
		c.money.Answered(ctx, time.Now())
		var cut bool
		first, cut, err = Talk(ctx, s, c.money, b, c.warning, func(ctx context.Context) { c.play(ctx, "one-minute-left") })
		if cut {
			return c.cut(ctx, b)
		}
	}
	c.bEnd = time.Now()
	if err != nil {
		return callback.Outcome{Reason: err.Error()}
	}
	other := b
	if first == b {
		other = s.LegA()
	}
	_, cause := s.Gone(first)
	c.log.Info("conversation ended", "hung_up_first", first, "cause", cause)
	if err := s.Hangup(ctx, other, "normal"); err != nil {
		c.log.Warn("could not hang up the other leg", "leg_channel", other, "err", err)
	}
	return callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.Cause(cause)}
}

// Talk waits until leg A or leg b of a billed call hangs up while its
// money lasts. It reserves the next slice of talk time some time before
// the money held runs out (billing.Call.Extend); when no further slice can
// be reserved it calls warn Warning before the end, unless the call was
// never granted more than that. cut reports that the money ran out with
// both legs up: the caller cuts the call.
func Talk(ctx context.Context, s *Session, money *billing.Bill, b string, warning time.Duration, warn func(context.Context)) (first string, cut bool, err error) {
	final := false
	warned := time.Until(money.QuotedEnd()) <= warning
	// The next slice is asked for well before the warning would be due,
	// and never so early that one slice would follow another at once.
	lead := warning + 30*time.Second
	// Each round ends the call, extends the money by a slice (at most
	// MaxTalkTime / slice of them), or passes the last slice or the
	// warning: the bound only guards the loop.
	for range 1 << 20 {
		end := money.End()
		at := end
		switch {
		case !final:
			at = end.Add(-min(lead, max(time.Until(end)/2, 0)))
		case !warned:
			at = end.Add(-warning)
		}
		wctx, cancel := context.WithDeadline(ctx, at)
		first, err := s.WaitHangup(wctx, s.LegA(), b)
		cancel()
		switch {
		case err == nil:
			return first, false, nil
		case ctx.Err() != nil:
			return "", false, err
		case !final:
			_, more, xerr := money.Extend(ctx)
			if xerr != nil {
				// Tried again, closer to the end, until the warning is due.
				s.Logger().Warn("could not reserve the next slice of talk time", "err", xerr)
			}
			final = !more && (xerr == nil || time.Until(end) <= warning)
		case !warned:
			warned = true
			s.Logger().Info("one minute of talk time left")
			warn(ctx)
		default:
			s.Logger().Info("talk time used up: cutting the call")
			return "", true, nil
		}
	}
	return "", true, nil
}

// cut ends a call whose money ran out: leg B is hung up, the user hears
// time-is-up and is hung up.
func (c *twoWayCall) cut(ctx context.Context, b string) callback.Outcome {
	if err := c.s.Hangup(ctx, b, "normal"); err != nil {
		c.log.Warn("could not hang up the second leg", "leg_channel", b, "err", err)
	}
	c.bEnd = time.Now()
	c.play(ctx, "time-is-up")
	hangupA(ctx, c.s)
	return callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.CauseNormalClearing, Reason: "talk time used up"}
}

// play plays callbackd/<name> to the user in the first of the request's
// languages that has it, else English (Prompts.Choose, the calling card's
// choice). A user who hangs up during it, or a prompt that cannot be
// played, ends it.
func (c *twoWayCall) play(ctx context.Context, name string) {
	name = "callbackd/" + name
	r := c.s.Request()
	lang, _ := c.voice.Choose(c.log, PromptLanguages(&r), name)
	c.s.SetLanguage(lang)
	if err := c.s.Play(ctx, "sound:"+name); err != nil && !errors.Is(err, ErrFirstLegGone) {
		c.log.Warn("could not play a prompt", "prompt", name, "err", err)
	}
}

// failurePrompt plays callbackd/<name> to the user when the prompts are
// on.
func (c *twoWayCall) failurePrompt(ctx context.Context, name string) {
	if !c.prompts {
		return
	}
	c.log.Info("playing the second leg's failure prompt", "prompt", name)
	c.play(ctx, name)
}

// settle charges both legs. It runs on a context of its own: a canceled
// call is still charged.
func (c *twoWayCall) settle(parent context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 10*time.Second)
	defer cancel()
	s := c.s
	e := billing.End{A: time.Now()}
	_, e.ACause = s.Gone(s.LegA())
	c.money.SetTrunk(callback.LegA, s.TrunkOf(s.LegA()))
	if c.bPlaced {
		c.money.SetTrunk(callback.LegB, s.TrunkOf(c.bID))
	}
	if c.money.Dialled() {
		e.B = c.bEnd
		if e.B.IsZero() {
			e.B = time.Now()
		}
		if c.bPlaced {
			_, e.BCause = s.Gone(c.bID)
		}
		if c.bFailed != nil {
			e.BCause, e.BSIPCode = c.bFailed.Cause, c.bFailed.SIPCode
		}
	}
	if _, err := c.money.Settle(ctx, e); err != nil {
		c.log.Error("could not settle the call; its reservations stay held until recovered", "err", err)
	}
}

func hangupA(ctx context.Context, s *Session) {
	if err := s.Hangup(ctx, s.LegA(), "normal"); err != nil {
		s.Logger().Warn("could not hang up the first leg", "err", err)
	}
}
