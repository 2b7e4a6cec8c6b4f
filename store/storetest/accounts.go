package storetest

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/callback"
)

// testPINKey is the PIN key the account tests set on the store.
var testPINKey = func() *callback.PINKey {
	k, err := callback.NewPINKey([]byte("storetest PIN key: 32 bytes or more of it"))
	if err != nil {
		panic(err)
	}
	return k
}()

// PINStore is a store whose PINs are hashed under a key it is given, and
// that can move plain PINs into hashes and count the ones it cannot check.
type PINStore interface {
	SetPINKey(k *callback.PINKey)
	HashPlainPINs(ctx context.Context) (int, error)
	PINStatus(ctx context.Context) (plain, otherKey int, err error)
}

// withPINKey sets k on s and returns s as a PINStore.
func withPINKey(t *testing.T, s callback.Store, k *callback.PINKey) PINStore {
	t.Helper()
	ps, ok := s.(PINStore)
	if !ok {
		t.Fatalf("%T does not hash PINs", s)
	}
	ps.SetPINKey(k)
	return ps
}

func createAccount(t *testing.T, s callback.Store, a callback.Account) *callback.Account {
	t.Helper()
	if err := s.CreateAccount(t.Context(), &a); err != nil {
		t.Fatalf("create account %s: %v", a.Username, err)
	}
	return &a
}

var accountTests = map[string]func(t *testing.T, s callback.Store){
	"PINsAreKeyedHashes": func(t *testing.T, s callback.Store) {
		ctx := t.Context()
		ps := withPINKey(t, s, testPINKey)
		createAccount(t, s, callback.Account{Username: "alice", PIN: "4242"})
		raw := s.(RawDBer).RawDB()
		var pin, hash sql.NullString
		if err := raw.QueryRowContext(ctx, "SELECT pin, pin_hash FROM accounts WHERE username = 'alice'").Scan(&pin, &hash); err != nil {
			t.Fatal(err)
		}
		if pin.Valid || hash.String != testPINKey.Hash("4242") || strings.Contains(hash.String, "4242") {
			t.Fatalf("stored pin %v, pin_hash %v: want no plain PIN and the HMAC", pin, hash)
		}

		// PINs written in plain form before they were hashed (by an
		// older callbackd, or by SQL) are moved into hashes in place.
		createAccount(t, s, callback.Account{Username: "bob"})
		createAccount(t, s, callback.Account{Username: "carol"})
		for user, plain := range map[string]string{"bob": "1111", "carol": "2222"} {
			if _, err := raw.ExecContext(ctx, "UPDATE accounts SET pin = ? WHERE username = ?", plain, user); err != nil {
				t.Fatal(err)
			}
		}
		if plain, other, err := ps.PINStatus(ctx); err != nil || plain != 2 || other != 0 {
			t.Fatalf("PIN status before hashing: %d plain, %d under another key, %v; want 2, 0", plain, other, err)
		}
		if _, err := s.AccountByPIN(ctx, "1111"); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("a plain PIN was found before it was hashed: %v", err)
		}
		if n, err := ps.HashPlainPINs(ctx); err != nil || n != 2 {
			t.Fatalf("hash plain PINs: %d, %v; want 2", n, err)
		}
		if n, err := ps.HashPlainPINs(ctx); err != nil || n != 0 {
			t.Fatalf("hash plain PINs again: %d, %v; want 0", n, err)
		}
		var plain int
		if err := raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM accounts WHERE pin IS NOT NULL").Scan(&plain); err != nil || plain != 0 {
			t.Fatalf("%d plain PINs left (%v)", plain, err)
		}
		for user, pin := range map[string]string{"alice": "4242", "bob": "1111", "carol": "2222"} {
			if a, err := s.AccountByPIN(ctx, pin); err != nil || a.Username != user {
				t.Errorf("by PIN of %s: %v %v", user, a, err)
			}
		}
		if plain, other, err := ps.PINStatus(ctx); err != nil || plain != 0 || other != 0 {
			t.Errorf("PIN status: %d plain, %d under another key, %v; want none", plain, other, err)
		}

		// Under another key no PIN is found, and the status says why.
		other, err := callback.NewPINKey([]byte("another PIN key, also 32 bytes or more"))
		if err != nil {
			t.Fatal(err)
		}
		ps.SetPINKey(other)
		if _, err := s.AccountByPIN(ctx, "4242"); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("by PIN under another key: %v", err)
		}
		if plain, n, err := ps.PINStatus(ctx); err != nil || plain != 0 || n != 3 {
			t.Errorf("PIN status under another key: %d plain, %d under another key, %v; want 0, 3", plain, n, err)
		}
		// A PIN set again is hashed under the new key.
		a, err := s.GetAccount(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		a.PIN = "1111"
		if err := s.UpdateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		if a, err := s.AccountByPIN(ctx, "1111"); err != nil || a.Username != "bob" || a.PINKeyID != other.ID() {
			t.Errorf("by PIN set again: %+v %v", a, err)
		}

		// Without a key no PIN can be set or found.
		ps.SetPINKey(nil)
		if err := s.CreateAccount(ctx, &callback.Account{Username: "dave", PIN: "3333"}); !errors.Is(err, callback.ErrInvalid) {
			t.Errorf("create with a PIN and no key: %v", err)
		}
		if _, err := s.AccountByPIN(ctx, "1111"); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("by PIN without a key: %v", err)
		}
	},

	"CRUD": func(t *testing.T, s callback.Store) {
		withPINKey(t, s, testPINKey)
		want := callback.Account{
			Username: "alice", PasswordHash: "$2a$10$abcdefghijklmnopqrstuv", HA1: callback.HA1("alice", "example.com", "pw"),
			PIN: "1234", Balance: 125_000, Currency: "EUR", CreditLimit: -50_000, MaxSessions: 4,
			AssociatedNumber: "+4930111111", Language: "de", Blocked: true, Tariff: "retail", DailyCap: 100_000,
			Created: base,
		}
		a := createAccount(t, s, want)
		if a.ID == 0 {
			t.Fatal("ID not filled in")
		}
		// The PIN is stored as its HMAC under the key, and never read back.
		want.ID, want.PIN, want.PINHash, want.PINKeyID = a.ID, "", testPINKey.Hash("1234"), testPINKey.ID()
		mustEqual(t, "created account", a, &want)
		got, err := s.GetAccount(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "account", got, &want)

		// Zero fields are NULL or the defaults, and Created is filled in.
		b := createAccount(t, s, callback.Account{Username: "bob"})
		if b.Created.IsZero() || b.PIN != "" || b.Balance != 0 {
			t.Errorf("minimal account: %+v", b)
		}
		if err := s.CreateAccount(t.Context(), &callback.Account{Username: "alice"}); !errors.Is(err, callback.ErrConflict) {
			t.Errorf("duplicate username: %v", err)
		}
		if err := s.CreateAccount(t.Context(), &callback.Account{Username: "carol", PIN: "1234"}); !errors.Is(err, callback.ErrConflict) {
			t.Errorf("duplicate PIN: %v", err)
		}

		// UpdateAccount changes everything but the balance.
		upd := *got
		upd.Balance, upd.PIN, upd.Blocked, upd.MaxSessions, upd.Tariff = 1, "9999", false, 2, ""
		if err := s.UpdateAccount(t.Context(), &upd); err != nil {
			t.Fatal(err)
		}
		want.PINHash, want.Blocked, want.MaxSessions, want.Tariff = testPINKey.Hash("9999"), false, 2, ""
		got, _ = s.GetAccount(t.Context(), "alice")
		mustEqual(t, "updated account", got, &want)
		if err := s.UpdateAccount(t.Context(), got); err != nil {
			t.Errorf("update with no change: %v", err)
		}
		if err := s.UpdateAccount(t.Context(), &callback.Account{Username: "nobody"}); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("update unknown: %v", err)
		}
		upd = *b
		upd.PIN = "9999"
		if err := s.UpdateAccount(t.Context(), &upd); !errors.Is(err, callback.ErrConflict) {
			t.Errorf("update to a taken PIN: %v", err)
		}

		if err := s.SetBalance(t.Context(), "alice", -20_000); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetAccount(t.Context(), "alice"); got.Balance != -20_000 {
			t.Errorf("balance %s", got.Balance)
		}
		if err := s.SetBalance(t.Context(), "nobody", 1); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("set balance of unknown: %v", err)
		}
		if _, err := s.GetAccount(t.Context(), "nobody"); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("get unknown: %v", err)
		}

		byPIN, err := s.AccountByPIN(t.Context(), "9999")
		if err != nil || byPIN.Username != "alice" {
			t.Errorf("by PIN: %v %v", byPIN, err)
		}
		for _, pin := range []string{"1234", ""} {
			if _, err := s.AccountByPIN(t.Context(), pin); !errors.Is(err, callback.ErrNotFound) {
				t.Errorf("by PIN %q: %v", pin, err)
			}
		}
		list, err := s.ListAccounts(t.Context())
		if err != nil || len(list) != 2 || list[0].Username != "alice" || list[1].Username != "bob" {
			t.Errorf("list: %v %v", list, err)
		}
	},

	"ByCLI": func(t *testing.T, s callback.Store) {
		createAccount(t, s, callback.Account{Username: "4930111111"})
		createAccount(t, s, callback.Account{Username: "alice", AssociatedNumber: "4930111111"})
		createAccount(t, s, callback.Account{Username: "bob", AssociatedNumber: "+4930222222"})
		createAccount(t, s, callback.Account{Username: "carol"})
		for _, c := range []callback.AccountCLI{{CLI: "4930111111", Username: "carol"}, {CLI: "4930222222", Username: "carol"}, {CLI: "4930333333", Username: "carol"}} {
			if err := s.AddCLI(t.Context(), c); err != nil {
				t.Fatal(err)
			}
		}
		// Seed 000's order: account username, then associated number (with
		// or without +), then the CLI map.
		for cli, want := range map[string]string{"4930111111": "4930111111", "4930222222": "bob", "4930333333": "carol"} {
			a, err := s.AccountByCLI(t.Context(), cli)
			if err != nil || a.Username != want {
				t.Errorf("CLI %s: %v %v, want %s", cli, a, err, want)
			}
		}
		if _, err := s.AccountByCLI(t.Context(), "4930444444"); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("unknown CLI: %v", err)
		}
		if _, err := s.AccountByCLI(t.Context(), ""); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("empty CLI: %v", err)
		}
	},

	"ByCLIOrder": func(t *testing.T, s callback.Store) {
		// Several accounts share an associated number, with and without
		// the +: the first by username wins, however it is stored.
		createAccount(t, s, callback.Account{Username: "zed", AssociatedNumber: "4930555555"})
		createAccount(t, s, callback.Account{Username: "mia", AssociatedNumber: "+4930555555"})
		createAccount(t, s, callback.Account{Username: "nora", AssociatedNumber: "4930555555"})
		// The CLI map names another account: the associated number still
		// comes first.
		createAccount(t, s, callback.Account{Username: "abe"})
		if err := s.AddCLI(t.Context(), callback.AccountCLI{CLI: "4930555555", Username: "abe"}); err != nil {
			t.Fatal(err)
		}
		a, err := s.AccountByCLI(t.Context(), "4930555555")
		if err != nil || a.Username != "mia" {
			t.Fatalf("shared associated number: %v %v, want mia", a, err)
		}
		// The whole account comes back, not only its name.
		withPINKey(t, s, testPINKey)
		want := callback.Account{Username: "mia", AssociatedNumber: "+4930555555", Currency: "EUR",
			Balance: 1234, CreditLimit: -500, MaxSessions: 3, Language: "de", Tariff: "t1", DailyCap: 9999, PIN: "5151"}
		if err := s.UpdateAccount(t.Context(), &want); err != nil {
			t.Fatal(err)
		}
		if err := s.SetBalance(t.Context(), "mia", 1234); err != nil {
			t.Fatal(err)
		}
		stored, err := s.GetAccount(t.Context(), "mia")
		if err != nil {
			t.Fatal(err)
		}
		if a, err = s.AccountByCLI(t.Context(), "4930555555"); err != nil || !reflect.DeepEqual(a, stored) {
			t.Errorf("by CLI %+v %v, want %+v", a, err, stored)
		}
		// An account named after the number comes before all of them.
		createAccount(t, s, callback.Account{Username: "4930555555"})
		if a, err := s.AccountByCLI(t.Context(), "4930555555"); err != nil || a.Username != "4930555555" {
			t.Errorf("account named by the CLI: %v %v", a, err)
		}
	},

	"CLIs": func(t *testing.T, s callback.Store) {
		createAccount(t, s, callback.Account{Username: "alice"})
		createAccount(t, s, callback.Account{Username: "bob"})
		for _, cli := range []string{"4930222222", "4930111111"} {
			if err := s.AddCLI(t.Context(), callback.AccountCLI{CLI: cli, Username: "alice"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddCLI(t.Context(), callback.AccountCLI{CLI: "4930111111", Username: "bob"}); !errors.Is(err, callback.ErrConflict) {
			t.Errorf("CLI mapped twice: %v", err)
		}
		if err := s.AddCLI(t.Context(), callback.AccountCLI{CLI: "4930333333", Username: "nobody"}); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("CLI of unknown account: %v", err)
		}
		got, err := s.ListCLIs(t.Context(), "alice")
		want := []callback.AccountCLI{{CLI: "4930111111", Username: "alice"}, {CLI: "4930222222", Username: "alice"}}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("CLIs of alice: %v %v", got, err)
		}
		if got, _ := s.ListCLIs(t.Context(), "bob"); len(got) != 0 {
			t.Errorf("CLIs of bob: %v", got)
		}
	},

	"AccessNumbers": func(t *testing.T, s callback.Store) {
		full := callback.AccessNumber{
			Number: "18005550100", Trigger: callback.TriggerPIN, SubApp: "callingcard_en_th", Language: "en",
			Region: "US", AreaCode: "212", DefaultAccountUsername: "default", DisableCLIAuthentication: true,
			ForceCLIAuthentication: true, ForceDefaultAccount: true, MinimumBalance: "2 USD", FixedCLI: "12125550100",
			HangupSIPCode: 486, RingbackTime: 3, RingbackType: callback.RingbackEarlyMedia, DiversionReason: "no-answer",
			AnonymousAccounting: true, DelayBeforeCallback: 7, IsCallback: 2, ANumberHandling: 1,
			InternalAccount: "internal", CallbackTariff: "cbtariff",
		}
		n := full
		if err := s.PutAccessNumber(t.Context(), &n); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAccessNumber(t.Context(), full.Number)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "access number", got, &full)

		minimal := callback.AccessNumber{Number: "18005550101"}
		minimal.ApplyDefaults()
		if err := s.PutAccessNumber(t.Context(), &minimal); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetAccessNumber(t.Context(), minimal.Number)
		mustEqual(t, "access number with defaults", got, &minimal)

		// Put replaces every option.
		replaced := minimal
		replaced.Number = full.Number
		if err := s.PutAccessNumber(t.Context(), &replaced); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetAccessNumber(t.Context(), full.Number)
		mustEqual(t, "replaced access number", got, &replaced)

		list, err := s.ListAccessNumbers(t.Context())
		if err != nil || len(list) != 2 || list[0].Number != "18005550100" || list[1].Number != "18005550101" {
			t.Fatalf("list: %v %v", list, err)
		}
		if err := s.DeleteAccessNumber(t.Context(), full.Number); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetAccessNumber(t.Context(), full.Number); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("deleted number: %v", err)
		}
		if err := s.DeleteAccessNumber(t.Context(), full.Number); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("delete twice: %v", err)
		}
	},
}
