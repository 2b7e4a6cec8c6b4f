package mail

import (
	"errors"
	"fmt"
	"testing"

	"github.com/callbackd/callbackd/auth"
)

// Five wrong passwords from one sender lock that sender out of the
// account, not the account: its owner writing from another address gets
// the callback (refused before).
func TestGuessingSenderDoesNotLockOutTheOwner(t *testing.T) {
	e := newEnv(t, Limits{})
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
	refused := 0
	for i := range 30 {
		cmd := Command{Account: "6192345678", Password: fmt.Sprintf("guess-%d", i), CallbackNumber: "6581433653"}
		_, err := e.handler.Handle(t.Context(), cmd, fmt.Sprintf("sender%d@example.net", i))
		if errors.Is(err, auth.ErrTooManyAttempts) {
			refused++
		}
	}
	// The default budget of the email surface is 20 failures.
	if refused != 10 {
		t.Errorf("%d of 30 one-guess senders refused, want 10", refused)
	}
}
