package auth_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
	"github.com/callbackd/callbackd/store/dbtest"
)

// sharedStore is a store the nodes share: accounts and buckets.
type sharedStore interface {
	callback.Accounts
	limiter.SharedPeeker
	CreateAccount(ctx context.Context, a *callback.Account) error
}

// stores opens the store each test runs on: SQLite (both nodes on one
// store, as processes on one file would be) and MariaDB (skipped without
// one).
var stores = map[string]func(t testing.TB) sharedStore{
	"SQLite":  func(t testing.TB) sharedStore { return dbtest.SQLite(t) },
	"MariaDB": func(t testing.TB) sharedStore { return dbtest.MySQL(t) },
}

// twoNodes returns the Authenticators of two nodes on st, with burst 3
// failures per (account, source) and per source, then one an hour;
// shared or each counting alone.
func twoNodes(t *testing.T, st sharedStore, shared bool) []*auth.Authenticator {
	t.Helper()
	// The lowest cost keeps the test fast under -race; the Authenticator
	// reads the cost from the hash.
	h, err := bcrypt.GenerateFromPassword([]byte("1ak45"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccount(t.Context(), &callback.Account{Username: "801", PasswordHash: string(h), PIN: "4242", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	var nodes []*auth.Authenticator
	for range 2 {
		a := auth.New(st, nil, time.Hour, 3)
		if shared {
			a.ShareLimits(st)
		}
		nodes = append(nodes, a)
	}
	return nodes
}

// untilLocked makes at most n failing tries and returns how many were
// checked (refused as bad credentials) before the first refused as too
// many attempts.
func untilLocked(t *testing.T, n int, try func(i int) error) int {
	t.Helper()
	for i := range n {
		err := try(i)
		if errors.Is(err, auth.ErrTooManyAttempts) {
			return i
		}
		if !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("try %d: %v", i+1, err)
		}
	}
	return n
}

// Failed passwords from one source against one account, alternating
// between two nodes on one database: counted alone the nodes let twice
// the burst through before refusing; shared, the burst of 3 holds over
// both, and the account's owner from another source still gets in.
func TestFailedPasswordsHoldAcrossNodes(t *testing.T) {
	acrossNodes(t, "wrong passwords checked before the lockout", 3, func(t *testing.T, nodes []*auth.Authenticator) int {
		tried := untilLocked(t, 10, func(i int) error {
			_, err := nodes[i%2].Password(t.Context(), "801", "wrong", "192.0.2.1")
			return err
		})
		for _, n := range nodes {
			if _, err := n.Password(t.Context(), "801", "1ak45", "192.0.2.9"); err != nil {
				t.Errorf("the owner from another source: %v", err)
			}
		}
		return tried
	})
}

// Failed PINs on the IVR from many sources, one guess each, alternating
// between two nodes: the surface's budget (20, then one every 15 s) holds
// over both when shared.
func TestFailedPINsSurfaceHoldsAcrossNodes(t *testing.T) {
	acrossNodes(t, "PINs guessed on the IVR before it refused", 20, func(t *testing.T, nodes []*auth.Authenticator) int {
		return untilLocked(t, 50, func(i int) error {
			_, err := nodes[i%2].Surface(auth.SurfaceIVR).PIN(t.Context(), fmt.Sprintf("%04d", i), fmt.Sprintf("198.51.100.%d", i))
			return err
		})
	})
}

// acrossNodes runs try on each store with two nodes counting alone, then
// two sharing the database: try returns how many failures the nodes let
// through, which must be budget shared and twice budget alone.
func acrossNodes(t *testing.T, what string, budget int, try func(t *testing.T, nodes []*auth.Authenticator) int) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			for _, shared := range []bool{false, true} {
				want := budget
				if !shared {
					want = 2 * budget
				}
				if got := try(t, twoNodes(t, open(t), shared)); got != want {
					t.Errorf("shared=%v: %d %s, want %d", shared, got, what, want)
				}
			}
		})
	}
}

// Operators' sign-in failures on the console (Lockout) hold across nodes
// too, and are counted apart from the accounts' failures.
func TestConsoleLockoutHoldsAcrossNodes(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			l := auth.DefaultLogin()
			var nodes []*auth.Lockout
			for range 2 {
				lo := auth.NewLockout(auth.DefaultLimits(l.Every, l.Burst), auth.SurfaceConsole)
				lo.ShareLimits(st)
				nodes = append(nodes, lo)
			}
			accounts := auth.New(st, nil, l.Every, l.Burst)
			accounts.ShareLimits(st)
			failed := 0
			for i := range 20 {
				n := nodes[i%2]
				if !n.Allowed(t.Context(), "admin", "192.0.2.1") {
					break
				}
				n.Failed(t.Context(), "admin", "192.0.2.1")
				failed++
			}
			if failed != l.Burst {
				t.Errorf("%d failed sign-ins over two nodes before the lockout, want %d", failed, l.Burst)
			}
			// The accounts' budget of that source is untouched.
			if _, err := accounts.Password(t.Context(), "admin", "x", "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
				t.Errorf("an account login from the source locked out of the console: %v, want bad credentials", err)
			}
		})
	}
}

// A shared store that cannot answer leaves the decision to the node's own
// count: failures are still limited, at the node's burst.
func TestSharedFailuresFallBackWhenTheStoreFails(t *testing.T) {
	st := dbtest.SQLite(t)
	a := auth.New(st, nil, time.Hour, 2)
	a.ShareLimits(failing{})
	var got []string
	for range 4 {
		_, err := a.Password(t.Context(), "801", "wrong", "192.0.2.1")
		got = append(got, fmt.Sprint(errors.Is(err, auth.ErrTooManyAttempts)))
	}
	if fmt.Sprint(got) != "[false false true true]" {
		t.Fatalf("locked out per try with the store down: %v, want the node's burst of 2", got)
	}
}

type failing struct{}

func (failing) TakeToken(context.Context, string, string, time.Duration, int, time.Time) (bool, error) {
	return false, errors.New("store unavailable")
}

func (failing) PeekToken(context.Context, string, string, time.Duration, int, time.Time) (bool, bool, error) {
	return false, false, errors.New("store unavailable")
}

// BenchmarkSharedLockout measures what the failed-login budgets cost a
// login, apart from the password's own check: Allowed is a login with no
// failures on record (3 reads: pair, source, surface), Failed records a
// failure (4 tokens taken: pair, account, source, surface); in this
// process's memory and in the database on each store.
func BenchmarkSharedLockout(b *testing.B) {
	run := func(b *testing.B, st limiter.SharedPeeker) {
		l := auth.DefaultLimits(time.Nanosecond, 1<<30)
		l.PerAccount, l.PerSurface = l.PerPair, l.PerPair
		lo := auth.NewLockout(l, "bench")
		if st != nil {
			lo.ShareLimits(st)
		}
		b.Run("Allowed", func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if !lo.Allowed(b.Context(), fmt.Sprint(i%1000), "192.0.2.1") {
					b.Fatal("refused")
				}
			}
		})
		b.Run("Failed", func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				lo.Failed(b.Context(), fmt.Sprint(i%1000), "192.0.2.1")
			}
		})
	}
	b.Run("Local", func(b *testing.B) { run(b, nil) })
	b.Run("SQLite", func(b *testing.B) { run(b, dbtest.SQLite(b)) })
	b.Run("MariaDB", func(b *testing.B) {
		dbtest.MySQLDSN(b)
		run(b, dbtest.MySQL(b))
	})
}
