package aritest

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// timeFormat is ast_json_timeval's layout.
const timeFormat = "2006-01-02T15:04:05.000-0700"

func asteriskTime(t time.Time) string { return t.UTC().Format(timeFormat) }

type channel struct {
	seq        uint64
	id         string
	name       string
	state      string
	protocolID string
	callerName string
	callerNum  string
	connName   string
	connNum    string
	context    string
	exten      string
	priority   int
	appl       string
	data       string
	created    time.Time
	language   string
	vars       map[string]string
	reported   map[string]bool

	target dialTarget
	phone  Behaviour

	// app is the Stasis application the channel was originated or created
	// for; the application stays subscribed to the channel until it is
	// destroyed, so it hears ChannelDestroyed after StasisEnd.
	app      string
	appArgs  []string
	inStasis bool
	// originated channels are driven by an ast_dial thread until answered;
	// created channels sit in Stasis and wait for POST /dial.
	originated bool
	inbound    bool // arrived from outside and ran Stasis() in the dialplan
	// unsubscribed: the application's only subscription ended with
	// StasisEnd (a channel that entered Stasis from the dialplan).
	unsubscribed bool
	ariMade      bool
	dialed       bool
	dialing      bool
	answered     bool
	bridge       *bridge
	playQueue    []*playback

	// savedAppl and savedData are what pbx_exec puts back when Stasis()
	// returns.
	savedAppl, savedData string

	// localPeer links the two halves of a Local channel while both live:
	// the half ARI asked for (";1") and the one that runs the dialplan
	// (";2", half2). The ";2" half is the far end as the simulator sees it.
	localPeer *channel
	half2     bool
	// called is set once ast_call reached a Local ";1" (originate, or
	// POST /dial): the ";2" half then has a PBX of its own, which is told
	// of a hangup by a queued hangup request rather than just destroyed.
	called bool

	timers  []*timerRef
	timeout *timerRef
	dead    bool
}

type timerRef struct{ t *time.Timer }

func (ch *channel) stopTimers() {
	for _, r := range ch.timers {
		r.t.Stop()
	}
	ch.timers = nil
	ch.timeout = nil
}

func (ch *channel) dropTimer(r *timerRef) {
	for i, x := range ch.timers {
		if x == r {
			ch.timers = append(ch.timers[:i], ch.timers[i+1:]...)
			return
		}
	}
}

type partyJSON struct {
	Name   string `json:"name"`
	Number string `json:"number"`
}

type dialplanJSON struct {
	Context  string `json:"context"`
	Exten    string `json:"exten"`
	Priority int    `json:"priority"`
	AppName  string `json:"app_name"`
	AppData  string `json:"app_data"`
}

// channelJSON is ast_channel_snapshot_to_json's shape.
type channelJSON struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	State        string            `json:"state"`
	ProtocolID   string            `json:"protocol_id"`
	Caller       partyJSON         `json:"caller"`
	Connected    partyJSON         `json:"connected"`
	Accountcode  string            `json:"accountcode"`
	Dialplan     dialplanJSON      `json:"dialplan"`
	Creationtime string            `json:"creationtime"`
	Language     string            `json:"language"`
	ChannelVars  map[string]string `json:"channelvars,omitempty"`
}

func (ch *channel) snapshot() channelJSON {
	j := channelJSON{
		ID: ch.id, Name: ch.name, State: ch.state, ProtocolID: ch.protocolID,
		Caller:    partyJSON{Name: ch.callerName, Number: ch.callerNum},
		Connected: partyJSON{Name: ch.connName, Number: ch.connNum},
		Dialplan: dialplanJSON{
			Context: ch.context, Exten: ch.exten, Priority: ch.priority,
			AppName: ch.appl, AppData: ch.data,
		},
		Creationtime: asteriskTime(ch.created),
		Language:     ch.language,
	}
	if len(ch.reported) > 0 {
		j.ChannelVars = make(map[string]string, len(ch.reported))
		for k := range ch.reported {
			j.ChannelVars[k] = ch.vars[k]
		}
	}
	return j
}

type bridge struct {
	id      string
	name    string
	typ     string
	holding bool
	created time.Time
	chans   []*channel
	// subs are the applications subscribed to the bridge, with their
	// interest counts (res/stasis/app.c app_subscribe_bridge).
	subs []bridgeSub
}

type bridgeSub struct {
	app      string
	interest int
}

// bridgeJSON is ast_bridge_snapshot_to_json's shape.
type bridgeJSON struct {
	ID           string   `json:"id"`
	Technology   string   `json:"technology"`
	BridgeType   string   `json:"bridge_type"`
	BridgeClass  string   `json:"bridge_class"`
	Creator      string   `json:"creator"`
	Name         string   `json:"name"`
	Channels     []string `json:"channels"`
	Creationtime string   `json:"creationtime"`
	VideoMode    string   `json:"video_mode"`
}

func (b *bridge) snapshot() bridgeJSON {
	ids := make([]string, 0, len(b.chans))
	for _, ch := range b.chans {
		ids = append(ids, ch.id)
	}
	tech := "simple_bridge"
	videoMode := "talker"
	switch {
	case b.holding:
		tech = "holding_bridge"
		videoMode = "none"
	case len(b.chans) > 2:
		tech = "softmix"
	}
	return bridgeJSON{
		ID: b.id, Technology: tech, BridgeType: b.typ, BridgeClass: "stasis",
		Creator: "Stasis", Name: b.name, Channels: ids,
		Creationtime: asteriskTime(b.created), VideoMode: videoMode,
	}
}

// apps are the applications subscribed to the bridge, which get its events.
func (b *bridge) apps() []string {
	var apps []string
	for _, sub := range b.subs {
		apps = append(apps, sub.app)
	}
	return apps
}

// subscribe is a channel of app joining the bridge: control.c subscribes
// the application to the bridge before the channel enters it.
func (b *bridge) subscribe(app string) {
	if app == "" {
		return
	}
	for i := range b.subs {
		if b.subs[i].app == app {
			b.subs[i].interest++
			return
		}
	}
	b.subs = append(b.subs, bridgeSub{app: app, interest: 1})
}

// unsubscribe drops one interest of app; at none the application no longer
// hears of the bridge.
func (b *bridge) unsubscribe(app string) {
	for i := range b.subs {
		if b.subs[i].app == app {
			b.subs[i].interest--
			if b.subs[i].interest <= 0 {
				b.subs = append(b.subs[:i], b.subs[i+1:]...)
			}
			return
		}
	}
}

func (b *bridge) remove(ch *channel) {
	for i, x := range b.chans {
		if x == ch {
			b.chans = append(b.chans[:i], b.chans[i+1:]...)
			return
		}
	}
}

type playback struct {
	id       string
	media    []string
	idx      int
	target   string
	language string
	state    string
	ch       *channel
	timer    *time.Timer
}

func (p *playback) stopTimer() {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

// snapshot is stasis_app_playback_to_json: next_media_uri only while more
// media follow.
func (p *playback) snapshot() map[string]any {
	j := map[string]any{
		"id":         p.id,
		"media_uri":  p.media[p.idx],
		"target_uri": p.target,
		"language":   p.language,
		"state":      p.state,
	}
	if p.idx < len(p.media)-1 {
		j["next_media_uri"] = p.media[p.idx+1]
	}
	return j
}

// emit sends an event to the applications in apps (and to every connection
// that subscribed to all), and records it in the history of the channels.
// It must be called with s.mu held, which gives one global event order and
// therefore per-channel order on every connection.
func (s *Sim) emit(ev map[string]any, apps []string, chans ...*channel) {
	now := time.Now()
	ev["timestamp"] = asteriskTime(now)
	ev["asterisk_id"] = s.cfg.asteriskID
	typ, _ := ev["type"].(string)
	if len(chans) > 0 {
		for _, ch := range chans {
			ev["application"] = ch.app
			b, err := json.Marshal(ev)
			if err != nil {
				s.log.Error("aritest: encode event", "type", typ, "err", err)
				continue
			}
			s.history[ch.id] = append(s.history[ch.id], Event{Type: typ, JSON: b, Time: now})
		}
		close(s.histNotify)
		s.histNotify = make(chan struct{})
	}
	for c := range s.conns {
		app := c.route(apps, s.owners)
		if app == "" {
			continue
		}
		ev["application"] = app
		b, err := json.Marshal(ev)
		if err != nil {
			s.log.Error("aritest: encode event", "type", typ, "err", err)
			continue
		}
		c.enqueue(b)
	}
}

func (s *Sim) chanApps(ch *channel) []string {
	if ch.app == "" || ch.unsubscribed {
		return nil
	}
	return []string{ch.app}
}

func (s *Sim) emitChannel(typ string, ch *channel, extra map[string]any) {
	ev := map[string]any{"type": typ, "channel": ch.snapshot()}
	for k, v := range extra {
		ev[k] = v
	}
	s.emit(ev, s.chanApps(ch), ch)
}

func (s *Sim) setState(ch *channel, state string) {
	if ch.state == state {
		return
	}
	ch.state = state
	s.emitChannel("ChannelStateChange", ch, nil)
}

// emitDial publishes a Dial message. dial_to_json always writes forward and
// dialstring, as empty strings when there are none; caller is absent for
// originates and ARI dials (both publish with a NULL caller). An originate's
// ast_dial names the dialstring on every Dial (dialString); an ARI dial
// names it only on the first, and the dial bridge publishes the rest
// without one.
func (s *Sim) emitDial(ch *channel, status, dialstring string) {
	ev := map[string]any{
		"type": "Dial", "peer": ch.snapshot(), "dialstatus": status,
		"forward": "", "dialstring": dialstring,
	}
	s.emit(ev, s.chanApps(ch), ch)
}

// dialString is the dialstring of a Dial published after the first one.
func dialString(ch *channel) string {
	if ch.originated {
		return ch.target.resource
	}
	return ""
}

// outsideApps are the applications that hear of a channel outside Stasis:
// the originate and create handlers subscribe the application to the
// channel they make (stasis_app_subscribe_channel), while a channel that
// came in through the dialplan is only subscribed from StasisStart to
// StasisEnd.
func (s *Sim) outsideApps(ch *channel) []string {
	if ch.originated || ch.ariMade {
		return s.chanApps(ch)
	}
	return nil
}

func (s *Sim) emitDTMF(ch *channel, digit string, d time.Duration) {
	s.emitChannel("ChannelDtmfReceived", ch, map[string]any{
		"digit": digit, "duration_ms": int(d / time.Millisecond),
	})
}

func (s *Sim) emitBridge(typ string, b *bridge, ch *channel, apps []string) {
	ev := map[string]any{"type": typ, "bridge": b.snapshot()}
	if ch != nil {
		ev["channel"] = ch.snapshot()
		s.emit(ev, apps, ch)
		return
	}
	s.emit(ev, apps)
}

func (s *Sim) emitPlayback(p *playback) {
	var typ string
	switch p.state {
	case "playing":
		typ = "PlaybackStarted"
	case "continuing":
		typ = "PlaybackContinuing"
	case "done", "failed":
		typ = "PlaybackFinished"
	default:
		return
	}
	s.emit(map[string]any{"type": typ, "playback": p.snapshot()}, s.chanApps(p.ch), p.ch)
}

func sortedChannels(m map[string]*channel) []*channel {
	out := make([]*channel, 0, len(m))
	for _, ch := range m {
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
