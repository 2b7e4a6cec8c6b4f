package ari_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
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

// A caller on the line cannot wait for a channel slot as a queued callback
// does: with the cap taken it is released with 503 (cause 34) at once.
func TestInboundIVRChannelCapReached(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("87654321", answerNoRing())
	sim.Phone("12345", answerNoRing()) // the 2-way call talks until the test ends
	var e *env
	e = newEnv(t, sim, withCtl(ari.WithMaxChannels(2), ari.WithApp(callback.SubAppCallingCard, ivr{}),
		ari.WithInbound(func(ctx context.Context, in ari.Inbound) error {
			r := callback.NewRequest(callback.SourceIVR)
			r.Username, r.OriginalCLI, r.OriginalCLD, r.CallID = "801", in.CallerID, "callingcard", in.Channel
			return e.disp.Start(ctx, r)
		}, time.Second)))
	e.start()
	e.ready()
	busy := e.create(twoWay("87654321", "12345"))
	e.obs.waitAnswered(t, callback.LegB, 1)
	ch, err := sim.Inbound(ivrCall())
	if err != nil {
		t.Fatal(err)
	}
	e.waitRequest(func(r aritest.Request) bool {
		return r.Method == "DELETE" && r.Path == "/ari/channels/"+ch && r.Query.Get("reason_code") == "34"
	})
	reqs, err := e.st.ListRequests(context.Background(), callback.RequestFilter{Source: callback.SourceIVR})
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%d inbound requests, %v", len(reqs), err)
	}
	if got := e.done.wait(t, reqs[0].ID); got.Result != callback.ResultCanceled || got.LastSIPCode != 503 {
		t.Fatalf("inbound request %s/%s sip %d %q", got.Status, got.Result, got.LastSIPCode, got.LastError)
	}
	if r, _ := e.st.GetRequest(context.Background(), busy.ID); r.Status != callback.StatusSecondLegConnected {
		t.Fatalf("the 2-way call is %s", r.Status)
	}
}
