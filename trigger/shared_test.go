package trigger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/callbackd/callbackd/limiter"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/trigger"
)

// Two nodes with the per-CLI limit (5, then one a minute): each counted
// alone they allow 10 calls from one number; sharing the database's
// buckets they allow 5.
func TestSharedLimitHoldsAcrossNodes(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) trigger.SharedBuckets{
		"SQLite": func(t *testing.T) trigger.SharedBuckets {
			// Both nodes on one store: its connections are what two
			// processes on the file would have.
			return dbtest.SQLite(t)
		},
		"MariaDB": func(t *testing.T) trigger.SharedBuckets { return dbtest.MySQL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			lim := trigger.DefaultLimits().PerCLI
			nodes := []*limiter.Keyed{limiter.New(lim, 0, clock), limiter.New(lim, 0, clock)}
			for _, k := range nodes {
				k.Share("trigger.cli", st)
			}
			allowed := 0
			for i := range 2 * lim.Burst {
				if nodes[i%2].Allow("4930111") {
					allowed++
				}
			}
			if allowed != lim.Burst {
				t.Fatalf("two nodes allowed %d calls from one number, want the burst of %d", allowed, lim.Burst)
			}
		})
	}
}

// A shared bucket that cannot answer leaves the decision to the node's own.
func TestSharedLimitFallsBackWhenTheStoreFails(t *testing.T) {
	lim := limiter.Limit{Every: time.Minute, Burst: 2}
	k := limiter.New(lim, 0, nil)
	k.Share("trigger.cli", failing{})
	got := []bool{k.Allow("1"), k.Allow("1"), k.Allow("1")}
	if fmt.Sprint(got) != "[true true false]" {
		t.Fatalf("with the store down: %v, want the local burst of 2", got)
	}
}

type failing struct{}

func (failing) TakeToken(context.Context, string, string, time.Duration, int, time.Time) (bool, error) {
	return false, errors.New("store unavailable")
}

// BenchmarkSharedLimit measures what one limit check costs a trigger: the
// node's own bucket, and the database's on each store (a trigger checks
// three: per source, per CLI, per account).
func BenchmarkSharedLimit(b *testing.B) {
	lim := limiter.Limit{Every: time.Nanosecond, Burst: 1 << 30}
	run := func(b *testing.B, s trigger.SharedBuckets) {
		k := limiter.New(lim, 0, nil)
		if s != nil {
			k.Share("bench", s)
		}
		i := 0
		for b.Loop() {
			i++
			if !k.Allow(fmt.Sprint(4930000000 + i%1000)) {
				b.Fatal("refused")
			}
		}
	}
	b.Run("Local", func(b *testing.B) { run(b, nil) })
	b.Run("SQLite", func(b *testing.B) { run(b, dbtest.SQLite(b)) })
	b.Run("MariaDB", func(b *testing.B) {
		dbtest.MySQLDSN(b)
		run(b, dbtest.MySQL(b))
	})
}
