package mail

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
)

// slowRefill gives e's handler an Authenticator whose budgets refill only
// after an hour, so what the test counts does not depend on how fast it
// runs: 5 failures per (account, source) and per source, 20 per account
// and 20 per surface.
func slowRefill(t *testing.T, e *env) {
	t.Helper()
	a := auth.New(e.store, nil, time.Hour, 5)
	l := auth.DefaultLimits(time.Hour, 5)
	l.PerAccount.Every, l.PerSurface.Every = time.Hour, time.Hour
	a.SetLimits(l)
	h, err := NewHandler(HandlerOptions{Service: &callback.Service{Store: e.store, Policy: callback.DefaultPolicy()},
		Auth: a, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.handler = h
}

// Five wrong passwords from one sender lock that sender out of the
// account, not the account: its owner writing from another address gets
// the callback (refused before).
func TestGuessingSenderDoesNotLockOutTheOwner(t *testing.T) {
	e := newEnv(t, Limits{})
	slowRefill(t, e)
	for i := range 5 {
		cmd := Command{Account: "6192345678", Password: fmt.Sprintf("guess-%d", i), CallbackNumber: "6581433653"}
		if _, err := e.handler.Handle(t.Context(), cmd, "guesser@example.net"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	cmd := Command{Account: "6192345678", Password: "1ak45", CallbackNumber: "6581433653"}
	if _, err := e.handler.Handle(t.Context(), cmd, "guesser@example.net"); !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Errorf("right password from the guessing sender: %v, want too many attempts", err)
	}
	res, err := e.handler.Handle(t.Context(), cmd, "owner@example.com")
	if err != nil || res.Request == nil {
		t.Fatalf("right password from the owner: %v", err)
	}
}

// Guesses from many senders, one each, share email's budget: past it the
// next check is refused for now whoever sends it.
func TestManySendersAreSlowed(t *testing.T) {
	e := newEnv(t, Limits{})
	slowRefill(t, e)
	refused := 0
	for i := range 30 {
		cmd := Command{Account: "6192345678", Password: fmt.Sprintf("guess-%d", i), CallbackNumber: "6581433653"}
		_, err := e.handler.Handle(t.Context(), cmd, fmt.Sprintf("sender%d@example.net", i))
		if errors.Is(err, auth.ErrTooManyAttempts) {
			refused++
		}
	}
	// The email surface's budget is 20 failures.
	if refused != 10 {
		t.Errorf("%d of 30 one-guess senders refused, want 10", refused)
	}
}
