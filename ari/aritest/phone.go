package aritest

import (
	"strings"
	"time"
)

// Outcome is how a phone ends the INVITE it receives.
type Outcome int

const (
	// OutcomeAnswer answers with 200 OK.
	OutcomeAnswer Outcome = iota
	// OutcomeNoAnswer rings until the caller gives up.
	OutcomeNoAnswer
	// OutcomeReject sends a final error response mapped from Behaviour.Cause.
	OutcomeReject
)

// DTMF is one key press a phone sends after answering.
type DTMF struct {
	// After is the wait since answer or since the previous digit.
	After time.Duration
	// Digit is one of 0-9, A-D, * and #.
	Digit string
	// Duration is reported as duration_ms; zero means 100 ms.
	Duration time.Duration
}

// Behaviour scripts a simulated phone. Build one with Answer, RingOut, Busy,
// Reject or Unreachable and refine it with the With and Then methods.
type Behaviour struct {
	Outcome Outcome
	// Cause is the Q.850 cause of a rejection.
	Cause int
	// Ring sends 180 Ringing RingAfter after the INVITE.
	Ring      bool
	RingAfter time.Duration
	// EarlyMedia sends 183 Session Progress right after ringing starts.
	EarlyMedia bool
	// After is the time from the INVITE to the answer or the rejection.
	After time.Duration
	// DTMF is pressed after the answer, in order.
	DTMF []DTMF
	// HangupAfter, when positive, sends BYE that long after the answer with
	// HangupCause (default 16).
	HangupAfter time.Duration
	HangupCause int
}

// Answer rings and answers after the given delay.
func Answer(after time.Duration) Behaviour {
	return Behaviour{Outcome: OutcomeAnswer, Ring: true, After: after}
}

// RingOut rings and never answers: the call ends at the originate timeout
// with cause 19.
func RingOut() Behaviour {
	return Behaviour{Outcome: OutcomeNoAnswer, Ring: true}
}

// Busy answers the INVITE with 486 Busy Here at once (cause 17).
func Busy() Behaviour {
	return Behaviour{Outcome: OutcomeReject, Cause: CauseUserBusy}
}

// Reject rings, then after the delay refuses the call with the SIP code mapped from
// cause (21 gives 403, 17 gives 486, ...).
func Reject(cause int, after time.Duration) Behaviour {
	return Behaviour{Outcome: OutcomeReject, Cause: cause, Ring: true, After: after}
}

// Unreachable fails the INVITE at once without ringing, as a trunk that is
// down does: cause 3, 27 or 38 depending on the trunk.
func Unreachable(cause int) Behaviour {
	return Behaviour{Outcome: OutcomeReject, Cause: cause}
}

// WithEarlyMedia sends 183 Session Progress once ringing starts.
func (b Behaviour) WithEarlyMedia() Behaviour {
	b.EarlyMedia = true
	return b
}

// WithRingAfter delays 180 Ringing.
func (b Behaviour) WithRingAfter(d time.Duration) Behaviour {
	b.RingAfter = d
	return b
}

// ThenDTMF presses digits after the answer.
func (b Behaviour) ThenDTMF(steps ...DTMF) Behaviour {
	b.DTMF = append(append([]DTMF(nil), b.DTMF...), steps...)
	return b
}

// ThenHangup hangs up the given time after the answer with cause (0 means 16).
func (b Behaviour) ThenHangup(after time.Duration, cause int) Behaviour {
	b.HangupAfter = after
	b.HangupCause = cause
	return b
}

// Digits turns "12#" into key presses gap apart.
func Digits(digits string, gap time.Duration) []DTMF {
	steps := make([]DTMF, 0, len(digits))
	for _, r := range digits {
		steps = append(steps, DTMF{After: gap, Digit: string(r)})
	}
	return steps
}

// dialTarget is what an endpoint string resolves to.
type dialTarget struct {
	tech     string // PJSIP or Local, as Asterisk spells the registered type
	resource string // everything after the first slash
	endpoint string // PJSIP endpoint name, or the Local exten@context
	number   string // selects the phone
	context  string // the Local channel's dialplan context
}

// parseDialTarget splits an ARI endpoint the way res/ari does (technology up
// to the first slash) and then the way chan_pjsip and chan_local read the
// resource.
func parseDialTarget(endpoint string) (dialTarget, bool) {
	tech, resource, ok := strings.Cut(endpoint, "/")
	if !ok || tech == "" || resource == "" {
		return dialTarget{}, false
	}
	t := dialTarget{tech: tech, resource: resource}
	switch strings.ToLower(tech) {
	case "pjsip":
		t.tech = "PJSIP"
		if ep, uri, ok := strings.Cut(resource, "/"); ok {
			// PJSIP/trunk/sip:number@host
			t.endpoint = ep
			u := strings.TrimPrefix(strings.TrimPrefix(uri, "sips:"), "sip:")
			t.number, _, _ = strings.Cut(u, "@")
		} else if num, ep, ok := strings.Cut(resource, "@"); ok {
			// PJSIP/number@trunk
			t.endpoint = ep
			t.number = num
		} else {
			t.endpoint = resource
			t.number = resource
		}
	case "local":
		// local_alloc: options follow the last slash, the context the
		// '@' ("default" without one).
		t.tech = "Local"
		dest := resource
		if i := strings.LastIndex(dest, "/"); i >= 0 {
			dest = dest[:i]
		}
		exten, context, _ := strings.Cut(dest, "@")
		if context == "" {
			context = "default"
		}
		t.number, t.context = exten, context
		t.endpoint = exten + "@" + context
	}
	return t, true
}
