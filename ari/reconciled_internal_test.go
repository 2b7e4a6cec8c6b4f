package ari

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// Leg B's StasisStart lost with dropped events: the resynchronisation's
// ChannelReconciled, which lists the channel in Stasis, lets DialB go on
// instead of waiting for a StasisStart that will never come.
func TestReconciledInStasisEndsTheWaitForStasisStart(t *testing.T) {
	c := &Controller{inboxSize: 4, routes: map[string]*route{}, obs: nopObserver{}}
	s := c.newSession(&callback.Attempt{}, 1, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.a = &leg{id: "a", name: callback.LegA, placed: true, answered: true, inStasis: true}
	s.legs["a"] = s.a
	b := &leg{id: "b", name: callback.LegB, placed: true}
	s.legs["b"] = b
	s.pending = append(s.pending, Event{Type: EventChannelReconciled, Channel: "b", State: "Down", InStasis: true, Received: time.Now()})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.awaitStasisB(ctx, b); err != nil {
		t.Fatalf("leg B listed in Stasis, still waiting: %v", err)
	}
}
