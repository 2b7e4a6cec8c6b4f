package trigger_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/trigger"
)

// Mizu anumberhandling "add" (LearnCLI) on both stores: which numbers are
// added after a PIN login, idempotently, never taking another account's
// number.
func TestLearnCLISQLite(t *testing.T) {
	testLearnCLI(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestLearnCLIMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testLearnCLI(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

func testLearnCLI(t *testing.T, open func(t *testing.T) callback.Store) {
	f := newFixture(t, open(t), trigger.DefaultLimits())
	for h := range 4 {
		f.number(ani(fmt.Sprintf("1800555020%d", h), func(n *callback.AccessNumber) { n.IsCallback, n.ANumberHandling = 7, h }))
	}
	cases := []struct {
		name, number, cli, user, want string
	}{
		{"Disabled", "18005550200", "4930444444", "alice", trigger.LearnOff},
		{"OnlyAccept", "18005550202", "4930444444", "alice", trigger.LearnOff},
		{"OnlyAdd", "18005550201", "4930444444", "alice", trigger.LearnAdded},
		{"OnlyAddAgain", "18005550201", "4930444444", "alice", trigger.LearnKnown},
		{"AddAndAccept", "18005550203", "4930555555", "alice", trigger.LearnAdded},
		{"AnotherAccountsCLI", "18005550203", "4930222222", "alice", trigger.LearnOtherOwner},
		{"AnotherAccountsAssociatedNumber", "18005550203", "420602123456", "alice", trigger.LearnOtherOwner},
		{"AnotherAccountsUsername", "18005550203", "801", "alice", trigger.LearnOtherOwner},
		{"NotAnAccessNumber", "18005559999", "4930666666", "alice", trigger.LearnNoNumber},
		{"NoCallerNumber", "18005550203", "", "alice", trigger.LearnNoNumber},
	}
	for _, tc := range cases {
		got, err := f.engine.LearnCLI(t.Context(), tc.number, tc.cli, tc.user)
		if err != nil || got != tc.want {
			t.Errorf("%s: LearnCLI(%s, %s, %s) = %q, %v; want %q", tc.name, tc.number, tc.cli, tc.user, got, err, tc.want)
		}
	}
	clis := func(user string) []string {
		got, err := f.store.ListCLIs(t.Context(), user)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range got {
			out = append(out, c.CLI)
		}
		return out
	}
	if got, want := clis("alice"), []string{"4930111111", "4930444444", "4930555555"}; !slices.Equal(got, want) {
		t.Errorf("CLIs of alice %q, want %q", got, want)
	}
	if got := clis("poor"); !slices.Equal(got, []string{"4930222222"}) {
		t.Errorf("CLIs of poor %q", got)
	}
}
