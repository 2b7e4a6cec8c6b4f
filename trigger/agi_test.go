package trigger_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/agi/agitest"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/trigger"
)

const remoteAddr = "CHANNEL(pjsip,remote_addr)"

func getsRemoteAddr(tr *agitest.Transcript) bool {
	return slices.ContainsFunc(tr.CommandLines(), func(l string) bool {
		return strings.HasPrefix(l, "GET VARIABLE") && strings.Contains(l, remoteAddr)
	})
}

// The SIP peer's address is asked of Asterisk only for the per-source
// limit; without the limit the round trip is saved.
func TestSourceAskedOnlyForTheLimit(t *testing.T) {
	peer := func(c *agitest.Call) { c.Variables = map[string]string{remoteAddr: "203.0.113.5:5060"} }

	f := newFixture(t, dbtest.SQLite(t), trigger.Limits{})
	f.number(ani("18005550100", func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default" }))
	tr := f.ring("ani", "18005550100", "4930777777", peer)
	if getsRemoteAddr(tr) || tr.Variables[trigger.VarAction] != "callback" || tr.SIPCode != 603 {
		t.Fatalf("without a per-source limit: %q, %v, SIP %d", tr.CommandLines(), tr.Variables, tr.SIPCode)
	}

	f = newFixture(t, dbtest.SQLite(t), trigger.Limits{PerSource: limiter.Limit{Every: time.Hour, Burst: 1}})
	f.number(ani("18005550100", func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default" }))
	var actions []string
	for _, cli := range []string{"4930777777", "4930888888"} {
		tr := f.ring("ani", "18005550100", cli, peer)
		if !getsRemoteAddr(tr) {
			t.Fatalf("with a per-source limit the peer was not asked for: %q", tr.CommandLines())
		}
		actions = append(actions, tr.Variables[trigger.VarAction]+": "+tr.Variables[trigger.VarReason])
	}
	// Two callers behind one SIP peer share its limit.
	if !strings.HasPrefix(actions[0], "callback") || actions[1] != "reject: rate limit per source exceeded" {
		t.Fatalf("actions %q", actions)
	}
}
