package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// ClaimConflicter is a store that counts the claims it lost to another
// claimer and ran again (a certification conflict on Galera).
type ClaimConflicter interface {
	ClaimConflicts() uint64
}

// claimRaceWorkers is how many claimers run against each store.
const claimRaceWorkers = 4

// RunClaimRace checks that claimers on several stores sharing one database
// (two processes on one server, or on two nodes of a Galera cluster, where
// row locks are not replicated and the loser of a race fails at commit)
// take each of n due requests exactly once, and that losing a race is
// never an error: the loser claims other rows, or nothing this time. The
// first store inserts the requests; check, a store that reads what every
// node has committed (on Galera: wsrep_sync_wait), reads them back. It
// returns how many claims lost and were run again, over all stores that
// count them.
func RunClaimRace(t *testing.T, check callback.Store, stores []callback.Store, n int) (conflicts uint64) {
	t.Helper()
	before := countConflicts(stores)
	// Due well in the past, so every store sees them due however its
	// clock reads.
	for i := range n {
		create(t, stores[0], newRequest(fmt.Sprintf("4931%06d", i), base.Add(-time.Hour*24*365*10+time.Duration(i)*time.Millisecond)))
	}
	now := time.Now()
	var mu sync.Mutex
	owner := map[int64]string{}
	var wg sync.WaitGroup
	for si, s := range stores {
		for w := range claimRaceWorkers {
			name := fmt.Sprintf("n%d-%d", si, w)
			wg.Go(func() {
				p := callback.ClaimParams{Owner: name, Now: now, Limit: 5, LeaseFor: time.Hour}
				// Bounded: each round claims a row or finds none; a node
				// that has not yet applied the inserts finds none a few
				// times.
				for range 4 * n {
					mu.Lock()
					done := len(owner) == n
					mu.Unlock()
					if done {
						return
					}
					got, err := s.Claim(t.Context(), p)
					if err != nil {
						t.Errorf("claimer %s: %v", name, err)
						return
					}
					mu.Lock()
					for _, r := range got {
						if prev, ok := owner[r.ID]; ok {
							t.Errorf("request %d claimed by %s and by %s", r.ID, prev, name)
						}
						owner[r.ID] = name
					}
					mu.Unlock()
					if len(got) == 0 {
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
	}
	wg.Wait()
	if len(owner) != n {
		t.Errorf("%d of %d requests claimed", len(owner), n)
	}
	// The store agrees: each row is leased to the claimer that got it.
	for id, name := range owner {
		if r := get(t, check, id); r.LeaseOwner != name || r.Attempt != 1 {
			t.Errorf("request %d: lease_owner %q attempt %d, want %q attempt 1", id, r.LeaseOwner, r.Attempt, name)
		}
	}
	return countConflicts(stores) - before
}

func countConflicts(stores []callback.Store) uint64 {
	var n uint64
	for _, s := range stores {
		if c, ok := s.(ClaimConflicter); ok {
			n += c.ClaimConflicts()
		}
	}
	return n
}
