package ari_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
)

// The inbound IVR's life around its call; the calls themselves are tested
// with the calling card in ari/callingcard.

func ivrCall() aritest.InboundCall {
	return aritest.InboundCall{CallerID: "15550001", Exten: "18005550100", Args: []string{"ivr", "18005550100"}}
}

// releasedWith waits for the channel's end and returns its cause.
func releasedWith(t *testing.T, sim *aritest.Sim, ch string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ev, err := sim.WaitEvent(ctx, ch, "ChannelDestroyed")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Cause int `json:"cause"`
	}
	if err := json.Unmarshal(ev.JSON, &body); err != nil {
		t.Fatal(err)
	}
	return body.Cause
}

// Without an InboundFunc the caller is released at once, not left in
// silence.
func TestInboundIVRNotServedIsReleased(t *testing.T) {
	sim := aritest.NewT(t)
	e := newEnv(t, sim)
	e.ready()
	ch, err := sim.Inbound(ivrCall())
	if err != nil {
		t.Fatal(err)
	}
	if cause := releasedWith(t, sim, ch); cause != aritest.CauseNormalClearing {
		t.Fatalf("released with cause %d", cause)
	}
}

// A call that no Dial takes over (its request was never run) is released
// with 503 (cause 34) after the wait.
func TestInboundIVRWaitRunsOut(t *testing.T) {
	sim := aritest.NewT(t)
	e := newEnv(t, sim, withCtl(ari.WithInbound(func(context.Context, ari.Inbound) error { return nil }, 200*time.Millisecond)))
	e.ready()
	ch, err := sim.Inbound(ivrCall())
	if err != nil {
		t.Fatal(err)
	}
	if cause := releasedWith(t, sim, ch); cause != aritest.CauseCongestion {
		t.Fatalf("released with cause %d, want 34", cause)
	}
	e.waitRequest(func(r aritest.Request) bool {
		return r.Method == "POST" && r.Path == "/ari/channels/"+ch+"/ring"
	})
}

// The InboundFunc sees what the dialplan and the channel say.
func TestInboundIVRCallerAndNumber(t *testing.T) {
	sim := aritest.NewT(t)
	got := make(chan ari.Inbound, 1)
	e := newEnv(t, sim, withCtl(ari.WithInbound(func(_ context.Context, in ari.Inbound) error {
		got <- in
		return nil
	}, 100*time.Millisecond)))
	e.ready()
	c := ivrCall()
	c.CallerName, c.Language, c.Args = "Alice", "es", []string{"ivr"} // no number: the extension is
	ch, err := sim.Inbound(c)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case in := <-got:
		if in.Channel != ch || in.CallerID != "15550001" || in.CallerName != "Alice" || in.Number != "18005550100" ||
			in.Language != "es" || in.Name == "" {
			t.Fatalf("inbound %+v", in)
		}
	case <-time.After(wait):
		t.Fatal("InboundFunc not called")
	}
}

// A caller left in the IVR by a process that died is released by the next
// one when it connects.
func TestInboundIVROrphanReleasedOnConnect(t *testing.T) {
	sim := aritest.NewT(t)
	hold := make(chan struct{})
	defer close(hold)
	first := newEnv(t, sim, withCtl(ari.WithInbound(func(ctx context.Context, _ ari.Inbound) error {
		select {
		case <-hold:
		case <-ctx.Done():
		}
		return nil
	}, time.Minute)))
	first.ready()
	ch, err := sim.Inbound(ivrCall())
	if err != nil {
		t.Fatal(err)
	}
	first.waitRequest(func(r aritest.Request) bool { return r.Path == "/ari/channels/"+ch+"/ring" })
	first.stop()

	second := newEnv(t, sim, withCtl(ari.WithInbound(func(context.Context, ari.Inbound) error { return nil }, time.Minute)))
	second.ready()
	if cause := releasedWith(t, sim, ch); cause != aritest.CauseNormalClearing {
		t.Fatalf("orphan released with cause %d", cause)
	}
}
