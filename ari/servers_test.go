package ari_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

// newServers starts n simulated Asterisk servers, ast1..astn, and returns
// them with the controller options naming them; caps[i], when given, is
// server i's channel cap.
func newServers(t testing.TB, n int, caps ...int) ([]*aritest.Sim, []ari.Option) {
	t.Helper()
	sims := make([]*aritest.Sim, n)
	opts := make([]ari.Option, n)
	for i := range n {
		sims[i] = aritest.NewT(t)
		user, pass := sims[i].Credentials()
		s := ari.Server{Name: fmt.Sprintf("ast%d", i+1), URL: sims[i].URL(), User: user, Password: pass}
		if i < len(caps) {
			s.MaxChannels = caps[i]
		}
		opts[i] = ari.WithServer(s)
	}
	return sims, opts
}

// phoneAll gives number behaviour b on every server.
func phoneAll(sims []*aritest.Sim, number string, b aritest.Behaviour) {
	for _, s := range sims {
		s.Phone(number, b)
	}
}

// serverLegID is the id of a leg placed on a named server.
func serverLegID(server string, id int64, attempt int, leg string) string {
	return fmt.Sprintf("cbd-%s-%d-%d-%s", server, id, attempt, leg)
}

// originatesOf lists the originates of request id on sim.
func originatesOf(sim *aritest.Sim, id int64) []aritest.Request {
	var out []aritest.Request
	for _, r := range sim.Requests() {
		if r.Method == "POST" && r.Path == "/ari/channels" && strings.Contains(r.Query.Get("channelId"), fmt.Sprintf("-%d-", id)) &&
			strings.HasSuffix(r.Query.Get("channelId"), "-a") {
			out = append(out, r)
		}
	}
	return out
}

// waitNote waits until the history of request id has a note holding
// text: a request put back undialled says why there.
func (e *env) waitNote(id int64, text string) {
	e.t.Helper()
	for deadline := time.Now().Add(wait); ; {
		hist, err := e.st.History(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range hist {
			if strings.Contains(ev.Note, text) {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("request %d: no note %q in its history", id, text)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitServers waits until every server is connected.
func (e *env) waitServers(want int) {
	e.t.Helper()
	for deadline := time.Now().Add(wait); ; {
		up := 0
		for _, s := range e.ctl.ServerStates() {
			if s.Ready {
				up++
			}
		}
		if up == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d servers connected, want %d", up, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// liveOn counts the channels of ours on sim, by leg.
func liveOn(sim *aritest.Sim) int {
	n := 0
	for _, ch := range sim.Channels() {
		if strings.HasPrefix(ch.ID, "cbd-") {
			n++
		}
	}
	return n
}

// hangUpLegsA hangs up every leg A of ours on sims, as the users would.
func hangUpLegsA(t testing.TB, sims ...*aritest.Sim) {
	t.Helper()
	for _, sim := range sims {
		for _, ch := range sim.Channels() {
			if strings.HasSuffix(ch.ID, "-a") {
				if err := sim.Hangup(ch.ID, aritest.CauseNormalClearing); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// talking creates n 2-way callbacks from numbers prefix0.. to 12345, which
// answer on every server and talk until hung up, and waits until all n
// are bridged; 12345 must answer already.
func (e *env) talking(sims []*aritest.Sim, prefix string, n int) []int64 {
	e.t.Helper()
	var ids []int64
	for i := range n {
		num := fmt.Sprintf("%s%02d", prefix, i)
		phoneAll(sims, num, answerNoRing())
		ids = append(ids, e.create(twoWay(num, "12345")).ID)
	}
	e.obs.waitAnswered(e.t, callback.LegB, n)
	return ids
}

// Nine callbacks that talk at once are spread three to a server, each
// server's channels carrying its name.
func TestSeveralServersSpread(t *testing.T) {
	sims, opts := newServers(t, 3)
	phoneAll(sims, "12345", answerNoRing())
	e := newEnv(t, sims[0], withCtl(opts...))
	e.start()
	e.waitServers(3)
	ids := e.talking(sims, "70", 9)
	for i, sim := range sims {
		name := fmt.Sprintf("cbd-ast%d-", i+1)
		chans := sim.Channels()
		if len(chans) != 6 {
			t.Errorf("server %d holds %d channels, want 6 (three calls)", i+1, len(chans))
		}
		for _, ch := range chans {
			if !strings.HasPrefix(ch.ID, name) {
				t.Errorf("channel %s on server %d", ch.ID, i+1)
			}
		}
	}
	for _, s := range e.ctl.ServerStates() {
		if s.Channels != 6 || !s.Ready {
			t.Errorf("server state %+v", s)
		}
	}
	hangUpLegsA(t, sims...)
	for _, id := range ids {
		if got := e.done.wait(t, id); got.Result != callback.ResultSuccessful || got.CallCount != 1 {
			t.Fatalf("request %d: %s/%s after %d calls", id, got.Status, got.Result, got.CallCount)
		}
	}
	for _, sim := range sims {
		if n := liveOn(sim); n != 0 {
			t.Errorf("%d channels left", n)
		}
	}
}

// A server at its cap is passed over; with every server full the call is
// not placed (no attempt counted) until a call ends.
func TestSeveralServersCaps(t *testing.T) {
	sims, opts := newServers(t, 2, 2, 2)
	phoneAll(sims, "12345", answerNoRing())
	e := newEnv(t, sims[0], withCtl(opts...))
	e.start()
	e.waitServers(2)
	ids := e.talking(sims, "71", 2)
	phoneAll(sims, "719", answerNoRing())
	third := e.create(twoWay("719", "12345"))
	e.waitNote(third.ID, "every Asterisk server is at its channel cap")
	for i, sim := range sims {
		if n := liveOn(sim); n != 2 {
			t.Fatalf("server %d holds %d channels with a cap of 2", i+1, n)
		}
	}
	// One call ends: the third takes its place.
	freed := sims[1]
	hangUpLegsA(t, freed)
	e.obs.waitAnswered(t, callback.LegB, 3)
	if n := len(originatesOf(freed, third.ID)); n != 1 {
		t.Fatalf("the third call was originated %d times on the freed server", n)
	}
	hangUpLegsA(t, sims...)
	for _, id := range append(ids, third.ID) {
		if got := e.done.wait(t, id); got.Result != callback.ResultSuccessful || got.CallCount != 1 {
			t.Fatalf("request %d: %s/%s after %d calls", id, got.Status, got.Result, got.CallCount)
		}
	}
}

// One of three servers dies with a conversation and a ringing callback on
// it. The conversation is settled, the ringing request is not dialled
// again elsewhere while its first leg may still ring on the dead server,
// the calls on the other servers go on, and a new callback is placed on
// them. When the server comes back, the request is dialled once more,
// after the reconciliation.
func TestSeveralServersOneDies(t *testing.T) {
	sims, opts := newServers(t, 3)
	phoneAll(sims, "12345", answerNoRing())
	p := testPolicy()
	p.Timeout = time.Hour // the ringing leg rings until the test is over
	e := newEnv(t, sims[0], withPolicy(p), withCtl(opts...))
	e.start()
	e.waitServers(3)
	talking := e.talking(sims, "72", 3)
	// One talking call a server; the ringing one goes to the first
	// (fewest channels, first configured).
	phoneAll(sims, "888", aritest.RingOut())
	ringing := e.create(twoWay("888", "12345"))
	e.waitEvent(serverLegID("ast1", ringing.ID, 1, "a"), "Dial")
	var onDead int64
	for _, id := range talking {
		r, err := e.st.GetRequest(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(r.CallID, "cbd-ast1-") {
			onDead = id
		}
	}
	if onDead == 0 {
		t.Fatal("no talking call on ast1")
	}

	sims[0].Stop()
	// The conversation on the dead server is settled: it took place.
	if got := e.done.wait(t, onDead); got.Result != callback.ResultSuccessful {
		t.Fatalf("call on the dead server: %s/%s", got.Status, got.Result)
	}
	// The ringing request is put back, and not dialled on the others.
	e.waitNote(ringing.ID, "previous attempt is unreachable")
	for i, sim := range sims[1:] {
		if n := len(originatesOf(sim, ringing.ID)); n != 0 {
			t.Fatalf("ringing request dialled again on ast%d while ast1 is down", i+2)
		}
	}
	// A new callback goes to the living servers.
	phoneAll(sims, "730", aritest.Answer(5*time.Millisecond))
	phoneAll(sims, "990", aritest.Answer(5*time.Millisecond).ThenHangup(10*time.Millisecond, 0))
	fresh := e.create(twoWay("730", "990"))
	if got := e.done.wait(t, fresh.ID); got.Result != callback.ResultSuccessful || strings.HasPrefix(got.CallID, "cbd-ast1-") {
		t.Fatalf("new callback: %s/%s on %s", got.Status, got.Result, got.CallID)
	}
	// The other conversations go on untouched.
	for _, id := range talking {
		if id == onDead {
			continue
		}
		r, err := e.st.GetRequest(context.Background(), id)
		if err != nil || r.Status != callback.StatusSecondLegConnected {
			t.Fatalf("call %d on a living server: %v %v", id, r.Status, err)
		}
	}
	for i, sim := range sims[1:] {
		if n := liveOn(sim); n != 2 {
			t.Fatalf("ast%d holds %d channels, want its conversation's 2", i+2, n)
		}
	}

	// ast1 comes back: the request is dialled again, once.
	phoneAll(sims, "888", aritest.Answer(5*time.Millisecond))
	phoneAll(sims, "12345", aritest.Answer(5*time.Millisecond).ThenHangup(10*time.Millisecond, 0))
	if _, err := sims[0].Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := e.done.wait(t, ringing.ID)
	if got.Result != callback.ResultSuccessful || got.CallCount != 2 {
		t.Fatalf("ringing request: %s/%s after %d calls", got.Status, got.Result, got.CallCount)
	}
	total := 0
	for _, sim := range sims {
		total += len(originatesOf(sim, ringing.ID))
	}
	if total != 2 {
		t.Fatalf("ringing request originated %d times over two attempts", total)
	}
	hangUpLegsA(t, sims[1:]...)
	for _, id := range talking {
		if got := e.done.wait(t, id); got.Result != callback.ResultSuccessful {
			t.Fatalf("call %d: %s/%s", id, got.Status, got.Result)
		}
	}
}

// whichServer is a sub-application that reports the server its call is
// on and hangs up.
type whichServer struct{ got chan string }

func (w whichServer) Run(ctx context.Context, s *ari.Session) callback.Outcome {
	w.got <- s.Server()
	if err := s.Hangup(ctx, s.LegA(), "normal"); err != nil {
		return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: err.Error()}
	}
	return callback.Outcome{Result: callback.ResultSuccessful}
}

// An inbound IVR call entering Stasis on the second server is answered
// and served there.
func TestSeveralServersInboundOnSecond(t *testing.T) {
	sims, opts := newServers(t, 2)
	got := make(chan string, 1)
	var e *env
	e = newEnv(t, sims[0], withCtl(append(opts, ari.WithApp(callback.SubAppCallingCard, whichServer{got}),
		ari.WithInbound(func(ctx context.Context, in ari.Inbound) error {
			r := callback.NewRequest(callback.SourceIVR)
			r.Username, r.OriginalCLI, r.OriginalCLD, r.CallID = "801", in.CallerID, "callingcard", in.Channel
			return e.disp.Start(ctx, r)
		}, 5*time.Second))...))
	e.start()
	e.waitServers(2)
	ch, err := sims[1].Inbound(ivrCall())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case name := <-got:
		if name != "ast2" {
			t.Fatalf("inbound call served on %q", name)
		}
	case <-time.After(wait):
		t.Fatal("inbound call not served")
	}
	if cause := releasedWith(t, sims[1], ch); cause != aritest.CauseNormalClearing {
		t.Fatalf("ended with cause %d", cause)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := sims[1].WaitRequest(ctx, func(r aritest.Request) bool {
		return r.Method == "POST" && r.Path == "/ari/channels/"+ch+"/answer"
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range sims[0].Requests() {
		if strings.Contains(r.Path, ch) {
			t.Fatalf("request about the second server's caller sent to the first: %s %s", r.Method, r.Path)
		}
	}
}

// A server configured twice, a bad name, or a trunk it names that does not
// exist are refused.
func TestSeveralServersConfigRefused(t *testing.T) {
	for name, opts := range map[string][]ari.Option{
		"twice":     {ari.WithServer(ari.Server{Name: "a", URL: "http://127.0.0.1:1"}), ari.WithServer(ari.Server{Name: "a", URL: "http://127.0.0.1:2"})},
		"bad name":  {ari.WithServer(ari.Server{Name: "1st", URL: "http://127.0.0.1:1"})},
		"dash":      {ari.WithServer(ari.Server{Name: "a-b", URL: "http://127.0.0.1:1"})},
		"trunk":     {ari.WithServer(ari.Server{Name: "a", URL: "http://127.0.0.1:1", Trunks: []string{"nope"}})},
		"cap 1":     {ari.WithServer(ari.Server{Name: "a", URL: "http://127.0.0.1:1", MaxChannels: 1})},
		"bad url":   {ari.WithServer(ari.Server{Name: "a", URL: "ftp://x"})},
		"no server": {},
	} {
		if _, err := ari.New(opts...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
