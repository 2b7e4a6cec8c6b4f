package aritest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// mediaExists says whether a media URI would stream: sounds and recordings
// need their file, say-* and tones always work, other schemes are refused.
func (s *Sim) mediaExists(uri string) bool {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || rest == "" {
		return false
	}
	switch scheme {
	case "sound":
		return s.cfg.sounds == nil || s.cfg.sounds[rest]
	case "recording":
		return s.cfg.sounds == nil || s.cfg.sounds["recording:"+rest]
	case "number":
		_, err := strconv.Atoi(rest)
		return err == nil
	case "digits", "characters", "tone":
		return true
	default:
		return false
	}
}

// play is POST /channels/{id}/play[/{playbackId}].
func (s *Sim) play(w http.ResponseWriter, p *params) {
	media := p.list("media")
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.control(w, p.r.PathValue("id"))
	if ch == nil {
		return
	}
	if len(media) == 0 {
		writeError(w, http.StatusBadRequest, "Missing parameter media")
		return
	}
	if p.integer("skipms", 3000) < 0 {
		writeError(w, http.StatusBadRequest, "skipms cannot be negative")
		return
	}
	if p.integer("offsetms", 0) < 0 {
		writeError(w, http.StatusBadRequest, "offsetms cannot be negative")
		return
	}
	id := p.r.PathValue("playbackId")
	if id == "" {
		id = p.str("playbackId")
	}
	if id == "" {
		id = newID()
	}
	if _, dup := s.playbacks[id]; dup {
		writeError(w, http.StatusInternalServerError, "Failed to queue media for playback")
		return
	}
	lang := p.str("lang")
	if lang == "" {
		lang = ch.language
	}
	pb := &playback{
		id: id, media: media, target: "channel:" + ch.id, language: lang,
		state: "queued", ch: ch,
	}
	s.playbacks[id] = pb
	ch.playQueue = append(ch.playQueue, pb)
	w.Header().Set("Location", "/playbacks/"+id)
	writeJSON(w, http.StatusCreated, pb.snapshot())
	if len(ch.playQueue) == 1 {
		s.startMedia(pb)
	}
}

// startMedia plays pb.media[pb.idx]: PlaybackStarted for each item, as
// playback_first_update publishes "playing" each time round the loop.
func (s *Sim) startMedia(pb *playback) {
	gen := s.gen
	pb.timer = time.AfterFunc(0, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gen != gen || pb.ch.dead || s.playbacks[pb.id] != pb {
			return
		}
		pb.state = "playing"
		s.emitPlayback(pb)
		d := s.cfg.playbackDuration
		ok := s.mediaExists(pb.media[pb.idx])
		if !ok {
			d = 0
		}
		pb.timer = time.AfterFunc(d, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.gen != gen || pb.ch.dead || s.playbacks[pb.id] != pb {
				return
			}
			s.endMedia(pb, ok)
		})
	})
}

// endMedia is playback_final_update.
func (s *Sim) endMedia(pb *playback, ok bool) {
	last := pb.idx == len(pb.media)-1
	switch {
	case !last:
		pb.state = "continuing"
	case ok:
		pb.state = "done"
	default:
		pb.state = "failed"
	}
	s.emitPlayback(pb)
	if !last {
		pb.idx++
		s.startMedia(pb)
		return
	}
	s.finishPlayback(pb)
}

// finishPlayback forgets a playback and starts the next one queued on the
// channel.
func (s *Sim) finishPlayback(pb *playback) {
	pb.stopTimer()
	delete(s.playbacks, pb.id)
	ch := pb.ch
	for i, x := range ch.playQueue {
		if x == pb {
			ch.playQueue = append(ch.playQueue[:i], ch.playQueue[i+1:]...)
			break
		}
	}
	if len(ch.playQueue) > 0 && ch.playQueue[0].state == "queued" {
		s.startMedia(ch.playQueue[0])
	}
}

func (s *Sim) getPlayback(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pb, ok := s.playbacks[p.r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "Playback not found")
		return
	}
	writeJSON(w, http.StatusOK, pb.snapshot())
}

// stopPlayback is DELETE /playbacks/{id}: stopped and cancelled playbacks
// both read "done".
func (s *Sim) stopPlayback(w http.ResponseWriter, p *params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pb, ok := s.playbacks[p.r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "Playback not found")
		return
	}
	noContent(w)
	pb.state = "done"
	s.emitPlayback(pb)
	s.finishPlayback(pb)
}
