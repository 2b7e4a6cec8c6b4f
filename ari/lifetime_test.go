package ari_test

import (
	"context"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
)

// The work an event starts ends with the server: Run returns only once an
// inbound caller's admission, still deciding, has seen Run's context end.
func TestRunWaitsForInboundAdmission(t *testing.T) {
	sim := aritest.NewT(t)
	deciding := make(chan struct{})
	decided := make(chan struct{})
	e := newEnv(t, sim, withCtl(ari.WithInbound(func(ctx context.Context, _ ari.Inbound) error {
		close(deciding)
		<-ctx.Done()
		close(decided)
		return ctx.Err()
	}, time.Hour)))
	e.ready()
	if _, err := sim.Inbound(ivrCall()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	select {
	case <-deciding:
	case <-ctx.Done():
		t.Fatal("inbound call not offered")
	}
	e.stop()
	select {
	case <-decided:
	default:
		t.Fatal("Run returned while the admission it started still ran")
	}
}
