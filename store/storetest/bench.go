package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// Benchmark sizes: the queue a busy node may face after an outage, drained
// by as many claimers as a small cluster runs.
const (
	benchRows     = 10_000
	benchClaimers = 8
)

// BenchClaims measures how fast benchClaimers concurrent claimers drain
// benchRows due requests, claiming a batch at a time as the dispatcher
// does (Batch64) and one row at a time (Single). Each iteration seeds a
// fresh queue outside the timer. It reports claims/s and the number of
// rows claimed twice, which must be 0.
func BenchClaims(b *testing.B, open func(b *testing.B) callback.Store) {
	for _, limit := range []int{64, 1} {
		name := fmt.Sprintf("Batch%d", limit)
		if limit == 1 {
			name = "Single"
		}
		b.Run(name, func(b *testing.B) {
			s := open(b)
			var claimed, dups int
			var elapsed time.Duration
			iter := 0
			for b.Loop() {
				b.StopTimer()
				iter++
				seedDue(b, s, benchRows)
				// Rows from a previous iteration are finished, so only
				// this iteration's rows are due.
				now := time.Now().Add(time.Hour)
				b.StartTimer()
				start := time.Now()
				got, err := drain(b, s, now, limit, fmt.Sprintf("bench-%d", iter))
				elapsed += time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				claimed += len(got)
				dups += len(got) - len(slices.Compact(got))
				if len(got) != benchRows {
					b.Fatalf("claimed %d rows, want %d", len(got), benchRows)
				}
				if _, err := s.(RawDBer).RawDB().ExecContext(b.Context(), "UPDATE callback_requests SET finished = 1, lease_owner = NULL"); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(claimed)/elapsed.Seconds(), "claims/s")
			b.ReportMetric(float64(dups), "duplicates")
			if dups != 0 {
				b.Errorf("%d rows claimed twice", dups)
			}
		})
	}
}

// drain runs benchClaimers claimers until none finds a due row and returns
// every id claimed, sorted.
func drain(b *testing.B, s callback.Store, now time.Time, limit int, prefix string) ([]int64, error) {
	claimed := make([][]int64, benchClaimers)
	errs := make([]error, benchClaimers)
	var wg sync.WaitGroup
	for i := range benchClaimers {
		wg.Go(func() {
			p := callback.ClaimParams{Owner: fmt.Sprintf("%s/%d", prefix, i), Now: now, Limit: limit, LeaseFor: time.Minute}
			for {
				got, err := s.Claim(b.Context(), p)
				if err != nil {
					errs[i] = err
					return
				}
				if len(got) == 0 {
					return
				}
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
