package ari

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/sounds"
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
// money rules: the destination is quoted and its talk time reserved
// before it is dialled, the call is cut when the money runs out, and both
// legs are settled. Without one the call is placed unrated and the SIP
// switch bills it.
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
}

var _ App = TwoWay{}

// twoWayCall is one run of TwoWay.
type twoWayCall struct {
	s     *Session
	log   *slog.Logger
	money *billing.Call // nil: unbilled

	bID     string // leg B's channel id
	bPlaced bool   // DialB was called
	bEnd    time.Time
	bFailed *LegFailedError
	prompts bool // play busy / failed
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
	c := &twoWayCall{s: s, log: s.Logger(), bID: s.SecondLegID(), prompts: t.BusyPrompts}
	if t.Biller != nil {
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

	wctx := ctx
	var left time.Duration
	if c.money != nil {
		left = c.money.Answered(ctx, time.Now())
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, left)
		defer cancel()
	}
	first, err := s.WaitHangup(wctx, s.LegA(), b)
	c.bEnd = time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return callback.Outcome{Reason: err.Error()}
		}
		c.log.Info("talk time used up: cutting the call", "talk_time", left)
		for _, ch := range []string{b, s.LegA()} {
			if herr := s.Hangup(ctx, ch, "normal"); herr != nil {
				c.log.Warn("could not hang up a leg", "leg_channel", ch, "err", herr)
			}
		}
		return callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.CauseNormalClearing, Reason: "talk time used up"}
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

// failurePrompt plays callbackd/<name> to the user when the prompts are
// on, in the request's language when the prompt exists in it. A user who
// hangs up during it, or a prompt that cannot be played, ends it.
func (c *twoWayCall) failurePrompt(ctx context.Context, name string) {
	if !c.prompts {
		return
	}
	name = "callbackd/" + name
	if l := c.s.Request().Language; l != "" && sounds.Has(l, name) {
		c.s.SetLanguage(l)
	}
	c.log.Info("playing the second leg's failure prompt", "prompt", name)
	if err := c.s.Play(ctx, "sound:"+name); err != nil && !errors.Is(err, ErrFirstLegGone) {
		c.log.Warn("could not play the failure prompt", "prompt", name, "err", err)
	}
}

// settle charges both legs. It runs on a context of its own: a canceled
// call is still charged.
func (c *twoWayCall) settle(parent context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 10*time.Second)
	defer cancel()
	s := c.s
	e := billing.End{A: time.Now()}
	_, e.ACause = s.Gone(s.LegA())
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
