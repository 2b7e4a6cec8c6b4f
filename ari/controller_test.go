package ari_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

var successHistory = []string{
	"Request received", "First leg initiated", "First leg connected",
	"Second leg initiated", "Second leg connected", "Finished/Successful",
}

func TestTwoWaySuccess(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("87654321", aritest.Answer(5*time.Millisecond))
	sim.Phone("12345", aritest.Answer(5*time.Millisecond).WithEarlyMedia().ThenHangup(30*time.Millisecond, aritest.CauseNormalClearing))
	e := newEnv(t, sim)
	if err := e.st.PutAccessNumber(context.Background(), &callback.AccessNumber{Number: "4930111", DiversionReason: "no-answer"}); err != nil {
		t.Fatal(err)
	}
	e.start()
	r := twoWay("87654321", "12345")
	r.AccessNumber = "4930111"
	e.create(r)
	got := e.done.wait(t, r.ID)

	if got.Result != callback.ResultSuccessful || got.CallCount != 1 {
		t.Fatalf("got %s/%s after %d calls", got.Status, got.Result, got.CallCount)
	}
	if got.SetupTime.IsZero() || got.ConnectTime.IsZero() || got.DisconnectTime.IsZero() {
		t.Fatalf("statistics not filled: setup %v connect %v disconnect %v", got.SetupTime, got.ConnectTime, got.DisconnectTime)
	}
	a, b := legID(r.ID, 1, "a"), legID(r.ID, 1, "b")
	if got.CallID != a || got.TwowayCallID != b {
		t.Fatalf("call_id %q twoway_call_id %q", got.CallID, got.TwowayCallID)
	}
	e.wantHistory(r.ID, successHistory...)

	orig := e.originates(a)
	if len(orig) != 1 {
		t.Fatalf("%d originates of %s", len(orig), a)
	}
	q := orig[0].Query
	want := map[string]string{
		"endpoint": "PJSIP/87654321@trunk", "app": "callbackd", "appArgs": "callbackd," + strconv.FormatInt(r.ID, 10) + ",1,a",
		"callerId": "87654321", "timeout": "1",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("originate %s=%q, want %q", k, q.Get(k), v)
		}
	}
	vars := bodyVariables(t, orig[0])
	if vars["PJSIP_HEADER(add,Diversion)"] != "<tel:4930111>;reason=no-answer" || vars["PJSIP_HEADER(add,X-2Way-Need-Bind)"] != "yes" {
		t.Errorf("originate variables %v", vars)
	}

	var created, dialled, added bool
	for _, req := range sim.Requests() {
		switch {
		case req.Method == "POST" && req.Path == "/ari/channels/create" && req.Query.Get("channelId") == b:
			created = true
			if req.Query.Get("endpoint") != "PJSIP/12345@trunk" || req.Query.Get("originator") != a {
				t.Errorf("create query %v", req.Query)
			}
			if v := bodyVariables(t, req); v["CALLERID(num)"] != "801" || v["CONNECTEDLINE(num,i)"] != "801" {
				t.Errorf("second leg variables %v: the seed's default CLI is the username", v)
			}
		case req.Method == "POST" && req.Path == "/ari/bridges/"+legID(r.ID, 1, "br")+"/addChannel":
			added = true
			if req.Query.Get("channel") != a+","+b || dialled {
				t.Errorf("addChannel %v after dial=%v: both legs must be bridged before B is dialled", req.Query, dialled)
			}
		case req.Method == "POST" && req.Path == "/ari/channels/"+b+"/dial":
			dialled = true
			if req.Query.Get("caller") != "" {
				t.Errorf("dial with caller=%q would copy leg A's caller ID over twoway_cli", req.Query.Get("caller"))
			}
		}
	}
	if !created || !dialled || !added {
		t.Fatalf("created %v dialled %v bridged %v", created, dialled, added)
	}
	e.noChannels()
}

func TestFirstLegNoAnswerRetriesThenOutOfRetries(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("111", aritest.RingOut())
	e := newEnv(t, sim)
	e.start()
	r := e.create(twoWay("111", "12345"))
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultOutOfRetries || got.CallCount != 3 {
		t.Fatalf("got %s/%s after %d calls", got.Status, got.Result, got.CallCount)
	}
	if got.LastCause != 19 || got.LastSIPCode != 480 {
		t.Fatalf("last cause %d sip %d, want 19/480", got.LastCause, got.LastSIPCode)
	}
	e.wantHistory(r.ID, "Request received", "First leg initiated", "Waiting for retry", "First leg initiated",
		"Waiting for retry", "First leg initiated", "Finished/Out of retries")
	for n := 1; n <= 3; n++ {
		if o := e.originates(legID(r.ID, n, "a")); len(o) != 1 {
			t.Fatalf("attempt %d: %d originates", n, len(o))
		}
	}
	e.noChannels()
}

func TestLegacyTimeoutCauseIsNoAnswer(t *testing.T) {
	sim := aritest.NewT(t, aritest.WithLegacyTimeoutCause())
	sim.Phone("112", aritest.RingOut())
	p := testPolicy()
	p.MaxAttempts = 1
	e := newEnv(t, sim, withPolicy(p))
	e.start()
	r := e.create(twoWay("112", "12345"))
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultOutOfRetries || got.LastCause != 19 || got.LastSIPCode != 480 {
		t.Fatalf("got %s/%s cause %d sip %d", got.Status, got.Result, got.LastCause, got.LastSIPCode)
	}
}

func TestFirstLegFailures(t *testing.T) {
	cases := []struct {
		name  string
		phone aritest.Behaviour
		cause int
		sip   int
	}{
		{"busy", aritest.Busy(), 17, 486},
		{"rejected", aritest.Reject(aritest.CauseCallRejected, 5*time.Millisecond), 21, 403},
		{"unreachable", aritest.Unreachable(aritest.CauseNoRouteDestination), 3, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := aritest.NewT(t)
			sim.Phone("222", tc.phone)
			e := newEnv(t, sim)
			e.start()
			r := e.create(twoWay("222", "12345"))
			got := e.done.wait(t, r.ID)
			if got.Result != callback.ResultOutOfRetries || got.CallCount != 3 {
				t.Fatalf("got %s/%s after %d calls", got.Status, got.Result, got.CallCount)
			}
			if got.LastCause != tc.cause || got.LastSIPCode != tc.sip {
				t.Fatalf("last cause %d sip %d, want %d/%d", got.LastCause, got.LastSIPCode, tc.cause, tc.sip)
			}
			e.noChannels()
		})
	}
}

func TestSecondLegFailures(t *testing.T) {
	cases := []struct {
		name  string
		phone aritest.Behaviour
		cause int
		sip   int
	}{
		{"busy", aritest.Busy(), 17, 486},
		{"no answer", aritest.RingOut().WithEarlyMedia(), 19, 480},
		{"rejected", aritest.Reject(aritest.CauseCallRejected, 5*time.Millisecond), 21, 403},
		{"unreachable", aritest.Unreachable(aritest.CauseDestinationOutOfOrder), 27, 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := aritest.NewT(t)
			sim.Phone("333", aritest.Answer(5*time.Millisecond))
			sim.Phone("999", tc.phone)
			e := newEnv(t, sim)
			e.start()
			r := e.create(twoWay("333", "999"))
			got := e.done.wait(t, r.ID)
			if got.Result != callback.ResultSecondLegFailed {
				t.Fatalf("got %s/%s", got.Status, got.Result)
			}
			if got.LastCause != tc.cause || got.LastSIPCode != tc.sip {
				t.Fatalf("last cause %d sip %d, want %d/%d", got.LastCause, got.LastSIPCode, tc.cause, tc.sip)
			}
			e.wantHistory(r.ID, "Request received", "First leg initiated", "First leg connected",
				"Second leg initiated", "Finished/Second leg failed")
			e.noChannels()
		})
	}
}

func TestFirstLegHangsUpWhileSecondRings(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("444", aritest.Answer(5*time.Millisecond))
	sim.Phone("998", aritest.RingOut())
	e := newEnv(t, sim)
	e.start()
	r := e.create(twoWay("444", "998"))
	b := legID(r.ID, 1, "b")
	e.waitEvent(b, "Dial")
	if err := sim.Hangup(legID(r.ID, 1, "a"), aritest.CauseNormalClearing); err != nil {
		t.Fatal(err)
	}
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultFirstLegAborted {
		t.Fatalf("got %s/%s", got.Status, got.Result)
	}
	e.wantHistory(r.ID, "Request received", "First leg initiated", "First leg connected",
		"Second leg initiated", "Finished/First leg aborted")
	e.noChannels()
}

func TestCancelLiveCall(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("555", answerNoRing())
	sim.Phone("997", answerNoRing())
	e := newEnv(t, sim)
	e.start()
	r := e.create(twoWay("555", "997"))
	e.obs.waitAnswered(t, callback.LegB, 1)
	if _, err := e.st.Cancel(context.Background(), r.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultCanceled || !got.Canceled {
		t.Fatalf("got %s/%s", got.Status, got.Result)
	}
	e.noChannels()
}

func TestCancelWhileRinging(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("556", aritest.RingOut())
	p := testPolicy()
	p.Timeout = time.Hour
	e := newEnv(t, sim, withPolicy(p))
	e.start()
	r := e.create(twoWay("556", "997"))
	e.waitEvent(legID(r.ID, 1, "a"), "Dial")
	if _, err := e.st.Cancel(context.Background(), r.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultCanceled {
		t.Fatalf("got %s/%s", got.Status, got.Result)
	}
	e.wantHistory(r.ID, "Request received", "First leg initiated", "Finished/Canceled")
	e.noChannels()
}

func TestCreditTimeCutsTheCall(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("666", answerNoRing())
	sim.Phone("996", answerNoRing())
	e := newEnv(t, sim)
	e.start()
	r := twoWay("666", "996")
	r.CreditTime = 1
	e.create(r)
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s", got.Status, got.Result)
	}
	a := legID(r.ID, 1, "a")
	cut := false
	for _, req := range sim.Requests() {
		if req.Method == "DELETE" && req.Path == "/ari/channels/"+a {
			cut = true
		}
	}
	if !cut {
		t.Fatal("leg A was not hung up by the controller at credit_time")
	}
	e.wantHistory(r.ID, successHistory...)
	e.noChannels()
}

func TestPresetCallIDs(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("777", aritest.Answer(5*time.Millisecond))
	sim.Phone("995", aritest.Answer(5*time.Millisecond).ThenHangup(10*time.Millisecond, 0))
	e := newEnv(t, sim)
	e.start()

	r := twoWay("777", "995")
	r.CallID = "a84b4c76e66710@pc33.example.com"
	e.create(r)
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful || got.CallID != r.CallID || got.TwowayCallID != r.CallID+"-b" {
		t.Fatalf("got %s/%s call_id %q twoway %q", got.Status, got.Result, got.CallID, got.TwowayCallID)
	}
	if len(e.originates(r.CallID)) != 1 {
		t.Fatal("preset call_id not used as the channel id")
	}

	r2 := twoWay("777", "995")
	r2.CallID, r2.TwowayCallID = "preset-a-2", "preset-b-2"
	e.create(r2)
	got = e.done.wait(t, r2.ID)
	if got.Result != callback.ResultSuccessful || got.CallID != "preset-a-2" || got.TwowayCallID != "preset-b-2" {
		t.Fatalf("got %s/%s call_id %q twoway %q", got.Status, got.Result, got.CallID, got.TwowayCallID)
	}
	e.noChannels()
}

// TestResentOriginateAttaches: a channel with the attempt's id already
// exists (an originate whose answer was lost): Asterisk answers 409 and
// the controller attaches to that channel instead of ringing twice.
func TestResentOriginateAttaches(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("888", aritest.RingOut())
	p := testPolicy()
	p.MaxAttempts = 1
	p.Timeout = time.Hour
	e := newEnv(t, sim, withPolicy(p))
	e.ready() // connected and reconciled: the channel below is not an orphan to it
	r := e.create(twoWay("888", "12345"))
	a := legID(r.ID, 1, "a")
	// The first originate, sent with the id in the body so that the
	// controller's own (id in the query) can be told apart.
	body := `{"endpoint":"PJSIP/888@trunk","app":"callbackd","channelId":"` + a + `","timeout":-1}`
	req, _ := http.NewRequest("POST", sim.ARIURL()+"/channels", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(sim.Credentials())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pre-originate: %d", resp.StatusCode)
	}
	e.start()
	e.waitRequest(func(r aritest.Request) bool {
		return r.Method == "POST" && r.Path == "/ari/channels" && r.Query.Get("channelId") == a
	})
	// After the 409 the controller reads the channel it attaches to.
	e.waitRequest(func(r aritest.Request) bool { return r.Method == "GET" && r.Path == "/ari/channels/"+a })
	// It waits on the existing channel: its end is the attempt's end.
	if err := sim.Hangup(a, aritest.CauseUserBusy); err != nil {
		t.Fatal(err)
	}
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultOutOfRetries || got.LastCause != 17 || got.LastSIPCode != 486 {
		t.Fatalf("got %s/%s cause %d sip %d", got.Status, got.Result, got.LastCause, got.LastSIPCode)
	}
	e.noChannels()
}

func TestWebSocketDropReconnects(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("101", answerNoRing())
	sim.Phone("994", answerNoRing())
	px := newProxy(t, strings.TrimPrefix(sim.URL(), "http://"))
	e := newEnv(t, sim, withURL(px.url()))
	e.start()
	r := e.create(twoWay("101", "994"))
	b := legID(r.ID, 1, "b")
	e.obs.waitAnswered(t, callback.LegB, 1)
	px.drop()
	e.obs.waitUps(t, 2)
	// The conversation survived the drop and its end is still seen.
	if n := len(sim.Channels()); n != 2 {
		t.Fatalf("%d channels after reconnect, want 2", n)
	}
	if err := sim.Hangup(b, aritest.CauseNormalClearing); err != nil {
		t.Fatal(err)
	}
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful {
		for _, h := range sim.History(b) {
			t.Logf("%s", h.JSON)
		}
		t.Fatalf("got %s/%s", got.Status, got.Result)
	}
	e.noChannels()
}

// TestAnswerDuringDisconnect: the second leg answers while the WebSocket
// is down; the reconciliation after the reconnect tells the call.
func TestAnswerDuringDisconnect(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("102", answerNoRing())
	sim.Phone("988", aritest.Behaviour{Outcome: aritest.OutcomeAnswer, After: 300 * time.Millisecond})
	px := newProxy(t, strings.TrimPrefix(sim.URL(), "http://"))
	e := newEnv(t, sim, withURL(px.url()))
	e.start()
	r := e.create(twoWay("102", "988"))
	b := legID(r.ID, 1, "b")
	e.waitEvent(b, "Dial")
	px.block()
	e.waitEvent(b, "ChannelStateChange") // B answered, unheard
	px.unblock()
	e.obs.waitAnswered(t, callback.LegB, 1)
	if err := sim.Hangup(legID(r.ID, 1, "a"), aritest.CauseNormalClearing); err != nil {
		t.Fatal(err)
	}
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s", got.Status, got.Result)
	}
	e.wantHistory(r.ID, successHistory...)
	e.noChannels()
}

func TestAsteriskRestartWhileRinging(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("202", aritest.RingOut())
	sim.Phone("993", aritest.Answer(5*time.Millisecond).ThenHangup(10*time.Millisecond, 0))
	p := testPolicy()
	p.Timeout = time.Hour
	e := newEnv(t, sim, withPolicy(p))
	e.start()
	r := e.create(twoWay("202", "993"))
	e.waitEvent(legID(r.ID, 1, "a"), "Dial")
	e.obs.waitUps(t, 1)
	sim.Phone("202", aritest.Answer(5*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := sim.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful || got.CallCount != 2 {
		t.Fatalf("got %s/%s after %d calls", got.Status, got.Result, got.CallCount)
	}
	e.wantHistory(r.ID, "Request received", "First leg initiated", "Waiting for retry", "First leg initiated",
		"First leg connected", "Second leg initiated", "Second leg connected", "Finished/Successful")
	e.noChannels()
}

func TestAsteriskRestartDuringConversation(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("303", answerNoRing())
	sim.Phone("992", answerNoRing())
	e := newEnv(t, sim)
	e.start()
	r := e.create(twoWay("303", "992"))
	e.obs.waitAnswered(t, callback.LegB, 1)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := sim.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	got := e.done.wait(t, r.ID)
	// Both legs vanished with Asterisk: the conversation took place.
	if got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s", got.Status, got.Result)
	}
	e.obs.waitUps(t, 2)
}

func TestOrphanedChannelsHungUpOnConnect(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("404", aritest.RingOut())
	for _, id := range []string{"cbd-999-1-a", "someone-else"} {
		body := `{"endpoint":"PJSIP/404@trunk","app":"callbackd","channelId":"` + id + `","timeout":-1}`
		req, _ := http.NewRequest("POST", sim.ARIURL()+"/channels", strings.NewReader(body))
		req.SetBasicAuth(sim.Credentials())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	e := newEnv(t, sim)
	e.ready()
	chans := sim.Channels()
	if len(chans) != 1 || chans[0].ID != "someone-else" {
		t.Fatalf("channels after connect: %+v; want only the foreign one", chans)
	}
}

func TestUnknownChannelEventsAreIgnored(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("505", aritest.Answer(0).ThenDTMF(aritest.Digits("12", time.Millisecond)...))
	sim.Phone("506", aritest.Answer(5*time.Millisecond))
	sim.Phone("991", aritest.Answer(5*time.Millisecond).ThenHangup(10*time.Millisecond, 0))
	e := newEnv(t, sim)
	e.ready()
	e.start()
	body := `{"endpoint":"PJSIP/505@trunk","app":"callbackd","channelId":"foreign-1"}`
	req, _ := http.NewRequest("POST", sim.ARIURL()+"/channels", strings.NewReader(body))
	req.SetBasicAuth(sim.Credentials())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.waitEvent("foreign-1", "ChannelDtmfReceived")
	r := e.create(twoWay("506", "991"))
	if got := e.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s", got.Status, got.Result)
	}
	if chans := sim.Channels(); len(chans) != 1 || chans[0].ID != "foreign-1" {
		t.Fatalf("channels %+v: the foreign channel must be left alone", chans)
	}
}

// hangsUpThenPlays is a sub-application that finds leg A gone when it
// acts: its REST requests get 404.
type hangsUpThenPlays struct{ sim *aritest.Sim }

func (h hangsUpThenPlays) Run(ctx context.Context, s *ari.Session) callback.Outcome {
	if err := h.sim.Hangup(s.LegA(), aritest.CauseNormalClearing); err != nil {
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: err.Error()}
	}
	err := s.Play(ctx, "sound:callbackd/please-wait")
	if !errors.Is(err, ari.ErrFirstLegGone) {
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: "play: " + errString(err)}
	}
	if err := s.Hangup(ctx, s.LegA(), "normal"); err != nil {
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: "hangup: " + err.Error()}
	}
	_, cause := s.Gone(s.LegA())
	return callback.Outcome{Result: callback.ResultFirstLegAborted, Cause: callback.Cause(cause)}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestChannelGoneUnderTheApp(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("606", aritest.Answer(5*time.Millisecond))
	e := newEnv(t, sim, withCtl(ari.WithApp(callback.SubAppCallingCard, hangsUpThenPlays{sim})))
	e.start()
	r := callback.NewRequest(callback.SourceAPI)
	r.Username, r.OriginalCLI, r.OriginalCLD = "801", "606", "callingcard_en"
	e.create(r)
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultFirstLegAborted || got.LastCause != 16 {
		t.Fatalf("got %s/%s cause %d (%s)", got.Status, got.Result, got.LastCause, got.LastError)
	}
	e.noChannels()
}

func TestNoSubApplicationConfigured(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("707", aritest.Answer(5*time.Millisecond))
	e := newEnv(t, sim)
	e.start()
	r := callback.NewRequest(callback.SourceAPI)
	r.Username, r.OriginalCLI, r.OriginalCLD = "801", "707", "callingcard"
	e.create(r)
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSecondLegFailed || got.LastError != "no sub-application callingcard configured" {
		t.Fatalf("got %s/%s (%q)", got.Status, got.Result, got.LastError)
	}
	e.noChannels()
}

func TestIdentityThroughDynamicConfiguration(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("808", aritest.Answer(5*time.Millisecond))
	sim.Phone("990", aritest.Answer(5*time.Millisecond).ThenHangup(10*time.Millisecond, 0))
	e := newEnv(t, sim, withCtl(ari.WithTrunk(ari.Trunk{
		Name: "trunk", Dial: "PJSIP/{number}@trunk", Realm: "sip.example.net",
		IdentityFields: []ari.Field{{Attribute: "context", Value: "callbackd-out"}},
	})))
	e.start()
	r := twoWay("808", "990")
	r.Authname, r.MD5Secret = "902", callback.HA1("902", "sip.example.net", "secret")
	r.TwowayAuthname, r.TwowayMD5Secret = "903", callback.HA1("903", "sip.example.net", "other")
	e.create(r)
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s (%s)", got.Status, got.Result, got.LastError)
	}
	a, b := legID(r.ID, 1, "a"), legID(r.ID, 1, "b")
	if o := e.originates(a); len(o) != 1 || o[0].Query.Get("endpoint") != "PJSIP/808@"+a+"-ep" {
		t.Fatalf("originate %+v", o)
	}
	puts := map[string]string{}
	for _, req := range sim.Requests() {
		if req.Method == "PUT" {
			puts[req.Path] = string(req.Body)
		}
		if req.Method == "POST" && req.Path == "/ari/channels/create" && req.Query.Get("endpoint") != "PJSIP/990@"+b+"-ep" {
			t.Errorf("second leg endpoint %q", req.Query.Get("endpoint"))
		}
	}
	for path, want := range map[string][]string{
		"/ari/asterisk/config/dynamic/res_pjsip/auth/" + a + "-auth":   {`"username","value":"902"`, `"md5_cred","value":"` + r.MD5Secret, `"auth_type","value":"digest"`, `"realm","value":"sip.example.net"`},
		"/ari/asterisk/config/dynamic/res_pjsip/endpoint/" + a + "-ep": {`"outbound_auth","value":"` + a + `-auth"`, `"context","value":"callbackd-out"`, `"identify_by","value":"ip"`},
		"/ari/asterisk/config/dynamic/res_pjsip/auth/" + b + "-auth":   {`"username","value":"903"`},
		"/ari/asterisk/config/dynamic/res_pjsip/endpoint/" + b + "-ep": {`"outbound_auth","value":"` + b + `-auth"`},
	} {
		body, ok := puts[path]
		if !ok {
			t.Errorf("no PUT %s", path)
			continue
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("PUT %s: %s lacks %s", path, body, w)
			}
		}
	}
	for _, o := range []struct{ typ, id string }{{"auth", a + "-auth"}, {"endpoint", a + "-ep"}, {"auth", b + "-auth"}, {"endpoint", b + "-ep"}} {
		if _, ok := sim.ConfigObject("res_pjsip", o.typ, o.id); ok {
			t.Errorf("%s %s left behind", o.typ, o.id)
		}
	}
	e.noChannels()
}

func TestIdentityRefusedIsNotAnAttempt(t *testing.T) {
	sim := aritest.NewT(t, aritest.WithReadOnlyConfig())
	e := newEnv(t, sim)
	e.ready()
	r := twoWay("809", "990")
	r.MD5Secret = callback.HA1("801", "asterisk", "secret")
	e.create(r)
	claimed, err := e.st.Claim(context.Background(), callback.ClaimParams{Owner: "t/1", Now: time.Now(), Limit: 1, LeaseFor: time.Minute})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %d", err, len(claimed))
	}
	call := callback.NewAttempt(e.st, callback.Lease{RequestID: r.ID, Attempt: claimed[0].Attempt, Owner: "t/1"}, *claimed[0], time.Second, nil)
	out := e.ctl.Dial(context.Background(), call)
	if !errors.Is(out.Err, ari.ErrForbidden) || call.Status() != callback.StatusRequestReceived {
		t.Fatalf("outcome %+v, status %q", out, call.Status())
	}
	if len(e.originates(legID(r.ID, 1, "a"))) != 0 {
		t.Fatal("originated although the identity could not be set up")
	}
}

func TestMaxChannelsQueuesLegs(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("909", aritest.Answer(5*time.Millisecond))
	sim.Phone("989", aritest.Answer(5*time.Millisecond).ThenHangup(10*time.Millisecond, 0))
	e := newEnv(t, sim, withCtl(ari.WithMaxChannels(2), ari.WithTrunk(ari.Trunk{Name: "t", Dial: "PJSIP/{number}@{trunk}", CallsPerSecond: 1000})))
	e.start()
	var ids []int64
	for range 6 {
		ids = append(ids, e.create(twoWay("909", "989")).ID)
	}
	for _, id := range ids {
		if got := e.done.wait(t, id); got.Result != callback.ResultSuccessful {
			t.Fatalf("request %d: %s/%s", id, got.Status, got.Result)
		}
	}
	e.noChannels()
}

func TestRescuedRequestHangsUpEarlierAttempt(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("121", aritest.RingOut())
	p := testPolicy()
	p.Timeout = time.Hour
	e := newEnv(t, sim, withPolicy(p))
	e.ready() // so that the channel below is left to attempt 2, not to the connect's reconciliation
	r := e.create(twoWay("121", "12345"))
	// A previous life of this node placed attempt 1 and was killed: the
	// channel still rings, and the row says First leg initiated.
	claimed, err := e.st.Claim(context.Background(), callback.ClaimParams{Owner: "test/dead", Now: time.Now(), Limit: 1, LeaseFor: time.Hour})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v", err)
	}
	old := legID(r.ID, 1, "a")
	call := callback.NewAttempt(e.st, callback.Lease{RequestID: r.ID, Attempt: claimed[0].Attempt, Owner: "test/dead"}, *claimed[0], time.Hour, nil)
	if err := call.FirstLegInitiated(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	body := `{"endpoint":"PJSIP/121@trunk","app":"callbackd","channelId":"` + old + `","timeout":-1,"appArgs":"callbackd,1,1,a"}`
	req, _ := http.NewRequest("POST", sim.ARIURL()+"/channels", strings.NewReader(body))
	req.SetBasicAuth(sim.Credentials())
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	sim.Phone("121", aritest.Answer(5*time.Millisecond))
	sim.Phone("12345", aritest.Answer(5*time.Millisecond).ThenHangup(10*time.Millisecond, 0))
	e.start() // rescues the lease of its previous life at once
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful || got.CallCount != 2 {
		t.Fatalf("got %s/%s after %d calls", got.Status, got.Result, got.CallCount)
	}
	// Attempt 2 hung up attempt 1's channel before ringing the user again.
	deleted, originated := -1, -1
	for i, req := range sim.Requests() {
		switch {
		case req.Method == "DELETE" && req.Path == "/ari/channels/"+old && deleted < 0:
			deleted = i
		case req.Method == "POST" && req.Path == "/ari/channels" && req.Query.Get("channelId") == legID(r.ID, 2, "a"):
			originated = i
		}
	}
	if deleted < 0 || originated < 0 || deleted > originated {
		t.Fatalf("DELETE of the old leg at request %d, originate of attempt 2 at %d", deleted, originated)
	}
	if _, ok := findChannel(sim, old); ok {
		t.Fatal("first leg of the dead process still rings")
	}
	e.noChannels()
}

func findChannel(sim *aritest.Sim, id string) (aritest.ChannelInfo, bool) {
	for _, ch := range sim.Channels() {
		if ch.ID == id {
			return ch, true
		}
	}
	return aritest.ChannelInfo{}, false
}

// ivr is a sub-application of the calling-card kind: a prompt, digits,
// then an announcement that cannot be played.
type ivr struct{}

func (ivr) Run(ctx context.Context, s *ari.Session) callback.Outcome {
	if err := s.Play(ctx, "sound:callbackd/enter-destination"); err != nil {
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: "prompt: " + err.Error()}
	}
	digits, err := s.CollectDigits(ctx, ari.DigitOptions{Max: 10, Terminators: "#", InterDigit: 5 * time.Second, Total: 20 * time.Second})
	if err != nil {
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: "digits: " + err.Error()}
	}
	var pe *ari.PlaybackError
	if err := s.Play(ctx, "sound:no-such-prompt"); !errors.As(err, &pe) {
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: "missing prompt: " + errString(err)}
	}
	if err := s.Hangup(ctx, s.LegA(), "normal"); err != nil {
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: err.Error()}
	}
	return callback.Outcome{Result: callback.ResultSuccessful, Reason: "digits=" + digits}
}

func TestSessionPlayAndCollectDigits(t *testing.T) {
	sim := aritest.NewT(t, aritest.WithSounds("callbackd/enter-destination"))
	sim.Phone("303", aritest.Answer(0).ThenDTMF(aritest.Digits("42#9", 20*time.Millisecond)...))
	e := newEnv(t, sim, withCtl(ari.WithApp(callback.SubAppCallingCard, ivr{})))
	e.start()
	r := callback.NewRequest(callback.SourceAPI)
	r.Username, r.OriginalCLI, r.OriginalCLD = "801", "303", "callingcard"
	e.create(r)
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful || got.LastError != "digits=42" {
		t.Fatalf("got %s/%s (%q)", got.Status, got.Result, got.LastError)
	}
	e.noChannels()
}
