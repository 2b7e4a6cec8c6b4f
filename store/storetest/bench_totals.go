package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// BenchSettleTotals measures what the totals triggers of migration 00015
// add to a call's settlement (admin.Store.Settle of its two CDRs in one
// transaction): CALLBACKD_BENCH_WRITERS writers (default 8) settle
// CALLBACKD_BENCH_CALLS calls (default 4,000) between them, all in the
// same hour and currency (the totals' hottest case), into a store with
// the triggers ("totals") and one with cdrs_totals_insert dropped
// ("none"), alternately, twice each: calls/s and the p50 and p99 of a
// settlement in ms.
func BenchSettleTotals(b *testing.B, open func(b *testing.B) admin.Store) {
	writers := benchSize(b, "CALLBACKD_BENCH_WRITERS", 8)
	calls := benchSize(b, "CALLBACKD_BENCH_CALLS", 4000)
	stores := map[string]admin.Store{"totals": open(b), "none": open(b)}
	if _, err := stores["none"].(RawDBer).RawDB().ExecContext(b.Context(), "DROP TRIGGER cdrs_totals_insert"); err != nil {
		b.Fatal(err)
	}
	for _, s := range stores {
		for w := range writers {
			if err := s.CreateAccount(b.Context(), &callback.Account{Username: fmt.Sprintf("w%d", w), Currency: "USD", Balance: 1 << 50}); err != nil {
				b.Fatal(err)
			}
		}
	}
	start := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	next := map[string]int64{}
	for round := range 2 {
		for _, name := range []string{"totals", "none"} {
			s := stores[name]
			b.Run(fmt.Sprintf("%s-%d", name, round+1), func(b *testing.B) {
				for b.Loop() {
					first := next[name]
					next[name] += int64(calls)
					lat := make([][]time.Duration, writers)
					errs := make(chan error, writers)
					var wg sync.WaitGroup
					t0 := time.Now()
					for w := range writers {
						wg.Go(func() {
							for i := w; i < calls; i += writers {
								id := first + int64(i) + 1
								at := start.Add(time.Duration(i) * 100 * time.Millisecond)
								acct := fmt.Sprintf("w%d", w)
								c0 := time.Now()
								if err := s.Settle(b.Context(), []*callback.CDR{totalsCDR(id, callback.LegA, acct, at, 60, 600),
									totalsCDR(id, callback.LegB, acct, at, 50, 900)}); err != nil {
									errs <- err
									return
								}
								lat[w] = append(lat[w], time.Since(c0))
							}
						})
					}
					wg.Wait()
					elapsed := time.Since(t0)
					close(errs)
					for err := range errs {
						b.Fatal(err)
					}
					all := slices.Concat(lat...)
					slices.Sort(all)
					b.ReportMetric(float64(calls)/elapsed.Seconds(), "calls/s")
					b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
				}
			})
		}
	}
}
