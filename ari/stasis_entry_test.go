package ari_test

import (
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

// Leg B is created, then bridged with leg A before it is dialled. A
// created channel enters Stasis on its own thread after the create was
// answered, and Asterisk refuses to bridge it until then (422): leg B is
// bridged once, after its StasisStart, and before its dial.
func TestSecondLegBridgedOnlyOnceInStasis(t *testing.T) {
	sim := aritest.NewT(t, aritest.WithStasisEntryDelay(300*time.Millisecond))
	sim.Phone("87654321", aritest.Answer(5*time.Millisecond))
	sim.Phone("12345", aritest.Answer(5*time.Millisecond).ThenHangup(30*time.Millisecond, aritest.CauseNormalClearing))
	e := newEnv(t, sim)
	e.start()
	r := twoWay("87654321", "12345")
	e.create(r)
	if got := e.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s", got.Status, got.Result)
	}
	b := legID(r.ID, 1, "b")
	var adds []string
	dialled := false
	for _, req := range sim.Requests() {
		switch {
		case req.Method == "POST" && strings.HasSuffix(req.Path, "/addChannel") && strings.Contains(req.Query.Get("channel"), b):
			if dialled {
				t.Errorf("leg B bridged after its dial")
			}
			adds = append(adds, req.Query.Get("channel"))
		case req.Method == "POST" && req.Path == "/ari/channels/"+b+"/dial":
			dialled = true
		}
	}
	if len(adds) != 1 || !dialled {
		t.Fatalf("addChannel of leg B %q, dialled %v: want one, accepted, before the dial", adds, dialled)
	}
}
