package aritest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// after runs fn under the simulator lock d from now, unless the channel is
// gone or Asterisk restarted meanwhile. Timers cost no goroutine while they
// wait.
func (s *Sim) after(ch *channel, d time.Duration, fn func()) *timerRef {
	gen := s.gen
	ref := &timerRef{}
	ref.t = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gen != gen || ch.dead {
			return
		}
		ch.dropTimer(ref)
		fn()
	})
	ch.timers = append(ch.timers, ref)
	return ref
}

type step struct {
	at time.Duration
	fn func()
}

// runScript runs steps one after the other at their offsets from now; one
// pending timer per script keeps same-instant steps in order.
func (s *Sim) runScript(ch *channel, steps []step) {
	start := time.Now()
	var next func(i int)
	next = func(i int) {
		if i >= len(steps) {
			return
		}
		d := max(steps[i].at-time.Since(start), 0)
		s.after(ch, d, func() {
			steps[i].fn()
			if !ch.dead {
				next(i + 1)
			}
		})
	}
	next(0)
}

func (s *Sim) behaviourFor(number string) Behaviour {
	if b, ok := s.phones[number]; ok {
		return b
	}
	return s.cfg.defaultPhone
}

// newChannel is ast_request: a channel in state Down named after the
// endpoint, as chan_pjsip and chan_local name theirs.
func (s *Sim) newChannel(t dialTarget, id string) *channel {
	s.seq++
	if id == "" {
		id = fmt.Sprintf("%d.%d", s.started.Unix(), s.seq)
	}
	name := fmt.Sprintf("%s/%s-%08x", t.tech, t.endpoint, s.seq)
	if t.tech == "Local" {
		name += ";1"
	}
	ch := &channel{
		seq: s.seq, id: id, name: name, state: "Down",
		context: "default", exten: "s", priority: 1,
		created: time.Now(), language: "en",
		vars: make(map[string]string), target: t,
		phone: s.behaviourFor(t.number),
	}
	if t.tech == "PJSIP" {
		ch.protocolID = fmt.Sprintf("%016x-%d@127.0.0.1", uint64(ch.created.UnixNano()), s.seq)
	}
	s.channels[id] = ch
	return ch
}

// endpointExists is whether ast_request would give a channel.
func (s *Sim) endpointExists(t dialTarget) bool {
	switch t.tech {
	case "Local":
		return true
	case "PJSIP":
		if s.cfg.endpoints == nil {
			return true
		}
		if s.cfg.endpoints[t.endpoint] {
			return true
		}
		_, ok := s.objects["res_pjsip"]["endpoint"][t.endpoint]
		return ok
	default:
		return false
	}
}

// phoneSteps is the far end's part of an INVITE transaction; onAnswer and
// onReject are the caller's reaction, which differs between an originate
// (ast_dial) and an ARI dial (dial bridge).
func (s *Sim) phoneSteps(ch *channel, onAnswer func(), onReject func(cause int)) []step {
	b := ch.phone
	var steps []step
	if b.Ring {
		steps = append(steps, step{b.RingAfter, func() {
			// chan_pjsip sets Ringing before the dial loop reads the frame.
			s.setState(ch, "Ringing")
			s.emitDial(ch, "RINGING", "")
		}})
		if b.EarlyMedia {
			steps = append(steps, step{b.RingAfter, func() { s.emitDial(ch, "PROGRESS", "") }})
		}
	} else if b.EarlyMedia {
		steps = append(steps, step{b.RingAfter, func() { s.emitDial(ch, "PROGRESS", "") }})
	}
	end := max(b.After, b.RingAfter)
	switch b.Outcome {
	case OutcomeAnswer:
		steps = append(steps, step{end, onAnswer})
	case OutcomeReject:
		cause := b.Cause
		if cause == 0 {
			cause = CauseCallRejected
		}
		steps = append(steps, step{end, func() { onReject(cause) }})
	}
	return steps
}

// originate drives an originated channel the way ari_originate_dial does.
func (s *Sim) originate(ch *channel, timeout time.Duration) {
	if timeout > 0 {
		ch.timeout = s.after(ch, timeout, func() {
			// handle_timeout_trip: no Dial event, no hangup request.
			cause := CauseNoAnswer
			if s.cfg.legacyTimeout {
				cause = CauseUnknown
			}
			s.destroy(ch, cause, 0)
		})
	}
	steps := []step{{0, func() { s.emitDial(ch, "", ch.target.resource) }}}
	steps = append(steps, s.phoneSteps(ch,
		func() { s.originateAnswered(ch) },
		func(cause int) { s.rejectDialing(ch, cause) },
	)...)
	s.runScript(ch, steps)
}

func (s *Sim) stopTimeout(ch *channel) {
	if ch.timeout != nil {
		ch.timeout.t.Stop()
		ch.dropTimer(ch.timeout)
		ch.timeout = nil
	}
}

func (s *Sim) originateAnswered(ch *channel) {
	s.stopTimeout(ch)
	ch.answered = true
	s.setState(ch, "Up")
	s.emitDial(ch, "ANSWER", "")
	if ch.app == "" {
		// Originated to an extension: the dialplan owns the channel.
		s.afterAnswer(ch)
		return
	}
	ch.appl = "Stasis"
	ch.data = strings.Join(append([]string{ch.app}, ch.appArgs...), ",")
	s.emitChannel("ChannelDialplan", ch, map[string]any{
		"dialplan_app": ch.appl, "dialplan_app_data": ch.data,
	})
	if !s.appActive(ch.app) {
		// stasis_app_exec fails for an unregistered or inactive app;
		// ast_dial_destroy then hangs the answered channel up.
		s.log.Warn("aritest: Stasis app not registered", "app", ch.app, "channel", ch.id)
		s.destroy(ch, CauseNormalClearing, 0)
		return
	}
	s.enterStasis(ch)
	s.afterAnswer(ch)
}

func (s *Sim) enterStasis(ch *channel) {
	ch.inStasis = true
	args := ch.appArgs
	if args == nil {
		args = []string{}
	}
	s.emitChannel("StasisStart", ch, map[string]any{"args": args})
}

// afterAnswer plays the phone's post-answer script: key presses, then BYE.
func (s *Sim) afterAnswer(ch *channel) {
	b := ch.phone
	var steps []step
	var at time.Duration
	for _, d := range b.DTMF {
		at += d.After
		dur := d.Duration
		if dur == 0 {
			dur = 100 * time.Millisecond
		}
		digit := d.Digit
		steps = append(steps, step{at, func() { s.emitDTMF(ch, digit, dur) }})
	}
	if b.HangupAfter > 0 {
		cause := b.HangupCause
		if cause == 0 {
			cause = CauseNormalClearing
		}
		steps = append(steps, step{max(b.HangupAfter, at), func() { s.remoteHangup(ch, cause) }})
	}
	s.runScript(ch, steps)
}

// rejectDialing is a final error response to the INVITE: chan_pjsip queues a
// hangup carrying the cause and the SIP code.
func (s *Sim) rejectDialing(ch *channel, cause int) {
	tech := sipCodeForCause(cause)
	req := map[string]any{"cause": cause}
	if tech > 0 {
		req["tech_cause"] = tech
	}
	s.emitChannel("ChannelHangupRequest", ch, req)
	if ch.inStasis {
		// ARI dial: the dial bridge only kicks the channel on a hangup
		// frame, no Dial status is published.
		s.leaveStasis(ch)
	} else {
		s.emitDial(ch, dialStatusForCause(cause), "")
	}
	s.destroy(ch, cause, tech)
}

// remoteHangup is the far end ending the call (BYE, or an error response
// before the answer).
func (s *Sim) remoteHangup(ch *channel, cause int) {
	if cause == 0 {
		cause = CauseNormalClearing
	}
	if !ch.answered && (ch.originated || ch.dialing) {
		s.rejectDialing(ch, cause)
		return
	}
	s.emitChannel("ChannelHangupRequest", ch, map[string]any{"cause": cause})
	s.leaveStasis(ch)
	s.destroy(ch, cause, 0)
}

// softHangup is DELETE /channels/{id}.
func (s *Sim) softHangup(ch *channel, cause int) {
	s.emitChannel("ChannelHangupRequest", ch, map[string]any{"cause": softHangupExplicit, "soft": true})
	if ch.originated && !ch.answered {
		// The dial loop reads no frame and reports the hangup cause.
		s.emitDial(ch, dialStatusForCause(cause), "")
	}
	s.leaveStasis(ch)
	s.destroy(ch, cause, 0)
}

// leaveStasis ends the playbacks, leaves the bridge and sends StasisEnd,
// in the order the Stasis control thread unwinds.
func (s *Sim) leaveStasis(ch *channel) {
	if !ch.inStasis {
		return
	}
	for len(ch.playQueue) > 0 {
		p := ch.playQueue[0]
		ch.playQueue = ch.playQueue[1:]
		p.stopTimer()
		delete(s.playbacks, p.id)
		if p.state == "playing" {
			// Streaming is interrupted by the hangup: failed.
			p.state = "failed"
			s.emitPlayback(p)
		}
	}
	if ch.bridge != nil {
		s.leaveBridge(ch)
	}
	ch.inStasis = false
	s.emitChannel("StasisEnd", ch, nil)
}

func (s *Sim) leaveBridge(ch *channel) {
	b := ch.bridge
	apps := b.apps()
	b.remove(ch)
	ch.bridge = nil
	s.emitBridge("ChannelLeftBridge", b, ch, apps)
}

// destroy is ast_hangup: ChannelDestroyed with the hangup cause.
func (s *Sim) destroy(ch *channel, cause, techCause int) {
	if ch.dead {
		return
	}
	if ch.bridge != nil {
		s.leaveBridge(ch)
	}
	ev := map[string]any{"cause": cause, "cause_txt": CauseText(cause)}
	if techCause > 0 {
		ev["tech_cause"] = techCause
	}
	s.emitChannel("ChannelDestroyed", ch, ev)
	ch.dead = true
	ch.stopTimers()
	for _, p := range ch.playQueue {
		p.stopTimer()
		delete(s.playbacks, p.id)
	}
	ch.playQueue = nil
	delete(s.channels, ch.id)
}

// ariDial is POST /channels/{id}/dial on a created channel: it joins the
// invisible dial bridge and the call proceeds there.
func (s *Sim) ariDial(ch *channel, timeout time.Duration) {
	ch.dialed = true
	ch.dialing = true
	if timeout > 0 {
		ch.timeout = s.after(ch, timeout, func() {
			// res/stasis/control.c hangup_channel: cause 19, then an
			// explicit soft hangup.
			s.emitChannel("ChannelHangupRequest", ch, map[string]any{"cause": softHangupExplicit, "soft": true})
			s.leaveStasis(ch)
			s.destroy(ch, CauseNoAnswer, 0)
		})
	}
	steps := []step{{0, func() { s.emitDial(ch, "", ch.target.resource) }}}
	steps = append(steps, s.phoneSteps(ch,
		func() {
			s.stopTimeout(ch)
			ch.answered = true
			ch.dialing = false
			s.setState(ch, "Up")
			s.emitDial(ch, "ANSWER", "")
			s.afterAnswer(ch)
		},
		func(cause int) { s.rejectDialing(ch, cause) },
	)...)
	s.runScript(ch, steps)
}
