package trigger_test

import (
	"fmt"
	"testing"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/trigger"
)

// Mizu ivrauthentication per access number (seed 003: 0 no, 1 A number or
// PIN, 2 only A number, 3 only PIN, 4 A number and PIN), on the inbound
// IVR and on the ANI callback, on both stores.
func TestIVRAuthenticationSQLite(t *testing.T) {
	testIVRAuthentication(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestIVRAuthenticationMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testIVRAuthentication(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

func testIVRAuthentication(t *testing.T, open func(t *testing.T) callback.Store) {
	auth := func(v int) func(*callback.AccessNumber) {
		return func(n *callback.AccessNumber) {
			a, err := callback.ParseIVRAuth(v)
			if err != nil {
				t.Fatal(err)
			}
			n.IVRAuthentication = a
		}
	}
	withDefault := func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default" }
	forceDefault := func(n *callback.AccessNumber) { n.ForceDefaultAccount = true }
	const known, unknown = "030 111111", "87654321" // alice's CLI; nobody's

	t.Run("Inbound", func(t *testing.T) {
		ivr := func(opts ...func(*callback.AccessNumber)) callback.AccessNumber {
			return ani("18005550100", append([]func(*callback.AccessNumber){func(n *callback.AccessNumber) {
				n.IsCallback, n.Region = 7, "DE"
			}, withDefault}, opts...)...)
		}
		cases := []struct {
			name          string
			number        callback.AccessNumber
			cli           string
			user, payer   string
			askPIN, deflt bool
			refused       bool
		}{
			// 4: the known caller is still asked the PIN, which must be
			// the caller's own (the request names the account).
			{name: "4Known", number: ivr(auth(4)), cli: known, user: "alice", askPIN: true},
			{name: "4KnownForceDefault", number: ivr(auth(4), forceDefault), cli: known, user: "default", payer: "alice", askPIN: true, deflt: true},
			{name: "4Unknown", number: ivr(auth(4)), cli: unknown, refused: true},
			{name: "4BelowMinimum", number: ivr(auth(4), func(n *callback.AccessNumber) { n.MinimumBalance = "2" }), cli: "4930222222", refused: true},
			// 1, the default: as before.
			{name: "1Known", number: ivr(auth(1)), cli: known, user: "alice"},
			{name: "1Unknown", number: ivr(auth(1)), cli: unknown, user: "default", askPIN: true, deflt: true},
			// 2: no PIN, ever.
			{name: "2Known", number: ivr(auth(2)), cli: known, user: "alice"},
			{name: "2Unknown", number: ivr(auth(2)), cli: unknown, refused: true},
			// 3: the A number identifies nobody.
			{name: "3Known", number: ivr(auth(3)), cli: known, user: "default", askPIN: true, deflt: true},
			{name: "3Unknown", number: ivr(auth(3)), cli: unknown, user: "default", askPIN: true, deflt: true},
			// 0: nobody identified, nobody asked: the default account pays.
			{name: "0Known", number: ivr(auth(0)), cli: known, user: "default", deflt: true},
			{name: "0Unknown", number: ivr(auth(0)), cli: unknown, user: "default", deflt: true},
			{name: "0NoDefaultAccount", number: ivr(auth(0), func(n *callback.AccessNumber) { n.DefaultAccountUsername = "" }), cli: known, refused: true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, open(t), trigger.DefaultLimits())
				f.number(tc.number)
				r, d, err := f.engine.Inbound(t.Context(), trigger.InboundCall{CLI: tc.cli, Number: "18005550100", Channel: "1763900000.7"})
				if err != nil {
					t.Fatal(err)
				}
				if tc.refused {
					if r != nil || d.Action != trigger.ActionReject || d.SIPCode != 603 || d.Reason == "" {
						t.Fatalf("got request %+v, decision %+v; want a refusal", r, d)
					}
					return
				}
				if r == nil || d.Action != trigger.ActionIVR {
					t.Fatalf("refused: %+v", d)
				}
				if r.Username != tc.user || r.Payer != tc.payer || r.AskPIN != tc.askPIN || r.DefaultUserUsed != tc.deflt {
					t.Fatalf("username %q payer %q ask_pin %v default_user_used %v; want %q %q %v %v",
						r.Username, r.Payer, r.AskPIN, r.DefaultUserUsed, tc.user, tc.payer, tc.askPIN, tc.deflt)
				}
			})
		}
	})

	t.Run("Callback", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.Limits{})
		cases := []struct {
			opts          []func(*callback.AccessNumber)
			cli, pending  string
			user, payer   string
			askPIN, deflt bool
			refused       bool
		}{
			{opts: nil, cli: known, pending: "4930111111", user: "alice"},
			{opts: []func(*callback.AccessNumber){auth(4)}, cli: known, pending: "4930111111", user: "alice", askPIN: true},
			{opts: []func(*callback.AccessNumber){auth(4), forceDefault}, cli: known, pending: "4930111111", user: "default", payer: "alice", askPIN: true, deflt: true},
			{opts: []func(*callback.AccessNumber){auth(4)}, cli: unknown, pending: "4987654321", refused: true},
			{opts: []func(*callback.AccessNumber){auth(3)}, cli: known, pending: "4930111111", user: "default", askPIN: true, deflt: true},
			{opts: []func(*callback.AccessNumber){auth(1)}, cli: unknown, pending: "4987654321", user: "default", deflt: true},
			{opts: []func(*callback.AccessNumber){auth(0)}, cli: known, pending: "4930111111", user: "default", deflt: true},
		}
		for i, tc := range cases {
			number := fmt.Sprintf("180055504%02d", i)
			f.number(ani(number, append([]func(*callback.AccessNumber){withDefault, func(n *callback.AccessNumber) { n.Region = "DE" }}, tc.opts...)...))
			tr := f.ring("ani", number, tc.cli)
			r := f.pending(tc.pending)
			if tc.refused {
				if r != nil || tr.Variables[trigger.VarAction] != "reject" {
					t.Errorf("case %d: %s (%s), queued %+v; want refused", i, tr.Variables[trigger.VarAction], tr.Variables[trigger.VarReason], r)
				}
				continue
			}
			if r == nil {
				t.Fatalf("case %d: nothing queued: %s", i, tr.Variables[trigger.VarReason])
			}
			if r.Username != tc.user || r.Payer != tc.payer || r.AskPIN != tc.askPIN || r.DefaultUserUsed != tc.deflt {
				t.Errorf("case %d: username %q payer %q ask_pin %v default_user_used %v; want %q %q %v %v", i,
					r.Username, r.Payer, r.AskPIN, r.DefaultUserUsed, tc.user, tc.payer, tc.askPIN, tc.deflt)
			}
			if _, err := f.store.Cancel(t.Context(), r.ID, r.CreationTime); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("TwoWayNeedsNoPIN", func(t *testing.T) {
		n := ani("18005550199", withDefault, auth(4), func(n *callback.AccessNumber) { n.SubApp = "2way_12345" })
		if err := n.Validate(); err == nil {
			t.Fatal("ivrauthentication 4 on a 2way_ number validates: the PIN would never be asked")
		}
	})
}
