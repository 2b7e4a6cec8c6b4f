package ari

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/callbackd/callbackd/callback"
)

// Inbound is a call the dialplan handed to the Stasis application with
// Stasis(<app>,ivr,<access number>): an access number whose mode (Mizu
// iscallback) wants the IVR on the inbound call instead of a callback.
type Inbound struct {
	Channel    string // the channel's id: Asterisk's uniqueid
	Name       string // e.g. PJSIP/trunk-00000001
	CallerID   string // the caller's number as received
	CallerName string
	// Number is the access number: the Stasis argument after "ivr", else
	// the extension the channel was dialled at.
	Number   string
	Language string // the channel's language
}

// InboundFunc decides on an inbound IVR call and starts it: it builds the
// request (source ivr, call_id the channel's id) and has the dispatcher
// run it now, which calls Dial on this controller; Dial then takes the
// waiting channel over as the answered leg A. A returned error releases
// the caller unanswered: a *callback.RejectError with its SIP code,
// anything else with 503 (congestion).
type InboundFunc func(ctx context.Context, in Inbound) error

// WithInbound serves inbound calls sent to Stasis(<app>,ivr,...): f starts
// each one; a caller whose call no Dial takes over within wait (default
// 20 s) is released. Without it such callers are released at once.
func WithInbound(f InboundFunc, wait time.Duration) Option {
	return func(o *options) error {
		if wait < 0 {
			return fmt.Errorf("inbound wait %s: %w", wait, callback.ErrInvalid)
		}
		if wait == 0 {
			wait = 20 * time.Second
		}
		o.inbound, o.inboundWait = f, wait
		return nil
	}
}

// inboundIVRMarker is the first Stasis argument extensions.conf passes for
// an inbound call that an access number's mode sends to the IVR.
const inboundIVRMarker = "ivr"

// parked is an inbound channel in Stasis waiting for its Dial: its events
// collect in the route's inbox, which the session takes over.
type parked struct {
	in    Inbound
	route *route
	srv   *server // the Asterisk server the caller is on
	timer *time.Timer
}

// inboundOf reads what an InboundFunc needs from the StasisStart.
func inboundOf(ev Event) Inbound {
	in := Inbound{Channel: ev.Channel, Name: ev.ChannelName, Language: ev.Language}
	if ss, ok := ev.Raw.(*ari.StasisStart); ok {
		if c := ss.Channel.Caller; c != nil {
			in.CallerID, in.CallerName = c.Number, c.Name
		}
		if d := ss.Channel.Dialplan; d != nil {
			in.Number = d.Exten
		}
	}
	if len(ev.Args) > 1 && ev.Args[1] != "" {
		in.Number = ev.Args[1]
	}
	return in
}

// park holds an inbound IVR channel until its call's Dial takes it over,
// and asks the InboundFunc to start that call. It runs on the WebSocket
// reader and does not block: the decision runs in a goroutine.
func (c *Controller) park(sv *server, ev Event) {
	in := inboundOf(ev)
	log := c.log.With(append([]any{"channel", in.Channel, "access_number", in.Number, "cli", in.CallerID}, c.serverLog(sv)...)...)
	if c.inbound == nil {
		log.Warn("inbound IVR call, but this callbackd serves no inbound IVR: releasing the caller")
		c.spawn(func(ctx context.Context) { c.release(ctx, sv, in.Channel, callback.CauseNormalClearing) })
		return
	}
	rt := &route{inbox: make(chan *Event, c.inboxSize), resync: make(chan struct{}, 1), channel: true, srv: sv}
	p := &parked{in: in, route: rt, srv: sv}
	c.mu.Lock()
	if _, taken := c.routes[in.Channel]; taken {
		c.mu.Unlock()
		return
	}
	c.routes[in.Channel] = rt
	c.parked[in.Channel] = p
	p.timer = time.AfterFunc(c.inboundWait, func() {
		if c.unpark(in.Channel) == nil {
			return
		}
		log.Warn("inbound IVR call was not taken over by a call in time: releasing the caller", "waited", c.inboundWait)
		c.release(c.serverContext(), sv, in.Channel, callback.CauseCongestion)
	})
	c.mu.Unlock()
	deliver(rt, ev) // the session sees the StasisStart too
	log.Info("inbound IVR call entered Stasis")
	c.spawn(func(ctx context.Context) { c.admit(ctx, p, log) })
}

// admit rings the caller back while the InboundFunc decides, and
// releases the caller if it refuses.
func (c *Controller) admit(life context.Context, p *parked, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(life, c.inboundWait)
	defer cancel()
	// 180 Ringing while the request is written: the caller hears ringback
	// instead of silence. A channel that hung up meanwhile answers 404.
	if err := p.srv.rest.ring(ctx, p.in.Channel); err != nil {
		log.Info("could not indicate ringing to the inbound caller", "err", err)
	}
	err := c.inbound(ctx, p.in)
	if err == nil {
		return
	}
	cause := callback.CauseCongestion
	var rej *callback.RejectError
	if errors.As(err, &rej) {
		cause = causeForSIP(rej.SIPCode)
		log.Info("inbound IVR call refused", "reason", rej.Reason, "sip_code", rej.SIPCode)
	} else {
		log.Error("inbound IVR call could not be started: releasing the caller", "err", err)
	}
	if c.unpark(p.in.Channel) == nil {
		return // a Dial took the channel over after all
	}
	c.release(life, p.srv, p.in.Channel, cause)
}

// causeForSIP is the Q.850 cause that makes chan_pjsip answer an
// unanswered channel with code.
func causeForSIP(code int) callback.Cause {
	if cause, err := callback.RejectCause(code); err == nil {
		return cause
	}
	return callback.CauseFromSIP(code)
}

// unpark forgets a parked channel and its route; nil if it was taken over
// or released already.
func (c *Controller) unpark(id string) *parked { return c.takeParked(id, true) }

// adopt hands a parked channel to the session of its call, which keeps
// its route; nil if it is not waiting here (the caller hung up and was
// released, or another process got it).
func (c *Controller) adopt(id string) *parked { return c.takeParked(id, false) }

// takeParked removes a parked channel, and with dropRoute its route too.
// Whoever takes it first (Dial, the refusal, the wait's timer) owns it.
func (c *Controller) takeParked(id string, dropRoute bool) *parked {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.parked[id]
	if !ok {
		return nil
	}
	delete(c.parked, id)
	p.timer.Stop()
	if dropRoute && c.routes[id] == p.route {
		delete(c.routes, id)
	}
	return p
}

// release hangs up an inbound caller with cause; unanswered, chan_pjsip
// answers the INVITE with the SIP code of the cause.
func (c *Controller) release(ctx context.Context, sv *server, id string, cause callback.Cause) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := sv.rest.hangupCause(ctx, id, int(cause)); err != nil {
		c.log.Warn("could not release the inbound caller", "channel", id, "err", err)
	}
}

// inboundOrphan reports whether ch is an inbound IVR channel of this
// application, which no call of this process owns when reconcile finds it
// unrouted: the process that served it died.
func (c *Controller) inboundOrphan(ch channel) bool {
	return ch.Dialplan.AppName == "Stasis" && strings.HasPrefix(ch.Dialplan.AppData, c.app+","+inboundIVRMarker)
}

// adoptInbound takes over the waiting channel of a request whose leg A is
// the caller's own inbound call and answers it; answered is false when
// the attempt ended there, with out saying how. It never originates
// anything to the caller.
func (s *Session) adoptInbound(ctx context.Context) (out callback.Outcome, answered bool) {
	c := s.c
	r := &s.call.Request
	id := r.CallID
	s.log = s.log.With("channel", id)
	p := c.adopt(id)
	if p == nil {
		s.log.Info("inbound caller no longer waiting: nothing to do")
		return callback.Outcome{Result: callback.ResultCanceled, Cause: callback.CauseNormalClearing,
			Reason: "the caller was no longer on the line when the IVR was to start"}, false
	}
	s.inbox, s.resync = p.route.inbox, p.route.resync
	s.srv = p.srv
	s.log = s.log.With(c.serverLog(s.srv)...)
	s.keys = append(s.keys, id)
	s.a = &leg{id: id, name: callback.LegA, placed: true, inbound: true, chanName: p.in.Name}
	s.legs[id] = s.a
	if !c.reserveOn(s.srv) {
		// The caller is on this server: a full server cannot pass it on.
		s.log.Warn("server at its channel cap: releasing the inbound caller", "max_channels", s.srv.maxChannels)
		c.release(c.serverContext(), s.srv, id, callback.CauseCongestion)
		s.a.hungUp = true
		return callback.Outcome{Result: callback.ResultCanceled, Cause: callback.CauseCongestion,
			Reason: fmt.Sprintf("server %s at its channel cap %d", s.srv.name, s.srv.maxChannels)}, false
	}
	s.onServer = true
	if !c.tryAcquireCall() {
		// A caller on the line cannot wait for a slot as a queued
		// callback does: released with 503 at once.
		s.log.Warn("channel cap reached: releasing the inbound caller", "max_channels", c.maxChannels)
		c.release(c.serverContext(), s.srv, id, callback.CauseCongestion)
		s.a.hungUp = true
		return callback.Outcome{Result: callback.ResultCanceled, Cause: callback.CauseCongestion,
			Reason: fmt.Sprintf("ari.max_channels %d reached", c.maxChannels)}, false
	}
	s.holding = true
	if err := s.call.FirstLegInitiated(ctx, id); err != nil {
		if ctx.Err() != nil {
			return s.interrupted(ctx), false
		}
		s.log.Error("could not record the inbound call; releasing the caller", "err", err)
		return callback.Outcome{Err: fmt.Errorf("record first leg initiated: %w", err), Reason: err.Error()}, false
	}
	// Take in what happened while the call was parked (a hang-up) before
	// answering it.
	if err := s.drain(ctx); err != nil {
		return s.interrupted(ctx), false
	}
	if !s.a.gone {
		err := s.srv.rest.answer(ctx, id)
		switch {
		case err == nil:
			s.a.answered = true
		case ctx.Err() != nil:
			return s.interrupted(ctx), false
		case errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict):
			// Gone, or no longer in Stasis: its ChannelDestroyed follows.
			s.waitGone(ctx, s.a)
		default:
			s.log.Error("could not answer the inbound call", "err", err)
			return callback.Outcome{Result: callback.ResultCanceled, Cause: callback.CauseNormalClearing, Reason: "answer failed: " + err.Error()}, false
		}
	}
	if !s.a.answered {
		s.log.Info("inbound caller hung up before the IVR answered", "cause", s.a.cause)
		return callback.Outcome{Result: callback.ResultCanceled, Cause: callback.Cause(s.a.cause),
			Reason: "the caller hung up before the IVR answered"}, false
	}
	s.log.Info("inbound call answered", "cli", r.OriginalCLI, "access_number", r.AccessNumber)
	return callback.Outcome{}, true
}
