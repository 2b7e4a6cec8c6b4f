package ari

import (
	"context"
	"errors"

	"github.com/callbackd/callbackd/callback"
)

// TwoWay is Sippy's 2 Way Callback sub-application (seed 001, E6): once
// the user answered, it calls the destination of original_cld
// ("2way_<CLD>") with the identity of twoway_cli, twoway_authname and
// twoway_md5secret (each falling back to the first leg's: username as CLI,
// authname, md5secret), bridges the two legs and lets them talk.
//
// Results: Successful when the conversation ends, First leg aborted when
// the user hangs up before the destination answers, Second leg failed when
// the destination is busy, does not answer, rejects or cannot be reached.
type TwoWay struct{}

var _ App = TwoWay{}

// Run implements App.
func (TwoWay) Run(ctx context.Context, s *Session) callback.Outcome {
	r := s.Request()
	cld, err := callback.ParseCLD(r.OriginalCLD)
	if err != nil || cld.App != callback.SubAppTwoWay {
		s.Logger().Error("2-way callback without a 2way_<CLD> destination", "original_cld", r.OriginalCLD)
		hangupA(ctx, s)
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: "original_cld has no 2way_<CLD> destination"}
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
	b, err := s.DialB(ctx, DialSpec{Number: cld.Destination, CallerID: cli, Identity: id, Bridged: true})
	var failed *LegFailedError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return callback.Outcome{Reason: err.Error()}
	case errors.Is(err, ErrFirstLegGone):
		_, cause := s.Gone(s.LegA())
		s.Logger().Info("first leg hung up before the second leg answered", "cause", cause)
		return callback.Outcome{Result: callback.ResultFirstLegAborted, Cause: callback.Cause(cause), Reason: "first leg hung up before the second leg connected"}
	case errors.As(err, &failed):
		s.Logger().Info("second leg failed", "cause", failed.Cause, "sip_code", failed.SIPCode, "reason", failed.Reason)
		hangupA(ctx, s)
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Cause: callback.Cause(failed.Cause), SIPCode: failed.SIPCode, Reason: failed.Reason}
	default:
		s.Logger().Error("second leg could not be placed", "err", err)
		hangupA(ctx, s)
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: err.Error()}
	}

	first, err := s.WaitHangup(ctx, s.LegA(), b)
	if err != nil {
		return callback.Outcome{Reason: err.Error()}
	}
	other := b
	if first == b {
		other = s.LegA()
	}
	_, cause := s.Gone(first)
	s.Logger().Info("conversation ended", "hung_up_first", first, "cause", cause)
	if err := s.Hangup(ctx, other, "normal"); err != nil {
		s.Logger().Warn("could not hang up the other leg", "leg_channel", other, "err", err)
	}
	return callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.Cause(cause)}
}

func hangupA(ctx context.Context, s *Session) {
	if err := s.Hangup(ctx, s.LegA(), "normal"); err != nil {
		s.Logger().Warn("could not hang up the first leg", "err", err)
	}
}
