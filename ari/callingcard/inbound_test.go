package callingcard_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
)

// The calling card on an inbound call: an access number's Mizu mode sent
// the caller to Stasis(callbackd,ivr,<number>); callbackd answers the
// caller's own call and runs the IVR on it. Nobody is called back.

// ring places an inbound call to the IVR access number.
func (e *env) ring(cli string, caller aritest.Behaviour) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.ctl.WaitReady(ctx); err != nil { // the application is registered
		e.t.Fatal(err)
	}
	ch, err := e.sim.Inbound(aritest.InboundCall{CallerID: cli, Exten: ivrNumber, Context: "callback-ani-" + ivrNumber,
		Priority: 4, Args: []string{"ivr", ivrNumber}, Caller: caller})
	if err != nil {
		e.t.Fatal(err)
	}
	return ch
}

// waitInbound waits for the request whose leg A is the inbound channel ch
// to finish.
func (e *env) waitInbound(ch string) *callback.Request {
	e.t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		e.done.mu.Lock()
		n := e.done.notify
		for _, r := range e.done.final {
			if r.CallID == ch {
				e.done.mu.Unlock()
				return r
			}
		}
		e.done.mu.Unlock()
		select {
		case <-n:
		case <-deadline.C:
			e.t.Fatalf("no finished request for inbound channel %s", ch)
		}
	}
}

// destroyed waits for the channel's ChannelDestroyed and returns its cause.
func (e *env) destroyed(ch string) int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ev, err := e.sim.WaitEvent(ctx, ch, "ChannelDestroyed")
	if err != nil {
		e.t.Fatal(err)
	}
	var body struct {
		Cause int `json:"cause"`
	}
	if err := json.Unmarshal(ev.JSON, &body); err != nil {
		e.t.Fatal(err)
	}
	return body.Cause
}

// originatedTo reports whether any originate or channel creation dialled
// number: an inbound call must never be called back.
func (e *env) originatedTo(number string) bool {
	for _, r := range e.sim.Requests() {
		if r.Method == "POST" && (r.Path == "/ari/channels" || r.Path == "/ari/channels/create") &&
			strings.Contains(r.Query.Get("endpoint"), number) {
			return true
		}
	}
	return false
}

func TestInboundKnownCaller(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{inbound: true})
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(1500*time.Millisecond, aritest.CauseNormalClearing))
		ch := e.ring("15550001", answerWith("4420123#"))
		got := e.waitInbound(ch)
		if got.Result != callback.ResultSuccessful || got.Source != callback.SourceIVR || got.Username != "alice" ||
			got.AskPIN || got.CallCount != 1 || got.AccessNumber != ivrNumber || got.OriginalCLI != "15550001" {
			t.Fatalf("request %+v", got)
		}
		e.waitPath("POST", "/ari/channels/"+ch+"/ring")
		e.waitPath("POST", "/ari/channels/"+ch+"/answer")
		if e.originatedTo("15550001") {
			t.Fatal("the inbound caller was called back")
		}
		media := e.played(ch)
		// enter-destination is skipped when the number was typed during the
		// balance, so it is not counted here.
		for _, m := range []string{"sound:callbackd/your-balance-is", "sound:callbackd/connecting"} {
			if count(media, m) != 1 {
				t.Errorf("%s played %d times on the inbound channel: %q", m, count(media, m), media)
			}
		}
		if slices.Contains(media, "sound:callbackd/enter-pin") {
			t.Error("an identified caller was asked for a PIN")
		}
		cdrs := e.cdrs(got.ID)
		if len(cdrs) != 2 {
			t.Fatalf("CDRs %+v", cdrs)
		}
		a, b := cdrs[0], cdrs[1]
		// The inbound leg is rated on the access number it called.
		if a.Leg != callback.LegA || a.ChannelID != ch || a.Account != "alice" || a.Number != ivrNumber || a.Prefix != "1" ||
			a.Charge <= 0 || a.Disposition != "ANSWERED" {
			t.Errorf("CDR A %+v", a)
		}
		if b.Leg != callback.LegB || b.Account != "alice" || b.Number != "4420123" || b.Charge <= 0 {
			t.Errorf("CDR B %+v", b)
		}
		checkMoney(t, e, cdrs, map[string]callback.Money{"alice": money("5")})
		if e.destroyed(ch) != int(aritest.CauseNormalClearing) {
			t.Error("the inbound channel was not hung up normally")
		}
	})
}

func TestInboundUnknownCallerLogsInWithPIN(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{inbound: true})
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(1500*time.Millisecond, aritest.CauseNormalClearing))
		ch := e.ring("15550009", answerWith("4242#4420123#"))
		got := e.waitInbound(ch)
		if got.Result != callback.ResultSuccessful || got.Username != "default" || !got.AskPIN || !got.DefaultUserUsed {
			t.Fatalf("request %+v", got)
		}
		if media := e.played(ch); count(media, "sound:callbackd/enter-pin") != 1 || !slices.Contains(media, "sound:callbackd/currency-EUR") {
			t.Errorf("PIN login not heard: %q", media)
		}
		cdrs := e.cdrs(got.ID)
		want := []struct {
			leg     callback.Leg
			account string
			channel string
		}{{callback.LegA, "default", ch}, {callback.LegA, "carol", billing.BindChannel(ch)}, {callback.LegB, "carol", ""}}
		if len(cdrs) != len(want) {
			t.Fatalf("CDRs %+v", cdrs)
		}
		for i, w := range want {
			c := cdrs[i]
			if c.Leg != w.leg || c.Account != w.account || (w.channel != "" && c.ChannelID != w.channel) || c.Charge <= 0 {
				t.Errorf("CDR %d: %+v, want %+v", i, c, w)
			}
		}
		checkMoney(t, e, cdrs, map[string]callback.Money{"default": money("100"), "carol": money("2.50")})
	})
}

func TestInboundRefused(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		// No account pays for an unknown caller's PIN login: released
		// unanswered with the number's Hangup SIP Response Code (486 is
		// cause 17 on the channel).
		e := newEnv(t, st, envOptions{inbound: true, number: func(n *callback.AccessNumber) {
			n.DefaultAccountUsername, n.HangupSIPCode = "", 486
		}})
		ch := e.ring("15550009", aritest.Behaviour{})
		if cause := e.destroyed(ch); cause != int(callback.CauseUserBusy) {
			t.Fatalf("released with cause %d, want %d (486)", cause, callback.CauseUserBusy)
		}
		for _, r := range e.sim.Requests() {
			if r.Path == "/ari/channels/"+ch+"/answer" {
				t.Fatal("a refused caller was answered")
			}
		}
		if reqs, err := st.ListRequests(t.Context(), callback.RequestFilter{}); err != nil || len(reqs) != 0 {
			t.Fatalf("%d requests for a refused caller, %v", len(reqs), err)
		}
	})
}

func TestInboundMaxSessions(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{inbound: true})
		a, err := st.GetAccount(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		a.MaxSessions = 2 // one call of two legs
		if err := st.UpdateAccount(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		first := e.ring("15550001", aritest.Behaviour{}) // answers nothing: the IVR waits for digits
		e.waitPath("POST", "/ari/channels/"+first+"/answer")
		second := e.ring("15550001", aritest.Behaviour{})
		if cause := e.destroyed(second); cause != int(callback.CauseUserBusy) {
			t.Fatalf("second call released with cause %d, want 17 (486 Busy Here)", cause)
		}
		if got := e.waitInbound(first); got.Result != callback.ResultFirstLegAborted || got.LastError != "no destination entered" {
			t.Fatalf("first call: %s/%s %q", got.Status, got.Result, got.LastError)
		}
	})
}

func TestInboundCallerGivesUpBeforeAnswer(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		gate := make(chan struct{})
		e := newEnv(t, st, envOptions{inbound: true, gate: gate})
		ch := e.ring("15550001", aritest.Behaviour{})
		if err := e.sim.Hangup(ch, aritest.CauseNormalClearing); err != nil {
			t.Fatal(err)
		}
		close(gate)
		got := e.waitInbound(ch)
		if got.Result != callback.ResultCanceled || got.CallCount != 1 || !got.ConnectTime.IsZero() {
			t.Fatalf("request %+v", got)
		}
		if cdrs := e.cdrs(got.ID); len(cdrs) != 0 {
			t.Errorf("CDRs for a call never answered: %+v", cdrs)
		}
		if e.originatedTo("15550001") {
			t.Fatal("the caller was called back")
		}
		e.noReservations()
	})
}

func TestInboundCallerHangsUpInTheIVR(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{inbound: true})
		ch := e.ring("15550001", aritest.Behaviour{HangupAfter: 50 * time.Millisecond})
		got := e.waitInbound(ch)
		if got.Result != callback.ResultFirstLegAborted || got.ConnectTime.IsZero() {
			t.Fatalf("request %+v", got)
		}
		cdrs := e.cdrs(got.ID)
		if len(cdrs) != 1 || cdrs[0].Leg != callback.LegA || cdrs[0].ChannelID != ch || cdrs[0].Number != ivrNumber {
			t.Fatalf("CDRs %+v", cdrs)
		}
		checkMoney(t, e, cdrs, map[string]callback.Money{"alice": money("5")})
	})
}

// The caller's channel speaks its endpoint's language; the IVR speaks the
// access number's, chosen on every playback.
func TestInboundPromptsInTheNumbersLanguage(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{inbound: true, number: func(n *callback.AccessNumber) { n.Language = "es" }})
		ch := e.ring("15550001", aritest.Behaviour{HangupAfter: 300 * time.Millisecond})
		got := e.waitInbound(ch)
		if got.Language != "es" {
			t.Fatalf("request language %q", got.Language)
		}
		plays := 0
		for _, r := range e.sim.Requests() {
			if r.Method == "POST" && r.Path == "/ari/channels/"+ch+"/play" {
				plays++
				if l := r.Query.Get("lang"); l != "es" {
					t.Errorf("playback %q in language %q", r.Query.Get("media"), l)
				}
			}
		}
		if plays == 0 {
			t.Fatal("nothing played")
		}
	})
}
