package callingcard_test

import (
	"slices"
	"strconv"
	"strings"
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

// Calls of one account hold their money a slice at a time: three 2-way
// callbacks each affordable for 1,000 s at once all connect, where
// holding the whole talk time let the first take everything and the
// others be rung, charged and refused.
func TestTwoWayCallsOfOneAccountShareItsMoney(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{twoWay: &ari.TwoWay{}})
		if err := st.SetBalance(t.Context(), "alice", money("30")); err != nil {
			t.Fatal(err)
		}
		const calls = 3
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(1500*time.Millisecond, aritest.CauseNormalClearing))
		var ids []int64
		for i := range calls {
			cli := "1555000" + strconv.Itoa(i+1)
			e.sim.Phone(cli, aritest.Answer(5*time.Millisecond))
			ids = append(ids, e.create(twoWayReq("alice", cli, "4420123")).ID)
		}
		var cdrs []*callback.CDR
		for _, id := range ids {
			got := e.done.wait(t, id)
			if got.Result != callback.ResultSuccessful {
				t.Errorf("request %d: %s/%s %q", id, got.Status, got.Result, got.LastError)
			}
			cdrs = append(cdrs, e.cdrs(id)...)
		}
		if len(cdrs) != 2*calls {
			t.Fatalf("CDRs %+v", cdrs)
		}
		checkMoney(t, e, cdrs, map[string]callback.Money{"alice": money("30")})
	})
}

// Every check a destination passes, leg A's number passes too, and both
// before leg A is placed: a request whose leg A has no rate, is blocked,
// or whose call the money cannot pay finishes Invalid request with the
// reason, and nobody is rung or charged.
func TestTwoWayRefusedBeforeTheFirstLeg(t *testing.T) {
	tests := []struct {
		name, cli, dest, balance, reason string
	}{
		{"leg A without a rate", "39123456", "4420123", "5", "no rate for 39123456"},
		{"leg A on Inmarsat", "870773111", "4420123", "5", "destination blocked (prefix 870)"},
		{"destination premium", "15550001", "900123", "5", "destination blocked (prefix 900)"},
		{"destination without a rate", "15550001", "39123", "5", "no rate for 39123"},
		{"no money", "15550001", "4420123", "0.02", "insufficient funds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stores(t, func(t *testing.T, st callback.Store) {
				e := newEnv(t, st, envOptions{twoWay: &ari.TwoWay{BusyPrompts: true}})
				if err := st.SetBalance(t.Context(), "alice", money(tc.balance)); err != nil {
					t.Fatal(err)
				}
				e.sim.Phone(tc.cli, aritest.Answer(5*time.Millisecond))
				e.sim.Phone(tc.dest, aritest.Answer(5*time.Millisecond).ThenHangup(100*time.Millisecond, aritest.CauseNormalClearing))
				r := e.create(twoWayReq("alice", tc.cli, tc.dest))
				got := e.done.wait(t, r.ID)
				if got.Result != callback.ResultInvalid || !strings.Contains(got.LastError, tc.reason) || got.CallCount != 0 {
					t.Errorf("%s/%s call_count %d %q, want Invalid request %q", got.Status, got.Result, got.CallCount, got.LastError, tc.reason)
				}
				for _, q := range e.sim.Requests() {
					if q.Method == "POST" && strings.HasPrefix(q.Path, "/ari/channels") {
						t.Errorf("a leg was placed: %s %s %v", q.Method, q.Path, q.Query)
					}
				}
				if cdrs := e.cdrs(r.ID); len(cdrs) != 0 {
					t.Errorf("CDRs %+v", cdrs)
				}
				checkMoney(t, e, nil, map[string]callback.Money{"alice": money(tc.balance)})
			})
		})
	}
}

// A call lasts as long as its money, reserved slice by slice; when no
// further slice can be reserved the user hears one-minute-left before the
// end, then time-is-up, and the call is cut.
func TestTwoWayReservesSliceBySliceUntilTheMoneyRunsOut(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{twoWay: &ari.TwoWay{Warning: time.Second}, slice: time.Second})
		if err := st.SetBalance(t.Context(), "alice", money("0.15")); err != nil {
			t.Fatal(err)
		}
		e.sim.Phone("15550001", aritest.Answer(5*time.Millisecond))
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond))
		r := e.create(twoWayReq("alice", "15550001", "4420123"))
		got := e.done.wait(t, r.ID)
		if got.Result != callback.ResultSuccessful || got.LastError != "talk time used up" {
			t.Fatalf("%s/%s %q", got.Status, got.Result, got.LastError)
		}
		media := e.played(legID(r.ID, "a"))
		if !slices.Equal(media, []string{"sound:callbackd/one-minute-left", "sound:callbackd/time-is-up"}) {
			t.Errorf("played %q", media)
		}
		cdrs := e.cdrs(r.ID)
		if len(cdrs) != 2 {
			t.Fatalf("CDRs %+v", cdrs)
		}
		// 0.15 pays 5 s of both legs; one slice held 1 s.
		if b := cdrs[1]; b.BillSec < 3 || cdrs[0].Charge+b.Charge > money("0.15") {
			t.Errorf("leg B billed %d s; charged %s + %s of 0.15", b.BillSec, cdrs[0].Charge, b.Charge)
		}
		checkMoney(t, e, cdrs, map[string]callback.Money{"alice": money("0.15")})
	})
}

// The calling card's leg A passes the same check before it is placed.
func TestCallingCardRefusedBeforeTheFirstLeg(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{})
		e.sim.Phone("870773111", answerWith("4420123#"))
		r := e.create(card("alice", "870773111"))
		got := e.done.wait(t, r.ID)
		if got.Result != callback.ResultInvalid || !strings.Contains(got.LastError, "destination blocked (prefix 870)") || got.CallCount != 0 {
			t.Errorf("%s/%s call_count %d %q", got.Status, got.Result, got.CallCount, got.LastError)
		}
		for _, q := range e.sim.Requests() {
			if q.Method == "POST" {
				t.Errorf("a leg was placed or played to: %s %s %v", q.Method, q.Path, q.Query)
			}
		}
		checkMoney(t, e, nil, map[string]callback.Money{"alice": money("5")})
	})
}
