package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/webhook"
)

// BenchmarkWebhookDelivery ends 1,000 callbacks per second (each a status
// change to Finished, which writes its notification in its transaction)
// for CALLBACKD_BENCH_SECONDS (default 5) while a sender POSTs them to a
// receiver on 127.0.0.1, and reports the time from each change to its
// receipt: p50, p99, max, and the rate of ends achieved.
func BenchmarkWebhookDelivery(b *testing.B) {
	b.Run("SQLite", func(b *testing.B) {
		benchDelivery(b, func(tb testing.TB) callback.Store { return dbtest.SQLite(tb) })
	})
	b.Run("MariaDB", func(b *testing.B) {
		dbtest.MySQLDSN(b)
		benchDelivery(b, func(tb testing.TB) callback.Store { return dbtest.MySQL(tb) })
	})
}

func benchDelivery(b *testing.B, open func(testing.TB) callback.Store) {
	seconds := 5
	if v := os.Getenv("CALLBACKD_BENCH_SECONDS"); v != "" {
		var err error
		if seconds, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	const perSecond = 1000
	n := seconds * perSecond
	for range b.N {
		b.StopTimer()
		st := open(b)
		st.(webhook.Store).SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
		ids := make([]int64, n)
		for i := range ids {
			r := callback.NewRequest(callback.SourceAPI)
			r.Username, r.OriginalCLI, r.OriginalCLD, r.NextCall = "801", fmt.Sprint(4930000000+i), "2way_12345", time.Now().Add(time.Hour)
			if err := st.CreateRequest(context.Background(), r); err != nil {
				b.Fatal(err)
			}
			ids[i] = r.ID
		}
		var mu sync.Mutex
		delays := make([]time.Duration, 0, n)
		done := make(chan struct{})
		rc := newReceiver(b, func(_ int, r *http.Request) int { return http.StatusNoContent })
		rc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var p webhook.Payload
			if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
				b.Error(err)
			}
			d := time.Since(p.Time)
			mu.Lock()
			delays = append(delays, d)
			if len(delays) == n {
				close(done)
			}
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})
		startSender(b, st, webhook.Options{URL: rc.URL})
		b.StartTimer()

		// Ends paced at perSecond by 16 goroutines, as concurrent calls
		// end on a busy node.
		start := time.Now()
		next := make(chan int64)
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range next {
					if _, err := st.Cancel(context.Background(), id, time.Now()); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		for i, id := range ids {
			if w := time.Until(start.Add(time.Duration(i) * time.Second / perSecond)); w > 0 {
				time.Sleep(w)
			}
			next <- id
		}
		close(next)
		wg.Wait()
		rate := float64(n) / time.Since(start).Seconds()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			b.Fatalf("only %d of %d notifications received", len(delays), n)
		}
		b.StopTimer()
		slices.Sort(delays)
		pct := func(p float64) float64 {
			return float64(delays[min(len(delays)-1, int(float64(len(delays))*p))].Microseconds()) / 1000
		}
		b.ReportMetric(rate, "ends/s")
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(pct(1), "max-ms")
	}
}
