//go:build arinative

// This test needs golang.org/x/net and github.com/oklog/ulid in go.mod (the
// native client's dependencies); run it with -tags arinative.

package aritest

import (
	"context"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"
)

// TestNativeClient drives the simulator with the ari/v5 library's own client:
// its golang.org/x/net/websocket connection, its JSON request bodies and its
// event decoding.
func TestNativeClient(t *testing.T) {
	s := NewT(t)
	s.Phone("5550100", Answer(time.Millisecond))
	user, pass := s.Credentials()
	cl, err := native.Connect(&native.Options{
		Application:  app,
		URL:          s.ARIURL(),
		WebsocketURL: s.EventsURL(),
		Username:     user,
		Password:     pass,
	})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if !raceEnabled {
		// Client.Close writes a flag its own listen goroutine also writes
		// without a lock, which the race detector reports; under -race the
		// client is left to retry against the stopped simulator until the
		// test binary exits.
		defer cl.Close()
	}

	sub := cl.Bus().Subscribe(nil, ari.Events.StasisStart, ari.Events.ChannelDestroyed)
	defer sub.Cancel()

	h, err := cl.Channel().Originate(nil, ari.OriginateRequest{
		Endpoint:  "PJSIP/5550100@trunk",
		App:       app,
		AppArgs:   "cb-9",
		CallerID:  "Shop <1000>",
		Timeout:   20,
		ChannelID: "native-1",
		Variables: map[string]string{"CB_ID": "9"},
	})
	if err != nil {
		t.Fatalf("originate: %v", err)
	}
	if h.ID() != "native-1" {
		t.Fatalf("channel id %q", h.ID())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	select {
	case e := <-sub.Events():
		start, ok := e.(*ari.StasisStart)
		if !ok {
			t.Fatalf("first event %T, want StasisStart", e)
		}
		if start.Channel.ID != "native-1" || len(start.Args) != 1 || start.Args[0] != "cb-9" {
			t.Fatalf("StasisStart %+v", start)
		}
		if start.Channel.Caller.Number != "1000" {
			t.Fatalf("caller %+v", start.Channel.Caller)
		}
	case <-ctx.Done():
		t.Fatal("no StasisStart")
	}

	data, err := h.Data()
	if err != nil || data.State != "Up" {
		t.Fatalf("channel data %+v, %v", data, err)
	}
	if err := h.Hangup(); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	select {
	case e := <-sub.Events():
		d, ok := e.(*ari.ChannelDestroyed)
		if !ok || d.Cause != CauseNormalClearing {
			t.Fatalf("event %T %+v, want ChannelDestroyed cause 16", e, e)
		}
	case <-ctx.Done():
		t.Fatal("no ChannelDestroyed")
	}
}
