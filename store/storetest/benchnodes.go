package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// BenchClaimsNodes measures benchRows due requests drained by one claimer
// per store in stores, each store standing for a callbackd node (on
// Galera: connected to one node of the cluster, or all to the same one),
// claiming 64 rows at a time as the dispatcher does. The first store
// seeds the queue, outside the timer. It reports claims/s, the rows
// claimed twice (must be 0) and the claims lost to another node and run
// again per 1,000 rows claimed.
func BenchClaimsNodes(b *testing.B, stores []callback.Store) {
	var claimed, dups int
	var conflicts uint64
	var elapsed time.Duration
	iter := 0
	for b.Loop() {
		b.StopTimer()
		iter++
		seedDue(b, stores[0], benchRows)
		now := time.Now().Add(time.Hour)
		// Every node sees the whole queue before the clock starts.
		for _, s := range stores {
			for range 1000 {
				var due int
				if err := s.(RawDBer).RawDB().QueryRowContext(b.Context(), "SELECT COUNT(*) FROM callback_requests WHERE finished = 0").Scan(&due); err == nil && due == benchRows {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		before := countConflicts(stores)
		b.StartTimer()
		start := time.Now()
		got, err := drainNodes(b, stores, now, fmt.Sprintf("bench-%d", iter))
		elapsed += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		conflicts += countConflicts(stores) - before
		claimed += len(got)
		dups += len(got) - len(slices.Compact(got))
		if len(slices.Compact(got)) != benchRows {
			b.Fatalf("claimed %d rows, want %d", len(slices.Compact(got)), benchRows)
		}
		if _, err := stores[0].(RawDBer).RawDB().ExecContext(b.Context(), "UPDATE callback_requests SET finished = 1, lease_owner = NULL"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(claimed)/elapsed.Seconds(), "claims/s")
	b.ReportMetric(float64(dups), "duplicates")
	b.ReportMetric(float64(conflicts)*1000/float64(max(claimed, 1)), "conflicts/1000")
	if dups != 0 {
		b.Errorf("%d rows claimed twice", dups)
	}
}

// drainNodes runs one claimer per store until benchRows rows are claimed
// or each has found nothing due several times running, and returns every
// id claimed, sorted.
func drainNodes(b *testing.B, stores []callback.Store, now time.Time, prefix string) ([]int64, error) {
	claimed := make([][]int64, len(stores))
	errs := make([]error, len(stores))
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			p := callback.ClaimParams{Owner: fmt.Sprintf("%s/%d", prefix, i), Now: now, Limit: 64, LeaseFor: time.Minute}
			for empty := 0; empty < 20; {
				mu.Lock()
				done := total >= benchRows
				mu.Unlock()
				if done {
					return
				}
				got, err := s.Claim(b.Context(), p)
				if err != nil {
					errs[i] = err
					return
				}
				if len(got) == 0 {
					empty++
					time.Sleep(time.Millisecond)
					continue
				}
				empty = 0
				mu.Lock()
				total += len(got)
				mu.Unlock()
				for _, r := range got {
					claimed[i] = append(claimed[i], r.ID)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	all := slices.Concat(claimed...)
	slices.Sort(all)
	return all, nil
}
