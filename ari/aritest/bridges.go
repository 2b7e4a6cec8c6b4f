package aritest

import (
	"fmt"
	"net/http"
	"time"
)

var bridgeTypes = map[string]bool{
	"mixing": true, "holding": true, "dtmf_events": true, "proxy_media": true,
	"video_sfu": true, "video_single": true, "sdp_label": true,
}

func (s *Sim) listBridges(w http.ResponseWriter, _ *params) {
	s.mu.Lock()
	out := make([]bridgeJSON, 0, len(s.bridges))
	for _, b := range s.bridges {
		out = append(out, b.snapshot())
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) getBridge(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bridges[p.r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "Bridge not found")
		return
	}
	writeJSON(w, http.StatusOK, b.snapshot())
}

// createBridge is POST /bridges and POST /bridges/{bridgeId}. No application
// is subscribed to a new bridge, so BridgeCreated only reaches connections
// that subscribed to all.
func (s *Sim) createBridge(w http.ResponseWriter, p *params) {
	id := p.r.PathValue("id")
	if id == "" {
		id = p.str("bridgeId")
	}
	types := splitList(p.str("type"))
	holding := false
	for _, t := range types {
		if !bridgeTypes[t] {
			writeError(w, http.StatusInternalServerError,
				fmt.Sprintf("Unable to create bridge. Possible duplicate bridge id '%s'", id))
			return
		}
		holding = holding || t == "holding"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != "" {
		if _, dup := s.bridges[id]; dup {
			writeError(w, http.StatusConflict, fmt.Sprintf("Bridge with id '%s' already exists", id))
			return
		}
	} else {
		id = newID()
	}
	typ := "mixing"
	if holding {
		typ = "holding"
	}
	b := &bridge{id: id, name: p.str("name"), typ: typ, holding: holding, created: time.Now()}
	s.bridges[id] = b
	writeJSON(w, http.StatusOK, b.snapshot())
	s.emitBridge("BridgeCreated", b, nil, nil)
}

// bridgeChannels is control_list_create: every channel must exist (400) and
// be in Stasis (422) before any is moved.
func (s *Sim) bridgeChannels(w http.ResponseWriter, p *params) (*bridge, []*channel) {
	ids := p.list("channel")
	if len(ids) == 0 {
		writeError(w, http.StatusBadRequest, "Missing parameter channel")
		return nil, nil
	}
	b, ok := s.bridges[p.r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "Bridge not found")
		return nil, nil
	}
	chans := make([]*channel, 0, len(ids))
	for _, id := range ids {
		ch, ok := s.channels[id]
		if !ok {
			writeError(w, http.StatusBadRequest, "Channel not found")
			return nil, nil
		}
		if !ch.inStasis {
			writeError(w, http.StatusUnprocessableEntity, "Channel not in Stasis application")
			return nil, nil
		}
		chans = append(chans, ch)
	}
	return b, chans
}

func (s *Sim) addChannel(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, chans := s.bridgeChannels(w, p)
	if b == nil {
		return
	}
	noContent(w)
	for _, ch := range chans {
		if ch.bridge == b {
			continue
		}
		if ch.bridge != nil {
			s.leaveBridge(ch, true)
		}
		// control_swap_channel_in_bridge subscribes the application to
		// the bridge before the channel enters it.
		b.subscribe(ch.app)
		b.chans = append(b.chans, ch)
		ch.bridge = b
		s.emitBridge("ChannelEnteredBridge", b, ch, b.apps())
		connectedLineUpdate(b)
	}
}

func (s *Sim) removeChannel(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, chans := s.bridgeChannels(w, p)
	if b == nil {
		return
	}
	for _, ch := range chans {
		if ch.bridge != b {
			writeError(w, http.StatusUnprocessableEntity, "Channel not in this bridge")
			return
		}
	}
	noContent(w)
	for _, ch := range chans {
		s.leaveBridge(ch, true)
	}
}

// destroyBridge is DELETE /bridges/{id}: the channels are kicked out and stay
// in Stasis; BridgeDestroyed reaches the applications subscribed to the
// bridge: those with channels in it, and those whose channels hung up (or
// continued in the dialplan) while in it (see leaveBridge).
func (s *Sim) destroyBridge(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bridges[p.r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "Bridge not found")
		return
	}
	noContent(w)
	apps := b.apps()
	for len(b.chans) > 0 {
		s.leaveBridge(b.chans[0], false)
	}
	delete(s.bridges, b.id)
	s.emitBridge("BridgeDestroyed", b, nil, apps)
}
