package callingcard_test

import (
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
