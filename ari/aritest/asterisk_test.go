package aritest

// Behaviour of Asterisk 22 seen on a real 22.9 and confirmed in its source;
// each test names where.

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAllocationFailedBody: res_ari's ast_ari_response_alloc_failed answers
// with its prebuilt {"error": "Allocation failed"}; every other error,
// 500s from ast_ari_response_error included, carries "message".
func TestAllocationFailedBody(t *testing.T) {
	s := NewT(t, WithEndpoints("trunk"))
	for _, path := range []string{
		"/channels?app=" + app + "&endpoint=Nope/200",
		"/channels?app=" + app + "&endpoint=PJSIP/200@no-such-endpoint",
		"/channels/create?app=" + app + "&endpoint=Nope/200",
		"/channels/create?app=" + app + "&endpoint=PJSIP/200@no-such-endpoint",
	} {
		r := call(t, s, "POST", path, nil)
		mustCode(t, r, http.StatusInternalServerError)
		if string(r.Body) != `{"error":"Allocation failed"}` {
			t.Errorf("POST %s: body %s, want {\"error\":\"Allocation failed\"}", path, r.Body)
		}
	}
	r := call(t, s, "POST", "/bridges?type=nonsense&bridgeId=x", nil)
	mustCode(t, r, http.StatusInternalServerError)
	var body map[string]string
	r.json(t, &body)
	if len(body) != 1 || !strings.HasPrefix(body["message"], "Unable to create bridge") {
		t.Errorf("bridge create error body %s, want a message", r.Body)
	}
}

// dialFields is what a Dial event says besides its peer.
type dialFields struct {
	Status     string  `json:"dialstatus"`
	Forward    *string `json:"forward"`
	Dialstring *string `json:"dialstring"`
	Caller     any     `json:"caller"`
	Peer       struct {
		ID string `json:"id"`
	} `json:"peer"`
}

func dialsOf(t *testing.T, l *listener, chanID string) []dialFields {
	t.Helper()
	var out []dialFields
	for _, e := range l.all() {
		if e.Type != "Dial" || e.chanID() != chanID {
			continue
		}
		var d dialFields
		if err := json.Unmarshal(e.raw, &d); err != nil {
			t.Fatal(err)
		}
		if d.Forward == nil || d.Dialstring == nil || *d.Forward != "" || d.Caller != nil {
			t.Errorf("Dial %s: want forward \"\", a dialstring and no caller", e.raw)
			continue
		}
		out = append(out, d)
	}
	return out
}

// TestDialEventFields: stasis_channels.c dial_to_json always writes forward
// and dialstring. An originate's ast_dial (main/dial.c) passes the
// dialstring on every Dial; an ARI dial (control.c app_control_dial) on the
// first only, the dial bridge (bridge_channel.c) publishing the rest
// without.
func TestDialEventFields(t *testing.T) {
	s := NewT(t)
	s.Phone("100", Answer(0))
	s.Phone("200", Answer(0).WithEarlyMedia())
	l := listen(t, s, "app="+app)

	a := originate(t, s, "endpoint=PJSIP/100@trunk&channelId=a")
	l.waitType(a, "StasisStart")
	var got []string
	for _, d := range dialsOf(t, l, a) {
		got = append(got, d.Status+":"+*d.Dialstring)
	}
	if want := []string{":100@trunk", "RINGING:100@trunk", "ANSWER:100@trunk"}; !equalSeq(got, want) {
		t.Errorf("originate Dial events %q, want %q", got, want)
	}

	mustCode(t, call(t, s, "POST", "/channels/create?app="+app+"&endpoint=PJSIP/200@trunk&channelId=b", nil), http.StatusOK)
	l.waitType("b", "StasisStart")
	mustCode(t, call(t, s, "POST", "/channels/b/dial", nil), http.StatusNoContent)
	l.waitFor(func(e rawEvent) bool { return e.chanID() == "b" && e.label() == "Dial(ANSWER)" })
	got = nil
	for _, d := range dialsOf(t, l, "b") {
		got = append(got, d.Status+":"+*d.Dialstring)
	}
	if want := []string{":200@trunk", "RINGING:", "PROGRESS:", "ANSWER:"}; !equalSeq(got, want) {
		t.Errorf("ARI dial Dial events %q, want %q", got, want)
	}
}

// snapshotEvent reads an event's channel (or Dial's peer) dialplan.
type snapshotEvent struct {
	Type    string      `json:"type"`
	Channel channelJSON `json:"channel"`
	Peer    channelJSON `json:"peer"`
}

func (e snapshotEvent) dialplan() dialplanJSON {
	if e.Type == "Dial" {
		return e.Peer.Dialplan
	}
	return e.Channel.Dialplan
}

// TestStasisStatusAroundStasis: apps/app_stasis.c app_exec clears
// STASISSTATUS before stasis_app_exec and sets SUCCESS (or FAILED) after
// it; pbx_exec (main/pbx_app.c) makes Stasis the channel's application for
// the while. An originated channel ran "AppDial2" (main/dial.c
// begin_dial_prerun) before, so no ChannelDialplan is raised
// (ast_channel_snapshot_cep_equal); a created channel ran nothing, so one
// is. The application hears the lot, being subscribed to the channels it
// placed since the originate or create.
func TestStasisStatusAroundStasis(t *testing.T) {
	s := NewT(t)
	l := listen(t, s, "app="+app)

	a := originate(t, s, "endpoint=PJSIP/1@trunk&channelId=a&appArgs=x,y")
	l.waitType(a, "StasisStart")
	r := call(t, s, "GET", "/channels/a/variable?variable=STASISSTATUS", nil)
	mustCode(t, r, http.StatusOK)
	if !strings.Contains(string(r.Body), `"value":""`) {
		t.Errorf("STASISSTATUS in Stasis: %s, want it set and empty", r.Body)
	}
	mustCode(t, call(t, s, "DELETE", "/channels/a", nil), http.StatusNoContent)
	l.waitSeq(a, []string{
		"Dial()", "ChannelStateChange(Ringing)", "Dial(RINGING)", "ChannelStateChange(Up)", "Dial(ANSWER)",
		"ChannelVarset(STASISSTATUS=)", "StasisStart",
		"ChannelHangupRequest(32,soft)", "StasisEnd", "ChannelVarset(STASISSTATUS=SUCCESS)", "ChannelDestroyed(16)",
	})

	mustCode(t, call(t, s, "POST", "/channels/create?app="+app+"&endpoint=PJSIP/2@trunk&channelId=b&appArgs=z", nil), http.StatusOK)
	l.waitType("b", "StasisStart")
	l.waitSeq("b", []string{"ChannelDialplan", "ChannelVarset(STASISSTATUS=)", "StasisStart"})
	var dp struct {
		App  string `json:"dialplan_app"`
		Data string `json:"dialplan_app_data"`
	}
	if err := json.Unmarshal(l.waitType("b", "ChannelDialplan").raw, &dp); err != nil || dp.App != "Stasis" || dp.Data != app+",z" {
		t.Errorf("ChannelDialplan of the created channel: %+v %v", dp, err)
	}

	// Without a connected application Stasis() fails: STASISSTATUS goes
	// from empty to FAILED and the answered channel is hung up.
	mustCode(t, call(t, s, "POST", "/channels?app=nobody&endpoint=PJSIP/3@trunk&channelId=c", nil), http.StatusOK)
	id := "c"
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.WaitEvent(ctx, id, "ChannelDestroyed"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range s.History(id) {
		var e rawEvent
		if err := json.Unmarshal(h.JSON, &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e.label())
	}
	want := []string{
		"Dial()", "ChannelStateChange(Ringing)", "Dial(RINGING)", "ChannelStateChange(Up)", "Dial(ANSWER)",
		"ChannelVarset(STASISSTATUS=)", "ChannelVarset(STASISSTATUS=FAILED)", "ChannelDestroyed(16)",
	}
	if !equalSeq(got, want) {
		t.Errorf("originate into an application nobody listens to:\n got %v\nwant %v", got, want)
	}
}

// TestOriginateDialplanAppDial2: main/dial.c begin_dial_prerun makes the
// outbound channel's application "AppDial2" with data "(Outgoing Line)"
// before the originate answers, so every snapshot until Stasis shows it;
// Stasis() shows itself while it runs, and pbx_exec puts AppDial2 back.
func TestOriginateDialplanAppDial2(t *testing.T) {
	s := NewT(t)
	s.Phone("1", Answer(0))
	s.Phone("2", RingOut())
	l := listen(t, s, "app="+app)

	r := call(t, s, "POST", "/channels?app="+app+"&endpoint=PJSIP/2@trunk&channelId=ringing", nil)
	mustCode(t, r, http.StatusOK)
	var ch channelJSON
	r.json(t, &ch)
	if ch.Dialplan.AppName != "AppDial2" || ch.Dialplan.AppData != "(Outgoing Line)" {
		t.Errorf("originate answer: dialplan %+v, want AppDial2 (Outgoing Line)", ch.Dialplan)
	}
	l.waitType("ringing", "ChannelStateChange")
	r = call(t, s, "GET", "/channels", nil)
	mustCode(t, r, http.StatusOK)
	var list []channelJSON
	r.json(t, &list)
	if len(list) != 1 || list[0].Dialplan.AppName != "AppDial2" {
		t.Errorf("GET /channels while ringing: %s", r.Body)
	}

	originate(t, s, "endpoint=PJSIP/1@trunk&channelId=a&appArgs=x")
	l.waitType("a", "StasisStart")
	mustCode(t, call(t, s, "DELETE", "/channels/a", nil), http.StatusNoContent)
	l.waitType("a", "ChannelDestroyed")
	var got []string
	for _, e := range l.all() {
		if e.chanID() != "a" {
			continue
		}
		var se snapshotEvent
		if err := json.Unmarshal(e.raw, &se); err != nil {
			t.Fatal(err)
		}
		got = append(got, e.label()+":"+se.dialplan().AppName+"("+se.dialplan().AppData+")")
	}
	want := []string{
		"Dial():AppDial2((Outgoing Line))",
		"ChannelStateChange(Ringing):AppDial2((Outgoing Line))",
		"Dial(RINGING):AppDial2((Outgoing Line))",
		"ChannelStateChange(Up):AppDial2((Outgoing Line))",
		"Dial(ANSWER):AppDial2((Outgoing Line))",
		"ChannelVarset(STASISSTATUS=):Stasis(" + app + ",x)",
		"StasisStart:Stasis(" + app + ",x)",
		"ChannelHangupRequest(32,soft):Stasis(" + app + ",x)",
		"StasisEnd:Stasis(" + app + ",x)",
		"ChannelVarset(STASISSTATUS=SUCCESS):Stasis(" + app + ",x)",
		"ChannelDestroyed(16):AppDial2((Outgoing Line))",
	}
	if !equalSeq(got, want) {
		t.Errorf("dialplan in the snapshots:\n got %q\nwant %q", got, want)
	}
}

// hasBridgeDestroyed reports whether l heard BridgeDestroyed for id.
func hasBridgeDestroyed(l *listener, id string) bool {
	for _, e := range l.all() {
		if e.Type == "BridgeDestroyed" && e.Bridge.ID == id {
			return true
		}
	}
	return false
}

// TestBridgeDestroyedSubscription: an application hears a bridge while it
// is subscribed to it (res/stasis/app.c). control.c subscribes it when its
// channel enters; stasis_app_exec's loop drops that interest when the
// channel leaves the bridge while staying in Stasis, but breaks out before
// it looks when the channel hangs up: the application then still hears
// BridgeDestroyed for a bridge its channels have left.
func TestBridgeDestroyedSubscription(t *testing.T) {
	s := NewT(t)
	l := listen(t, s, "app="+app)
	other := listen(t, s, "app=other")
	for _, id := range []string{"a", "b", "c"} {
		originate(t, s, "endpoint=PJSIP/1@trunk&channelId="+id)
		l.waitType(id, "StasisStart")
	}

	// a hangs up while in br1: br1 is empty when it is destroyed, and the
	// application hears it all the same.
	mustCode(t, call(t, s, "POST", "/bridges/br1", nil), http.StatusOK)
	mustCode(t, call(t, s, "POST", "/bridges/br1/addChannel?channel=a", nil), http.StatusNoContent)
	if err := s.Hangup("a", CauseNormalClearing); err != nil {
		t.Fatal(err)
	}
	l.waitType("a", "ChannelDestroyed")
	mustCode(t, call(t, s, "DELETE", "/bridges/br1", nil), http.StatusNoContent)
	if e := l.waitType("", "BridgeDestroyed"); e.Bridge.ID != "br1" || e.Application != app {
		t.Errorf("BridgeDestroyed %s", e.raw)
	}

	// b is taken out of br2 and stays in Stasis: the application is no
	// longer subscribed and hears nothing of br2's end. Events reach a
	// connection in the order they are raised, so c's ChannelDestroyed,
	// raised after, marks the point by which BridgeDestroyed would have
	// arrived.
	mustCode(t, call(t, s, "POST", "/bridges/br2", nil), http.StatusOK)
	mustCode(t, call(t, s, "POST", "/bridges/br2/addChannel?channel=b", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "POST", "/bridges/br2/removeChannel?channel=b", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "DELETE", "/bridges/br2", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "DELETE", "/channels/c", nil), http.StatusNoContent)
	l.waitType("c", "ChannelDestroyed")
	if hasBridgeDestroyed(l, "br2") {
		t.Error("BridgeDestroyed reached an application whose channel was removed from the bridge")
	}

	// b in br3 at the end: the application hears it; an application that
	// never had a channel in it does not.
	mustCode(t, call(t, s, "POST", "/bridges/br3", nil), http.StatusOK)
	mustCode(t, call(t, s, "POST", "/bridges/br3/addChannel?channel=b", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "DELETE", "/bridges/br3", nil), http.StatusNoContent)
	l.waitFor(func(e rawEvent) bool { return e.Type == "BridgeDestroyed" && e.Bridge.ID == "br3" })
	mustCode(t, call(t, s, "POST", "/channels", map[string]any{"app": "other", "endpoint": "PJSIP/1@trunk", "channelId": "d"}), http.StatusOK)
	other.waitType("d", "StasisStart")
	if len(other.all()) == 0 || hasBridgeDestroyed(other, "br1") || hasBridgeDestroyed(other, "br3") {
		t.Errorf("another application heard: %v", other.labels(""))
	}
}

// TestLocalChannelHalves: main/core_local.c makes two channels for a Local
// endpoint (core_unreal.c ast_unreal_new_channels): ";1", the one ARI asked
// for, and ";2", which runs the dialplan, with the other id asked for or
// the channel's id plus ";2". The originate subscribes the application to
// both halves (resource_channels.c), a create only to the first.
func TestLocalChannelHalves(t *testing.T) {
	s := NewT(t)
	s.Phone("300", Answer(0))
	l := listen(t, s, "app="+app)

	id := originate(t, s, "endpoint=Local/300@callbacks/n&channelId=L")
	l.waitType(id, "StasisStart")
	r := call(t, s, "GET", "/channels", nil)
	mustCode(t, r, http.StatusOK)
	var list []channelJSON
	r.json(t, &list)
	if len(list) != 2 || list[0].ID != "L" || list[1].ID != "L;2" {
		t.Fatalf("GET /channels: %s", r.Body)
	}
	one, two := list[0], list[1]
	if !strings.HasPrefix(one.Name, "Local/300@callbacks-") || !strings.HasSuffix(one.Name, ";1") ||
		two.Name != strings.TrimSuffix(one.Name, ";1")+";2" {
		t.Errorf("names %q and %q", one.Name, two.Name)
	}
	if two.State != "Up" || two.Dialplan.Context != "callbacks" || two.Dialplan.Exten != "300" {
		t.Errorf("second half %+v", two)
	}
	mustCode(t, call(t, s, "GET", "/channels/"+url.PathEscape("L;2"), nil), http.StatusOK)
	if got := l.labels("L;2"); !equalSeq(got, []string{"ChannelStateChange(Up)"}) {
		t.Errorf("events for L;2 while up: %v", got)
	}

	// Either id in use conflicts with a new Local channel.
	mustCode(t, call(t, s, "POST", "/channels?app="+app+"&endpoint=PJSIP/1@trunk&channelId="+url.QueryEscape("L;2"), nil), http.StatusConflict)
	mustCode(t, call(t, s, "POST", "/channels?app="+app+"&endpoint=Local/1@x&channelId=M&otherChannelId=L", nil), http.StatusConflict)

	// Hanging up the first half queues a hangup on the second.
	mustCode(t, call(t, s, "DELETE", "/channels/L?reason=busy", nil), http.StatusNoContent)
	l.waitType("L;2", "ChannelDestroyed")
	if got := l.labels("L;2"); !equalSeq(got, []string{"ChannelStateChange(Up)", "ChannelHangupRequest(17)", "ChannelDestroyed(17)"}) {
		t.Errorf("events for L;2: %v", got)
	}
	if n := len(s.Channels()); n != 0 {
		t.Errorf("%d channels left", n)
	}

	// The far end hanging up is the second half's dialplan ending: it goes
	// first, then the first half hears the hangup.
	s.Phone("301", Answer(0).ThenHangup(time.Millisecond, CauseUserBusy))
	originate(t, s, "endpoint=Local/301@callbacks&channelId=F&otherChannelId=F-two")
	l.waitType("F", "ChannelDestroyed")
	var order []string
	for _, e := range l.all() {
		if id := e.chanID(); id == "F" || id == "F-two" {
			order = append(order, id+":"+e.label())
		}
	}
	want := []string{
		"F:Dial()", "F:ChannelStateChange(Ringing)", "F:Dial(RINGING)",
		"F-two:ChannelStateChange(Up)", "F:ChannelStateChange(Up)", "F:Dial(ANSWER)",
		"F:ChannelVarset(STASISSTATUS=)", "F:StasisStart",
		"F-two:ChannelDestroyed(17)",
		"F:ChannelHangupRequest(17)", "F:StasisEnd", "F:ChannelVarset(STASISSTATUS=SUCCESS)", "F:ChannelDestroyed(17)",
	}
	if !equalSeq(order, want) {
		t.Errorf("far end hangs up:\n got %q\nwant %q", order, want)
	}

	// A created Local channel has its second half too, but the application
	// is not subscribed to it.
	mustCode(t, call(t, s, "POST", "/channels/create?app="+app+"&endpoint=Local/302@callbacks&channelId=C", nil), http.StatusOK)
	l.waitType("C", "StasisStart")
	mustCode(t, call(t, s, "GET", "/channels/"+url.PathEscape("C;2"), nil), http.StatusOK)
	mustCode(t, call(t, s, "DELETE", "/channels/C", nil), http.StatusNoContent)
	l.waitType("C", "ChannelDestroyed")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.WaitEvent(ctx, "C;2", "ChannelDestroyed"); err != nil {
		t.Fatal(err)
	}
	if got := l.labels("C;2"); len(got) != 0 {
		t.Errorf("the application heard of the created channel's second half: %v", got)
	}
	if n := len(s.Channels()); n != 0 {
		t.Errorf("%d channels left", n)
	}
}

// countingClient is an HTTP client on one keep-alive connection, counting
// the connections it opens.
func countingClient(dials *atomic.Int32) *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		MaxConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func post(t *testing.T, s *Sim, c *http.Client, path string) response {
	t.Helper()
	req, err := http.NewRequest("POST", s.ARIURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(s.Credentials())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Code: resp.StatusCode, Body: b}
}

// TestConflictSticksToConnection: resource_channels.c tells a 409 from an
// allocation failure by ast_channel_errno, which is thread-local
// (main/channel_internal_api.c), set only on an id conflict
// (main/channel.c) and never cleared; each HTTP connection has its own
// thread (main/tcptls.c). After a 409 on a keep-alive connection, a later
// originate or create that fails to get a channel is a 409 too.
func TestConflictSticksToConnection(t *testing.T) {
	s := NewT(t, WithDefaultPhone(RingOut()))
	var dials atomic.Int32
	one := countingClient(&dials)

	mustCode(t, post(t, s, one, "/channels?app="+app+"&endpoint=Nope/1"), http.StatusInternalServerError)
	mustCode(t, post(t, s, one, "/channels?app="+app+"&endpoint=PJSIP/1@trunk&channelId=dup"), http.StatusOK)
	mustCode(t, post(t, s, one, "/channels?app="+app+"&endpoint=PJSIP/1@trunk&channelId=dup"), http.StatusConflict)
	for _, path := range []string{"/channels?app=" + app + "&endpoint=Nope/1", "/channels/create?app=" + app + "&endpoint=Nope/1"} {
		r := post(t, s, one, path)
		mustCode(t, r, http.StatusConflict)
		var body map[string]string
		r.json(t, &body)
		if body["message"] != "Channel with given unique ID already exists" {
			t.Errorf("POST %s on the connection that had a 409: %s", path, r.Body)
		}
	}
	// Success leaves the error in place.
	mustCode(t, post(t, s, one, "/channels?app="+app+"&endpoint=PJSIP/1@trunk"), http.StatusOK)
	mustCode(t, post(t, s, one, "/channels?app="+app+"&endpoint=Nope/1"), http.StatusConflict)
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d connections, want one kept alive", n)
	}

	// Another connection has its own.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	mustCode(t, post(t, s, fresh, "/channels?app="+app+"&endpoint=Nope/1"), http.StatusInternalServerError)
}
