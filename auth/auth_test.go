package auth_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
)

func setup(t *testing.T) *auth.Authenticator {
	t.Helper()
	st := dbtest.SQLite(t)
	h, err := auth.HashPassword("1ak45")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []callback.Account{
		{Username: "6192345678", PasswordHash: h, PIN: "4242", Currency: "USD"},
		{Username: "blocked", PasswordHash: h, Currency: "USD", Blocked: true},
		{Username: "nopass", Currency: "USD"},
	} {
		if err := st.CreateAccount(t.Context(), &a); err != nil {
			t.Fatal(err)
		}
	}
	return auth.New(st, []string{"tok-en"}, time.Hour, 3)
}

func TestPassword(t *testing.T) {
	a := setup(t)
	if acct, err := a.Password(t.Context(), "6192345678", "1ak45", "127.0.0.1"); err != nil || acct.Username != "6192345678" {
		t.Fatalf("good password: %v", err)
	}
	for _, c := range [][2]string{{"6192345678", "wrong"}, {"nobody", "1ak45"}, {"blocked", "1ak45"}, {"nopass", ""}} {
		if _, err := a.Password(t.Context(), c[0], c[1], "127.0.0.2"); !errors.Is(err, auth.ErrBadCredentials) && !errors.Is(err, auth.ErrTooManyAttempts) {
			t.Errorf("%s: %v, want bad credentials", c[0], err)
		}
	}
}

func TestUnknownAccountAndWrongPasswordReadTheSame(t *testing.T) {
	a := setup(t)
	_, e1 := a.Password(t.Context(), "6192345678", "wrong", "10.0.0.1")
	_, e2 := a.Password(t.Context(), "nobody", "wrong", "10.0.0.2")
	if e1 == nil || e2 == nil || e1.Error() != e2.Error() {
		t.Fatalf("%v vs %v", e1, e2)
	}
}

func TestFailuresAreLimitedPerAccountAndSource(t *testing.T) {
	a := setup(t)
	for range 3 {
		a.Password(t.Context(), "6192345678", "wrong", "")
	}
	// Even the right password is refused now, so guessing cannot go on.
	if _, err := a.Password(t.Context(), "6192345678", "1ak45", ""); !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Fatalf("after 3 failures: %v", err)
	}
	for i := range 3 {
		a.Password(t.Context(), "nobody"+string(rune('a'+i)), "x", "192.0.2.9")
	}
	if _, err := a.PIN(t.Context(), "4242", "192.0.2.9"); !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Fatalf("source after 3 failures: %v", err)
	}
}

func TestPINAndToken(t *testing.T) {
	a := setup(t)
	if acct, err := a.PIN(t.Context(), "4242", "127.0.0.1"); err != nil || acct.Username != "6192345678" {
		t.Fatalf("PIN: %v", err)
	}
	if _, err := a.PIN(t.Context(), "0000", "127.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("wrong PIN: %v", err)
	}
	if !a.Token("tok-en") || a.Token("tok-e") || a.Token("") {
		t.Fatal("token check wrong")
	}
}

func TestCheckHA1(t *testing.T) {
	ha1 := callback.HA1("801", "asterisk", "secret")
	if !auth.CheckHA1(ha1, "801", "asterisk", "secret") || auth.CheckHA1(ha1, "801", "asterisk", "Secret") {
		t.Fatal("HA1 comparison wrong")
	}
}

// Failures lock out the pair of account and source, not the account: after
// a guesser's failures the right password from another source still works
// (it was refused for everyone before), and the guessing source stays
// locked out.
func TestRightPasswordFromCleanSource(t *testing.T) {
	a := setup(t)
	for range 5 {
		if _, err := a.Password(t.Context(), "6192345678", "guess", "198.51.100.7"); err == nil {
			t.Fatal("a wrong password was accepted")
		}
	}
	if acct, err := a.Password(t.Context(), "6192345678", "1ak45", "203.0.113.20"); err != nil || acct.Username != "6192345678" {
		t.Fatalf("right password from a clean source after another source's failures: %v", err)
	}
	if _, err := a.Password(t.Context(), "6192345678", "1ak45", "198.51.100.7"); !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Fatalf("right password from the guessing source: %v, want too many attempts", err)
	}
}

// The per-account cap holds back the sources that failed on the account,
// however many they are, but not a source with no failures there.
func TestAccountCapSlowsGuessersOnly(t *testing.T) {
	a := setup(t)
	l := auth.DefaultLimits(time.Hour, 3)
	l.PerAccount = auth.Limit{Every: time.Hour, Burst: 4}
	a.SetLimits(l)
	sources := []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"}
	for _, src := range sources {
		a.Password(t.Context(), "6192345678", "guess", src)
	}
	// Each source failed once only (under its own limit of 3), but the
	// account's cap of 4 is spent: they may not go on.
	for _, src := range sources {
		if _, err := a.Password(t.Context(), "6192345678", "1ak45", src); !errors.Is(err, auth.ErrTooManyAttempts) {
			t.Errorf("source %s with a failure on the account, cap spent: %v, want too many attempts", src, err)
		}
	}
	if _, err := a.Password(t.Context(), "6192345678", "1ak45", "203.0.113.20"); err != nil {
		t.Fatalf("clean source with the account's cap spent: %v", err)
	}
}

// 200 sources guessing one PIN each are slowed by the surface's budget:
// once it is spent every PIN on that surface is refused for now, the right
// one included, while the other surfaces are not touched. Before, each
// source's own limit was all there was, and the right PIN went through.
func TestSurfaceBudgetSlowsManySources(t *testing.T) {
	a := setup(t)
	l := auth.DefaultLimits(time.Hour, 3)
	l.PerSurface = auth.Limit{Every: time.Hour, Burst: 20}
	a.SetLimits(l)
	web, ivr := a.Surface(auth.SurfaceWeb), a.Surface(auth.SurfaceIVR)
	refused := 0
	for i := range 200 {
		src := fmt.Sprintf("10.1.%d.%d", i/250, i%250)
		_, err := web.PIN(t.Context(), fmt.Sprintf("%04d", 5000+i), src)
		switch {
		case errors.Is(err, auth.ErrTooManyAttempts):
			refused++
		case !errors.Is(err, auth.ErrBadCredentials):
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if refused != 180 {
		t.Errorf("%d of 200 one-guess sources refused, want 180 (all after the budget of 20)", refused)
	}
	if _, err := web.PIN(t.Context(), "4242", "10.9.9.9"); !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Errorf("right PIN from a new source with the budget spent: %v, want too many attempts", err)
	}
	if acct, err := ivr.PIN(t.Context(), "4242", "cli:4930111111"); err != nil || acct.Username != "6192345678" {
		t.Errorf("right PIN on another surface: %v", err)
	}
	// Passwords on the surface share its budget; elsewhere (the API) they
	// do not.
	if _, err := web.Password(t.Context(), "6192345678", "1ak45", "10.9.9.10"); !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Errorf("password on the spent surface: %v", err)
	}
	if _, err := a.Password(t.Context(), "6192345678", "1ak45", "10.9.9.10"); err != nil {
		t.Errorf("password on the API: %v", err)
	}
}
