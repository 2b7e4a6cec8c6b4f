package ari

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// A request rescued after its node died, whose previous attempt was placed
// on a server that cannot be reached now: while that attempt's first leg
// may still ring there, the next attempt is not placed on another server;
// once its ring time is over, or the server is back, it is.
func TestPreviousAttemptOnUnreachableServer(t *testing.T) {
	c, err := New(WithServer(Server{Name: "ast1", URL: "http://127.0.0.1:1"}), WithServer(Server{Name: "ast2", URL: "http://127.0.0.1:2"}))
	if err != nil {
		t.Fatal(err)
	}
	ast1, ast2 := c.servers[0], c.servers[1]
	r := callback.Request{ID: 5, CallCount: 1, CallID: "cbd-ast1-5-1-a", SetupTime: time.Now().Add(-10 * time.Second)}
	try := func() error {
		call := callback.NewAttempt(nil, callback.Lease{}, r, time.Minute, time.Now)
		s := c.newSession(call, 2, slog.New(slog.NewTextHandler(io.Discard, nil)))
		s.srv = ast2
		return s.clearPrevious(t.Context(), c.key(ast2, r.ID, 2, "a"))
	}
	if err := try(); !errors.Is(err, errPreviousUnreachable) {
		t.Fatalf("previous leg A may ring on ast1, which is down: %v", err)
	}
	r.SetupTime = time.Now().Add(-time.Minute - c.timeout - time.Second)
	if err := try(); err != nil {
		t.Fatalf("previous leg A's ring time is over: %v", err)
	}
	// A call_id naming a server no longer configured: the same rule.
	r.CallID, r.SetupTime = "cbd-ast9-5-1-a", time.Now()
	if err := try(); !errors.Is(err, errPreviousUnreachable) {
		t.Fatalf("previous attempt on an unknown server: %v", err)
	}
	// ast1 down, ast2 up: the previous attempt was on ast1 all the same.
	r.CallID = "cbd-ast1-5-1-a"
	c.setReady(ast2, true)
	if err := try(); !errors.Is(err, errPreviousUnreachable) {
		t.Fatalf("ast2 up does not clear ast1: %v", err)
	}
	if c.serverOf("cbd-ast1-5-1-a", 5) != ast1 || c.serverOf("cbd-ast1-5-1-a", 51) != nil || c.serverOf("cbd-5-1-a", 5) != nil {
		t.Fatal("serverOf")
	}
	if !generatedAny("cbd", "cbd-5-1-a", 5) || !generatedAny("cbd", "cbd-ast9-5-1-a", 5) || generatedAny("cbd", "cbd-ast9-6-1-a", 5) ||
		generatedAny("cbd", "caller-1", 5) {
		t.Fatal("generatedAny")
	}
}

// Placement: the connected server with the fewest channels under its cap;
// a server without a trunk of the call's route is passed over.
func TestPlacement(t *testing.T) {
	c, err := New(WithTrunk(Trunk{Name: "de", Dial: "PJSIP/{number}@{trunk}"}), WithTrunk(Trunk{Name: "fr", Dial: "PJSIP/{number}@{trunk}"}),
		WithServer(Server{Name: "a", URL: "http://127.0.0.1:1", MaxChannels: 4}),
		WithServer(Server{Name: "b", URL: "http://127.0.0.1:2", Trunks: []string{"fr"}}),
		WithServer(Server{Name: "c", URL: "http://127.0.0.1:3"}))
	if err != nil {
		t.Fatal(err)
	}
	a, b, cc := c.servers[0], c.servers[1], c.servers[2]
	de, fr := []*trunk{c.trunks["de"]}, []*trunk{c.trunks["fr"]}
	if _, err := c.place(de); !errors.Is(err, errNoServer) {
		t.Fatalf("nothing connected: %v", err)
	}
	c.setReady(a, true)
	c.setReady(b, true)
	want := func(route []*trunk, sv *server) {
		t.Helper()
		got, err := c.place(route)
		if err != nil || got != sv {
			t.Fatalf("placed on %v (%v), want %s", got, err, sv.name)
		}
	}
	want(de, a) // b has no de
	want(fr, b) // a has 2, b 0
	want(de, a) // a full now (4)
	if _, err := c.place(de); !errors.Is(err, errServersFull) {
		t.Fatalf("a full, b without de: %v", err)
	}
	c.setReady(cc, true)
	want(de, cc)
	c.unplace(a)
	want(fr, a) // a 2, b 2, c 2: the first configured
	c.setReady(a, false)
	want(fr, b)
}
