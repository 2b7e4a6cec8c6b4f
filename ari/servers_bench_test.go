package ari_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

// BenchmarkSeveralServers drives three simulated Asterisk servers from one
// controller: 5,000 2-way callbacks due at once (one bulk INSERT) are
// placed and bridged, spread over the three, and talk on; then the second
// server is stopped (its listener closes, its WebSocket drops, its
// channels vanish) and 100 new callbacks are created at once. It reports
// how the calls were spread, the time from the kill to the first and to
// the last new callback originated on a living server, the calls the
// kill ended (those of the dead server, and any of the living ones), the
// time until they were all settled, and the double dials: first legs
// originated more than once. Run it with -benchtime=1x.
func BenchmarkSeveralServers(b *testing.B) {
	const (
		n     = 5000
		fresh = 100
		lead  = 3 * time.Second
	)
	for range b.N {
		sims, opts := newServers(b, 3)
		for _, s := range sims {
			s.Phone("12345", aritest.Answer(5*time.Millisecond))
		}
		p := testPolicy()
		p.MaxAttempts = 3
		p.MaxLiveCalls = 2 * n
		p.Lease = time.Minute
		p.Timeout = time.Minute
		p.ScanInterval = time.Second
		e := newEnv(b, sims[0], withPolicy(p), withCtl(append(opts, ari.WithMaxChannels(0))...))
		e.waitServers(3)
		due := time.Now().Add(lead)
		tx, err := e.st.RawDB().Begin()
		if err != nil {
			b.Fatal(err)
		}
		nc := due.UTC().Format("2006-01-02 15:04:05.000")
		for i := range n {
			num := fmt.Sprintf("4930%06d", i)
			for _, s := range sims {
				s.Phone(num, aritest.Answer(5*time.Millisecond))
			}
			if _, err := tx.Exec(`INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('801', ?, '2way_12345', ?)`,
				num, nc); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		rows, err := e.st.ListRequests(context.Background(), callback.RequestFilter{Limit: n + 1})
		if err != nil || len(rows) != n {
			b.Fatalf("%d rows: %v", len(rows), err)
		}
		e.start()
		// Every request is bridged, or finished without (counted below).
		notBridged := 0
		for deadline := time.Now().Add(20 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			e.obs.mu.Lock()
			bridged := e.obs.answered[callback.LegB]
			e.obs.mu.Unlock()
			e.done.mu.Lock()
			notBridged = len(e.done.final)
			e.done.mu.Unlock()
			if bridged+notBridged >= n {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d callbacks bridged, %d finished without", bridged, n, notBridged)
			}
		}
		allBridged := time.Since(due)
		// Why the callbacks that finished without a bridge did: their
		// results and last errors, so a fault is told from the load.
		why := map[string]int{}
		e.done.mu.Lock()
		for _, r := range e.done.final {
			le := r.LastError
			if len(le) > 200 {
				le = le[:200]
			}
			why[string(r.Result)+": "+le]++
		}
		e.done.mu.Unlock()
		for k, v := range why {
			b.Logf("finished without a bridge: %d %s", v, k)
		}
		states := e.ctl.ServerStates()
		dead := sims[1]
		onDead := map[int64]bool{}
		for _, r := range rows {
			got, err := e.st.GetRequest(context.Background(), r.ID)
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(got.CallID, "cbd-ast2-") {
				onDead[r.ID] = true
			}
		}

		finishedBefore := map[int64]bool{}
		e.done.mu.Lock()
		for id := range e.done.final {
			finishedBefore[id] = true
		}
		e.done.mu.Unlock()
		b.ResetTimer()
		killed := time.Now()
		dead.Stop()
		for _, s := range sims {
			s.Phone("555", aritest.Answer(5*time.Millisecond))
			s.Phone("556", aritest.Answer(5*time.Millisecond).ThenHangup(10*time.Millisecond, 0))
		}
		var newIDs []int64
		for range fresh {
			// The store is busiest now, settling the dead server's calls:
			// a create that times out is sent again.
			r := twoWay("555", "556")
			for try := 1; ; try++ {
				err := e.svc.Create(context.Background(), r)
				if err == nil {
					break
				}
				if try == 10 {
					b.Fatal(err)
				}
			}
			newIDs = append(newIDs, r.ID)
		}
		for _, id := range newIDs {
			e.done.waitWithin(b, id, 5*time.Minute)
		}
		for id := range onDead {
			e.done.waitWithin(b, id, 5*time.Minute)
		}
		settled := time.Since(killed)
		b.StopTimer()

		isNew := map[int64]bool{}
		for _, id := range newIDs {
			isNew[id] = true
		}
		var flow []time.Duration
		onDeadNew := 0
		for _, id := range newIDs {
			r, err := e.st.GetRequest(context.Background(), id)
			if err != nil {
				b.Fatal(err)
			}
			if r.Result != callback.ResultSuccessful {
				b.Fatalf("new callback %d: %s/%s (%s)", id, r.Status, r.Result, r.LastError)
			}
			if r.CallCount > 1 {
				onDeadNew++
			}
		}
		originated := map[string]int{}
		for i, s := range sims {
			for _, r := range s.Requests() {
				if r.Method != "POST" || r.Path != "/ari/channels" {
					continue
				}
				id := r.Query.Get("channelId")
				originated[id]++
				var req int64
				var att int
				if _, err := fmt.Sscanf(strings.TrimPrefix(id, fmt.Sprintf("cbd-ast%d-", i+1)), "%d-%d-a", &req, &att); err == nil &&
					isNew[req] && i != 1 && r.Received.After(killed) {
					flow = append(flow, r.Received.Sub(killed))
				}
			}
		}
		double := 0
		for _, k := range originated {
			double += k - 1
		}
		ended, endedAlive := 0, 0
		for _, r := range rows {
			got, err := e.st.GetRequest(context.Background(), r.ID)
			if err != nil {
				b.Fatal(err)
			}
			if got.Status == callback.StatusFinished && !finishedBefore[r.ID] {
				ended++
				if !onDead[r.ID] {
					endedAlive++
				}
			}
		}
		slices.Sort(flow)
		if len(flow) == 0 {
			b.Fatal("no new callback originated on a living server")
		}
		// (After ResetTimer, which forgets metrics reported before it.)
		for i, s := range states {
			b.ReportMetric(float64(s.Channels/2), fmt.Sprintf("calls-on-ast%d", i+1))
		}
		b.ReportMetric(allBridged.Seconds(), "all-bridged-s")
		b.ReportMetric(float64(notBridged), "not-bridged")
		b.ReportMetric(float64(flow[0].Microseconds())/1000, "first-new-dialled-ms")
		b.ReportMetric(float64(flow[len(flow)-1].Microseconds())/1000, "last-new-dialled-ms")
		b.ReportMetric(float64(onDeadNew), "new-retried")
		b.ReportMetric(float64(len(onDead)), "calls-on-dead")
		b.ReportMetric(float64(ended), "calls-ended")
		b.ReportMetric(float64(endedAlive), "calls-ended-on-living")
		b.ReportMetric(settled.Seconds(), "all-settled-s")
		b.ReportMetric(float64(double), "double-dials")
		e.stop()
	}
}
