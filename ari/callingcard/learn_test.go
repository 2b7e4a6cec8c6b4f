package callingcard_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

// clis returns the CLIs mapped to username.
func (e *env) clis(username string) []string {
	e.t.Helper()
	got, err := e.st.ListCLIs(context.Background(), username)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range got {
		out = append(out, c.CLI)
	}
	return out
}

// Mizu anumberhandling (seed 003): 0 disabled, 1 only add, 2 only accept,
// 3 add and accept. A caller unknown by CLI logs in with carol's PIN; with
// 1 and 3 the caller's number becomes a CLI of carol, with 0 and 2 it does
// not. The caller then calls again: only 2 and 3 accept the number as
// authentication, so with 1 the PIN is asked again (and the number is not
// added twice), with 3 carol is recognised without a PIN.
func TestInboundPINLoginAddsTheCallersNumber(t *testing.T) {
	for _, h := range []int{0, 1, 2, 3} {
		t.Run(fmt.Sprintf("anumberhandling=%d", h), func(t *testing.T) {
			stores(t, func(t *testing.T, st callback.Store) {
				e := newEnv(t, st, envOptions{inbound: true, number: func(n *callback.AccessNumber) { n.ANumberHandling = h }})
				e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(300*time.Millisecond, aritest.CauseNormalClearing))
				const caller = "15550009"
				first := e.waitInbound(e.ring(caller, answerWith("4242#4420123#")))
				if first.Result != callback.ResultSuccessful || !first.AskPIN || first.Username != "default" {
					t.Fatalf("first call %+v", first)
				}
				adds := h == 1 || h == 3
				if got := e.clis("carol"); slices.Contains(got, caller) != adds {
					t.Fatalf("CLIs of carol after a PIN login with anumberhandling %d: %q", h, got)
				}
				if !adds {
					return
				}
				if h == 1 {
					// Only add: the learnt number does not authenticate.
					ch := e.ring(caller, answerWith("4242#4420123#"))
					second := e.waitInbound(ch)
					if second.Result != callback.ResultSuccessful || !second.AskPIN || second.Username != "default" {
						t.Fatalf("second call %+v", second)
					}
					if media := e.played(ch); count(media, "sound:callbackd/enter-pin") != 1 {
						t.Errorf("PIN not asked on the second call: %q", media)
					}
					if got := e.clis("carol"); !slices.Equal(got, []string{caller}) {
						t.Errorf("CLIs of carol after a second PIN login: %q", got)
					}
					return
				}
				ch := e.ring(caller, answerWith("4420123#"))
				second := e.waitInbound(ch)
				if second.Result != callback.ResultSuccessful || second.AskPIN || second.Username != "carol" {
					t.Fatalf("second call %+v", second)
				}
				if media := e.played(ch); count(media, "sound:callbackd/enter-pin") != 0 {
					t.Errorf("PIN asked of a recognised caller: %q", media)
				}
			})
		})
	}
}

// A number that identifies another account is never taken from it by a
// PIN login: alice's CLI logs in with carol's PIN on an "only add" number.
func TestInboundPINLoginLeavesAnotherAccountsNumber(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{inbound: true, number: func(n *callback.AccessNumber) { n.ANumberHandling = 1 }})
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(300*time.Millisecond, aritest.CauseNormalClearing))
		got := e.waitInbound(e.ring("15550001", answerWith("4242#4420123#")))
		if got.Result != callback.ResultSuccessful || !got.AskPIN {
			t.Fatalf("request %+v", got)
		}
		if c := e.clis("carol"); len(c) != 0 {
			t.Errorf("CLIs of carol: %q", c)
		}
		if c := e.clis("alice"); !slices.Equal(c, []string{"15550001"}) {
			t.Errorf("CLIs of alice: %q", c)
		}
	})
}
