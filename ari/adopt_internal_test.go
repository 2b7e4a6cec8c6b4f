package ari

import (
	"context"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
)

// answerApp is a sub-application that ends the call as soon as it runs.
type answerApp struct{ ran chan struct{} }

func (a answerApp) Run(ctx context.Context, s *Session) callback.Outcome {
	close(a.ran)
	_ = s.Hangup(ctx, s.LegA(), "normal")
	return callback.Outcome{Result: callback.ResultSuccessful}
}

// A ChannelGone set aside while an inbound caller was parked (the channel
// is still there when the session asks Asterisk) must not leave
// adoptInbound's drain waiting for an event that never comes: the caller
// is answered and the sub-application runs.
func TestAdoptInboundDrainDoesNotBlockOnSetAsideEvent(t *testing.T) {
	sim := aritest.NewT(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, t.TempDir()+"/callbackd.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	user, pass := sim.Credentials()
	got := make(chan Inbound, 1)
	app := answerApp{ran: make(chan struct{})}
	c, err := New(WithURL(sim.URL()), WithCredentials(user, pass),
		WithApp(callback.SubAppCallingCard, app),
		WithInbound(func(_ context.Context, in Inbound) error { got <- in; return nil }, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ch, err := sim.Inbound(aritest.InboundCall{CallerID: "15550001", Exten: "18005550100", Args: []string{"ivr", "18005550100"}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("inbound call not offered")
	}
	c.mu.RLock()
	p := c.parked[ch]
	c.mu.RUnlock()
	if p == nil {
		t.Fatal("caller not parked")
	}
	// What a reconnect's reconciliation delivers for a channel it did not
	// see listed; the channel itself lives on.
	deliver(p.route, Event{Type: EventChannelGone, Channel: ch, Received: time.Now(), Reason: "not listed"})

	r := &callback.Request{Source: callback.SourceIVR, CallID: ch, OriginalCLI: "15550001", AccessNumber: "18005550100",
		OriginalCLD: string(callback.SubAppCallingCard)}
	if err := st.CreateRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.Claim(ctx, callback.ClaimParams{Owner: "t", Now: time.Now().Add(time.Minute), Limit: 1, LeaseFor: time.Minute})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %d", err, len(claimed))
	}
	cr := claimed[0]
	call := callback.NewAttempt(st, callback.Lease{RequestID: cr.ID, Attempt: cr.Attempt, Owner: "t"}, *cr, 30*time.Second, nil)
	out := c.Dial(ctx, call)
	select {
	case <-app.ran:
	default:
		t.Fatalf("the caller was not answered: outcome %+v", out)
	}
	if out.Result != callback.ResultSuccessful {
		t.Fatalf("outcome %+v", out)
	}
}
