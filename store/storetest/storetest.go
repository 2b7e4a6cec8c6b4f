// Package storetest is the conformance suite every callback.Store passes:
// store/mysql and store/sqlite run Run against a real database, so both
// behave alike to the dispatcher, the triggers and the admin surfaces,
// down to the raw SQL an operator's script may send.
//
// Tests set every time explicitly (a Now in the past or the future) rather
// than waiting for the clock, and none asserts on how long anything took.
package storetest

import (
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// RawDBer is a store that also hands out its database handle, so the
// suite can do what a plain SQL client does. Both stores implement it.
type RawDBer interface {
	RawDB() *sql.DB
}

// Run runs the suite. open must return a new, empty, migrated store for
// each call; it is called once per subtest, and subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) callback.Store) {
	groups := []struct {
		name  string
		tests map[string]func(t *testing.T, s callback.Store)
	}{
		{"Requests", requestTests},
		{"Queue", queueTests},
		{"Rescue", rescueTests},
		{"Accounts", accountTests},
		{"Tariffs", tariffTests},
		{"Billing", billingTests},
		{"Reservations", reservationTests},
		{"Poison", poisonTests},
		{"Trunks", trunkTests},
		{"Caller", callerTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for name, test := range g.tests {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					test(t, open(t))
				})
			}
		})
	}
}

// base is a time on the millisecond, as both schemas store it, well clear
// of the present so no column default is mistaken for it.
var base = time.Date(2030, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

func raw(t *testing.T, s callback.Store) *sql.DB {
	t.Helper()
	r, ok := s.(RawDBer)
	if !ok {
		t.Fatalf("%T has no RawDB method", s)
	}
	return r.RawDB()
}

// newRequest returns a valid request for cli, due at next.
func newRequest(cli string, next time.Time) *callback.Request {
	r := callback.NewRequest(callback.SourceAPI)
	r.Username = "801"
	r.OriginalCLI = cli
	r.OriginalCLD = "2way_12345"
	r.NextCall = next
	return r
}

func create(t *testing.T, s callback.Store, r *callback.Request) *callback.Request {
	t.Helper()
	if err := s.CreateRequest(t.Context(), r); err != nil {
		t.Fatalf("create request: %v", err)
	}
	return r
}

// createDue inserts n requests due at base+i ms, i = 0..n-1.
func createDue(t *testing.T, s callback.Store, n int) []*callback.Request {
	t.Helper()
	out := make([]*callback.Request, n)
	for i := range out {
		out[i] = create(t, s, newRequest(fmt.Sprintf("4930%06d", i), base.Add(time.Duration(i)*time.Millisecond)))
	}
	return out
}

func get(t *testing.T, s callback.Store, id int64) *callback.Request {
	t.Helper()
	r, err := s.GetRequest(t.Context(), id)
	if err != nil {
		t.Fatalf("get request %d: %v", id, err)
	}
	return r
}

func claim(t *testing.T, s callback.Store, owner string, now time.Time, limit int) []*callback.Request {
	t.Helper()
	got, err := s.Claim(t.Context(), callback.ClaimParams{Owner: owner, Now: now, Limit: limit, LeaseFor: time.Minute})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return got
}

// claimOne claims the single request r, due at or before now.
func claimOne(t *testing.T, s callback.Store, owner string, now time.Time) (*callback.Request, callback.Lease) {
	t.Helper()
	got := claim(t, s, owner, now, 1)
	if len(got) != 1 {
		t.Fatalf("claim at %s: got %d rows, want 1", now, len(got))
	}
	r := got[0]
	return r, callback.Lease{RequestID: r.ID, Attempt: r.Attempt, Owner: owner}
}

func update(t *testing.T, s callback.Store, l callback.Lease, c callback.Change) *callback.Request {
	t.Helper()
	r, err := s.Update(t.Context(), l, c)
	if err != nil {
		t.Fatalf("update %q -> %q: %v", c.From, c.To, err)
	}
	return r
}

// diff lists the fields in which a and b differ, comparing times with
// time.Equal.
func diff(a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() == reflect.Pointer {
		va, vb = va.Elem(), vb.Elem()
	}
	var out []string
	for i := range va.NumField() {
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if ta, ok := fa.(time.Time); ok {
			if !ta.Equal(fb.(time.Time)) {
				out = append(out, fmt.Sprintf("%s: %v != %v", va.Type().Field(i).Name, fa, fb))
			}
			continue
		}
		if !reflect.DeepEqual(fa, fb) {
			out = append(out, fmt.Sprintf("%s: %#v != %#v", va.Type().Field(i).Name, fa, fb))
		}
	}
	return out
}

func mustEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := diff(got, want); len(d) > 0 {
		t.Errorf("%s differs (got != want):\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

func ids(rs []*callback.Request) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
