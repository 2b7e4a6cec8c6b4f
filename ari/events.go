package ari

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

// The event types a call reacts to, as Asterisk names them, plus
// EventChannelGone, which callbackd makes up itself.
const (
	EventStasisStart          = "StasisStart"
	EventStasisEnd            = "StasisEnd"
	EventDial                 = "Dial"
	EventChannelStateChange   = "ChannelStateChange"
	EventChannelHangupRequest = "ChannelHangupRequest"
	EventChannelDestroyed     = "ChannelDestroyed"
	EventChannelDtmfReceived  = "ChannelDtmfReceived"
	EventChannelEnteredBridge = "ChannelEnteredBridge"
	EventChannelLeftBridge    = "ChannelLeftBridge"
	EventPlaybackStarted      = "PlaybackStarted"
	EventPlaybackFinished     = "PlaybackFinished"

	// EventChannelGone says a channel vanished without a ChannelDestroyed
	// reaching this process: Asterisk restarted, or the events were lost
	// while the WebSocket was down, and the channel is no longer listed.
	EventChannelGone = "ChannelGone"
	// EventChannelReconciled carries a live channel's state as listed after
	// a reconnect: events of the gap (an answer, a playback's end) may have
	// been lost, and this is where a call catches up.
	EventChannelReconciled = "ChannelReconciled"
)

// Event is one ARI event about a channel of a call, with the fields
// callbackd branches on taken out of the library's types so that
// sub-applications need no type switch.
type Event struct {
	Type    string
	Channel string // the channel the event is about ("" for none)
	// ChannelName is Asterisk's name of that channel (PJSIP/trunk-00000002),
	// unique per channel where an id may be reused once a channel is gone.
	ChannelName string
	Bridge      string
	// Time is Asterisk's timestamp; Received is when the WebSocket read it.
	Time     time.Time
	Received time.Time

	State         string // channel state in the event's snapshot
	Cause         int    // ChannelDestroyed, ChannelHangupRequest
	TechCause     int    // the SIP response behind Cause, when Asterisk reports it
	CauseText     string
	Soft          bool   // ChannelHangupRequest from a soft hangup (DELETE /channels)
	DialStatus    string // Dial: "", RINGING, PROGRESS, ANSWER, BUSY, NOANSWER, ...
	Digit         string // ChannelDtmfReceived
	Playback      string // playback id of Playback* events
	PlaybackState string // playing, done, failed, ...
	Args          []string
	Reason        string // EventChannelGone: why the channel is considered gone
	InStasis      bool   // EventChannelReconciled: the channel runs the Stasis application
	// Language is the channel's language in a StasisStart (ari/v5's
	// ChannelData drops it when decoding).
	Language string

	// Raw is the event decoded by the ari/v5 library; nil for
	// EventChannelGone.
	Raw ari.Event
}

// techCause is the field ari/v5's event types lack (Asterisk added it to
// ChannelDestroyed and ChannelHangupRequest after the library was generated).
type techCause struct {
	TechCause int `json:"tech_cause"`
}

// decodeEvent turns one WebSocket message into an Event. It is a pure
// function so that it can be fuzzed and table-tested on captured traffic.
func decodeEvent(data []byte, received time.Time) (Event, error) {
	raw, err := ari.DecodeEvent(data)
	if err != nil {
		return Event{}, fmt.Errorf("decode ARI event: %w", err)
	}
	ev := Event{Type: raw.GetType(), Received: received, Raw: raw}
	switch v := raw.(type) {
	case *ari.StasisStart:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName, ev.State, ev.Args = v.Channel.ID, v.Channel.Name, v.Channel.State, v.Args
		ev.Language = readLanguage(data)
	case *ari.StasisEnd:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName, ev.State = v.Channel.ID, v.Channel.Name, v.Channel.State
	case *ari.Dial:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName, ev.State, ev.DialStatus = v.Peer.ID, v.Peer.Name, v.Peer.State, v.Dialstatus
	case *ari.ChannelStateChange:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName, ev.State = v.Channel.ID, v.Channel.Name, v.Channel.State
	case *ari.ChannelHangupRequest:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName, ev.State, ev.Cause, ev.Soft = v.Channel.ID, v.Channel.Name, v.Channel.State, v.Cause, v.Soft
		ev.TechCause = readTechCause(data)
	case *ari.ChannelDestroyed:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName, ev.State, ev.Cause, ev.CauseText = v.Channel.ID, v.Channel.Name, v.Channel.State, v.Cause, v.CauseTxt
		ev.TechCause = readTechCause(data)
	case *ari.ChannelDtmfReceived:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName, ev.State, ev.Digit = v.Channel.ID, v.Channel.Name, v.Channel.State, v.Digit
	case *ari.ChannelEnteredBridge:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName, ev.State, ev.Bridge = v.Channel.ID, v.Channel.Name, v.Channel.State, v.Bridge.ID
	case *ari.ChannelLeftBridge:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName, ev.State, ev.Bridge = v.Channel.ID, v.Channel.Name, v.Channel.State, v.Bridge.ID
	case *ari.PlaybackStarted:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.Playback, ev.PlaybackState = targetChannel(v.Playback.TargetURI), v.Playback.ID, v.Playback.State
	case *ari.PlaybackContinuing:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.Playback, ev.PlaybackState = targetChannel(v.Playback.TargetURI), v.Playback.ID, v.Playback.State
	case *ari.PlaybackFinished:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.Playback, ev.PlaybackState = targetChannel(v.Playback.TargetURI), v.Playback.ID, v.Playback.State
	case *ari.ChannelVarset:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName = v.Channel.ID, v.Channel.Name
	case *ari.ChannelDialplan:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName, ev.State = v.Channel.ID, v.Channel.Name, v.Channel.State
	case *ari.ChannelCallerID:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName = v.Channel.ID, v.Channel.Name
	case *ari.ChannelConnectedLine:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName = v.Channel.ID, v.Channel.Name
	case *ari.ChannelHold:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName = v.Channel.ID, v.Channel.Name
	case *ari.ChannelUnhold:
		ev.Time = time.Time(v.Timestamp)
		ev.Channel, ev.ChannelName = v.Channel.ID, v.Channel.Name
	case *ari.BridgeCreated:
		ev.Time = time.Time(v.Timestamp)
		ev.Bridge = v.Bridge.ID
	case *ari.BridgeDestroyed:
		ev.Time = time.Time(v.Timestamp)
		ev.Bridge = v.Bridge.ID
	}
	return ev, nil
}

func readTechCause(data []byte) int {
	var t techCause
	if json.Unmarshal(data, &t) != nil {
		return 0
	}
	return t.TechCause
}

// readLanguage reads the channel's language from a channel event.
func readLanguage(data []byte) string {
	var c struct {
		Channel struct {
			Language string `json:"language"`
		} `json:"channel"`
	}
	if json.Unmarshal(data, &c) != nil {
		return ""
	}
	return c.Channel.Language
}

// targetChannel reads the channel id of a playback's target_uri,
// "channel:<id>"; bridge playbacks have none.
func targetChannel(uri string) string {
	id, ok := strings.CutPrefix(uri, "channel:")
	if !ok {
		return ""
	}
	return id
}

// routeKey is the routing-map key of an event: its channel, or its bridge
// for bridge-only events.
func (e *Event) routeKey() string {
	if e.Channel != "" {
		return e.Channel
	}
	return e.Bridge
}
