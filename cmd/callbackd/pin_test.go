package main

import (
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// openPINs opens the store at db as serve does, with key as auth.pin_key,
// and returns why it failed or what serve's check of the stored PINs says.
func openPINs(t *testing.T, db, key string) error {
	t.Helper()
	c := DefaultConfig()
	c.Database.SQLitePath = db
	c.Auth.PINKey = key
	st, err := openStore(t.Context(), &c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer st.Close()
	return checkPINs(t.Context(), &c, st)
}

// PINs an earlier version stored in plain text are hashed in place when
// the store is opened with auth.pin_key: nobody enters them again. serve
// refuses to start while a stored PIN cannot be checked (no key, or
// another key), saying what to do; account pin sets a PIN again.
func TestPINsHashedInPlace(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "migrate")
	mustRun(t, db, "account", "add", "-username", "801", "-password", "secret")
	mustRun(t, db, "account", "add", "-username", "802")
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// As an earlier version left them.
	if _, err := raw.ExecContext(t.Context(), "UPDATE accounts SET pin = CASE username WHEN '801' THEN '4242' ELSE '5353' END"); err != nil {
		t.Fatal(err)
	}
	if err := openPINs(t, db, ""); err == nil || !strings.Contains(err.Error(), "2 accounts have a PIN stored in plain text") ||
		!strings.Contains(err.Error(), "auth.pin_key") {
		t.Fatalf("serve without a key over plain PINs: %v", err)
	}
	if err := openPINs(t, db, testPINKey); err != nil {
		t.Fatalf("serve with the key: %v", err)
	}
	var plain, hashed int
	if err := raw.QueryRowContext(t.Context(), "SELECT COUNT(pin), COUNT(pin_hash) FROM accounts").Scan(&plain, &hashed); err != nil {
		t.Fatal(err)
	}
	if plain != 0 || hashed != 2 {
		t.Fatalf("after opening with the key: %d plain PINs, %d hashed; want 0 and 2", plain, hashed)
	}
	var leaked int
	if err := raw.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM accounts WHERE pin_hash LIKE '%4242%' OR pin_hash LIKE '%5353%'").Scan(&leaked); err != nil || leaked != 0 {
		t.Fatalf("a PIN shows in its hash (%d, %v)", leaked, err)
	}

	const otherKey = "another PIN key, 32 bytes or more long"
	if err := openPINs(t, db, otherKey); err == nil || !strings.Contains(err.Error(), "2 accounts have a PIN stored under another auth.pin_key") {
		t.Fatalf("serve with another key: %v", err)
	}
	if err := openPINs(t, db, ""); err == nil || !strings.Contains(err.Error(), "auth.pin_key") {
		t.Fatalf("serve with no key over hashed PINs: %v", err)
	}
	// account pin sets a PIN under the key in use, or clears it.
	mustRun(t, db, "account", "pin", "-username", "801", "-set", "4242")
	mustRun(t, db, "account", "pin", "-username", "802", "-clear")
	out, err := run(t, db, "", "account", "pin", "-username", "801")
	if err == nil || !strings.Contains(out+err.Error(), "-set") {
		t.Errorf("account pin without -set or -clear: %v\n%s", err, out)
	}
	if err := openPINs(t, db, testPINKey); err != nil {
		t.Fatalf("after setting the PINs again: %v", err)
	}
	if err := openPINs(t, db, "short"); err == nil || !strings.Contains(err.Error(), "auth.pin_key") {
		t.Errorf("a short key: %v", err)
	}
}

// The SIP digest HA1 is as good as the password to SIP: it is stored only
// for an account given a SIP identity.
func TestHA1OnlyForSIPIdentity(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "account", "add", "-username", "801", "-password", "secret")
	mustRun(t, db, "account", "add", "-username", "802", "-password", "secret", "-sip")
	if out, err := run(t, db, "", "account", "add", "-username", "803", "-sip"); err == nil {
		t.Errorf("-sip without -password: accepted\n%s", out)
	}
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ha1 := map[string]sql.NullString{}
	for _, u := range []string{"801", "802"} {
		var h sql.NullString
		if err := raw.QueryRowContext(t.Context(), "SELECT ha1 FROM accounts WHERE username = ?", u).Scan(&h); err != nil {
			t.Fatal(err)
		}
		ha1[u] = h
	}
	if ha1["801"].Valid || !ha1["802"].Valid || len(ha1["802"].String) != 32 {
		t.Errorf("ha1: %v, want none for 801 and an MD5 for 802 (-sip)", ha1)
	}
}
