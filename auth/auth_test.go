package auth_test

import (
	"errors"
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
