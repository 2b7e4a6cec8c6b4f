package ari

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

func TestCompileTrunk(t *testing.T) {
	cases := []struct {
		in         Trunk
		dial       string
		endpoint   string
		identities bool
		err        bool
	}{
		{Trunk{Name: "t", Dial: "PJSIP/{number}@{trunk}"}, "PJSIP/{number}@{trunk}", "t", true, false},
		{Trunk{Name: "t", Dial: "PJSIP/{number}@sippy"}, "PJSIP/{number}@{trunk}", "sippy", true, false},
		{Trunk{Name: "t", Dial: "PJSIP/sippy/sip:{number}@192.0.2.1:5060"}, "PJSIP/{trunk}/sip:{number}@192.0.2.1:5060", "sippy", true, false},
		{Trunk{Name: "t", Dial: "PJSIP/{number}@P", Endpoint: "other"}, "PJSIP/{number}@{trunk}", "other", true, false},
		{Trunk{Name: "t", Dial: "Local/{number}@from-callbackd"}, "Local/{number}@from-callbackd", "t", false, false},
		{Trunk{Name: "t", Dial: "PJSIP/trunk"}, "", "", false, true},
		{Trunk{Name: "t", Dial: "{number}"}, "", "", false, true},
		{Trunk{Dial: "PJSIP/{number}@x"}, "", "", false, true},
		{Trunk{Name: "t", Dial: "PJSIP/{number}@x", AuthType: "plain"}, "", "", false, true},
		{Trunk{Name: "t", Dial: "PJSIP/{number}@x", CallsPerSecond: -1}, "", "", false, true},
	}
	for _, tc := range cases {
		got, err := compileTrunk(tc.in)
		if tc.err {
			if err == nil || !errors.Is(err, callback.ErrInvalid) {
				t.Errorf("%+v: err %v, want ErrInvalid", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tc.in, err)
			continue
		}
		if got.Dial != tc.dial || got.Endpoint != tc.endpoint || got.identities != tc.identities || got.AuthType != "digest" {
			t.Errorf("%+v: dial %q endpoint %q identities %v auth %q", tc.in, got.Dial, got.Endpoint, got.identities, got.AuthType)
		}
	}
	tr, _ := compileTrunk(Trunk{Name: "t", Dial: "PJSIP/{number}@sippy"})
	if e := tr.endpoint("4930123", ""); e != "PJSIP/4930123@sippy" {
		t.Errorf("endpoint %q", e)
	}
	if e := tr.endpoint("4930123", "cbd-1-1-a-ep"); e != "PJSIP/4930123@cbd-1-1-a-ep" {
		t.Errorf("endpoint %q", e)
	}
}

func TestLegACallerID(t *testing.T) {
	cases := []struct {
		name string
		r    callback.Request
		an   *callback.AccessNumber
		mode LegACLI
		want string
	}{
		{"fixed CLI wins", callback.Request{OriginalSetCLI: "2", AccessNumber: "3", OriginalCLI: "4"}, &callback.AccessNumber{FixedCLI: "1"}, LegACLIAccessNumber, "1"},
		{"original_set_cli", callback.Request{OriginalSetCLI: "2", AccessNumber: "3", OriginalCLI: "4"}, &callback.AccessNumber{}, LegACLIAccessNumber, "2"},
		{"access number when chosen", callback.Request{AccessNumber: "3", OriginalCLI: "4"}, nil, LegACLIAccessNumber, "3"},
		{"original_cli by default", callback.Request{AccessNumber: "3", OriginalCLI: "4"}, nil, "", "4"},
		{"original_cli without access number", callback.Request{OriginalCLI: "4"}, nil, LegACLIAccessNumber, "4"},
	}
	for _, tc := range cases {
		if got := legACallerID(&tc.r, tc.an, tc.mode); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	for in, want := range map[string]LegACLI{"": LegACLIOriginal, "original": LegACLIOriginal, "access_number": LegACLIAccessNumber} {
		if got, err := ParseLegACLI(in); err != nil || got != want {
			t.Errorf("ParseLegACLI(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseLegACLI("did"); !errors.Is(err, callback.ErrInvalid) {
		t.Errorf("ParseLegACLI(did) err %v", err)
	}
}

func TestLegAVariables(t *testing.T) {
	tr, _ := compileTrunk(Trunk{Name: "t", Dial: "PJSIP/{number}@t", DiversionHost: "sip.example.net"})
	r := &callback.Request{AccessNumber: "+4930111", AnonAcctEnabled: true}
	got := legAVariables(r, &callback.AccessNumber{DiversionReason: "user-busy"}, tr, "")
	if got[varDiversion] != "<sip:+4930111@sip.example.net>;reason=user-busy" || got[varNeedBind] != "yes" {
		t.Errorf("variables %v", got)
	}
	got = legAVariables(&callback.Request{AccessNumber: "1"}, &callback.AccessNumber{DiversionReason: "bad reason;x=1"}, tr, "")
	if got[varDiversion] != "<sip:1@sip.example.net>;reason=unconditional" {
		t.Errorf("an unusable reason must fall back to the default: %v", got)
	}
	if _, ok := got[varNeedBind]; ok {
		t.Errorf("X-2Way-Need-Bind without anonymous accounting: %v", got)
	}
	if got := legAVariables(&callback.Request{}, nil, tr, ""); len(got) != 0 {
		t.Errorf("variables without access number %v", got)
	}
}

func TestIdentityEndpointFields(t *testing.T) {
	trunk := []configField{
		{"context", "from-trunk"}, {"allow", "(ulaw|alaw)"}, {"aors", "sippy"}, {"auth", "in-auth"},
		{"outbound_auth", "trunk-auth"}, {"transport", "udp"}, {"from_domain", ""}, {"direct_media", "no"},
	}
	got := identityEndpointFields(trunk, []Field{{"context", "cb-out"}}, "cbd-1-1-a-auth")
	want := []configField{
		{"disallow", "all"}, {"allow", "ulaw,alaw"}, {"aors", "sippy"}, {"transport", "udp"}, {"direct_media", "no"},
		{"context", "cb-out"}, {"identify_by", "ip"}, {"outbound_auth", "cbd-1-1-a-auth"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("fields\n got %v\nwant %v", got, want)
	}
	if got := identityEndpointFields([]configField{{"allow", "(nothing)"}}, nil, "x"); len(got) != 2 {
		t.Errorf("no codecs must not be copied: %v", got)
	}
}

func TestIDs(t *testing.T) {
	for id, ok := range map[string]bool{
		"cbd-1-1-a": true, "a84b4c76e66710@pc33.example.com": true, "": false, "a,b": false, "a b": false,
		string(make([]byte, 150)): false,
	} {
		if validChannelID(id) != ok {
			t.Errorf("validChannelID(%q) = %v", id, !ok)
		}
	}
	for s, ok := range map[string]bool{"0123456789abcdef0123456789ABCDEF": true, "<md5secret>": false, "0123456789abcdef0123456789abcde": false} {
		if callback.IsHA1(s) != ok {
			t.Errorf("IsHA1(%q) = %v", s, !ok)
		}
	}
}

func TestURLs(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8088":       "http://127.0.0.1:8088/ari",
		"http://127.0.0.1:8088/":      "http://127.0.0.1:8088/ari",
		"http://127.0.0.1:8088/ari/":  "http://127.0.0.1:8088/ari",
		"https://pbx.example.net/ari": "https://pbx.example.net/ari",
		"http://u:p@127.0.0.1:8088":   "http://127.0.0.1:8088/ari",
	} {
		got, err := ariBase(in)
		if err != nil || got != want {
			t.Errorf("ariBase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8088", "ftp://x", "http://"} {
		if _, err := ariBase(bad); err == nil {
			t.Errorf("ariBase(%q) accepted", bad)
		}
	}
	if got := eventsURL("https://pbx/ari", "callbackd"); got != "wss://pbx/ari/events?app=callbackd&subscribeAll=false" {
		t.Errorf("eventsURL %q", got)
	}
}

func TestHTTPErrorIs(t *testing.T) {
	cases := map[int]error{404: ErrNotFound, 409: ErrConflict, 422: ErrUnprocessable, 400: ErrBadRequest, 403: ErrForbidden, 500: ErrServer, 503: ErrServer}
	for code, target := range cases {
		err := error(&HTTPError{Method: http.MethodPost, Path: "/channels", Status: code})
		if !errors.Is(err, target) {
			t.Errorf("%d is not %v", code, target)
		}
		if code != 404 && errors.Is(err, ErrNotFound) {
			t.Errorf("%d is ErrNotFound", code)
		}
	}
}

// events are ARI events as Asterisk 22 sends them (the simulator's shapes,
// which follow rest-api/api-docs/events.json).
var events = map[string]string{
	"destroyed": `{"type":"ChannelDestroyed","timestamp":"2026-01-01T10:00:00.123+0000","cause":17,"cause_txt":"User busy","tech_cause":486,` +
		`"channel":{"id":"cbd-7-1-a","name":"PJSIP/trunk-00000001","state":"Down","protocol_id":"x","caller":{"name":"","number":"4930111"},` +
		`"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"default","exten":"s","priority":1,"app_name":"","app_data":""},` +
		`"creationtime":"2026-01-01T10:00:00.000+0000","language":"en"},"asterisk_id":"02:42:ac:11:00:02","application":"callbackd"}`,
	"start": `{"type":"StasisStart","timestamp":"2026-01-01T10:00:01.000+0000","args":["callbackd","7","1","a"],` +
		`"channel":{"id":"cbd-7-1-a","name":"PJSIP/trunk-00000001","state":"Up","creationtime":"2026-01-01T10:00:00.000+0000"},"asterisk_id":"x","application":"callbackd"}`,
	"dial":     `{"type":"Dial","timestamp":"2026-01-01T10:00:01.000+0000","dialstatus":"RINGING","peer":{"id":"cbd-7-1-b","state":"Ringing"},"application":"callbackd"}`,
	"dtmf":     `{"type":"ChannelDtmfReceived","timestamp":"2026-01-01T10:00:01.000+0000","digit":"#","duration_ms":100,"channel":{"id":"cbd-7-1-a"},"application":"callbackd"}`,
	"playback": `{"type":"PlaybackFinished","timestamp":"2026-01-01T10:00:01.000+0000","playback":{"id":"p1","media_uri":"sound:x","target_uri":"channel:cbd-7-1-a","language":"en","state":"failed"},"application":"callbackd"}`,
	"hangup":   `{"type":"ChannelHangupRequest","timestamp":"2026-01-01T10:00:01.000+0000","cause":32,"soft":true,"channel":{"id":"cbd-7-1-b"},"application":"callbackd"}`,
	"bridge":   `{"type":"BridgeDestroyed","timestamp":"2026-01-01T10:00:01.000+0000","bridge":{"id":"cbd-7-1-br","channels":[]},"application":"callbackd"}`,
}

func TestDecodeEvent(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name string
		want Event
	}{
		{"destroyed", Event{Type: EventChannelDestroyed, Channel: "cbd-7-1-a", ChannelName: "PJSIP/trunk-00000001", State: "Down", Cause: 17, TechCause: 486, CauseText: "User busy"}},
		{"start", Event{Type: EventStasisStart, Channel: "cbd-7-1-a", ChannelName: "PJSIP/trunk-00000001", State: "Up", Args: []string{"callbackd", "7", "1", "a"}}},
		{"dial", Event{Type: EventDial, Channel: "cbd-7-1-b", State: "Ringing", DialStatus: "RINGING"}},
		{"dtmf", Event{Type: EventChannelDtmfReceived, Channel: "cbd-7-1-a", Digit: "#"}},
		{"playback", Event{Type: EventPlaybackFinished, Channel: "cbd-7-1-a", Playback: "p1", PlaybackState: "failed"}},
		{"hangup", Event{Type: EventChannelHangupRequest, Channel: "cbd-7-1-b", Cause: 32, Soft: true}},
		{"bridge", Event{Type: "BridgeDestroyed", Bridge: "cbd-7-1-br"}},
	}
	for _, tc := range cases {
		got, err := decodeEvent([]byte(events[tc.name]), now)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.Raw == nil || got.Received != now || got.Time.IsZero() {
			t.Errorf("%s: raw %v received %v time %v", tc.name, got.Raw, got.Received, got.Time)
		}
		got.Raw, got.Received, got.Time = nil, time.Time{}, time.Time{}
		if !equalEvent(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{``, `{}`, `{"type":"NoSuchEvent"}`, `[1,2]`, `{"type":"StasisStart","channel":7}`} {
		if _, err := decodeEvent([]byte(bad), now); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
}

func equalEvent(a, b Event) bool {
	return a.Type == b.Type && a.Channel == b.Channel && a.ChannelName == b.ChannelName && a.Bridge == b.Bridge && a.State == b.State &&
		a.Cause == b.Cause && a.TechCause == b.TechCause && a.CauseText == b.CauseText && a.Soft == b.Soft &&
		a.DialStatus == b.DialStatus && a.Digit == b.Digit && a.Playback == b.Playback &&
		a.PlaybackState == b.PlaybackState && slices.Equal(a.Args, b.Args)
}

func FuzzDecodeEvent(f *testing.F) {
	for _, e := range events {
		f.Add([]byte(e))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := decodeEvent(data, time.Time{})
		if err != nil {
			return
		}
		if ev.Type == "" || ev.Raw == nil {
			t.Fatalf("decoded %q without a type", data)
		}
		_ = ev.routeKey()
	})
}

// Leg B's SIP header variables go on PJSIP trunks only, as leg A's: on a
// Local trunk (a lab) Asterisk would log "This function requires a PJSIP
// channel" for each (seen against Asterisk 22.10.1).
func TestLegBVariablesSIPHeadersOnlyOnPJSIP(t *testing.T) {
	s := &Session{call: &callback.Attempt{Request: callback.Request{AnonAcctEnabled: true}}}
	for dial, want := range map[string]bool{"PJSIP/{number}@t": true, "Local/{number}@lab": false} {
		tr, err := compileTrunk(Trunk{Name: "t", Dial: dial, IdentityHeader: IdentityPAI})
		if err != nil {
			t.Fatal(err)
		}
		got := s.variablesB(&secondLeg{trunk: tr, spec: DialSpec{Number: "12345", CallerID: "801"}})
		if _, ok := got[varNeedBind]; ok != want {
			t.Errorf("%s: X-2Way-Need-Bind set %v, want %v: %v", dial, ok, want, got)
		}
		if _, ok := got[varPAI]; ok != want {
			t.Errorf("%s: P-Asserted-Identity set %v, want %v: %v", dial, ok, want, got)
		}
		if got["CALLERID(num)"] != "801" {
			t.Errorf("%s: caller %v", dial, got)
		}
	}
}
