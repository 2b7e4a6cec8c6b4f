package callingcard_test

import (
	"errors"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/ari/callingcard"
	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
)

// givePIN sets a PIN on an account of the harness.
func givePIN(t *testing.T, st callback.Store, username, pin string) {
	t.Helper()
	a, err := st.GetAccount(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	a.PIN = pin
	if err := st.UpdateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
}

// Mizu ivrauthentication 4 (A number and PIN): alice, known by her number,
// is still asked a PIN on the inbound IVR, and only her own PIN logs her
// in: carol's PIN (a valid PIN of another account) is refused like a wrong
// one.
func TestIVRAuthenticationANumberAndPIN(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{inbound: true, number: func(n *callback.AccessNumber) {
			n.IVRAuthentication = callback.IVRAuthANumberAndPIN
		}})
		givePIN(t, st, "alice", "1357")
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(500*time.Millisecond, aritest.CauseNormalClearing))
		ch := e.ring("15550001", answerWith("4242#1357#4420123#"))
		got := e.waitInbound(ch)
		if got.Result != callback.ResultSuccessful || got.Username != "alice" || !got.AskPIN || got.DefaultUserUsed {
			t.Fatalf("request %+v", got)
		}
		media := e.played(ch)
		// The second enter-pin is skipped when alice's PIN was typed during
		// invalid-pin (type-ahead), so only the refusal is counted.
		if count(media, "sound:callbackd/enter-pin") < 1 || count(media, "sound:callbackd/invalid-pin") != 1 {
			t.Errorf("want carol's PIN refused once, then alice's accepted: %q", media)
		}
		if count(media, "sound:callbackd/currency-EUR") != 0 || count(media, "sound:callbackd/currency-USD") != 1 {
			t.Errorf("the balance announced is not alice's (USD): %q", media)
		}
		for _, c := range e.cdrs(got.ID) {
			if c.Account != "alice" {
				t.Errorf("CDR charged to %s, want alice: %+v", c.Account, c)
			}
		}
	})
}

// Another account's PIN counts as a failed PIN: with one failure allowed
// per source, carol's PIN typed from alice's number spends it, and alice's
// own PIN is then refused too.
func TestIVRAuthenticationOtherAccountsPINIsAFailure(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		authn := auth.New(st, nil, time.Hour, 1)
		e := newEnv(t, st, envOptions{inbound: true,
			app: func(o *callingcard.Options) { o.PINs = authn },
			number: func(n *callback.AccessNumber) {
				n.IVRAuthentication = callback.IVRAuthANumberAndPIN
			}})
		givePIN(t, st, "alice", "1357")
		ch := e.ring("15550001", answerWith("4242#1357#"))
		got := e.waitInbound(ch)
		if got.Result != callback.ResultFirstLegAborted || got.Username != "alice" {
			t.Fatalf("request %s/%s %q (%s)", got.Status, got.Result, got.LastError, got.Username)
		}
		if media := e.played(ch); count(media, "sound:callbackd/too-many-attempts") != 1 || count(media, "sound:callbackd/your-balance-is") != 0 {
			t.Errorf("played %q", media)
		}
		if _, err := authn.PINOf(t.Context(), "1357", "alice", "cli:15550001"); !errors.Is(err, auth.ErrTooManyAttempts) {
			t.Errorf("alice's PIN from her number after carol's: %v, want too many attempts", err)
		}
		if _, err := authn.PIN(t.Context(), "4242", "cli:15550009"); err != nil {
			t.Errorf("carol's PIN from another source: %v", err)
		}
	})
}
