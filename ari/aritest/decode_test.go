package aritest

import (
	"net/http"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

// TestEventsDecodeWithARILibrary drives a call through every event the
// simulator emits and decodes each with the ari/v5 client library.
func TestEventsDecodeWithARILibrary(t *testing.T) {
	s := NewT(t)
	s.Phone("1", Answer(0).ThenDTMF(Digits("5", 0)...))
	s.Phone("2", Answer(0).WithEarlyMedia())
	replaced := listen(t, s, "app="+app)
	l := listen(t, s, "app="+app+"&subscribeAll=true")
	replaced.waitType("", "ApplicationReplaced")

	a := originate(t, s, "endpoint=PJSIP/1@trunk&appArgs=x")
	l.waitType(a, "ChannelDtmfReceived")
	mustCode(t, call(t, s, "POST", "/channels/"+a+"/variable?variable=V&value=1", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "POST", "/channels/"+a+"/play?media=sound:a,sound:b", nil), http.StatusCreated)
	l.waitType("", "PlaybackFinished")
	mustCode(t, call(t, s, "POST", "/channels/create?app="+app+"&endpoint=PJSIP/2@trunk&channelId=b", nil), http.StatusOK)
	l.waitType("b", "StasisStart")
	mustCode(t, call(t, s, "POST", "/channels/b/dial", nil), http.StatusNoContent)
	l.waitFor(func(e rawEvent) bool { return e.label() == "Dial(ANSWER)" && e.chanID() == "b" })
	mustCode(t, call(t, s, "POST", "/bridges/br", nil), http.StatusOK)
	mustCode(t, call(t, s, "POST", "/bridges/br/addChannel?channel="+a+",b", nil), http.StatusNoContent)
	mustCode(t, call(t, s, "DELETE", "/channels/b", nil), http.StatusNoContent)
	l.waitType("b", "ChannelDestroyed")
	mustCode(t, call(t, s, "DELETE", "/bridges/br", nil), http.StatusNoContent)
	l.waitType("", "BridgeDestroyed")

	events := append(replaced.all(), l.all()...)
	seen := map[string]bool{}
	for _, raw := range events {
		e, err := ari.DecodeEvent(raw.raw)
		if err != nil {
			t.Fatalf("decode %s: %v", raw.raw, err)
		}
		if e.GetType() != raw.Type || e.GetApplication() != app {
			t.Fatalf("decoded %s as %T (%s, %s)", raw.raw, e, e.GetType(), e.GetApplication())
		}
		seen[raw.Type] = true
		switch v := e.(type) {
		case *ari.StasisStart:
			if v.Channel.ID == "" || v.Channel.Creationtime == nil || v.Channel.Creationtime.Seconds == 0 {
				t.Fatalf("StasisStart channel %+v", v.Channel)
			}
			if time.Time(v.Timestamp).IsZero() {
				t.Fatalf("StasisStart timestamp lost: %s", raw.raw)
			}
		case *ari.Dial:
			if v.Peer.ID == "" {
				t.Fatalf("Dial without peer: %s", raw.raw)
			}
		case *ari.ChannelDestroyed:
			if v.CauseTxt != CauseText(v.Cause) {
				t.Fatalf("ChannelDestroyed %+v", v)
			}
		case *ari.ChannelHangupRequest:
			if !v.Soft || v.Cause != softHangupExplicit {
				t.Fatalf("ChannelHangupRequest %+v", v)
			}
		case *ari.ChannelDtmfReceived:
			if v.Digit != "5" || v.DurationMs != 100 {
				t.Fatalf("ChannelDtmfReceived %+v", v)
			}
		case *ari.ChannelEnteredBridge:
			if v.Bridge.ID != "br" || v.Channel.ID == "" {
				t.Fatalf("ChannelEnteredBridge %+v", v)
			}
		case *ari.PlaybackFinished:
			if v.Playback.State != "done" || v.Playback.TargetURI != "channel:"+a {
				t.Fatalf("PlaybackFinished %+v", v.Playback)
			}
		}
	}
	for _, typ := range []string{
		"ApplicationReplaced", "StasisStart", "StasisEnd", "Dial", "ChannelStateChange",
		"ChannelDialplan", "ChannelDtmfReceived", "ChannelVarset", "ChannelHangupRequest",
		"ChannelDestroyed", "BridgeCreated", "ChannelEnteredBridge", "ChannelLeftBridge",
		"BridgeDestroyed", "PlaybackStarted", "PlaybackContinuing", "PlaybackFinished",
	} {
		if !seen[typ] {
			t.Errorf("no %s event decoded", typ)
		}
	}
}
