package ari_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

// BenchmarkDispatchToOriginate measures how late leg A's originate reaches
// Asterisk against the request's next_call: 10,000 requests due over a
// window (inserted before, as a bulk INSERT by another SQL client would),
// through the real dispatcher, the SQLite store and the controller, to the
// simulated Asterisk over HTTP on 127.0.0.1. The phones are busy and one
// attempt is allowed, so every request costs one originate and ends at
// once. Run it with -benchtime=1x: one iteration is the whole scenario.
func BenchmarkDispatchToOriginate(b *testing.B) {
	for _, window := range []time.Duration{2 * time.Second, 40 * time.Second} {
		b.Run("window="+window.String(), func(b *testing.B) { dispatchToOriginate(b, window) })
	}
}

func dispatchToOriginate(b *testing.B, window time.Duration) {
	const (
		n    = 10000
		lead = 5 * time.Second // time to insert the rows before the first is due
	)
	for range b.N {
		sim := aritest.NewT(b, aritest.WithDefaultPhone(aritest.Busy()))
		p := testPolicy()
		p.MaxAttempts = 1
		p.MaxLiveCalls = 2000
		p.Lease = 30 * time.Second
		p.ScanInterval = time.Second
		e := newEnv(b, sim, withPolicy(p), withCtl(ari.WithMaxChannels(0)))
		e.ready()
		// The rows go in through one transaction, as a bulk INSERT by
		// another SQL client would: the benchmark measures dispatching,
		// not the store's per-row commit.
		start := time.Now().Add(lead)
		tx, err := e.st.RawDB().Begin()
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			nc := start.Add(time.Duration(i) * window / n).UTC().Format("2006-01-02 15:04:05.000")
			if _, err := tx.Exec(`INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('801', ?, '2way_12345', ?)`,
				fmt.Sprintf("4930%06d", i), nc); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		if late := time.Since(start); late > 0 {
			b.Fatalf("inserting took %s longer than the lead", late)
		}
		rows, err := e.st.ListRequests(context.Background(), callback.RequestFilter{Limit: n + 1})
		if err != nil || len(rows) != n {
			b.Fatalf("%d rows: %v", len(rows), err)
		}
		ids := make([]int64, 0, n)
		due := make(map[string]time.Time, n)
		for _, r := range rows {
			ids = append(ids, r.ID)
			due[legID(r.ID, 1, "a")] = r.NextCall
		}
		e.start()
		b.ResetTimer()
		for _, id := range ids {
			e.done.wait(b, id)
		}
		b.StopTimer()
		// Split each delay at setup_time (taken just before First leg
		// initiated is written): before it, the dispatcher and the store;
		// after it, that write and the controller.
		final, err := e.st.ListRequests(context.Background(), callback.RequestFilter{Limit: n + 1})
		if err != nil {
			b.Fatal(err)
		}
		setup := make(map[string]time.Time, n)
		for _, r := range final {
			setup[legID(r.ID, 1, "a")] = r.SetupTime
		}
		var lat, disp, ctl []time.Duration
		for _, r := range sim.Requests() {
			if r.Method != "POST" || r.Path != "/ari/channels" {
				continue
			}
			id := r.Query.Get("channelId")
			if nc, ok := due[id]; ok {
				lat = append(lat, r.Received.Sub(nc))
				disp = append(disp, setup[id].Sub(nc))
				ctl = append(ctl, r.Received.Sub(setup[id]))
			}
		}
		if len(lat) != n {
			b.Fatalf("%d originates for %d requests", len(lat), n)
		}
		report := func(d []time.Duration, name string) {
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"p50-ms")
			b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, name+"p99-ms")
		}
		report(lat, "")
		report(disp, "to-setup-")
		report(ctl, "setup-to-originate-")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		b.ReportMetric(float64(n)/(time.Since(start).Seconds()), "req/s")
		e.stop()
	}
}

// BenchmarkMemoryPerLiveCall holds many 2-way callbacks in conversation at
// once and reports the memory (heap and stacks) and goroutines each costs,
// and how long events took from Asterisk to their call while the calls
// were set up:
// the whole process (controller, dispatcher, store, simulator, which also
// records every request and event it saw) and, for comparison, the
// simulator alone holding the same channels.
func BenchmarkMemoryPerLiveCall(b *testing.B) {
	const n = 5000
	for range b.N {
		sim := aritest.NewT(b, aritest.WithDefaultPhone(answerNoRing()))
		p := testPolicy()
		p.MaxLiveCalls = n
		p.Lease = time.Minute
		p.Timeout = time.Minute
		e := newEnv(b, sim, withPolicy(p), withCtl(ari.WithMaxChannels(2*n)))
		e.ready()
		e.start()
		before := heap()
		for i := range n {
			e.create(twoWay(fmt.Sprintf("4931%06d", i), fmt.Sprintf("4932%06d", i)))
		}
		e.obs.waitAnswered(b, callback.LegB, n)
		after := heap()
		if live := e.ctl.LiveCalls(); live != n {
			b.Fatalf("%d live calls, want %d", live, n)
		}
		b.ReportMetric(float64(int64(after.heap)-int64(before.heap))/n, "heap-B/call")
		b.ReportMetric(float64(int64(after.stack)-int64(before.stack))/n, "stack-B/call")
		b.ReportMetric(float64(after.goroutines-before.goroutines)/n, "goroutines/call")
		// Event handling: from Asterisk's timestamp (millisecond
		// resolution) to the event reaching its call's buffer, over every
		// event of the run.
		p50, _ := e.obs.routedQuantile(0.5)
		p99, worst := e.obs.routedQuantile(0.99)
		b.ReportMetric(float64(p50.Milliseconds()), "event-p50-ms")
		b.ReportMetric(float64(p99.Milliseconds()), "event-p99-ms")
		b.ReportMetric(float64(worst.Milliseconds()), "event-max-ms")
		e.obs.mu.Lock()
		dropped := e.obs.dropped
		e.obs.mu.Unlock()
		b.ReportMetric(float64(dropped), "events-dropped")
		e.stop()

		// The simulator's share: the same number of channel pairs, answered
		// and in Stasis, without callbackd.
		solo := aritest.NewT(b, aritest.WithDefaultPhone(answerNoRing()))
		l := listenSim(b, solo)
		s0 := heap()
		for i := range 2 * n {
			originate(b, solo, fmt.Sprintf("solo-%d", i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		if _, err := solo.WaitEvent(ctx, fmt.Sprintf("solo-%d", 2*n-1), "StasisStart"); err != nil {
			b.Fatal(err)
		}
		cancel()
		s1 := heap()
		b.ReportMetric(float64(int64(s1.heap)-int64(s0.heap))/n, "sim-heap-B/call")
		b.ReportMetric(float64(int64(s1.stack)-int64(s0.stack))/n, "sim-stack-B/call")
		b.ReportMetric(float64(s1.goroutines-s0.goroutines)/n, "sim-goroutines/call")
		l()
	}
}

type usage struct {
	heap, stack uint64
	goroutines  int
}

// heap measures the live heap, the goroutine stacks and the goroutines.
// Each GC halves stacks that use less than a quarter of their size, so
// several runs show what a long-lived call keeps.
func heap() usage {
	for range 6 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return usage{m.HeapAlloc, m.StackInuse, runtime.NumGoroutine()}
}

// listenSim connects a bare application to the simulator so that its
// originates are answered into Stasis; it returns a stop function.
func listenSim(b *testing.B, sim *aritest.Sim) func() {
	b.Helper()
	user, pass := sim.Credentials()
	ctl, err := ari.New(ari.WithURL(sim.URL()), ari.WithCredentials(user, pass), ari.WithAppName("solo"))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, wait)
	defer wcancel()
	if err := ctl.WaitReady(wctx); err != nil {
		b.Fatal(err)
	}
	return func() { cancel(); <-done }
}

func originate(b *testing.B, sim *aritest.Sim, id string) {
	b.Helper()
	body := `{"endpoint":"PJSIP/1@trunk","app":"solo","channelId":"` + id + `","timeout":-1}`
	req, _ := http.NewRequest("POST", sim.ARIURL()+"/channels", strings.NewReader(body))
	req.SetBasicAuth(sim.Credentials())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("originate %s: %d", id, resp.StatusCode)
	}
}

// BenchmarkRecovery stops the simulated Asterisk while requests are due,
// then starts it again and measures the time from its return to the first
// originate, and to the last of the requests queued meanwhile: the
// controller's reconnect backoff (full jitter, capped at 1 s), the
// reconciliation after connect, and the dispatcher's wake-up together.
// Each iteration runs rounds outages of 2 s with perRound requests
// queued in each; run it with -benchtime=1x.
func BenchmarkRecovery(b *testing.B) {
	const (
		rounds   = 10
		perRound = 200
		downtime = 2 * time.Second
	)
	for range b.N {
		sim := aritest.NewT(b, aritest.WithDefaultPhone(aritest.Busy()))
		p := testPolicy()
		p.MaxAttempts = 1
		p.MaxLiveCalls = 1000
		// The production reconnect backoff, not the tests' shorter one.
		e := newEnv(b, sim, withPolicy(p), withCtl(ari.WithMaxChannels(0), ari.WithReconnect(100*time.Millisecond, time.Second)))
		e.ready()
		e.start()
		var first, all []time.Duration
		for round := range rounds {
			sim.Stop()
			// Queue the requests once the controller knows Asterisk is
			// gone, so that none is dialled into the stopping server.
			for deadline := time.Now().Add(wait); e.ctl.Ready(); {
				if time.Now().After(deadline) {
					b.Fatal("the controller did not notice that Asterisk stopped")
				}
				time.Sleep(time.Millisecond)
			}
			legs := make(map[string]bool, perRound)
			ids := make([]int64, 0, perRound)
			for i := range perRound {
				r := e.create(twoWay(fmt.Sprintf("49%02d%06d", round, i), "12345"))
				legs[legID(r.ID, 1, "a")] = true
				ids = append(ids, r.ID)
			}
			time.Sleep(downtime)
			up := time.Now()
			if _, err := sim.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			for _, id := range ids {
				e.done.wait(b, id)
			}
			var got []time.Duration
			for _, r := range sim.Requests() {
				if r.Method == "POST" && r.Path == "/ari/channels" && legs[r.Query.Get("channelId")] && r.Received.After(up) {
					got = append(got, r.Received.Sub(up))
				}
			}
			if len(got) != perRound {
				b.Fatalf("round %d: %d originates after the restart for %d requests", round, len(got), perRound)
			}
			slices.Sort(got)
			first = append(first, got[0])
			all = append(all, got[len(got)-1])
		}
		report := func(d []time.Duration, name string) {
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"-p50-ms")
			b.ReportMetric(float64(d[len(d)-1].Microseconds())/1000, name+"-max-ms")
		}
		report(first, "first-dial")
		report(all, "all-dialled")
		e.stop()
	}
}

// BenchmarkBurst puts 1,000 2-way callbacks due at the same moment (one
// bulk INSERT) through the dispatcher, the SQLite store and the
// controller, against the simulated Asterisk with its default http.conf
// session limit (100 connections). Every user answers; once every
// destination has answered, every user hangs up. It reports the HTTP
// sessions Asterisk refused and the most open at once, the attempts
// counted failed (dialled more than once, or not Successful), the users
// left in silence (answered, never bridged to the destination), the
// silence each user heard between answering and the destination
// answering, and the time from due to the last bridged call. Run it with
// -benchtime=1x: one iteration is the whole scenario.
func BenchmarkBurst(b *testing.B) {
	const (
		n    = 1000
		lead = 2 * time.Second
	)
	for range b.N {
		sim := aritest.NewT(b, aritest.WithDefaultPhone(aritest.Answer(5*time.Millisecond)))
		p := testPolicy()
		p.MaxAttempts = 3
		p.MaxLiveCalls = 2 * n
		p.Lease = 30 * time.Second
		p.Timeout = time.Minute
		p.ScanInterval = time.Second
		e := newEnv(b, sim, withPolicy(p), withCtl(ari.WithMaxChannels(2*n)))
		e.ready()
		due := time.Now().Add(lead)
		tx, err := e.st.RawDB().Begin()
		if err != nil {
			b.Fatal(err)
		}
		nc := due.UTC().Format("2006-01-02 15:04:05.000")
		for i := range n {
			if _, err := tx.Exec(`INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('801', ?, ?, ?)`,
				fmt.Sprintf("4930%06d", i), fmt.Sprintf("2way_4931%06d", i), nc); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		if late := time.Since(due); late > 0 {
			b.Fatalf("inserting took %s longer than the lead", late)
		}
		rows, err := e.st.ListRequests(context.Background(), callback.RequestFilter{Limit: n + 1})
		if err != nil || len(rows) != n {
			b.Fatalf("%d rows: %v", len(rows), err)
		}
		e.start()
		b.ResetTimer()
		waitAnsweredWithin(b, e.obs, n, 5*time.Minute)
		allBridged := time.Since(due)
		b.StopTimer()
		for _, r := range rows {
			if err := sim.Hangup(legID(r.ID, 1, "a"), aritest.CauseNormalClearing); err != nil {
				b.Fatal(err)
			}
		}
		failed, silent := 0, 0
		for _, r := range rows {
			got := e.done.wait(b, r.ID)
			if got.CallCount != 1 || got.Result != callback.ResultSuccessful {
				failed++
			}
			if got.Result == callback.ResultFirstLegAborted {
				silent++
			}
		}
		var silence []time.Duration
		for _, r := range rows {
			answered := firstEvent(sim.History(legID(r.ID, 1, "a")), "StasisStart")
			bAnswered := firstEvent(sim.History(legID(r.ID, 1, "b")), "ChannelEnteredBridge")
			if answered.IsZero() || bAnswered.IsZero() {
				silent++
				continue
			}
			silence = append(silence, bAnswered.Sub(answered))
		}
		slices.Sort(silence)
		b.ReportMetric(float64(sim.SessionsRefused()), "sessions-refused")
		b.ReportMetric(float64(sim.PeakSessions()), "sessions-peak")
		b.ReportMetric(float64(failed), "attempts-failed")
		b.ReportMetric(float64(silent), "users-in-silence")
		if len(silence) > 0 {
			b.ReportMetric(float64(silence[len(silence)/2].Milliseconds()), "silence-p50-ms")
			b.ReportMetric(float64(silence[len(silence)*99/100].Milliseconds()), "silence-p99-ms")
			b.ReportMetric(float64(silence[len(silence)-1].Milliseconds()), "silence-max-ms")
		}
		b.ReportMetric(allBridged.Seconds(), "all-bridged-s")
		e.stop()
	}
}

// waitAnsweredWithin waits until n second legs answered, for at most d:
// a burst on a loaded machine takes longer than one test's wait.
func waitAnsweredWithin(b *testing.B, o *ctlObserver, n int, d time.Duration) {
	b.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		got, ch := o.answered[callback.LegB], o.notify
		o.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			b.Fatalf("%d of %d second legs answered within %s", got, n, d)
		}
	}
}

// firstEvent is the time of the first event of type typ in a history.
func firstEvent(h []aritest.Event, typ string) time.Time {
	for _, ev := range h {
		if ev.Type == typ {
			return ev.Time
		}
	}
	return time.Time{}
}
