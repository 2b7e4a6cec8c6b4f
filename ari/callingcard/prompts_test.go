package callingcard_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/ari/callingcard"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/sounds"
)

// logRecords keeps every record logged through it.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}

// missing counts the WARN lines about a prompt missing in a language, by
// "lang prompt".
func (l *logRecords) missing() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, r := range l.recs {
		if r.Level != slog.LevelWarn || !strings.HasPrefix(r.Message, "prompt missing in language") {
			continue
		}
		var lang, prompt string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "lang":
				lang = a.Value.String()
			case "prompt":
				prompt = a.Value.String()
			}
			return true
		})
		out[lang+" "+prompt]++
	}
	return out
}

// playback is one play request: its language and media.
type playback struct {
	lang  string
	media []string
}

func (e *env) playbacks(channel string) []playback {
	var out []playback
	for _, r := range e.sim.Requests() {
		if r.Method == "POST" && r.Path == "/ari/channels/"+channel+"/play" {
			out = append(out, playback{r.Query.Get("lang"), strings.Split(r.Query.Get("media"), ",")})
		}
	}
	return out
}

// callingcard_th_es with no Thai recordings at all: every prompt plays in
// Spanish, the next language listed, and the log says once per prompt that
// Thai lacks it, however many calls play it.
func TestPromptsFallBackToTheNextLanguage(t *testing.T) {
	if len(sounds.Names("th")) != 0 || len(sounds.Names("es")) == 0 {
		t.Fatalf("the shipped prompts: th %d, es %d", len(sounds.Names("th")), len(sounds.Names("es")))
	}
	stores(t, func(t *testing.T, st callback.Store) {
		logs := &logRecords{}
		e := newEnv(t, st, envOptions{log: slog.New(logs)})
		e.sim.Phone("15550001", answerWith("4420123#"))
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(200*time.Millisecond, aritest.CauseNormalClearing))
		prompts := map[string]bool{}
		for range 2 {
			r := card("alice", "15550001")
			r.OriginalCLD = "callingcard_th_es"
			e.create(r)
			if got := e.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
				t.Fatalf("%s/%s %q", got.Status, got.Result, got.LastError)
			}
			pbs := e.playbacks(legID(r.ID, "a"))
			if len(pbs) == 0 {
				t.Fatal("nothing played")
			}
			for _, p := range pbs {
				if p.lang != "es" {
					t.Errorf("%q played in %q, want es", p.media, p.lang)
				}
				for _, m := range p.media {
					if strings.HasPrefix(m, "sound:") {
						prompts[strings.TrimPrefix(m, "sound:")] = true
					}
				}
			}
		}
		got := logs.missing()
		for p := range prompts {
			if n := got["th "+p]; n != 1 {
				t.Errorf("%s missing in th logged %d times, want once", p, n)
			}
		}
		for k := range got {
			if !strings.HasPrefix(k, "th ") {
				t.Errorf("logged missing: %s", k)
			}
		}
	})
}

// Thai has every prompt but two: those two play in Spanish, the next
// language listed, not in Asterisk's default English; the rest in Thai.
func TestPromptsFallBackPerPrompt(t *testing.T) {
	gaps := map[string]bool{"callbackd/your-balance-is": true, "callbackd/connecting": true}
	has := func(lang, name string) bool {
		if lang == "th" {
			return sounds.Has("en", name) && !gaps[name]
		}
		return sounds.Has(lang, name)
	}
	stores(t, func(t *testing.T, st callback.Store) {
		logs := &logRecords{}
		e := newEnv(t, st, envOptions{log: slog.New(logs), app: func(o *callingcard.Options) { o.Sounds = has }})
		e.sim.Phone("15550001", answerWith("4420123#"))
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(200*time.Millisecond, aritest.CauseNormalClearing))
		r := card("alice", "15550001")
		r.OriginalCLD = "callingcard_th_es"
		e.create(r)
		if got := e.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
			t.Fatalf("%s/%s %q", got.Status, got.Result, got.LastError)
		}
		seen := map[string]string{}
		for _, p := range e.playbacks(legID(r.ID, "a")) {
			for _, m := range p.media {
				if name, ok := strings.CutPrefix(m, "sound:"); ok {
					seen[name] = p.lang
				}
			}
		}
		for _, name := range []string{"callbackd/your-balance-is", "callbackd/connecting", "callbackd/you-have", "callbackd/minutes-of-talk-time"} {
			want := "th"
			if gaps[name] {
				want = "es"
			}
			if seen[name] != want {
				t.Errorf("%s played in %q, want %s (all: %v)", name, seen[name], want, seen)
			}
		}
		got := logs.missing()
		if len(got) != len(gaps) || got["th callbackd/your-balance-is"] != 1 || got["th callbackd/connecting"] != 1 {
			t.Errorf("missing prompts logged %v", got)
		}
	})
}

// A caller who types the answer during an earlier prompt keeps the digits
// and does not hear the prompt asking for them. Prompts last 300 ms here,
// so every key (10 ms apart) is in before the first prompt ends.
func TestPromptAnsweredAheadIsSkipped(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{sims: []aritest.Option{aritest.WithPlaybackDuration(300 * time.Millisecond)}})
		t.Run("destination", func(t *testing.T) {
			e.sim.Phone("15550001", answerWith("4420123#"))
			e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(200*time.Millisecond, aritest.CauseNormalClearing))
			r := e.create(card("alice", "15550001"))
			got := e.done.wait(t, r.ID)
			if got.Result != callback.ResultSuccessful {
				t.Fatalf("%s/%s %q", got.Status, got.Result, got.LastError)
			}
			media := e.played(legID(r.ID, "a"))
			if count(media, "sound:callbackd/your-balance-is") != 1 || count(media, "sound:callbackd/enter-destination") != 0 {
				t.Errorf("played %q", media)
			}
			if cdrs := e.cdrs(r.ID); len(cdrs) != 2 || cdrs[1].Number != "4420123" {
				t.Errorf("CDRs %+v", cdrs)
			}
		})
		t.Run("PIN", func(t *testing.T) {
			e.sim.Phone("15550003", answerWith("1111#2222#3333#"))
			r := card("default", "15550003")
			r.AskPIN, r.DefaultUserUsed = true, true
			e.create(r)
			if got := e.done.wait(t, r.ID); got.Result != callback.ResultFirstLegAborted {
				t.Fatalf("%s/%s %q", got.Status, got.Result, got.LastError)
			}
			media := e.played(legID(r.ID, "a"))
			if count(media, "sound:callbackd/enter-pin") != 1 || count(media, "sound:callbackd/invalid-pin") != 2 || count(media, "sound:callbackd/too-many-attempts") != 1 {
				t.Errorf("played %q", media)
			}
		})
	})
}
