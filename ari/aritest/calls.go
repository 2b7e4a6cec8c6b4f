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

func (s *Sim) behaviourFor(t dialTarget) Behaviour {
	if b, ok := s.trunkPhones[t.endpoint+"/"+t.number]; ok {
		return b
	}
	if b, ok := s.phones[t.number]; ok {
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
	ch := &channel{
		seq: s.seq, id: id, name: name, state: "Down",
		context: "default", exten: "s", priority: 1,
		created: time.Now(), language: "en",
		vars: make(map[string]string), target: t,
		phone: s.behaviourFor(t),
	}
	switch t.tech {
	case "PJSIP":
		ch.protocolID = fmt.Sprintf("%016x-%d@127.0.0.1", uint64(ch.created.UnixNano()), s.seq)
	case "Local":
		// ast_unreal_new_channels allocates both halves in the Local
		// channel's context and extension.
		ch.name += ";1"
		ch.context, ch.exten = t.context, t.number
	}
	s.channels[id] = ch
	return ch
}

// localHalf2ID is the id ast_unreal_new_channels gives the ";2" half: the
// other id asked for, else the channel's id with ";2" appended, else one of
// its own ("" here).
func localHalf2ID(id, otherID string) string {
	switch {
	case otherID != "":
		return otherID
	case id != "":
		return id + ";2"
	}
	return ""
}

// newLocalHalf2 makes the ";2" half of the Local channel owner: named like
// it, in state Ring, listed among the channels. It runs the dialplan at the
// Local channel's extension once owner is called; the simulator plays that
// dialplan as the phone of the extension's number, on owner.
func (s *Sim) newLocalHalf2(owner *channel, id string) *channel {
	s.seq++
	if id == "" {
		id = fmt.Sprintf("%d.%d", s.started.Unix(), s.seq)
	}
	ch := &channel{
		seq: s.seq, id: id, name: strings.TrimSuffix(owner.name, ";1") + ";2", state: "Ring",
		context: owner.context, exten: owner.exten, priority: 1,
		created: owner.created, language: owner.language,
		vars: make(map[string]string), target: owner.target,
		half2: true, localPeer: owner,
	}
	owner.localPeer = ch
	s.channels[id] = ch
	return ch
}

// farEndGone ends the ";2" half of a Local channel first when its dialplan
// hangs up (Hangup() sets the cause and raises no hangup request); the
// ";1" half then hears of it as a queued hangup, as from any far end.
func (s *Sim) farEndGone(ch *channel, cause int) {
	peer := ch.localPeer
	if peer == nil || ch.half2 {
		return
	}
	ch.localPeer, peer.localPeer = nil, nil
	s.destroy(peer, cause, 0)
}

// localPeerAnswered is the ";2" half's Answer(), which is what answers the
// ";1" half.
func (s *Sim) localPeerAnswered(ch *channel) {
	if peer := ch.localPeer; peer != nil && !ch.half2 {
		peer.answered = true
		s.setState(peer, "Up")
	}
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
			s.emitDial(ch, "RINGING", dialString(ch))
		}})
		if b.EarlyMedia {
			steps = append(steps, step{b.RingAfter, func() { s.emitDial(ch, "PROGRESS", dialString(ch)) }})
		}
	} else if b.EarlyMedia {
		steps = append(steps, step{b.RingAfter, func() { s.emitDial(ch, "PROGRESS", dialString(ch)) }})
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
	ch.called = true
	s.sendInvite(ch)
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
	s.localPeerAnswered(ch)
	ch.answered = true
	s.setState(ch, "Up")
	s.emitDial(ch, "ANSWER", dialString(ch))
	if ch.app == "" {
		// Originated to an extension: the dialplan owns the channel.
		s.afterAnswer(ch)
		return
	}
	if !s.runStasis(ch) {
		// ast_dial_destroy hangs the answered channel up.
		s.destroy(ch, CauseNormalClearing, 0)
		return
	}
	s.afterAnswer(ch)
}

// runStasis is pbx_exec of Stasis(<app>,<args>) on a channel ARI placed
// (ari_originate_dial, ari_channel_thread). It reports false when
// stasis_app_exec fails because the application has no connected
// WebSocket: STASISSTATUS then reads FAILED and the caller hangs the
// channel up.
func (s *Sim) runStasis(ch *channel) bool {
	if !s.appActive(ch.app) {
		s.log.Warn("aritest: Stasis app not registered", "app", ch.app, "channel", ch.id)
		s.execStasis(ch)
		s.setStasisStatus(ch, "FAILED")
		ch.appl, ch.data = ch.savedAppl, ch.savedData
		return false
	}
	s.enterStasis(ch)
	return true
}

// execStasis is what precedes StasisStart. pbx_exec makes Stasis the
// channel's application, with the application name and its arguments as
// data; a channel that ran no application before reads that as a
// ChannelDialplan (ast_channel_snapshot_cep_equal), one that did, such as an
// originate's "AppDial2", does not. Then app_stasis's app_exec clears
// STASISSTATUS.
func (s *Sim) execStasis(ch *channel) {
	ch.savedAppl, ch.savedData = ch.appl, ch.data
	ch.appl = "Stasis"
	ch.data = strings.Join(append([]string{ch.app}, ch.appArgs...), ",")
	if ch.savedAppl == "" {
		s.emit(map[string]any{
			"type": "ChannelDialplan", "channel": ch.snapshot(),
			"dialplan_app": ch.appl, "dialplan_app_data": ch.data,
		}, s.outsideApps(ch), ch)
	}
	s.setStasisStatus(ch, "")
}

// setStasisStatus is app_stasis setting STASISSTATUS around
// stasis_app_exec, outside Stasis: only an application subscribed to the
// channel beyond StasisStart..StasisEnd hears the ChannelVarset.
func (s *Sim) setStasisStatus(ch *channel, value string) {
	ch.vars["STASISSTATUS"] = value
	s.emit(map[string]any{
		"type": "ChannelVarset", "channel": ch.snapshot(),
		"variable": "STASISSTATUS", "value": value,
	}, s.outsideApps(ch), ch)
}

// enterStasis runs Stasis() up to StasisStart, for an application that is
// connected.
func (s *Sim) enterStasis(ch *channel) {
	s.execStasis(ch)
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
// hangup carrying the cause and the SIP code. A Local channel's ";2" half
// rejects by hanging up with the cause, and carries no SIP code.
func (s *Sim) rejectDialing(ch *channel, cause int) {
	s.farEndGone(ch, cause)
	tech := 0
	if ch.target.tech == "PJSIP" {
		tech = sipCodeForCause(cause)
	}
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
		s.emitDial(ch, dialStatusForCause(cause), dialString(ch))
	}
	s.destroy(ch, cause, tech)
}

// remoteHangup is the far end ending the call (BYE, or an error response
// before the answer).
func (s *Sim) remoteHangup(ch *channel, cause int) {
	if cause == 0 {
		cause = CauseNormalClearing
	}
	s.farEndGone(ch, cause)
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
		s.emitDial(ch, dialStatusForCause(cause), dialString(ch))
	}
	s.leaveStasis(ch)
	s.destroy(ch, cause, 0)
}

// leaveStasis ends the playbacks, leaves the bridge and sends StasisEnd,
// in the order the Stasis control thread unwinds; then app_stasis sets
// STASISSTATUS and pbx_exec puts the channel's previous application back.
// The channel leaves Stasis on a hangup or POST /continue, after which the
// control thread quits without unsubscribing from the bridge it was in.
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
		s.leaveBridge(ch, false)
	}
	ch.inStasis = false
	s.emitChannel("StasisEnd", ch, nil)
	if ch.inbound {
		// app_send_end_msg drops the subscription stasis_app_exec took;
		// a channel that entered Stasis from the dialplan has no other,
		// so its application hears nothing more of it (no
		// ChannelDestroyed), unlike an originated one.
		ch.unsubscribed = true
	}
	s.setStasisStatus(ch, "SUCCESS")
	ch.appl, ch.data = ch.savedAppl, ch.savedData
}

// leaveBridge takes ch out of its bridge. The applications subscribed to
// the bridge hear ChannelLeftBridge. unsubscribe is the Stasis control
// thread noticing that the channel left while it stays in Stasis
// (removeChannel, a move to another bridge): the application's interest in
// the bridge goes. When the channel leaves because it hangs up (or
// continues in the dialplan), stasis_app_exec breaks out of its loop before
// it looks at the bridge again: the after-bridge callback drops one
// interest, the loop's own stays, and the application goes on hearing of
// the bridge, BridgeDestroyed included.
func (s *Sim) leaveBridge(ch *channel, unsubscribe bool) {
	b := ch.bridge
	apps := b.apps()
	b.remove(ch)
	ch.bridge = nil
	s.emitBridge("ChannelLeftBridge", b, ch, apps)
	connectedLineUpdate(b)
	if unsubscribe {
		b.unsubscribe(ch.app)
	}
}

// destroy is ast_hangup: ChannelDestroyed with the hangup cause.
func (s *Sim) destroy(ch *channel, cause, techCause int) {
	if ch.dead {
		return
	}
	if ch.bridge != nil {
		s.leaveBridge(ch, false)
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
	s.localHangup(ch, cause)
}

// localHangup is ast_unreal_hangup: the half of a Local channel that is
// still up hears that the other went. The ";1" half gets a queued hangup
// with the cause, as from any far end. The ";2" half, once its PBX runs
// (owner called), gets a queued hangup too; before that it is just
// destroyed.
func (s *Sim) localHangup(ch *channel, cause int) {
	peer := ch.localPeer
	if peer == nil {
		return
	}
	ch.localPeer, peer.localPeer = nil, nil
	if ch.half2 {
		s.remoteHangup(peer, cause)
		return
	}
	if ch.called {
		s.emitChannel("ChannelHangupRequest", peer, map[string]any{"cause": cause})
	}
	s.destroy(peer, cause, 0)
}

// ariDial is POST /channels/{id}/dial on a created channel: it joins the
// invisible dial bridge and the call proceeds there.
func (s *Sim) ariDial(ch *channel, timeout time.Duration) {
	ch.dialed = true
	ch.dialing = true
	ch.called = true
	s.sendInvite(ch)
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
			s.localPeerAnswered(ch)
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
