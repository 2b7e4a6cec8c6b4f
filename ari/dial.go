package ari

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// Dial places leg A of one attempt, runs the request's sub-application once
// it is answered, and returns how the attempt ended. Everything it placed
// is hung up before it returns.
func (c *Controller) Dial(ctx context.Context, call *callback.Attempt) callback.Outcome {
	n := call.Request.CallCount + 1
	log := c.log.With("request_id", call.Request.ID, "attempt", n)
	c.obs.LiveCalls(int(c.liveCalls.Add(1)))
	defer func() { c.obs.LiveCalls(int(c.liveCalls.Add(-1))) }()
	s := c.newSession(call, n, log)
	defer s.teardown(ctx)
	if call.Request.Inbound() {
		out, answered := s.adoptInbound(ctx)
		if !answered {
			return out
		}
		return s.answeredA(ctx)
	}
	// placeA's frame (the originate's parameters) is gone before the
	// sub-application runs: a live call's goroutine keeps only what the
	// call needs on its stack.
	out, answered := s.placeA(ctx)
	if !answered {
		return out
	}
	return s.answeredA(ctx)
}

// placeA originates leg A and waits for its answer; answered is false when
// the attempt ended there, with out saying how.
func (s *Session) placeA(ctx context.Context) (out callback.Outcome, answered bool) {
	c := s.c
	r := &s.call.Request
	if !c.Ready() {
		return callback.Outcome{Err: fmt.Errorf("Asterisk ARI not connected: %w", callback.ErrNoDialer)}, false
	}
	var an *callback.AccessNumber
	if c.access != nil && r.AccessNumber != "" {
		got, err := c.access.GetAccessNumber(ctx, r.AccessNumber)
		switch {
		case err == nil:
			an = got
		case errors.Is(err, callback.ErrNotFound):
		default:
			return s.notPlaced(ctx, fmt.Errorf("look up access number %s: %w", r.AccessNumber, err)), false
		}
	}

	route := c.trunksFor(r, callback.LegA, r.OriginalCLI)
	sv, err := c.place(route)
	if err != nil {
		return s.notPlaced(ctx, fmt.Errorf("place the call: %w", err)), false
	}
	s.srv, s.onServer = sv, true
	s.log = s.log.With(c.serverLog(sv)...)
	route = onServer(sv, route)

	idA := c.key(sv, r.ID, s.attempt, "a")
	if r.CallID != "" && !generatedAny(c.prefix, r.CallID, r.ID) {
		if validChannelID(r.CallID) {
			idA = r.CallID
		} else {
			s.log.Warn("preset call_id cannot be an ARI channel id; using a generated one", "call_id", r.CallID)
		}
	}
	s.log = s.log.With("channel", idA)
	if s.attempt > 1 {
		if err := s.clearPrevious(ctx, idA); err != nil {
			s.log.Warn("request not placed: the channels of its previous attempt cannot be hung up yet", "err", err)
			return s.notPlaced(ctx, err), false
		}
	}

	t, next := s.takeTrunk(route, 0)
	if t == nil {
		return s.notPlaced(ctx, fmt.Errorf("%w: every trunk for %s is at its channel cap", errTrunksFull, r.OriginalCLI)), false
	}
	s.aIdentity = Identity{Authname: r.Identity(), MD5Secret: r.MD5Secret}
	ep, err := s.identityEndpoint(ctx, t, s.aIdentity, "a", 1)
	if err != nil {
		t.give()
		s.log.Error("cannot set up the identity of the first leg", "err", err)
		return s.notPlaced(ctx, err), false
	}

	if s.a, err = s.addLeg(idA, callback.LegA); err != nil {
		t.give()
		s.log.Error("first leg's channel id is held by another call of this process", "err", err)
		return s.notPlaced(ctx, err), false
	}
	s.a.trunk = t
	if out, ok := s.admit(ctx); !ok {
		return out, false
	}
	if err := c.acquireCall(ctx); err != nil {
		return s.notPlaced(ctx, err), false
	}
	s.holding = true
	for try := 1; ; try++ {
		if t.limiter != nil {
			if err := t.limiter.Wait(ctx); err != nil {
				return s.notPlaced(ctx, context.Cause(ctx)), false
			}
		}
		if try == 1 {
			// Recorded before the originate: a crash between the two is
			// then a dialled attempt, never a request that was not tried.
			if err := s.call.FirstLegInitiated(ctx, idA); err != nil {
				return s.notPlaced(ctx, fmt.Errorf("record first leg initiated: %w", err)), false
			}
		}
		out, answered := s.originateA(ctx, an, t, ep)
		if answered || out.Result != callback.ResultNone || out.Err != nil || ctx.Err() != nil {
			return out, answered
		}
		// Unanswered: tried again on the next trunk when the carrier could
		// not take the call.
		a := s.a
		if a.vanished || !failsOver(a.cause, a.techCause) {
			return out, false
		}
		nt, nn := s.takeTrunk(route, next)
		if nt == nil {
			return out, false
		}
		note := fmt.Sprintf("leg A via trunk %s failed (cause %d, SIP %d); trying trunk %s", t.Name, a.cause, a.techCause, nt.Name)
		s.log.Warn("first leg failed on its trunk: trying the next one", "trunk", t.Name, "next_trunk", nt.Name,
			"cause", a.cause, "sip_code", a.techCause)
		if err := s.call.Note(ctx, a.cause, a.techCause, note); err != nil {
			s.log.Warn("could not record the trunk failover in the history", "err", err)
		}
		s.giveTrunk(a)
		t, next = nt, nn
		if ep, err = s.identityEndpoint(ctx, t, s.aIdentity, "a", try+1); err != nil {
			t.give()
			s.log.Error("cannot set up the identity of the first leg on the next trunk", "trunk", t.Name, "err", err)
			return out, false
		}
		*a = leg{id: a.id, name: a.name, trunk: t}
	}
}

// originateA originates leg A on trunk t, through the PJSIP endpoint ep
// ("" the trunk's own), and waits for its answer; answered is false when
// the leg ended there, with out saying how.
func (s *Session) originateA(ctx context.Context, an *callback.AccessNumber, t *trunk, ep string) (out callback.Outcome, answered bool) {
	c := s.c
	r := &s.call.Request
	cli := t.callerID(legACallerID(r, an, c.legACLI))
	endpoint := t.endpoint(r.OriginalCLI, ep)
	timeout := s.call.AnswerTimeout
	if timeout <= 0 {
		timeout = callback.DefaultPolicy().Timeout
	}
	q := url.Values{
		"endpoint":  {endpoint},
		"app":       {c.app},
		"appArgs":   {s.appArgs("a")},
		"timeout":   {strconv.Itoa(seconds(timeout))},
		"channelId": {s.a.id},
	}
	if cli != "" {
		q.Set("callerId", cli)
	}
	var body any
	if vars := legAVariables(r, an, t, cli); len(vars) > 0 {
		body = map[string]any{"variables": vars}
	}
	s.log.Info("originating first leg", "number", r.OriginalCLI, "cli", cli, "endpoint", endpoint, "timeout", seconds(timeout), "trunk", t.Name)
	if out, ok := s.originate(ctx, q, body); !ok {
		return out, false
	}

	// Asterisk ends the leg at the originate timeout; the watchdog only
	// fires if its word never arrives.
	wctx, cancel := context.WithTimeout(ctx, timeout+c.timeout)
	for !s.a.answered && !s.a.gone {
		if _, err := s.Next(wctx); err != nil {
			if ctx.Err() != nil {
				cancel()
				return s.interrupted(ctx), false
			}
			s.log.Warn("no word from Asterisk on the first leg past its originate timeout: hanging it up")
			if herr := s.Hangup(ctx, s.a.id, "normal"); herr != nil {
				s.log.Warn("could not hang up the silent first leg", "err", herr)
			}
			s.ended(s.a, int(callback.CauseNoAnswer), 0, "no answer (no word from Asterisk)")
		}
	}
	cancel()
	if !s.a.answered {
		return s.unanswered(), false
	}
	s.log.Info("first leg answered")
	return callback.Outcome{}, true
}

// errTrunksFull: every trunk a leg could take is at its channel cap.
var errTrunksFull = errors.New("no trunk has room")

// takeTrunk takes a place on the first trunk of route, from index from
// on, that is below its channel cap; next is where the route goes on
// after it. nil when none has room.
func (s *Session) takeTrunk(route []*trunk, from int) (t *trunk, next int) {
	for i := from; i < len(route); i++ {
		if route[i].take() {
			return route[i], i + 1
		}
		s.log.Info("trunk at its channel cap: passed over", "trunk", route[i].Name, "max_channels", route[i].MaxChannels)
	}
	return nil, len(route)
}

// giveTrunk gives back the trunk place l holds.
func (s *Session) giveTrunk(l *leg) {
	if l.trunk != nil && !l.trunkGiven {
		l.trunk.give()
		l.trunkGiven = true
	}
}

// answeredA records that leg A answered and runs the request's
// sub-application on it.
func (s *Session) answeredA(ctx context.Context) callback.Outcome {
	c := s.c
	r := &s.call.Request
	if err := s.recordAnswer(ctx); err != nil {
		if ctx.Err() != nil {
			return s.interrupted(ctx)
		}
		s.log.Error("could not record that the first leg answered; hanging up", "err", err)
		return callback.Outcome{Reason: "could not record the answer: " + err.Error()}
	}
	c.obs.LegAnswered(callback.LegA)
	if r.CreditTime > 0 {
		s.credit = time.NewTimer(time.Duration(r.CreditTime) * time.Second)
		s.creditC = s.credit.C
	}

	cld, err := callback.ParseCLD(r.OriginalCLD)
	name := string(cld.App)
	if err != nil {
		name = r.OriginalCLD
	}
	app := c.apps[cld.App]
	if err != nil || app == nil {
		s.log.Error("no sub-application configured for the request; hanging up the first leg", "sub_app", name)
		if herr := s.Hangup(ctx, s.a.id, "normal"); herr != nil {
			s.log.Warn("could not hang up the first leg", "err", herr)
		}
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: fmt.Sprintf("no sub-application %s configured", name)}
	}
	s.admitted = nil // Run owns the admission now
	out := app.Run(ctx, s)
	if ctx.Err() != nil {
		return s.interrupted(ctx)
	}
	return out
}

// recordAnswer writes First leg connected. When the store cannot take
// the write (a database outage) the user is not hung up on at once: the
// write is tried again, with leg A kept up and its events read, for as
// long as the lease holds, and the call goes on once it succeeds. It gives
// up when the lease would end before the next try (another node may then
// take the request back), when the store says the lease is lost or the
// move illegal, when leg A hangs up, or when ctx ends.
func (s *Session) recordAnswer(ctx context.Context) error {
	delay := 100 * time.Millisecond
	var giveUp time.Time // without a known lease: one default lease from the first failure
	for {
		err := s.call.FirstLegConnected(ctx)
		if err == nil {
			return nil
		}
		var te *callback.TransitionError
		if ctx.Err() != nil || errors.Is(err, callback.ErrLeaseLost) || errors.As(err, &te) {
			return err
		}
		until := s.call.LeaseUntil()
		if until.IsZero() {
			if giveUp.IsZero() {
				giveUp = time.Now().Add(callback.DefaultPolicy().Lease)
			}
			until = giveUp
		}
		if time.Now().Add(delay).After(until) {
			return fmt.Errorf("%w (the lease ends before another try)", err)
		}
		s.log.Warn("could not record that the first leg answered; the user waits while the write is tried again within the lease",
			"err", err, "retry_in", delay, "lease_until", until)
		wctx, cancel := context.WithTimeout(ctx, delay)
		for !s.a.gone {
			if _, werr := s.Next(wctx); werr != nil {
				break
			}
		}
		cancel()
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if s.a.gone {
			return fmt.Errorf("first leg hung up before its answer could be recorded: %w", err)
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// originateSends bounds how often one attempt sends its originate: again
// only when Asterisk is known not to have made the channel.
const originateSends = 3

// originateSettle is how long a lost originate's channel, not listed by
// Asterisk, is given to show itself through its events. An originated
// channel is subscribed to the application from its creation, and its
// first Dial event is published at once, so events follow within
// milliseconds; a channel that rang and ended already sends its
// ChannelDestroyed as well.
const originateSettle = time.Second

// originate sends POST /channels for leg A. ok is false when the attempt
// ends here, with out saying how.
func (s *Session) originate(ctx context.Context, q url.Values, body any) (out callback.Outcome, ok bool) {
	for send := 1; ; send++ {
		made, err := s.srv.rest.originate(ctx, q, body)
		var he *HTTPError
		switch {
		case err == nil:
			s.a.placed, s.a.chanName = true, made.Name
			return callback.Outcome{}, true
		case errors.Is(err, ErrConflict):
			return s.originateConflict(ctx, err)
		case ctx.Err() != nil:
			s.a.placed = true // whatever Asterisk did, teardown hangs it up
			return s.interrupted(ctx), false
		case errors.Is(err, ErrUnreachable),
			errors.As(err, &he) && he.Status != http.StatusBadGateway && he.Status != http.StatusServiceUnavailable && he.Status != http.StatusGatewayTimeout:
			// Asterisk refused it or never saw it: no channel exists.
			s.log.Error("originate refused", "err", err)
			s.ended(s.a, 0, 0, "originate refused")
			return callback.Outcome{Err: fmt.Errorf("originate %s: %w", s.a.id, err), Reason: "originate refused: " + err.Error()}, false
		}
		// The answer was lost (connection closed or reset, timeout): the
		// request may or may not have reached Asterisk. Ask it.
		switch s.resolveOriginate(ctx, err) {
		case originatePlaced:
			return callback.Outcome{}, true
		case originateNotPlaced:
			if send < originateSends {
				s.log.Warn("originate lost before Asterisk made the channel; sending it again", "err", err, "send", send+1)
				continue
			}
		case originateInterrupted:
			s.a.placed = true
			return s.interrupted(ctx), false
		}
		s.log.Error("originate outcome unknown; counted as a failed attempt", "err", err)
		s.a.placed = true // hung up in teardown if it appears after all
		s.ended(s.a, 0, 0, "originate outcome unknown")
		return callback.Outcome{Reason: "originate outcome unknown: " + err.Error()}, false
	}
}

// originateConflict handles a 409 to an originate.
func (s *Session) originateConflict(ctx context.Context, err error) (callback.Outcome, bool) {
	// Our own deterministic id: the originate was accepted before (a
	// request re-sent after its answer was lost). Attach to it rather than
	// ring the user twice.
	ch, gerr := s.srv.rest.getChannel(ctx, s.a.id)
	if gerr == nil {
		s.log.Warn("channel id already in use: the originate was placed before; attaching to it")
		s.a.placed, s.a.chanName = true, ch.Name
		return callback.Outcome{}, true
	}
	if errors.Is(gerr, ErrNotFound) {
		// The earlier originate's channel ended between the two
		// requests, or (Asterisk keeps the conflict flag per HTTP
		// worker thread) the allocation failed on a connection that
		// saw a conflict before. Dialling again could ring the user
		// twice: the attempt ends here and counts as failed.
		s.log.Warn("409 on originate and no such channel: an earlier originate that just ended, or a failed allocation reported as 409; not dialling again")
		s.a.placed = true
		s.waitGone(ctx, s.a)
		return s.unanswered(), false
	}
	s.log.Error("channel id in use and the channel cannot be read", "err", gerr)
	s.ended(s.a, 0, 0, "channel id in use")
	return callback.Outcome{Err: fmt.Errorf("originate %s: %w", s.a.id, err), Reason: "channel id in use"}, false
}

type originateFate int

const (
	originateUnknown     originateFate = iota // Asterisk cannot tell now
	originatePlaced                           // the channel exists or existed: attached
	originateNotPlaced                        // no channel was made: safe to send again
	originateInterrupted                      // the call's context ended
)

// resolveOriginate finds out from Asterisk what became of an originate
// whose answer was lost, through its deterministic channel id: GET
// /channels/{id} lists it while it lives, and its events (Dial at once,
// ChannelDestroyed if it ended already) follow it when it lived. A channel
// neither listed nor heard of within originateSettle was never made, and
// the originate can be sent again: its id turns a duplicate into a 409.
func (s *Session) resolveOriginate(ctx context.Context, cause error) originateFate {
	ch, gerr := s.srv.rest.getChannel(ctx, s.a.id)
	switch {
	case gerr == nil:
		s.log.Warn("originate answer lost but the channel exists: attaching to it", "err", cause)
		s.a.placed, s.a.chanName = true, ch.Name
		return originatePlaced
	case ctx.Err() != nil:
		return originateInterrupted
	case !errors.Is(gerr, ErrNotFound):
		s.log.Warn("originate answer lost and the channel cannot be read", "err", cause, "get_err", gerr)
		return originateUnknown
	case !s.c.Ready():
		// Without the events WebSocket a channel that came and went
		// cannot be told from one never made.
		return originateUnknown
	}
	wctx, cancel := context.WithTimeout(ctx, originateSettle)
	defer cancel()
	for {
		ev, err := s.Next(wctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return originateInterrupted
		case err != nil:
			return originateNotPlaced
		case ev.Channel == s.a.id && ev.Type != EventChannelGone && ev.Type != EventChannelReconciled:
			s.log.Warn("originate answer lost; the channel's events show it was placed", "err", cause, "event", ev.Type)
			s.a.placed = true
			return originatePlaced
		}
	}
}

// unanswered is the outcome of a leg A that ended before it answered: no
// result, so the dispatcher retries or finishes Out of retries.
func (s *Session) unanswered() callback.Outcome {
	a := s.a
	cause, reason := a.cause, a.reason
	if cause == 0 {
		if c := causeOfDialStatus(a.dialStatus); c != callback.CauseUnknown {
			cause, reason = int(c), "Dial "+a.dialStatus+" (Asterisk reported cause 0)"
		}
	}
	if cause == 0 && !a.vanished {
		// Releases before 22.8 sometimes reported 0 on an originate timeout.
		cause, reason = int(callback.CauseNoAnswer), "no answer (Asterisk reported cause 0)"
	}
	s.log.Info("first leg not answered", "cause", cause, "sip_code", a.techCause, "reason", reason)
	return callback.Outcome{Cause: callback.Cause(cause), SIPCode: a.techCause, Reason: reason}
}

// notPlaced is the outcome of an attempt that ended before its originate.
func (s *Session) notPlaced(ctx context.Context, err error) callback.Outcome {
	if ctx.Err() != nil {
		return s.interrupted(ctx)
	}
	return callback.Outcome{Err: err, Reason: err.Error()}
}

// interrupted is the outcome of a call whose context ended: canceled from
// outside, lease lost, or callbackd shutting down. Teardown hangs up.
func (s *Session) interrupted(ctx context.Context) callback.Outcome {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, callback.ErrCanceled):
		s.log.Info("canceled from outside: hanging up")
		return callback.Outcome{Result: callback.ResultCanceled, Cause: callback.CauseNormalClearing, Reason: "canceled"}
	case errors.Is(cause, callback.ErrLeaseLost):
		s.log.Warn("lease lost: hanging up; another node owns the request")
		return callback.Outcome{Reason: "lease lost"}
	}
	s.log.Warn("call interrupted: hanging up", "err", cause)
	return callback.Outcome{Reason: fmt.Sprintf("interrupted: %v", cause)}
}

// clearPrevious hangs up what earlier attempts of the request may have
// left (a process killed mid-call, whose request was rescued), so that a
// rescued request never rings the user twice. With several servers the
// previous attempt's channels are on the server its channel id names (a
// preset call_id: on any); while that server cannot be reached and the
// previous first leg may still ring there, the attempt is not placed
// (errPreviousUnreachable): the request goes back to the queue uncounted
// and is tried again once the server is back or the ring time is over.
func (s *Session) clearPrevious(ctx context.Context, idA string) error {
	c := s.c
	if len(c.servers) == 1 {
		s.clearOn(ctx, c.servers[0], idA)
		return nil
	}
	servers, unknown := c.previousServers(&s.call.Request)
	if unknown && s.mayStillRing() {
		return fmt.Errorf("previous channel %s is on no configured server: %w", s.call.Request.CallID, errPreviousUnreachable)
	}
	for _, sv := range servers {
		if !c.serverReady(sv) {
			if s.mayStillRing() {
				return fmt.Errorf("server %s: %w", sv.name, errPreviousUnreachable)
			}
			continue
		}
		s.clearOn(ctx, sv, idA)
	}
	return nil
}

// clearOn hangs up on sv what earlier attempts of the request may have
// left there.
func (s *Session) clearOn(ctx context.Context, sv *server, idA string) {
	c := s.c
	id := s.call.Request.ID
	var chans, bridges []string
	var objs []object
	for k := 1; k < s.attempt; k++ {
		chans = append(chans, c.key(sv, id, k, "a"), c.key(sv, id, k, "b"))
		bridges = append(bridges, c.key(sv, id, k, "br"))
		if s.call.Request.MD5Secret == "" && s.call.Request.TwowayMD5Secret == "" {
			continue
		}
		for _, leg := range []string{"a", "b"} {
			for try := 1; try <= len(c.trunkList); try++ {
				base := c.key(sv, id, k, leg) + trySuffix(try)
				objs = append(objs, object{"endpoint", base + "-ep"}, object{"auth", base + "-auth"})
			}
		}
	}
	if !c.generated(idA, id) {
		chans = append(chans, idA, idA+"-b")
		if tw := s.call.Request.TwowayCallID; tw != "" && validChannelID(tw) {
			chans = append(chans, tw)
		}
	}
	for _, ch := range chans {
		if err := sv.rest.hangup(ctx, ch, "normal"); err != nil {
			s.log.Warn("could not hang up a channel of an earlier attempt", "old_channel", ch, "err", err)
		}
	}
	for _, b := range bridges {
		if err := sv.rest.destroyBridge(ctx, b); err != nil {
			s.log.Warn("could not destroy a bridge of an earlier attempt", "bridge", b, "err", err)
		}
	}
	for _, o := range objs {
		if err := sv.rest.deleteObject(ctx, o.typ, o.id); err != nil && !errors.Is(err, ErrForbidden) {
			s.log.Warn("could not delete a PJSIP object of an earlier attempt", "id", o.id, "err", err)
		}
	}
}
