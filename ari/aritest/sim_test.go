package aritest

import (
	"context"
	"net/http"
	"testing"
	"time"
)

const app = "callbackd"

func originate(t *testing.T, s *Sim, query string) string {
	t.Helper()
	r := call(t, s, "POST", "/channels?app="+app+"&"+query, nil)
	mustCode(t, r, http.StatusOK)
	var ch channelJSON
	r.json(t, &ch)
	if ch.State != "Down" {
		t.Fatalf("originated channel state %q, want Down", ch.State)
	}
	return ch.ID
}

func TestOriginateAnsweredThenHungUp(t *testing.T) {
	s := NewT(t)
	s.Phone("5551000", Answer(5*time.Millisecond))
	l := listen(t, s, "app="+app)

	id := originate(t, s, "endpoint=PJSIP/5551000@trunk&appArgs=cb-1,x&callerId=%22Shop%22+%3C1000%3E&channelId=cb-1-leg-a")
	if id != "cb-1-leg-a" {
		t.Fatalf("channel id %q", id)
	}
	l.waitSeq(id, []string{
		"Dial()", "ChannelStateChange(Ringing)", "Dial(RINGING)",
		"ChannelStateChange(Up)", "Dial(ANSWER)", "ChannelVarset(STASISSTATUS=)", "StasisStart",
	})
	start := l.waitType(id, "StasisStart")
	if len(start.Args) != 2 || start.Args[0] != "cb-1" || start.Application != app || start.AsteriskID == "" {
		t.Fatalf("StasisStart %s", start.raw)
	}
	if _, err := time.Parse(timeFormat, start.Timestamp); err != nil {
		t.Fatalf("timestamp %q: %v", start.Timestamp, err)
	}

	mustCode(t, call(t, s, "DELETE", "/channels/"+id+"?reason=normal", nil), http.StatusNoContent)
	l.waitSeq(id, []string{
		"Dial()", "ChannelStateChange(Ringing)", "Dial(RINGING)",
		"ChannelStateChange(Up)", "Dial(ANSWER)", "ChannelVarset(STASISSTATUS=)", "StasisStart",
		"ChannelHangupRequest(32,soft)", "StasisEnd", "ChannelVarset(STASISSTATUS=SUCCESS)", "ChannelDestroyed(16)",
	})
	if d := l.waitType(id, "ChannelDestroyed"); d.CauseTxt != "Normal Clearing" {
		t.Fatalf("cause_txt %q", d.CauseTxt)
	}
	mustCode(t, call(t, s, "GET", "/channels/"+id, nil), http.StatusNotFound)
	mustCode(t, call(t, s, "DELETE", "/channels/"+id, nil), http.StatusNotFound)
}

func TestOriginateOutcomes(t *testing.T) {
	cases := []struct {
		name  string
		phone Behaviour
		query string
		want  []string
		tech  int
	}{
		{"busy", Busy(), "", []string{"Dial()", "ChannelHangupRequest(17)", "Dial(BUSY)", "ChannelDestroyed(17)"}, 486},
		{"rejected", Reject(CauseCallRejected, 0), "", []string{
			"Dial()", "ChannelStateChange(Ringing)", "Dial(RINGING)",
			"ChannelHangupRequest(21)", "Dial(NOANSWER)", "ChannelDestroyed(21)",
		}, 403},
		{"no route", Unreachable(CauseNoRouteDestination), "", []string{"Dial()", "ChannelHangupRequest(3)", "Dial(CHANUNAVAIL)", "ChannelDestroyed(3)"}, 404},
		{"out of order", Unreachable(CauseDestinationOutOfOrder), "", []string{"Dial()", "ChannelHangupRequest(27)", "Dial(NOANSWER)", "ChannelDestroyed(27)"}, 502},
		{"network down", Unreachable(CauseNetworkOutOfOrder), "", []string{"Dial()", "ChannelHangupRequest(38)", "Dial(NOANSWER)", "ChannelDestroyed(38)"}, 500},
		{"congestion", Unreachable(CauseCongestion), "", []string{"Dial()", "ChannelHangupRequest(34)", "Dial(CONGESTION)", "ChannelDestroyed(34)"}, 503},
		{"no answer", RingOut().WithEarlyMedia(), "&timeout=1", []string{
			"Dial()", "ChannelStateChange(Ringing)", "Dial(RINGING)", "Dial(PROGRESS)", "ChannelDestroyed(19)",
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewT(t)
			s.Phone("42", tc.phone)
			l := listen(t, s, "app="+app)
			id := originate(t, s, "endpoint=PJSIP/trunk/sip:42@192.0.2.1"+tc.query)
			l.waitSeq(id, tc.want)
			if d := l.waitType(id, "ChannelDestroyed"); d.TechCause != tc.tech || d.CauseTxt != CauseText(d.Cause) {
				t.Fatalf("ChannelDestroyed %s", d.raw)
			}
			for _, e := range l.all() {
				if e.Type == "StasisStart" {
					t.Fatal("StasisStart for a call that was never answered")
				}
			}
		})
	}
}

func TestLegacyTimeoutCause(t *testing.T) {
	s := NewT(t, WithLegacyTimeoutCause(), WithDefaultPhone(RingOut()))
	l := listen(t, s, "app="+app)
	id := originate(t, s, "endpoint=PJSIP/7@trunk&timeout=1")
	if d := l.waitType(id, "ChannelDestroyed"); d.Cause != 0 || d.CauseTxt != "Unknown" {
		t.Fatalf("ChannelDestroyed %s", d.raw)
	}
}

func TestChannelIDConflict(t *testing.T) {
	s := NewT(t, WithDefaultPhone(RingOut()))
	l := listen(t, s, "app="+app)
	id := originate(t, s, "endpoint=PJSIP/1@trunk&channelId=fixed")
	r := call(t, s, "POST", "/channels?app="+app+"&endpoint=PJSIP/1@trunk&channelId=fixed", nil)
	mustCode(t, r, http.StatusConflict)
	mustCode(t, call(t, s, "POST", "/channels/create?app="+app+"&endpoint=PJSIP/1@trunk&channelId=fixed", nil), http.StatusConflict)
	mustCode(t, call(t, s, "POST", "/channels/fixed?app="+app+"&endpoint=PJSIP/1@trunk", nil), http.StatusConflict)
	mustCode(t, call(t, s, "DELETE", "/channels/"+id, nil), http.StatusNoContent)
	l.waitSeq(id, []string{"Dial()", "ChannelStateChange(Ringing)", "Dial(RINGING)", "ChannelHangupRequest(32,soft)", "Dial(NOANSWER)", "ChannelDestroyed(16)"})
	// Asterisk only checks live channels: the id is free again.
	originate(t, s, "endpoint=PJSIP/1@trunk&channelId=fixed")
}

func TestOriginateValidation(t *testing.T) {
	s := NewT(t, WithEndpoints("trunk"))
	cases := []struct {
		query string
		code  int
	}{
		{"app=a", http.StatusBadRequest},
		{"app=a&endpoint=PJSIP", http.StatusBadRequest},
		{"endpoint=PJSIP/1@trunk", http.StatusBadRequest},
		{"app=a&endpoint=PJSIP/1@trunk&originator=x&formats=ulaw", http.StatusBadRequest},
		{"app=a&endpoint=PJSIP/1@trunk&formats=nope", http.StatusBadRequest},
		{"app=a&endpoint=PJSIP/1@trunk&originator=gone", http.StatusBadRequest},
		{"app=a&endpoint=SIP/1@trunk", http.StatusInternalServerError},
		{"app=a&endpoint=PJSIP/1@other", http.StatusInternalServerError},
		{"app=a&endpoint=PJSIP/1@trunk", http.StatusOK},
		{"app=a&endpoint=Local/1@from-callbackd", http.StatusOK},
	}
	for _, tc := range cases {
		if r := call(t, s, "POST", "/channels?"+tc.query, nil); r.Code != tc.code {
			t.Errorf("%s: status %d, want %d: %s", tc.query, r.Code, tc.code, r.Body)
		}
	}
	mustCode(t, call(t, s, "PUT", "/asterisk/config/dynamic/res_pjsip/endpoint/other", map[string]any{
		"fields": []map[string]string{{"attribute": "outbound_auth", "value": "other-auth"}},
	}), http.StatusOK)
	mustCode(t, call(t, s, "POST", "/channels?app=a&endpoint=PJSIP/1@other", nil), http.StatusOK)
}

func TestOriginateJSONBody(t *testing.T) {
	s := NewT(t)
	l := listen(t, s, "app="+app)
	r := call(t, s, "POST", "/channels", map[string]any{
		"endpoint": "PJSIP/77@trunk", "app": app, "appArgs": "a,b", "timeout": 10, "channelId": "body-1",
		"variables": map[string]any{
			"PJSIP_HEADER(add,X-Callback)": "77",
			"CB_ID":                        map[string]any{"value": "9", "report_events": true},
		},
	})
	mustCode(t, r, http.StatusOK)
	var ch channelJSON
	r.json(t, &ch)
	if ch.ID != "body-1" || ch.ChannelVars["CB_ID"] != "9" {
		t.Fatalf("channel %s", r.Body)
	}
	l.waitType("body-1", "StasisStart")
	info := s.Channels()
	if len(info) != 1 || info[0].Variables["PJSIP_HEADER(add,X-Callback)"] != "77" || info[0].Number != "77" {
		t.Fatalf("channels %+v", info)
	}
	mustCode(t, call(t, s, "POST", "/channels", map[string]any{
		"endpoint": "PJSIP/77@trunk", "app": app, "variables": map[string]any{"X": []string{"1"}},
	}), http.StatusBadRequest)
}

func TestCreateDialBridge(t *testing.T) {
	s := NewT(t)
	s.Phone("100", Answer(0))
	s.Phone("200", Answer(5*time.Millisecond).WithEarlyMedia())
	l := listen(t, s, "app="+app)

	a := originate(t, s, "endpoint=PJSIP/100@trunk&channelId=a")
	l.waitType(a, "StasisStart")

	r := call(t, s, "POST", "/channels/create?app="+app+"&endpoint=PJSIP/200@trunk&channelId=b&appArgs=leg-b", nil)
	mustCode(t, r, http.StatusOK)
	l.waitType("b", "StasisStart")
	mustCode(t, call(t, s, "POST", "/channels/b/answer", nil), http.StatusPreconditionFailed)
	mustCode(t, call(t, s, "POST", "/channels/nope/dial", nil), http.StatusNotFound)
	mustCode(t, call(t, s, "POST", "/channels/a/dial", nil), http.StatusConflict)

	r = call(t, s, "POST", "/bridges?type=mixing&name=cb", nil)
	mustCode(t, r, http.StatusOK)
	var br bridgeJSON
	r.json(t, &br)
	mustCode(t, call(t, s, "POST", "/bridges/"+br.ID+"/addChannel?channel=a,b", nil), http.StatusNoContent)

	mustCode(t, call(t, s, "POST", "/channels/b/dial?caller=a&timeout=10", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "POST", "/channels/b/dial", nil), http.StatusConflict)
	l.waitSeq("b", []string{
		"ChannelDialplan", "ChannelVarset(STASISSTATUS=)", "StasisStart",
		"ChannelEnteredBridge", "Dial()", "ChannelStateChange(Ringing)", "Dial(RINGING)",
		"Dial(PROGRESS)", "ChannelStateChange(Up)", "Dial(ANSWER)",
	})

	if err := s.Hangup("b", CauseNormalClearing); err != nil {
		t.Fatal(err)
	}
	l.waitSeq("b", []string{
		"ChannelDialplan", "ChannelVarset(STASISSTATUS=)", "StasisStart",
		"ChannelEnteredBridge", "Dial()", "ChannelStateChange(Ringing)", "Dial(RINGING)",
		"Dial(PROGRESS)", "ChannelStateChange(Up)", "Dial(ANSWER)",
		"ChannelHangupRequest(16)", "ChannelLeftBridge", "StasisEnd", "ChannelVarset(STASISSTATUS=SUCCESS)", "ChannelDestroyed(16)",
	})
	// Asterisk leaves the other party in the bridge; the application must
	// hang it up.
	r = call(t, s, "GET", "/bridges/"+br.ID, nil)
	mustCode(t, r, http.StatusOK)
	r.json(t, &br)
	if len(br.Channels) != 1 || br.Channels[0] != a {
		t.Fatalf("bridge %s", r.Body)
	}
	mustCode(t, call(t, s, "GET", "/channels/"+a, nil), http.StatusOK)

	mustCode(t, call(t, s, "DELETE", "/bridges/"+br.ID, nil), http.StatusNoContent)
	l.waitType("", "BridgeDestroyed")
	mustCode(t, call(t, s, "DELETE", "/bridges/"+br.ID, nil), http.StatusNotFound)
	if got := l.labels(a); got[len(got)-1] != "ChannelLeftBridge" {
		t.Fatalf("events for a: %v", got)
	}
}

func TestCreateDialOutcomes(t *testing.T) {
	cases := []struct {
		name    string
		phone   Behaviour
		timeout string
		want    []string
	}{
		{"busy", Busy(), "", []string{"Dial()", "ChannelHangupRequest(17)", "StasisEnd", "ChannelVarset(STASISSTATUS=SUCCESS)", "ChannelDestroyed(17)"}},
		{"no answer", RingOut(), "1", []string{
			"Dial()", "ChannelStateChange(Ringing)", "Dial(RINGING)",
			"ChannelHangupRequest(32,soft)", "StasisEnd", "ChannelVarset(STASISSTATUS=SUCCESS)", "ChannelDestroyed(19)",
		}},
		{"unavailable", Unreachable(CauseNoRouteDestination), "", []string{"Dial()", "ChannelHangupRequest(3)", "StasisEnd", "ChannelVarset(STASISSTATUS=SUCCESS)", "ChannelDestroyed(3)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewT(t)
			s.Phone("9", tc.phone)
			l := listen(t, s, "app="+app)
			mustCode(t, call(t, s, "POST", "/channels/create", map[string]any{"app": app, "endpoint": "PJSIP/9@trunk", "channelId": "c"}), http.StatusOK)
			l.waitType("c", "StasisStart")
			mustCode(t, call(t, s, "POST", "/channels/c/dial", map[string]any{"timeout": atoi(tc.timeout)}), http.StatusNoContent)
			l.waitSeq("c", append([]string{"ChannelDialplan", "ChannelVarset(STASISSTATUS=)", "StasisStart"}, tc.want...))
		})
	}
}

func TestPhoneScriptDTMFAndHangup(t *testing.T) {
	s := NewT(t)
	s.Phone("300", Answer(0).ThenDTMF(Digits("1#", time.Millisecond)...).ThenHangup(5*time.Millisecond, CauseNormalClearing))
	l := listen(t, s, "app="+app)
	id := originate(t, s, "endpoint=Local/300@callbacks")
	l.waitSeq(id, []string{
		"Dial()", "ChannelStateChange(Ringing)", "Dial(RINGING)", "ChannelStateChange(Up)", "Dial(ANSWER)",
		"ChannelVarset(STASISSTATUS=)", "StasisStart", "ChannelDtmfReceived(1)", "ChannelDtmfReceived(#)",
		"ChannelHangupRequest(16)", "StasisEnd", "ChannelVarset(STASISSTATUS=SUCCESS)", "ChannelDestroyed(16)",
	})
}

func TestSendDTMFFromTest(t *testing.T) {
	s := NewT(t)
	l := listen(t, s, "app="+app)
	id := originate(t, s, "endpoint=PJSIP/1@trunk")
	l.waitType(id, "StasisStart")
	if err := s.SendDTMF(id, "42"); err != nil {
		t.Fatal(err)
	}
	l.waitFor(func(e rawEvent) bool { return e.label() == "ChannelDtmfReceived(2)" })
	if err := s.SendDTMF("gone", "1"); err == nil {
		t.Fatal("DTMF to a missing channel succeeded")
	}
}

func TestPlayback(t *testing.T) {
	s := NewT(t, WithSounds("hello-world", "vm-goodbye"))
	l := listen(t, s, "app="+app)
	id := originate(t, s, "endpoint=PJSIP/1@trunk")
	l.waitType(id, "StasisStart")

	r := call(t, s, "POST", "/channels/"+id+"/play?media=sound:hello-world,sound:missing,digits:12&playbackId=pb1", nil)
	mustCode(t, r, http.StatusCreated)
	l.waitFor(func(e rawEvent) bool { return e.Type == "PlaybackFinished" && e.Playback.ID == "pb1" })
	var got []string
	for _, e := range l.all() {
		if e.Playback.ID == "pb1" {
			got = append(got, e.Type+":"+e.Playback.State+":"+e.Playback.Media)
		}
	}
	want := []string{
		"PlaybackStarted:playing:sound:hello-world", "PlaybackContinuing:continuing:sound:hello-world",
		"PlaybackStarted:playing:sound:missing", "PlaybackContinuing:continuing:sound:missing",
		"PlaybackStarted:playing:digits:12", "PlaybackFinished:done:digits:12",
	}
	if !equalSeq(got, want) {
		t.Fatalf("playback events\n got %v\nwant %v", got, want)
	}

	mustCode(t, call(t, s, "POST", "/channels/"+id+"/play/pb2", map[string]any{"media": "sound:nope"}), http.StatusCreated)
	if e := l.waitFor(func(e rawEvent) bool { return e.Type == "PlaybackFinished" && e.Playback.ID == "pb2" }); e.Playback.State != "failed" {
		t.Fatalf("missing sound: %s", e.raw)
	}
	mustCode(t, call(t, s, "GET", "/playbacks/pb2", nil), http.StatusNotFound)
	mustCode(t, call(t, s, "POST", "/channels/nope/play?media=sound:x", nil), http.StatusNotFound)
}

func TestStopPlayback(t *testing.T) {
	s := NewT(t, WithPlaybackDuration(time.Hour))
	l := listen(t, s, "app="+app)
	id := originate(t, s, "endpoint=PJSIP/1@trunk")
	l.waitType(id, "StasisStart")
	mustCode(t, call(t, s, "POST", "/channels/"+id+"/play?media=sound:long&playbackId=p", nil), http.StatusCreated)
	l.waitType("", "PlaybackStarted")
	mustCode(t, call(t, s, "GET", "/playbacks/p", nil), http.StatusOK)
	mustCode(t, call(t, s, "DELETE", "/playbacks/p", nil), http.StatusNoContent)
	if e := l.waitType("", "PlaybackFinished"); e.Playback.State != "done" {
		t.Fatalf("stopped playback %s", e.raw)
	}
	mustCode(t, call(t, s, "DELETE", "/playbacks/p", nil), http.StatusNotFound)
}

func TestNotInStasis(t *testing.T) {
	s := NewT(t, WithDefaultPhone(RingOut()))
	listen(t, s, "app="+app)
	id := originate(t, s, "endpoint=PJSIP/1@trunk")
	for _, p := range []string{"/answer", "/ring", "/progress", "/play?media=sound:x", "/dial", "/continue"} {
		mustCode(t, call(t, s, "POST", "/channels/"+id+p, nil), http.StatusConflict)
	}
	mustCode(t, call(t, s, "GET", "/channels/"+id+"/variable?variable=X", nil), http.StatusConflict)
	mustCode(t, call(t, s, "POST", "/bridges/x", nil), http.StatusOK)
	mustCode(t, call(t, s, "POST", "/bridges/x/addChannel?channel="+id, nil), http.StatusUnprocessableEntity)
	mustCode(t, call(t, s, "POST", "/bridges/x/addChannel?channel=nope", nil), http.StatusBadRequest)
	mustCode(t, call(t, s, "POST", "/bridges/x", nil), http.StatusConflict)
}

func TestVariables(t *testing.T) {
	s := NewT(t)
	l := listen(t, s, "app="+app)
	id := originate(t, s, "endpoint=PJSIP/1@trunk&callerId=555")
	l.waitType(id, "StasisStart")
	mustCode(t, call(t, s, "GET", "/channels/"+id+"/variable?variable=CB", nil), http.StatusNotFound)
	mustCode(t, call(t, s, "GET", "/channels/"+id+"/variable", nil), http.StatusBadRequest)
	mustCode(t, call(t, s, "POST", "/channels/"+id+"/variable?variable=CB&value=7", nil), http.StatusNoContent)
	l.waitType(id, "ChannelVarset")
	r := call(t, s, "GET", "/channels/"+id+"/variable?variable=CB", nil)
	mustCode(t, r, http.StatusOK)
	var v struct{ Value string }
	r.json(t, &v)
	if v.Value != "7" {
		t.Fatalf("variable %s", r.Body)
	}
	r = call(t, s, "GET", "/channels/"+id+"/variable?variable=CALLERID(num)", nil)
	r.json(t, &v)
	if v.Value != "555" {
		t.Fatalf("CALLERID(num) %s", r.Body)
	}
}

func TestNoWebSocketForApp(t *testing.T) {
	s := NewT(t)
	id := originate(t, s, "endpoint=PJSIP/1@trunk")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, err := s.WaitEvent(ctx, id, "ChannelDestroyed")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range s.History(id) {
		if h.Type == "StasisStart" {
			t.Fatalf("StasisStart without a registered application: %s", h.JSON)
		}
	}
	if len(e.JSON) == 0 {
		t.Fatal("empty event")
	}
	// Another application's connection hears nothing of it.
	l := listen(t, s, "app=other")
	id = originate(t, s, "endpoint=PJSIP/1@trunk")
	if _, err := s.WaitEvent(ctx, id, "ChannelDestroyed"); err != nil {
		t.Fatal(err)
	}
	if got := l.labels(""); len(got) != 0 {
		t.Fatalf("other application got %v", got)
	}
}

func TestApplicationReplacedAndSubscribeAll(t *testing.T) {
	s := NewT(t)
	first := listen(t, s, "app="+app)
	second := listen(t, s, "app="+app)
	all := listen(t, s, "app=monitor&subscribeAll=true")
	first.waitType("", "ApplicationReplaced")
	id := originate(t, s, "endpoint=PJSIP/1@trunk")
	second.waitType(id, "StasisStart")
	if e := all.waitType(id, "StasisStart"); e.Application != "monitor" {
		t.Fatalf("subscribeAll event %s", e.raw)
	}
	mustCode(t, call(t, s, "POST", "/bridges", nil), http.StatusOK)
	all.waitType("", "BridgeCreated")
	for _, e := range first.all() {
		if e.Type == "StasisStart" || e.Type == "BridgeCreated" {
			t.Fatalf("replaced connection got %s", e.raw)
		}
	}
	for _, e := range second.all() {
		if e.Type == "BridgeCreated" {
			t.Fatal("BridgeCreated reached an application not subscribed to the bridge")
		}
	}
}

func TestAuth(t *testing.T) {
	s := NewT(t, WithCredentials("u", "p"))
	resp, err := http.Get(s.ARIURL() + "/asterisk/info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("status %d", resp.StatusCode)
	}
	resp, err = http.Get(s.ARIURL() + "/asterisk/ping?api_key=u:p")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("api_key: status %d", resp.StatusCode)
	}
	mustCode(t, call(t, s, "GET", "/asterisk/info", nil), http.StatusOK)
	mustCode(t, call(t, s, "GET", "/nothing", nil), http.StatusNotFound)
}

func TestRestart(t *testing.T) {
	s := NewT(t)
	l := listen(t, s, "app="+app)
	id := originate(t, s, "endpoint=PJSIP/1@trunk")
	l.waitType(id, "StasisStart")
	mustCode(t, call(t, s, "POST", "/bridges/b1", nil), http.StatusOK)

	s.Stop()
	if err := l.waitClosed(); err == nil {
		t.Fatal("websocket survived the stop")
	}
	if _, err := http.Get(s.ARIURL() + "/asterisk/ping"); err == nil {
		t.Fatal("connection accepted while Asterisk is down")
	}
	if _, err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustCode(t, call(t, s, "GET", "/channels/"+id, nil), http.StatusNotFound)
	mustCode(t, call(t, s, "GET", "/bridges/b1", nil), http.StatusNotFound)
	for _, e := range l.all() {
		if e.Type == "StasisEnd" || e.Type == "ChannelDestroyed" {
			t.Fatalf("event %s sent during a restart", e.raw)
		}
	}

	l2 := listen(t, s, "app="+app)
	id = originate(t, s, "endpoint=PJSIP/1@trunk")
	l2.waitType(id, "StasisStart")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l2.waitClosed(); err == nil {
		t.Fatal("websocket survived the restart")
	}
	if n := len(s.Channels()); n != 0 {
		t.Fatalf("%d channels after restart", n)
	}
	mustCode(t, call(t, s, "GET", "/asterisk/ping", nil), http.StatusOK)
}

func TestDynamicConfig(t *testing.T) {
	s := NewT(t)
	path := "/asterisk/config/dynamic/res_pjsip/auth/cb-auth"
	mustCode(t, call(t, s, "GET", path, nil), http.StatusNotFound)
	r := call(t, s, "PUT", path, map[string]any{"fields": []map[string]string{
		{"attribute": "auth_type", "value": "digest"},
		{"attribute": "username", "value": "shop"},
		{"attribute": "md5_cred", "value": "0123456789abcdef0123456789abcdef"},
		{"attribute": "realm", "value": "asterisk"},
	}})
	mustCode(t, r, http.StatusOK)
	var fields []configField
	r.json(t, &fields)
	if len(fields) != 4 {
		t.Fatalf("fields %s", r.Body)
	}
	mustCode(t, call(t, s, "PUT", path, map[string]any{"fields": []map[string]string{{"attribute": "realm", "value": "cb"}}}), http.StatusOK)
	if obj, ok := s.ConfigObject("res_pjsip", "auth", "cb-auth"); !ok || obj["realm"] != "cb" || obj["username"] != "shop" {
		t.Fatalf("object %v", obj)
	}
	mustCode(t, call(t, s, "PUT", path, nil), http.StatusBadRequest)
	mustCode(t, call(t, s, "PUT", path, map[string]any{"fields": []map[string]string{{"attribute": "bogus", "value": "1"}}}), http.StatusBadRequest)
	mustCode(t, call(t, s, "PUT", "/asterisk/config/dynamic/res_nope/auth/x", map[string]any{"fields": []any{}}), http.StatusNotFound)
	mustCode(t, call(t, s, "PUT", "/asterisk/config/dynamic/res_pjsip/nope/x", map[string]any{"fields": []any{}}), http.StatusNotFound)
	mustCode(t, call(t, s, "GET", path, nil), http.StatusOK)
	mustCode(t, call(t, s, "DELETE", path, nil), http.StatusNoContent)
	mustCode(t, call(t, s, "DELETE", path, nil), http.StatusNotFound)

	ro := NewT(t, WithReadOnlyConfig())
	mustCode(t, call(t, ro, "PUT", path, map[string]any{"fields": []any{}}), http.StatusForbidden)
}

func TestWaitRequest(t *testing.T) {
	s := NewT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, "POST", s.ARIURL()+"/channels?app="+app+"&endpoint=PJSIP/1@trunk&channelId=w", nil)
		if err == nil {
			req.SetBasicAuth(s.Credentials())
			var resp *http.Response
			if resp, err = http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		errc <- err
	}()
	r, err := s.WaitRequest(ctx, func(r Request) bool { return r.Method == "POST" && r.Query.Get("channelId") == "w" })
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "/ari/channels" || r.Received.IsZero() {
		t.Fatalf("request %+v", r)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if len(s.Requests()) == 0 {
		t.Fatal("no requests recorded")
	}
}
