package callingcard_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/ari/callingcard"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/sounds"
)

// The 2-way sub-application's busy and failed prompts choose their
// language as the calling card does, through the same ari.Prompts: a
// request in Thai (no Thai recordings) hears busy in English with the
// language named, and a prompt missing in Thai is logged once for both
// sub-applications together.
func TestTwoWayPromptsFallBackLikeTheCallingCard(t *testing.T) {
	if sounds.Has("th", "callbackd/busy") || !sounds.Has("en", "callbackd/busy") {
		t.Fatal("the shipped prompts changed: want busy in en, not in th")
	}
	stores(t, func(t *testing.T, st callback.Store) {
		logs := &logRecords{}
		prompts := &ari.Prompts{}
		e := newEnv(t, st, envOptions{log: slog.New(logs), twoWay: &ari.TwoWay{BusyPrompts: true, Prompts: prompts},
			app: func(o *callingcard.Options) { o.Prompts = prompts }})
		e.sim.Phone("15550001", aritest.Answer(5*time.Millisecond))
		e.sim.Phone("15550002", answerWith("4420123#"))
		e.sim.Phone("4420123", aritest.Busy())

		tw := twoWayReq("alice", "15550001", "4420123")
		tw.Language = "th"
		e.create(tw)
		if got := e.done.wait(t, tw.ID); got.Result != callback.ResultSecondLegFailed {
			t.Fatalf("2-way: %s/%s %q", got.Status, got.Result, got.LastError)
		}
		pbs := e.playbacks(legID(tw.ID, "a"))
		if len(pbs) != 1 || pbs[0].lang != "en" || strings.Join(pbs[0].media, ",") != "sound:callbackd/busy" {
			t.Fatalf("2-way playbacks %+v, want busy in en", pbs)
		}

		cc := card("alice", "15550002")
		cc.Language = "th"
		e.create(cc)
		if got := e.done.wait(t, cc.ID); got.Result != callback.ResultSecondLegFailed {
			t.Fatalf("calling card: %s/%s %q", got.Status, got.Result, got.LastError)
		}
		if pbs := e.playbacks(legID(cc.ID, "a")); len(pbs) == 0 || pbs[len(pbs)-1].lang != "en" ||
			strings.Join(pbs[len(pbs)-1].media, ",") != "sound:callbackd/busy" {
			t.Fatalf("calling card playbacks %+v, want busy in en last", pbs)
		}
		if n := logs.missing()["th callbackd/busy"]; n != 1 {
			t.Errorf("busy missing in th logged %d times by the two sub-applications, want once", n)
		}
	})
}

// Currency words fall back like every prompt: Thai has every prompt but
// the currency words, which are then said in Spanish, the next language
// listed, rather than left out.
func TestCurrencyWordsFallBack(t *testing.T) {
	has := func(lang, name string) bool {
		if lang == "th" {
			return sounds.Has("en", name) && !strings.HasPrefix(name, "callbackd/currency-")
		}
		return sounds.Has(lang, name)
	}
	stores(t, func(t *testing.T, st callback.Store) {
		logs := &logRecords{}
		e := newEnv(t, st, envOptions{log: slog.New(logs), app: func(o *callingcard.Options) { o.Sounds = has }})
		e.sim.Phone("15550001", answerWith("4420123#"))
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(200*time.Millisecond, aritest.CauseNormalClearing))
		r := card("alice", "15550001") // 5.00 USD
		r.OriginalCLD = "callingcard_th_es"
		e.create(r)
		if got := e.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
			t.Fatalf("%s/%s %q", got.Status, got.Result, got.LastError)
		}
		var order []string
		for _, p := range e.playbacks(legID(r.ID, "a")) {
			for _, m := range p.media {
				order = append(order, p.lang+" "+m)
			}
		}
		joined := strings.Join(order, " | ")
		if !strings.Contains(joined, "th sound:callbackd/your-balance-is | th number:5 | es sound:callbackd/currency-USD") {
			t.Errorf("balance not said with the currency in Spanish: %s", joined)
		}
		if got := logs.missing(); got["th callbackd/currency-USD"] != 1 || got["es callbackd/currency-USD"] != 0 {
			t.Errorf("missing prompts logged %v", got)
		}
	})
}
