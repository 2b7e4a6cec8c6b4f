package callingcard_test

import (
	"slices"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

func twoWayReq(username, cli, dest string) *callback.Request {
	r := callback.NewRequest(callback.SourceAPI)
	r.Username, r.OriginalCLI, r.OriginalCLD = username, cli, "2way_"+dest
	return r
}

// The billed 2-way callback places leg B under a preset twoway_call_id,
// as the unbilled one does, and its money and CDR carry that id.
func TestBilledTwoWayKeepsPresetTwowayCallID(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{twoWay: &ari.TwoWay{}})
		e.sim.Phone("15550001", aritest.Answer(5*time.Millisecond))
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(300*time.Millisecond, aritest.CauseNormalClearing))
		r := twoWayReq("alice", "15550001", "4420123")
		r.CallID, r.TwowayCallID = "preset-a-7", "preset-b-7"
		e.create(r)
		got := e.done.wait(t, r.ID)
		if got.Result != callback.ResultSuccessful || got.TwowayCallID != "preset-b-7" {
			t.Fatalf("%s/%s %q twoway_call_id %q", got.Status, got.Result, got.LastError, got.TwowayCallID)
		}
		if q := e.waitPath("POST", "/ari/channels/create"); q.Get("channelId") != "preset-b-7" {
			t.Errorf("leg B created as %q, want the preset twoway_call_id", q.Get("channelId"))
		}
		cdrs := e.cdrs(r.ID)
		if len(cdrs) != 2 || cdrs[0].ChannelID != "preset-a-7" || cdrs[1].ChannelID != "preset-b-7" || cdrs[1].Charge <= 0 {
			t.Fatalf("CDRs %+v", cdrs)
		}
		checkMoney(t, e, cdrs, map[string]callback.Money{"alice": money("5")})
	})
}

// A busy or failing destination of a 2-way callback gets the busy or
// failed prompt, as on the calling card, before leg A is hung up; with
// the prompts off leg A is hung up in silence.
func TestTwoWayBusyAndFailedPrompts(t *testing.T) {
	tests := []struct {
		name    string
		prompts bool
		phone   aritest.Behaviour
		cause   callback.Cause
		want    []string
	}{
		{"busy", true, aritest.Busy(), callback.CauseUserBusy, []string{"sound:callbackd/busy"}},
		{"rejected", true, aritest.Reject(aritest.CauseCallRejected, 5*time.Millisecond), callback.CauseCallRejected, []string{"sound:callbackd/failed"}},
		{"no answer", true, aritest.RingOut(), callback.CauseNoAnswer, []string{"sound:callbackd/failed"}},
		{"busy, prompts off", false, aritest.Busy(), callback.CauseUserBusy, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stores(t, func(t *testing.T, st callback.Store) {
				e := newEnv(t, st, envOptions{twoWay: &ari.TwoWay{BusyPrompts: tc.prompts}})
				e.sim.Phone("15550001", aritest.Answer(5*time.Millisecond))
				e.sim.Phone("4420123", tc.phone)
				r := e.create(twoWayReq("alice", "15550001", "4420123"))
				got := e.done.wait(t, r.ID)
				if got.Result != callback.ResultSecondLegFailed || callback.Cause(got.LastCause) != tc.cause {
					t.Fatalf("%s/%s cause %d %q", got.Status, got.Result, got.LastCause, got.LastError)
				}
				if media := e.played(legID(r.ID, "a")); !slices.Equal(media, tc.want) {
					t.Errorf("played %q, want %q", media, tc.want)
				}
				checkMoney(t, e, e.cdrs(r.ID), map[string]callback.Money{"alice": money("5")})
			})
		})
	}
}
