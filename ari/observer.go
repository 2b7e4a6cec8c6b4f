package ari

import (
	"time"

	"github.com/callbackd/callbackd/callback"
)

// Observer receives what the controller does, for metrics; cmd/ wires it
// to Prometheus so that this package does not import it. Methods are called
// from the WebSocket reader and from call goroutines and must not block.
type Observer interface {
	// LegAnswered counts one leg (A or B) answered, once the answer is
	// recorded (First/Second leg connected): with LegEnded, the answer
	// ratio of each leg.
	LegAnswered(leg callback.Leg)
	// LegEnded counts one leg (A or B) that ended, by Q.850 cause.
	LegEnded(leg callback.Leg, cause callback.Cause)
	// LiveCalls reports the number of calls this controller owns now.
	LiveCalls(n int)
	// EventRouted reports one event handed to its call, with how long after
	// Asterisk's timestamp it was routed.
	EventRouted(eventType string, latency time.Duration)
	// EventDropped counts an event dropped because its call's buffer was
	// full; the call resynchronises from the REST interface.
	EventDropped(eventType string)
	// Connected reports the events WebSocket going up (after
	// reconciliation) or down.
	Connected(up bool)
}

type nopObserver struct{}

func (nopObserver) LegAnswered(callback.Leg)              {}
func (nopObserver) LegEnded(callback.Leg, callback.Cause) {}
func (nopObserver) LiveCalls(int)                         {}
func (nopObserver) EventRouted(string, time.Duration)     {}
func (nopObserver) EventDropped(string)                   {}
func (nopObserver) Connected(bool)                        {}
