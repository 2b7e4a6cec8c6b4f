package ari_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

// isOriginate matches leg A's originate of one channel.
func isOriginate(channel string) func(aritest.Request) bool {
	return func(r aritest.Request) bool {
		return r.Method == "POST" && r.Path == "/ari/channels" && r.Query.Get("channelId") == channel
	}
}

// talkThenHangUp waits until the second leg of request id is connected and
// hangs leg A up, as the user ending the conversation.
func (e *env) talkThenHangUp(id int64, connected int) {
	e.t.Helper()
	e.obs.waitAnswered(e.t, callback.LegB, connected)
	if err := e.sim.Hangup(legID(id, 1, "a"), aritest.CauseNormalClearing); err != nil {
		e.t.Fatal(err)
	}
}

func isRequest(method, path string) func(aritest.Request) bool {
	return func(r aritest.Request) bool { return r.Method == method && r.Path == path }
}

// TestOriginateNeverReceivedIsSentAgain: Asterisk closed the connection
// without reading the originate (a session over sessionlimit). The channel
// does not exist and no event of it comes, so the originate is sent again
// within the same attempt instead of the attempt being counted as failed.
func TestOriginateNeverReceivedIsSentAgain(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("87654321", aritest.Answer(5*time.Millisecond))
	sim.Phone("12345", aritest.Answer(5*time.Millisecond))
	p := testPolicy()
	p.MaxAttempts = 1
	e := newEnv(t, sim, withPolicy(p))
	e.ready()
	r := e.create(twoWay("87654321", "12345"))
	a := legID(r.ID, 1, "a")
	// Twice, because net/http resends a request lost on a reused
	// connection once by itself when nothing of it was written.
	sim.Fail(isOriginate(a), aritest.DropRequest)
	sim.Fail(isOriginate(a), aritest.DropRequest)
	e.start()
	e.talkThenHangUp(r.ID, 1)
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful || got.CallCount != 1 {
		t.Fatalf("got %s/%s after %d calls (%s)", got.Status, got.Result, got.CallCount, got.LastError)
	}
	e.wantHistory(r.ID, successHistory...)
	if n := len(e.originates(a)); n < 2 || n > 3 {
		t.Fatalf("%d originates of %s", n, a)
	}
	e.noChannels()
}

// TestOriginateAnswerLostIsResolvedFromEvents: the originate was carried
// out and its answer lost, and the user's phone was busy, so the channel
// is gone before callbackd asks for it. Its events tell what happened: the
// attempt ends with the phone's cause, and the user is not rung again.
func TestOriginateAnswerLostIsResolvedFromEvents(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("87654321", aritest.Reject(aritest.CauseUserBusy, 0))
	p := testPolicy()
	p.MaxAttempts = 1
	e := newEnv(t, sim, withPolicy(p))
	e.ready()
	r := e.create(twoWay("87654321", "12345"))
	a := legID(r.ID, 1, "a")
	sim.Fail(isOriginate(a), aritest.DropAnswer)
	e.start()
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultOutOfRetries || got.LastCause != aritest.CauseUserBusy || got.LastSIPCode != 486 {
		t.Fatalf("got %s/%s cause %d sip %d (%s)", got.Status, got.Result, got.LastCause, got.LastSIPCode, got.LastError)
	}
	if n := len(e.originates(a)); n != 1 {
		t.Fatalf("%d originates of %s: the user was rung %d times", n, a, n)
	}
	e.noChannels()
}

// TestDialLostIsSentAgain: the dial of leg B was lost with its connection.
// A dial of a created channel is safe to repeat, so it is sent again and
// the call goes on, rather than leg A waiting in silence for a leg that
// never rings.
func TestDialLostIsSentAgain(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("87654321", aritest.Answer(5*time.Millisecond))
	sim.Phone("12345", aritest.Answer(5*time.Millisecond))
	e := newEnv(t, sim)
	e.ready()
	r := e.create(twoWay("87654321", "12345"))
	b := legID(r.ID, 1, "b")
	sim.Fail(isRequest("POST", "/ari/channels/"+b+"/dial"), aritest.DropRequest)
	sim.Fail(isRequest("POST", "/ari/channels/"+b+"/dial"), aritest.DropRequest)
	sim.Fail(isRequest("POST", "/ari/bridges/"+legID(r.ID, 1, "br")+"/addChannel"), aritest.DropAnswer)
	e.start()
	e.talkThenHangUp(r.ID, 1)
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s (%s)", got.Status, got.Result, got.LastError)
	}
	e.wantHistory(r.ID, successHistory...)
	e.noChannels()
}

// TestDialAnswerLostIsNotAnError: the dial was carried out and its answer
// lost; sent again it meets a channel dialled already (409), which says
// the first one went through.
func TestDialAnswerLostIsNotAnError(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("87654321", aritest.Answer(5*time.Millisecond))
	sim.Phone("12345", aritest.Answer(5*time.Millisecond))
	e := newEnv(t, sim)
	e.ready()
	r := e.create(twoWay("87654321", "12345"))
	b := legID(r.ID, 1, "b")
	sim.Fail(isRequest("POST", "/ari/channels/"+b+"/dial"), aritest.DropAnswer)
	e.start()
	e.talkThenHangUp(r.ID, 1)
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s (%s)", got.Status, got.Result, got.LastError)
	}
	e.noChannels()
}

// TestHangupLostIsSentAgain: the DELETE that ends leg B after the user
// hung up was lost, twice. It is sent again rather than leaving the
// destination's leg up.
func TestHangupLostIsSentAgain(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("87654321", aritest.Answer(5*time.Millisecond))
	sim.Phone("12345", aritest.Answer(5*time.Millisecond))
	e := newEnv(t, sim)
	e.ready()
	r := e.create(twoWay("87654321", "12345"))
	b := legID(r.ID, 1, "b")
	sim.Fail(isRequest("DELETE", "/ari/channels/"+b), aritest.DropRequest)
	sim.Fail(isRequest("DELETE", "/ari/channels/"+b), aritest.DropRequest)
	e.start()
	e.talkThenHangUp(r.ID, 1)
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s (%s)", got.Status, got.Result, got.LastError)
	}
	e.noChannels()
}

// TestBurstStaysUnderSessionLimit: many callbacks due at once never open
// more HTTP sessions than Asterisk's sessionlimit; the requests over the
// bound wait their turn instead of being refused.
func TestBurstStaysUnderSessionLimit(t *testing.T) {
	const (
		n     = 30
		limit = 8
	)
	sim := aritest.NewT(t, aritest.WithSessionLimit(limit),
		aritest.WithDefaultPhone(aritest.Answer(5*time.Millisecond)))
	p := testPolicy()
	p.MaxAttempts = 1
	p.MaxLiveCalls = n
	p.Timeout = time.Minute // the phones answer at once; no leg rings out on a loaded machine
	p.Lease = time.Minute   // nor does a lease run out between two renewals
	e := newEnv(t, sim, withPolicy(p), withCtl(ari.WithMaxRequests(limit-3)))
	e.ready()
	ids := make([]int64, n)
	for i := range n {
		ids[i] = e.create(twoWay(fmt.Sprintf("4930%04d", i), "12345")).ID
	}
	e.start()
	e.obs.waitAnswered(t, callback.LegB, n)
	for _, id := range ids {
		if err := sim.Hangup(legID(id, 1, "a"), aritest.CauseNormalClearing); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		got := e.done.wait(t, id)
		if got.Result != callback.ResultSuccessful || got.CallCount != 1 {
			t.Errorf("request %d: %s/%s after %d calls (%s)", id, got.Status, got.Result, got.CallCount, got.LastError)
		}
	}
	if refused := sim.SessionsRefused(); refused != 0 {
		t.Fatalf("%d HTTP sessions refused over sessionlimit %d (peak %d)", refused, limit, sim.PeakSessions())
	}
	e.noChannels()
}
