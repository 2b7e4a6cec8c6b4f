package ari

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
)

// BilledTwoWay is TwoWay with the calling card's money rules: the
// destination is quoted and its talk time reserved before it is dialled,
// the call is cut when the money runs out, and both legs are settled.
type BilledTwoWay struct{ Biller *billing.Biller }

// Run implements App.
func (t BilledTwoWay) Run(ctx context.Context, s *Session) callback.Outcome {
	r := s.Request()
	cld, err := callback.ParseCLD(r.OriginalCLD)
	if err != nil || cld.App != callback.SubAppTwoWay {
		hangupA(ctx, s)
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: "original_cld has no 2way_<CLD> destination"}
	}
	money := t.Biller.Open(ctx, r, s.LegA(), s.Logger())
	var bID string
	var bEnd time.Time
	var bFailed *LegFailedError
	defer func() {
		// Settled on a context of its own: a canceled call is still charged.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		e := billing.End{A: time.Now()}
		_, e.ACause = s.Gone(s.LegA())
		if money.Dialled() {
			e.B = bEnd
			if e.B.IsZero() {
				e.B = time.Now()
			}
			if bID != "" {
				_, e.BCause = s.Gone(bID)
			}
			if bFailed != nil {
				e.BCause, e.BSIPCode = bFailed.Cause, bFailed.SIPCode
			}
		}
		if _, err := money.Settle(sctx, e); err != nil {
			s.Logger().Error("could not settle the call; its reservations stay held until recovered", "err", err)
		}
	}()
	q, err := money.Quote(ctx, cld.Destination)
	if err == nil {
		id := s.LegA() + "-b"
		if base, ok := strings.CutSuffix(s.LegA(), "-a"); ok {
			id = base + "-b"
		}
		err = money.Reserve(ctx, q, id)
	}
	if err != nil {
		s.Logger().Info("destination refused", "number", cld.Destination, "reason", err)
		hangupA(ctx, s)
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Cause: callback.CauseCallRejected, Reason: err.Error()}
	}
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
	b, err := s.DialB(ctx, DialSpec{Number: cld.Destination, CallerID: cli, Identity: id, Bridged: true, ChannelID: money.LegBChannel()})
	bID = money.LegBChannel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return callback.Outcome{Reason: err.Error()}
	case errors.Is(err, ErrFirstLegGone):
		_, cause := s.Gone(s.LegA())
		return callback.Outcome{Result: callback.ResultFirstLegAborted, Cause: callback.Cause(cause), Reason: "first leg hung up before the second leg connected"}
	case errors.As(err, &bFailed):
		hangupA(ctx, s)
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Cause: callback.Cause(bFailed.Cause), SIPCode: bFailed.SIPCode, Reason: bFailed.Reason}
	default:
		hangupA(ctx, s)
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: err.Error()}
	}
	left := money.Answered(ctx, time.Now())
	wctx, cancel := context.WithTimeout(ctx, left)
	first, err := s.WaitHangup(wctx, s.LegA(), b)
	cancel()
	bEnd = time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return callback.Outcome{Reason: err.Error()}
		}
		s.Logger().Info("talk time used up: cutting the call", "talk_time", left)
		for _, ch := range []string{b, s.LegA()} {
			if herr := s.Hangup(ctx, ch, "normal"); herr != nil {
				s.Logger().Warn("could not hang up a leg", "leg_channel", ch, "err", herr)
			}
		}
		return callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.CauseNormalClearing, Reason: "talk time used up"}
	}
	other := b
	if first == b {
		other = s.LegA()
	}
	_, cause := s.Gone(first)
	if err := s.Hangup(ctx, other, "normal"); err != nil {
		s.Logger().Warn("could not hang up the other leg", "leg_channel", other, "err", err)
	}
	return callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.Cause(cause)}
}
