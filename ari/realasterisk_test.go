package ari_test

// Checks against a real Asterisk 22, skipped unless CALLBACKD_REAL_ASTERISK
// names its HTTP server:
//
//	CALLBACKD_REAL_ASTERISK=http://127.0.0.1:8088 \
//	CALLBACKD_REAL_ASTERISK_USER=callbackd CALLBACKD_REAL_ASTERISK_PASSWORD=callbackd \
//	go test ./ari -run RealAsterisk -v
//
// The user and password default to those of dialplan/ari.conf. The legs are
// Local channels into a test context (CALLBACKD_REAL_ASTERISK_CONTEXT,
// default "callbackd-test") that must behave like this:
//
//	[callbackd-test]
//	exten => _X.,1,NoOp(leg to ${EXTEN})
//	 same => n,GotoIf($["${EXTEN:-3}" = "417"]?busy)
//	 same => n,GotoIf($["${EXTEN:-3}" = "480"]?noanswer)
//	 same => n,Answer()
//	 same => n,Wait(5)
//	 same => n,Hangup()
//	 same => n(busy),Hangup(17)
//	 same => n(noanswer),Wait(120)
//	 same => n,Hangup(19)
//
// so that any number answers and hangs up 5 s later, a number ending in 417
// is rejected with cause 17 (USER_BUSY) and one ending in 480 never answers.
// The tests state what Asterisk really does where ari/aritest has to agree;
// each check that differs from the simulator says so in its message.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
)

type realAsterisk struct {
	base, user, pass, context string
}

func realAsteriskFromEnv(t *testing.T) realAsterisk {
	t.Helper()
	base := os.Getenv("CALLBACKD_REAL_ASTERISK")
	if base == "" {
		t.Skip("set CALLBACKD_REAL_ASTERISK=http://127.0.0.1:8088 (and CALLBACKD_REAL_ASTERISK_USER/_PASSWORD) to run against a real Asterisk")
	}
	ra := realAsterisk{
		base:    strings.TrimRight(base, "/"),
		user:    realEnvOr("CALLBACKD_REAL_ASTERISK_USER", "callbackd"),
		pass:    realEnvOr("CALLBACKD_REAL_ASTERISK_PASSWORD", "callbackd"),
		context: realEnvOr("CALLBACKD_REAL_ASTERISK_CONTEXT", "callbackd-test"),
	}
	if st, body := ra.do(t, "GET", "/ari/asterisk/info", nil); st != http.StatusOK {
		t.Fatalf("GET /ari/asterisk/info: %d %s", st, body)
	}
	return ra
}

func realEnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (ra realAsterisk) local(number string) string {
	return "Local/" + number + "@" + ra.context
}

// do sends one REST request and returns the status and body.
func (ra realAsterisk) do(t *testing.T, method, path string, q url.Values) (int, string) {
	t.Helper()
	return ra.doWith(t, http.DefaultClient, method, path, q)
}

// doWith sends a request through client. An error status sets a
// thread-local errno in Asterisk's HTTP worker, which serves one keep-alive
// connection: checks of error replies use a client without keep-alive.
func (ra realAsterisk) doWith(t *testing.T, client *http.Client, method, path string, q url.Values) (int, string) {
	t.Helper()
	u := ra.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(ra.user, ra.pass)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// realEvent is one event as it came off the WebSocket.
type realEvent struct {
	Type       string
	Channel    string // channel.id, peer.id for Dial
	Bridge     string
	Raw        json.RawMessage
	Cause      int
	TechCause  int
	Soft       bool
	DialStatus string
	Args       []string
	State      string
}

func (e realEvent) String() string {
	s := e.Type + " " + e.Channel
	switch e.Type {
	case "Dial":
		s += " dialstatus=" + e.DialStatus
	case "ChannelHangupRequest", "ChannelDestroyed":
		s += fmt.Sprintf(" cause=%d tech_cause=%d soft=%v", e.Cause, e.TechCause, e.Soft)
	case "ChannelStateChange":
		s += " " + e.State
	case "StasisStart":
		s += fmt.Sprintf(" args=%q", e.Args)
	}
	if e.Bridge != "" {
		s += " bridge=" + e.Bridge
	}
	return s
}

// eventLog is an application's WebSocket, recording what arrives.
type eventLog struct {
	t      *testing.T
	app    string
	mu     sync.Mutex
	events []realEvent
	notify chan struct{}
}

func (ra realAsterisk) connect(t *testing.T, app string) *eventLog {
	t.Helper()
	wsURL := "ws" + strings.TrimPrefix(ra.base, "http") + "/ari/events?" + url.Values{"app": {app}}.Encode()
	h := http.Header{}
	req, _ := http.NewRequest("GET", ra.base, nil)
	req.SetBasicAuth(ra.user, ra.pass)
	h.Set("Authorization", req.Header.Get("Authorization"))
	ctx, cancel := context.WithCancel(context.Background())
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		cancel()
		t.Fatalf("events WebSocket: %v", err)
	}
	c.SetReadLimit(1 << 20)
	l := &eventLog{t: t, app: app, notify: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			l.add(b)
		}
	}()
	t.Cleanup(func() {
		cancel()
		c.Close(websocket.StatusNormalClosure, "")
		<-done
	})
	return l
}

func (l *eventLog) add(b []byte) {
	var m struct {
		Type     string                      `json:"type"`
		Channel  *struct{ ID, State string } `json:"channel"`
		Peer     *struct{ ID, State string } `json:"peer"`
		Bridge   *struct{ ID string }        `json:"bridge"`
		Playback *struct {
			TargetURI string `json:"target_uri"`
		} `json:"playback"`
		Cause      int      `json:"cause"`
		TechCause  int      `json:"tech_cause"`
		Soft       bool     `json:"soft"`
		DialStatus string   `json:"dialstatus"`
		Args       []string `json:"args"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		l.t.Errorf("event %s: %v", b, err)
		return
	}
	e := realEvent{Type: m.Type, Raw: append(json.RawMessage(nil), b...), Cause: m.Cause, TechCause: m.TechCause,
		Soft: m.Soft, DialStatus: m.DialStatus, Args: m.Args}
	switch {
	case m.Channel != nil:
		e.Channel, e.State = m.Channel.ID, m.Channel.State
	case m.Peer != nil:
		e.Channel, e.State = m.Peer.ID, m.Peer.State
	case m.Playback != nil:
		e.Channel = strings.TrimPrefix(m.Playback.TargetURI, "channel:")
	}
	if m.Bridge != nil {
		e.Bridge = m.Bridge.ID
	}
	l.mu.Lock()
	l.events = append(l.events, e)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

// of returns the events for one channel (or bridge) id so far.
func (l *eventLog) of(id string) []realEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []realEvent
	for _, e := range l.events {
		if e.Channel == id || (e.Channel == "" && e.Bridge == id) {
			out = append(out, e)
		}
	}
	return out
}

// waitFor waits until an event of type typ for id arrived, and returns the
// events for id up to then.
func (l *eventLog) waitFor(id, typ string, d time.Duration) []realEvent {
	l.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		n := l.notify
		l.mu.Unlock()
		evs := l.of(id)
		for _, e := range evs {
			if e.Type == typ {
				return evs
			}
		}
		select {
		case <-n:
		case <-deadline.C:
			l.t.Fatalf("no %s for %s within %s; got:\n%s", typ, id, d, realDump(evs))
		}
	}
}

// settle waits a little so that late events arrive, then returns id's events.
func (l *eventLog) settle(id string) []realEvent {
	time.Sleep(300 * time.Millisecond)
	return l.of(id)
}

func realDump(evs []realEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	return b.String()
}

func realLogRaw(t *testing.T, evs []realEvent) {
	t.Helper()
	for _, e := range evs {
		t.Logf("%s", e.Raw)
	}
}

// realTypes lists the event types, leaving out the ones that only describe
// dialplan progress or variables.
func realTypes(evs []realEvent) []string {
	var out []string
	for _, e := range evs {
		switch e.Type {
		case "ChannelVarset", "ChannelDialplan", "ChannelCallerId", "ChannelConnectedLine":
			continue
		}
		s := e.Type
		if e.Type == "Dial" {
			s += "(" + e.DialStatus + ")"
		}
		if e.Type == "ChannelStateChange" {
			s += "(" + e.State + ")"
		}
		out = append(out, s)
	}
	return out
}

func realIndex(evs []realEvent, typ string) int {
	return slices.IndexFunc(evs, func(e realEvent) bool { return e.Type == typ })
}

func realFind(evs []realEvent, typ string) (realEvent, bool) {
	i := realIndex(evs, typ)
	if i < 0 {
		return realEvent{}, false
	}
	return evs[i], true
}

func realProbeName(t *testing.T, what string) string {
	return fmt.Sprintf("cbdprobe-%s-%d", what, time.Now().UnixNano()%1e9)
}

func (ra realAsterisk) originate(t *testing.T, app, id, number string, timeout int, args string) (int, string) {
	t.Helper()
	q := url.Values{"endpoint": {ra.local(number)}, "app": {app}, "channelId": {id},
		"timeout": {fmt.Sprint(timeout)}, "callerId": {"18005550100"}}
	if args != "" {
		q.Set("appArgs", args)
	}
	return ra.do(t, "POST", "/ari/channels", q)
}

// TestRealAsteriskOriginateAnswered: an originated leg that answers, then
// DELETE, 409 and 404.
func TestRealAsteriskOriginateAnswered(t *testing.T) {
	ra := realAsteriskFromEnv(t)
	app := realProbeName(t, "ans")
	l := ra.connect(t, app)
	id := app + "-a"

	st, body := ra.originate(t, app, id, "200", 30, "callbackd,9,1,a")
	if st != http.StatusOK {
		t.Fatalf("originate: %d %s", st, body)
	}
	var ch struct{ ID, State string }
	json.Unmarshal([]byte(body), &ch)
	if ch.ID != id || ch.State != "Down" {
		t.Errorf("originate returned %s, want the channel in state Down", body)
	}

	// A second originate with the same id while the channel lives: 409.
	if st, body := ra.originate(t, app, id, "200", 30, ""); st != http.StatusConflict {
		t.Errorf("originate with a live channelId: %d %s, want 409", st, body)
	} else {
		t.Logf("409 body: %s", body)
	}

	evs := l.waitFor(id, "StasisStart", 10*time.Second)
	realLogRaw(t, evs)
	t.Logf("order: %q", realTypes(evs))
	ss, _ := realFind(evs, "StasisStart")
	if !slices.Equal(ss.Args, []string{"callbackd", "9", "1", "a"}) {
		t.Errorf("StasisStart args %q, want [callbackd 9 1 a]", ss.Args)
	}
	ans := slices.IndexFunc(evs, func(e realEvent) bool { return e.Type == "Dial" && e.DialStatus == "ANSWER" })
	up := slices.IndexFunc(evs, func(e realEvent) bool { return e.Type == "ChannelStateChange" && e.State == "Up" })
	if ans < 0 || up < 0 || !(up < ans && ans < realIndex(evs, "StasisStart")) {
		t.Errorf("want ChannelStateChange(Up), Dial(ANSWER), StasisStart in that order; got %q", realTypes(evs))
	}
	var dial struct {
		Forward    *string `json:"forward"`
		Dialstring *string `json:"dialstring"`
		Caller     any     `json:"caller"`
	}
	d, _ := realFind(evs, "Dial")
	json.Unmarshal(d.Raw, &dial)
	if dial.Forward == nil || dial.Dialstring == nil || *dial.Dialstring != "200@"+ra.context || dial.Caller != nil {
		t.Errorf("first Dial %s: want forward \"\", dialstring %q and no caller", d.Raw, "200@"+ra.context)
	}
	a, _ := realFind(evs[ans:], "Dial")
	json.Unmarshal(a.Raw, &dial)
	if dial.Dialstring == nil || *dial.Dialstring != "200@"+ra.context {
		t.Errorf("Dial(ANSWER) of an originate %s: want the dialstring repeated", a.Raw)
	}

	// A Local leg has a second half whose id is ours with ";2" appended:
	// it is listed by GET /channels and its events reach the application.
	if st, body := ra.do(t, "GET", "/ari/channels/"+url.PathEscape(id+";2"), nil); st != http.StatusOK {
		t.Errorf("GET the Local channel's second half %s;2: %d %s, want 200", id, st, body)
	} else {
		t.Logf("second half: %s", body)
	}

	// DELETE: a soft hangup with cause 32, the reason in ChannelDestroyed.
	if st, body := ra.do(t, "DELETE", "/ari/channels/"+id, url.Values{"reason": {"busy"}}); st != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", st, body)
	}
	evs = l.waitFor(id, "ChannelDestroyed", 10*time.Second)
	evs = evs[realIndex(evs, "StasisStart")+1:]
	realLogRaw(t, evs)
	t.Logf("order after DELETE: %q", realTypes(evs))
	hr, _ := realFind(evs, "ChannelHangupRequest")
	if hr.Cause != 32 || !hr.Soft {
		t.Errorf("ChannelHangupRequest after DELETE: %s, want cause 32 soft", hr)
	}
	cd, _ := realFind(evs, "ChannelDestroyed")
	if cd.Cause != 17 {
		t.Errorf("ChannelDestroyed after DELETE reason=busy: %s, want cause 17", cd)
	}
	if se := realIndex(evs, "StasisEnd"); se < 0 || se > realIndex(evs, "ChannelDestroyed") {
		t.Errorf("want StasisEnd before ChannelDestroyed; got %q", realTypes(evs))
	}

	// The channel is gone: DELETE is 404, and its id is free again.
	if st, body := ra.do(t, "DELETE", "/ari/channels/"+id, nil); st != http.StatusNotFound {
		t.Errorf("DELETE of a gone channel: %d %s, want 404", st, body)
	} else {
		t.Logf("404 body: %s", body)
	}
	if st, body := ra.originate(t, app, id, "200", 30, ""); st != http.StatusOK {
		t.Errorf("originate reusing the id of a destroyed channel: %d %s, want 200", st, body)
	} else {
		l.waitFor(id, "StasisStart", 10*time.Second)
		ra.do(t, "DELETE", "/ari/channels/"+id, nil)
	}
}

// TestRealAsteriskOriginateRejected: the far end rejects with cause 17.
func TestRealAsteriskOriginateRejected(t *testing.T) {
	ra := realAsteriskFromEnv(t)
	app := realProbeName(t, "busy")
	l := ra.connect(t, app)
	id := app + "-a"
	if st, body := ra.originate(t, app, id, "417", 30, "callbackd,9,1,a"); st != http.StatusOK {
		t.Fatalf("originate: %d %s", st, body)
	}
	evs := l.waitFor(id, "ChannelDestroyed", 10*time.Second)
	evs = l.settle(id)
	realLogRaw(t, evs)
	t.Logf("order: %q", realTypes(evs))
	want := []string{"Dial()", "ChannelHangupRequest", "Dial(BUSY)", "ChannelDestroyed"}
	if got := realTypes(evs); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	if cd, _ := realFind(evs, "ChannelDestroyed"); cd.Cause != 17 {
		t.Errorf("ChannelDestroyed %s, want cause 17", cd)
	}
	if _, ok := realFind(evs, "StasisStart"); ok {
		t.Errorf("a rejected originate entered Stasis")
	}
}

// TestRealAsteriskOriginateRingsOut: the originate's timeout expires.
func TestRealAsteriskOriginateRingsOut(t *testing.T) {
	ra := realAsteriskFromEnv(t)
	app := realProbeName(t, "ring")
	l := ra.connect(t, app)
	id := app + "-a"
	if st, body := ra.originate(t, app, id, "480", 2, "callbackd,9,1,a"); st != http.StatusOK {
		t.Fatalf("originate: %d %s", st, body)
	}
	l.waitFor(id, "ChannelDestroyed", 15*time.Second)
	evs := l.settle(id)
	realLogRaw(t, evs)
	t.Logf("order: %q", realTypes(evs))
	cd, _ := realFind(evs, "ChannelDestroyed")
	if cd.Cause != 19 {
		t.Errorf("ChannelDestroyed %s, want cause 19", cd)
	}
	if _, ok := realFind(evs, "ChannelHangupRequest"); ok {
		t.Errorf("a ring-out has a ChannelHangupRequest: %q", realTypes(evs))
	}
	if slices.ContainsFunc(evs, func(e realEvent) bool { return e.Type == "Dial" && e.DialStatus != "" }) {
		t.Errorf("a ring-out has a final Dial status: %q", realTypes(evs))
	}
}

// TestRealAsteriskBridgedDial: leg B the way the 2-way callback places it:
// created, bridged with an answered leg A, then dialled.
func TestRealAsteriskBridgedDial(t *testing.T) {
	ra := realAsteriskFromEnv(t)
	app := realProbeName(t, "br")
	l := ra.connect(t, app)
	a, b, br := app+"-a", app+"-b", app+"-br"
	if st, body := ra.originate(t, app, a, "200", 30, "callbackd,9,1,a"); st != http.StatusOK {
		t.Fatalf("originate: %d %s", st, body)
	}
	l.waitFor(a, "StasisStart", 10*time.Second)
	st, body := ra.do(t, "POST", "/ari/channels/create", url.Values{"endpoint": {ra.local("201")}, "app": {app},
		"channelId": {b}, "appArgs": {"callbackd,9,1,b"}})
	if st != http.StatusOK {
		t.Fatalf("create: %d %s", st, body)
	}
	t.Logf("create returned %s", body)
	// The created channel enters Stasis on its own thread once the create
	// has been answered; before its StasisStart, addChannel answers 422
	// "Channel not in Stasis application" (find_channel_control).
	l.waitFor(b, "StasisStart", 10*time.Second)
	if st, body := ra.do(t, "POST", "/ari/bridges", url.Values{"type": {"mixing"}, "bridgeId": {br}, "name": {"callbackd-9"}}); st != http.StatusOK {
		t.Fatalf("bridge: %d %s", st, body)
	}
	if st, body := ra.do(t, "POST", "/ari/bridges/"+br, url.Values{"type": {"mixing"}}); st != http.StatusConflict {
		t.Logf("POST /bridges/{id} on an existing bridge: %d %s", st, body)
	}
	if st, body := ra.do(t, "POST", "/ari/bridges/"+br+"/addChannel", url.Values{"channel": {a + "," + b}}); st != http.StatusNoContent {
		t.Fatalf("addChannel: %d %s", st, body)
	}
	if st, body := ra.do(t, "POST", "/ari/channels/"+b+"/dial", url.Values{"timeout": {"10"}}); st != http.StatusNoContent {
		t.Fatalf("dial: %d %s", st, body)
	}
	// Leg A hangs up after 5 s; B is then alone in the bridge.
	l.waitFor(a, "ChannelDestroyed", 15*time.Second)
	ra.do(t, "DELETE", "/ari/channels/"+b, nil)
	l.waitFor(b, "ChannelDestroyed", 10*time.Second)
	ra.do(t, "DELETE", "/ari/bridges/"+br, nil)
	time.Sleep(300 * time.Millisecond)
	l.mu.Lock()
	all := slices.Clone(l.events)
	l.mu.Unlock()
	realLogRaw(t, all)
	t.Logf("leg A: %q", realTypes(l.of(a)))
	t.Logf("leg B: %q", realTypes(l.of(b)))
	if _, ok := realFind(l.of(br), "BridgeCreated"); ok {
		t.Logf("BridgeCreated reached an application with no channel in the bridge")
	}
	evB := l.of(b)
	if ss, ok := realFind(evB, "StasisStart"); !ok || !slices.Equal(ss.Args, []string{"callbackd", "9", "1", "b"}) {
		t.Errorf("leg B StasisStart %v %q, want it at create with args [callbackd 9 1 b]", ok, ss.Args)
	}
	if !slices.ContainsFunc(evB, func(e realEvent) bool { return e.Type == "Dial" && e.DialStatus == "ANSWER" }) {
		t.Errorf("leg B: no Dial(ANSWER): %q", realTypes(evB))
	}
	if se, cd := realIndex(evB, "StasisEnd"), realIndex(evB, "ChannelDestroyed"); se < 0 || se > cd {
		t.Errorf("leg B: want StasisEnd before ChannelDestroyed: %q", realTypes(evB))
	}
	evA := l.of(a)
	if hr, _ := realFind(evA, "ChannelHangupRequest"); hr.Cause != 16 || hr.Soft {
		t.Errorf("leg A hung up by the far end: %s, want cause 16, not soft", hr)
	}
}

// TestRealAsteriskOriginateErrors: what an originate that cannot be placed
// returns.
func TestRealAsteriskOriginateErrors(t *testing.T) {
	ra := realAsteriskFromEnv(t)
	app := realProbeName(t, "err")
	ra.connect(t, app)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, ep := range []string{"Nope/200", "PJSIP/200@no-such-endpoint"} {
		st, body := ra.doWith(t, fresh, "POST", "/ari/channels", url.Values{"endpoint": {ep}, "app": {app}})
		t.Logf("originate %s: %d %s", ep, st, body)
		// The body's key is "error", not "message" as in the 404 and 409
		// replies.
		if st != http.StatusInternalServerError || body != `{"error":"Allocation failed"}` {
			t.Errorf("originate %s: %d %s, want 500 {\"error\":\"Allocation failed\"}", ep, st, body)
		}
	}

	// On one keep-alive connection, a genuine 409 leaves the worker's
	// channel errno set, and a later originate that fails to allocate is
	// reported as 409 too instead of 500.
	id := app + "-dup"
	one := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	if st, body := ra.doWith(t, one, "POST", "/ari/channels", url.Values{"endpoint": {ra.local("480")}, "app": {app},
		"channelId": {id}, "timeout": {"3"}}); st != http.StatusOK {
		t.Fatalf("originate: %d %s", st, body)
	}
	defer ra.do(t, "DELETE", "/ari/channels/"+id, nil)
	st409, _ := ra.doWith(t, one, "POST", "/ari/channels", url.Values{"endpoint": {ra.local("480")}, "app": {app}, "channelId": {id}})
	st, body := ra.doWith(t, one, "POST", "/ari/channels", url.Values{"endpoint": {"Nope/200"}, "app": {app}})
	t.Logf("same connection: reused id %d, then a bad technology %d %s", st409, st, body)
	if st409 != http.StatusConflict {
		t.Errorf("reused live id: %d, want 409", st409)
	}
	if st != http.StatusConflict {
		t.Errorf("bad technology after a 409 on the same connection: %d, want 409 (the worker's errno is still set)", st)
	}

	// An application without a WebSocket: the originate is accepted.
	st, body = ra.doWith(t, fresh, "POST", "/ari/channels", url.Values{"endpoint": {ra.local("200")}, "app": {app + "-nobody"},
		"channelId": {app + "-nobody"}})
	t.Logf("originate into an application nobody listens to: %d %s", st, body)
	if st != http.StatusOK {
		t.Errorf("originate into an unconnected application: %d, want 200", st)
	}
}

// realCallbackd is the controller and the dispatcher of one callbackd
// process, with an embedded store, placing Local legs on a real Asterisk.
type realCallbackd struct {
	st     *sqlite.DB
	svc    *callback.Service
	obs    *ctlObserver
	done   *concluded
	prefix string
}

func startRealCallbackd(t *testing.T, ra realAsterisk, ariURL string, extra ...ari.Option) *realCallbackd {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/callbackd.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateAccount(context.Background(), &callback.Account{Username: "801", Currency: "USD", Balance: 100 * callback.MoneyScale}); err != nil {
		t.Fatal(err)
	}
	appName := realProbeName(t, "ctl")
	obs := newCtlObserver()
	ctl, err := ari.New(append([]ari.Option{
		ari.WithURL(ariURL), ari.WithCredentials(ra.user, ra.pass), ari.WithAppName(appName),
		ari.WithTrunk(ari.Trunk{Name: "test", Dial: "Local/{number}@" + ra.context}), ari.WithDefaultTrunk("test"),
		ari.WithChannelPrefix(appName), ari.WithApp(callback.SubAppTwoWay, ari.TwoWay{}),
		ari.WithAccessNumbers(st), ari.WithLogger(testLogger(t)), ari.WithObserver(obs),
		ari.WithReconnect(10*time.Millisecond, 200*time.Millisecond),
	}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctlDone := make(chan struct{})
	go func() { defer close(ctlDone); ctl.Run(ctx) }()
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	if err := ctl.WaitReady(rctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	policy := testPolicy()
	policy.MaxAttempts = 2
	policy.Timeout = 5 * time.Second
	done := newConcluded()
	disp, err := callback.NewDispatcher(callback.DispatcherOptions{
		Store: st, Dialer: ctl, Policy: policy, Node: "test", Logger: testLogger(t), Observer: done,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	dispDone := make(chan struct{})
	go func() { defer close(dispDone); disp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-dispDone; <-ctlDone })
	return &realCallbackd{st: st, svc: &callback.Service{Store: st, Policy: policy, Notify: disp.Notify},
		obs: obs, done: done, prefix: appName}
}

func (c *realCallbackd) history(t *testing.T, id int64) []string {
	t.Helper()
	hist, err := c.st.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range hist {
		s := string(ev.Status)
		if ev.Result != "" {
			s += "/" + string(ev.Result)
		}
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

// TestRealAsteriskTwoWay runs the controller and the dispatcher against the
// real Asterisk: one 2-way callback that completes and one whose leg A is
// busy.
func TestRealAsteriskTwoWay(t *testing.T) {
	ra := realAsteriskFromEnv(t)
	cb := startRealCallbackd(t, ra, ra.base)
	ctx := context.Background()
	svc, done, history := cb.svc, cb.done, func(id int64) []string { return cb.history(t, id) }

	ok := twoWay("100", "200")
	if err := svc.Create(ctx, ok); err != nil {
		t.Fatal(err)
	}
	busy := twoWay("417", "200")
	if err := svc.Create(ctx, busy); err != nil {
		t.Fatal(err)
	}
	done.wait(t, ok.ID)
	want := []string{"Request received", "First leg initiated", "First leg connected", "Second leg initiated", "Second leg connected", "Finished/Successful"}
	if got := history(ok.ID); !slices.Equal(got, want) {
		t.Errorf("2-way history:\n got %q\nwant %q", got, want)
	}
	done.wait(t, busy.ID)
	done.mu.Lock()
	outs := done.outs[busy.ID]
	done.mu.Unlock()
	if len(outs) == 0 || outs[0].Cause != callback.CauseUserBusy {
		t.Errorf("busy leg A: outcomes %+v, want cause 17 (user busy)", outs)
	}
	got := history(busy.ID)
	t.Logf("busy request: history %q", got)
	if len(got) < 3 || got[2] != "Waiting for retry" {
		t.Errorf("busy request: history %q, want Waiting for retry after the first attempt", got)
	}
}

// TestRealAsteriskBridgedDialFailures: leg B, created and bridged with an
// answered leg A, is rejected (cause 17) or rings out (dial timeout).
func TestRealAsteriskBridgedDialFailures(t *testing.T) {
	ra := realAsteriskFromEnv(t)
	app := realProbeName(t, "brf")
	l := ra.connect(t, app)
	a, br := app+"-a", app+"-br"
	if st, body := ra.originate(t, app, a, "200", 30, "callbackd,9,1,a"); st != http.StatusOK {
		t.Fatalf("originate: %d %s", st, body)
	}
	l.waitFor(a, "StasisStart", 10*time.Second)
	defer ra.do(t, "DELETE", "/ari/channels/"+a, nil)
	if st, body := ra.do(t, "POST", "/ari/bridges", url.Values{"type": {"mixing"}, "bridgeId": {br}}); st != http.StatusOK {
		t.Fatalf("bridge: %d %s", st, body)
	}
	defer ra.do(t, "DELETE", "/ari/bridges/"+br, nil)
	for _, tc := range []struct {
		number    string
		timeout   string
		wantCause int
		want      []string
	}{
		{"417", "10", 17, []string{"StasisStart", "ChannelEnteredBridge", "Dial()", "ChannelHangupRequest", "ChannelLeftBridge", "StasisEnd", "ChannelDestroyed"}},
		{"480", "2", 19, []string{"StasisStart", "ChannelEnteredBridge", "Dial()", "ChannelHangupRequest", "ChannelLeftBridge", "StasisEnd", "ChannelDestroyed"}},
	} {
		b := app + "-b" + tc.number
		st, body := ra.do(t, "POST", "/ari/channels/create", url.Values{"endpoint": {ra.local(tc.number)}, "app": {app},
			"channelId": {b}, "appArgs": {"callbackd,9,1,b"}})
		if st != http.StatusOK {
			t.Fatalf("create: %d %s", st, body)
		}
		l.waitFor(b, "StasisStart", 5*time.Second)
		if st, body := ra.do(t, "POST", "/ari/bridges/"+br+"/addChannel", url.Values{"channel": {b}}); st != http.StatusNoContent {
			t.Fatalf("addChannel: %d %s", st, body)
		}
		if st, body := ra.do(t, "POST", "/ari/channels/"+b+"/dial", url.Values{"timeout": {tc.timeout}}); st != http.StatusNoContent {
			t.Fatalf("dial: %d %s", st, body)
		}
		l.waitFor(b, "ChannelDestroyed", 10*time.Second)
		evs := l.settle(b)
		realLogRaw(t, evs)
		got := realTypes(evs)
		t.Logf("leg B to %s: %q", tc.number, got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("leg B to %s: events %q, want %q", tc.number, got, tc.want)
		}
		hr, _ := realFind(evs, "ChannelHangupRequest")
		cd, _ := realFind(evs, "ChannelDestroyed")
		t.Logf("leg B to %s: %s; %s", tc.number, hr, cd)
		if cd.Cause != tc.wantCause {
			t.Errorf("leg B to %s: %s, want cause %d", tc.number, cd, tc.wantCause)
		}
		// A rejection is the far end's hangup (its cause); a dial timeout
		// is an explicit soft hangup (cause 32). Neither publishes a final
		// Dial status.
		switch {
		case tc.wantCause == 19 && (hr.Cause != 32 || !hr.Soft):
			t.Errorf("leg B to %s (dial timeout): %s, want cause 32 soft", tc.number, hr)
		case tc.wantCause != 19 && (hr.Cause != tc.wantCause || hr.Soft):
			t.Errorf("leg B to %s: %s, want cause %d, not soft", tc.number, hr, tc.wantCause)
		}
	}
}

// TestRealAsteriskReconnectKeepsLocalCalls: after the events WebSocket drops
// and the controller reconciles, a live call over Local channels goes on.
// Each Local leg has a second half, "<channelId>;2", which carries our
// prefix but is no leg of ours: it must not be hung up as an orphan.
func TestRealAsteriskReconnectKeepsLocalCalls(t *testing.T) {
	ra := realAsteriskFromEnv(t)
	u, err := url.Parse(ra.base)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	cb := startRealCallbackd(t, ra, p.url())
	r := twoWay("100", "200")
	if err := cb.svc.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	cb.obs.waitAnswered(t, callback.LegB, 1)
	p.drop()
	cb.obs.waitUps(t, 2)
	time.Sleep(500 * time.Millisecond)
	for _, leg := range []string{"a", "b"} {
		id := fmt.Sprintf("%s-%d-1-%s", cb.prefix, r.ID, leg)
		if st, body := ra.do(t, "GET", "/ari/channels/"+url.PathEscape(id), nil); st != http.StatusOK {
			t.Errorf("leg %s after the reconnect: GET %d %s, want the leg still up", leg, st, body)
		}
	}
	cb.done.wait(t, r.ID)
}
