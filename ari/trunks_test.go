package ari_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

// twoCarriers: t1 is tried first for every number, t2 next.
func twoCarriers(extra ...func(*ari.Trunk)) envOption {
	t1 := ari.Trunk{Name: "t1", Dial: "PJSIP/{number}@{trunk}", Prefixes: []string{"49"}}
	t2 := ari.Trunk{Name: "t2", Dial: "PJSIP/{number}@{trunk}", Prefixes: []string{"49"}, Priority: 1}
	for _, f := range extra {
		f(&t1)
	}
	return withCtl(ari.WithTrunk(t1), ari.WithTrunk(t2))
}

// creates lists the endpoints leg B was created on, in order.
func creates(sim *aritest.Sim) []string {
	var out []string
	for _, r := range sim.Requests() {
		if r.Method == "POST" && r.Path == "/ari/channels/create" {
			out = append(out, r.Query.Get("endpoint"))
		}
	}
	return out
}

// notes are the history lines with a note about trunks.
func notes(t *testing.T, e *env, id int64) []string {
	t.Helper()
	h, err := e.st.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range h {
		if strings.Contains(ev.Note, "trunk") {
			out = append(out, fmt.Sprintf("%s|%d|%d|%s", ev.Status, ev.Cause, ev.SIPCode, ev.Note))
		}
	}
	return out
}

// A destination the first carrier cannot take (503, 408, 480: Asterisk
// reports the SIP code as tech_cause) is tried on the next trunk, and
// each try is in the history; busy (486) and unknown number (404) are
// the destination's answer, not the carrier's, and are not.
func TestSecondLegFailsOverToTheNextTrunk(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cause    int // what t1 answers, as Asterisk maps it to SIP
		sip      int
		failover bool
	}{
		{"503", aritest.CauseCongestion, 503, true},
		{"408", aritest.CauseNoUserResponse, 408, true},
		{"480", aritest.CauseNoAnswer, 480, true},
		{"486", aritest.CauseUserBusy, 486, false},
		{"404", aritest.CauseUnallocated, 404, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := aritest.NewT(t)
			sim.Phone("4987654321", aritest.Answer(5*time.Millisecond))
			sim.Phone("4912345", aritest.Answer(5*time.Millisecond).ThenHangup(30*time.Millisecond, aritest.CauseNormalClearing))
			sim.PhoneVia("t1", "4912345", aritest.Reject(tc.cause, 5*time.Millisecond))
			e := newEnv(t, sim, twoCarriers())
			e.start()
			r := e.create(twoWay("4987654321", "4912345"))
			got := e.done.wait(t, r.ID)
			b := creates(sim)
			n := notes(t, e, r.ID)
			if !tc.failover {
				if got.Result != callback.ResultSecondLegFailed || got.LastSIPCode != tc.sip {
					t.Fatalf("got %s/%s SIP %d, want Second leg failed with %d", got.Status, got.Result, got.LastSIPCode, tc.sip)
				}
				if len(b) != 1 || len(n) != 0 {
					t.Fatalf("leg B created on %q, notes %q: want t1 alone", b, n)
				}
				return
			}
			if got.Result != callback.ResultSuccessful {
				t.Fatalf("got %s/%s (%s), want Successful through t2", got.Status, got.Result, got.LastError)
			}
			if want := []string{"PJSIP/4912345@t1", "PJSIP/4912345@t2"}; fmt.Sprint(b) != fmt.Sprint(want) {
				t.Fatalf("leg B created on %q, want %q", b, want)
			}
			want := fmt.Sprintf("Second leg initiated|%d|%d|leg B via trunk t1 failed (cause %d, SIP %d); trying trunk t2", tc.cause, tc.sip, tc.cause, tc.sip)
			if len(n) != 1 || n[0] != want {
				t.Fatalf("history notes %q, want %q", n, want)
			}
			e.wantHistory(r.ID, successHistory...)
			e.noChannels()
		})
	}
}

// Leg A fails over the same way, under the same channel id; a user who
// does not answer (ring out, cause 19 without a SIP code) is not rung
// again on another trunk.
func TestFirstLegFailsOverToTheNextTrunk(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("4987654321", aritest.Answer(5*time.Millisecond))
	sim.PhoneVia("t1", "4987654321", aritest.Unreachable(aritest.CauseCongestion))
	sim.Phone("4912345", aritest.Answer(5*time.Millisecond).ThenHangup(30*time.Millisecond, aritest.CauseNormalClearing))
	e := newEnv(t, sim, twoCarriers())
	e.start()
	r := e.create(twoWay("4987654321", "4912345"))
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful || got.CallCount != 1 {
		t.Fatalf("got %s/%s after %d calls (%s)", got.Status, got.Result, got.CallCount, got.LastError)
	}
	a := legID(r.ID, 1, "a")
	var eps []string
	for _, o := range e.originates(a) {
		eps = append(eps, o.Query.Get("endpoint"))
	}
	if fmt.Sprint(eps) != fmt.Sprint([]string{"PJSIP/4987654321@t1", "PJSIP/4987654321@t2"}) {
		t.Fatalf("leg A originated on %q", eps)
	}
	if n := notes(t, e, r.ID); len(n) != 1 || n[0] != "First leg initiated|34|503|leg A via trunk t1 failed (cause 34, SIP 503); trying trunk t2" {
		t.Fatalf("history notes %q", n)
	}
	e.noChannels()

	sim2 := aritest.NewT(t)
	sim2.PhoneVia("t1", "4987654321", aritest.RingOut())
	p := testPolicy()
	p.MaxAttempts = 1
	e2 := newEnv(t, sim2, twoCarriers(), withPolicy(p))
	e2.start()
	r2 := e2.create(twoWay("4987654321", "4912345"))
	got2 := e2.done.wait(t, r2.ID)
	if got2.Result != callback.ResultOutOfRetries || len(e2.originates(legID(r2.ID, 1, "a"))) != 1 {
		t.Fatalf("ring out: got %s/%s, %d originates; want one, no failover", got2.Status, got2.Result, len(e2.originates(legID(r2.ID, 1, "a"))))
	}
}

// A leg goes to the trunk with the longest matching prefix; a trunk at
// its channel cap is passed over for the next one of the route.
func TestTrunkRoutingAndChannelCap(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("4930111", aritest.Answer(5*time.Millisecond))
	sim.Phone("4940222", aritest.Answer(5*time.Millisecond).ThenHangup(30*time.Millisecond, aritest.CauseNormalClearing))
	e := newEnv(t, sim, withCtl(
		ari.WithTrunk(ari.Trunk{Name: "de", Dial: "PJSIP/{number}@{trunk}", Prefixes: []string{"49"}, MaxChannels: 1}),
		ari.WithTrunk(ari.Trunk{Name: "berlin", Dial: "PJSIP/{number}@{trunk}", Prefixes: []string{"4930"}}),
		ari.WithTrunk(ari.Trunk{Name: "any", Dial: "PJSIP/{number}@{trunk}", Priority: 5}),
	))
	e.start()
	r := e.create(twoWay("4930111", "4940222"))
	if got := e.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s (%s)", got.Status, got.Result, got.LastError)
	}
	if eps := e.originates(legID(r.ID, 1, "a")); len(eps) != 1 || eps[0].Query.Get("endpoint") != "PJSIP/4930111@berlin" {
		t.Fatalf("leg A to 4930111 not through berlin (longest prefix): %v", eps)
	}
	if b := creates(sim); len(b) != 1 || b[0] != "PJSIP/4940222@de" {
		t.Fatalf("leg B to 4940222 created on %q, want de", b)
	}

	// de carries one leg at most: leg A holds it, so leg B goes on to the
	// catch-all trunk.
	sim2 := aritest.NewT(t)
	sim2.Phone("4940111", aritest.Answer(5*time.Millisecond))
	sim2.Phone("4940222", aritest.Answer(5*time.Millisecond).ThenHangup(30*time.Millisecond, aritest.CauseNormalClearing))
	e2 := newEnv(t, sim2, withCtl(
		ari.WithTrunk(ari.Trunk{Name: "de", Dial: "PJSIP/{number}@{trunk}", Prefixes: []string{"49"}, MaxChannels: 1}),
		ari.WithTrunk(ari.Trunk{Name: "any", Dial: "PJSIP/{number}@{trunk}", Priority: 5}),
	))
	e2.start()
	r2 := e2.create(twoWay("4940111", "4940222"))
	if got := e2.done.wait(t, r2.ID); got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s (%s)", got.Status, got.Result, got.LastError)
	}
	if eps := e2.originates(legID(r2.ID, 1, "a")); len(eps) != 1 || eps[0].Query.Get("endpoint") != "PJSIP/4940111@de" {
		t.Fatalf("leg A not through de: %v", eps)
	}
	if b := creates(sim2); len(b) != 1 || b[0] != "PJSIP/4940222@any" {
		t.Fatalf("leg B created on %q, want any (de at its cap)", b)
	}
	if legs := e2.ctl.TrunkLegs(); legs["de"] != 0 || legs["any"] != 0 {
		t.Fatalf("trunk places not given back: %v", legs)
	}
}

// A trunk's identity rule puts the caller ID, with the trunk's prefix,
// in a P-Asserted-Identity (or Diversion) header of each leg's INVITE.
func TestTrunkIdentityHeaders(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("4987654321", aritest.Answer(5*time.Millisecond))
	sim.Phone("4912345", aritest.Answer(5*time.Millisecond).ThenHangup(30*time.Millisecond, aritest.CauseNormalClearing))
	e := newEnv(t, sim, withCtl(ari.WithTrunk(ari.Trunk{Name: "carrier", Dial: "PJSIP/{number}@{trunk}",
		IdentityHeader: ari.IdentityPAI, IdentityHost: "carrier.example.net", CallerIDPrefix: "+"})))
	e.start()
	r := e.create(twoWay("4987654321", "4912345"))
	if got := e.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s (%s)", got.Status, got.Result, got.LastError)
	}
	o := e.originates(legID(r.ID, 1, "a"))[0]
	if o.Query.Get("callerId") != "+4987654321" || bodyVariables(t, o)["PJSIP_HEADER(add,P-Asserted-Identity)"] != "<sip:+4987654321@carrier.example.net>" {
		t.Errorf("leg A: callerId %q variables %v", o.Query.Get("callerId"), bodyVariables(t, o))
	}
	for _, req := range sim.Requests() {
		if req.Method == "POST" && req.Path == "/ari/channels/create" {
			v := bodyVariables(t, req)
			if v["CALLERID(num)"] != "+801" || v["PJSIP_HEADER(add,P-Asserted-Identity)"] != "<sip:+801@carrier.example.net>" {
				t.Errorf("leg B variables %v", v)
			}
		}
	}
}

// lockedBuffer is a bytes.Buffer for a logger written from several
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A trunk that adds a P-Asserted-Identity through an endpoint with
// send_pai=yes sends two in each INVITE (seen against Asterisk 22 over
// SIP, TestRealAsteriskSIPpTrunkIdentity): the controller says so when it
// connects, naming the trunk, and says nothing of the trunks that are
// fine.
func TestTrunkIdentityPAIOnSendPAIEndpointWarned(t *testing.T) {
	sim := aritest.NewT(t)
	sim.SetConfigObject("res_pjsip", "endpoint", "carrier", map[string]string{"send_pai": "true", "context": "from-trunk"})
	sim.SetConfigObject("res_pjsip", "endpoint", "quiet", map[string]string{"send_pai": "false"})
	var logs lockedBuffer
	e := newEnv(t, sim, withCtl(
		ari.WithTrunk(ari.Trunk{Name: "carrier", Dial: "PJSIP/{number}@{trunk}", IdentityHeader: ari.IdentityPAI}),
		ari.WithTrunk(ari.Trunk{Name: "quiet", Dial: "PJSIP/{number}@{trunk}", IdentityHeader: ari.IdentityPAI}),
		// A Diversion is not written by send_pai.
		ari.WithTrunk(ari.Trunk{Name: "div", Dial: "PJSIP/{number}@carrier", Endpoint: "carrier", IdentityHeader: ari.IdentityDiversion}),
		ari.WithDefaultTrunk("quiet"),
		ari.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))))
	e.ready()
	var warned []string
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(line, "send_pai=yes") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "trunk=carrier") || !strings.Contains(warned[0], "level=WARN") {
		t.Fatalf("warnings about send_pai: %q, want one for the trunk carrier", warned)
	}
}
