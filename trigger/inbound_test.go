package trigger_test

import (
	"testing"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/trigger"
)

// The IVR on the inbound call: who pays and whether a PIN is asked, for
// every kind of caller, on both stores.
func TestInboundSQLite(t *testing.T) {
	testInbound(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestInboundMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testInbound(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

func testInbound(t *testing.T, open func(t *testing.T) callback.Store) {
	ivr := func(opts ...func(*callback.AccessNumber)) callback.AccessNumber {
		return ani("18005550100", append([]func(*callback.AccessNumber){func(n *callback.AccessNumber) {
			n.IsCallback, n.Region, n.SubApp = 7, "DE", "callingcard_en_es"
		}}, opts...)...)
	}
	withDefault := func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default" }
	cases := []struct {
		name   string
		number callback.AccessNumber
		cli    string
		// want: the request's Username, Payer, AskPIN and DefaultUserUsed;
		// wantSIP set: refused with that code.
		user, payer   string
		askPIN, deflt bool
		wantSIP       int
	}{
		{name: "KnownCaller", number: ivr(withDefault), cli: "030 111111", user: "alice"},
		{name: "UnknownCallerDefaultAccount", number: ivr(withDefault), cli: "87654321", user: "default", askPIN: true, deflt: true},
		{name: "UnknownCallerNoAccount", number: ivr(func(n *callback.AccessNumber) { n.HangupSIPCode = 486 }), cli: "87654321", wantSIP: 486},
		{name: "BelowMinimumBalance", number: ivr(withDefault, func(n *callback.AccessNumber) { n.MinimumBalance = "2" }),
			cli: "4930222222", user: "default", askPIN: true, deflt: true},
		{name: "BelowMinimumNoDefault", number: ivr(func(n *callback.AccessNumber) { n.MinimumBalance = "2" }), cli: "4930222222", wantSIP: 603},
		{name: "BlockedAccount", number: ivr(withDefault), cli: "4930333333", wantSIP: 603},
		{name: "CLIAuthenticationDisabled", number: ivr(withDefault, func(n *callback.AccessNumber) { n.DisableCLIAuthentication = true }),
			cli: "030 111111", user: "default", askPIN: true, deflt: true},
		{name: "ANumberHandlingOnlyAdd", number: ivr(withDefault, func(n *callback.AccessNumber) { n.ANumberHandling = 1 }),
			cli: "030 111111", user: "default", askPIN: true, deflt: true},
		{name: "ForceDefaultAccount", number: ivr(withDefault, func(n *callback.AccessNumber) { n.ForceDefaultAccount = true }),
			cli: "030 111111", user: "default", payer: "alice", deflt: true},
		{name: "PINNumberInternalAccount", number: ivr(withDefault, func(n *callback.AccessNumber) {
			n.Trigger, n.InternalAccount = callback.TriggerPIN, "internal"
		}), cli: "87654321", user: "internal", askPIN: true, deflt: true},
		{name: "AnonymousCaller", number: ivr(withDefault), cli: "anonymous", wantSIP: 603},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, open(t), trigger.DefaultLimits())
			f.number(tc.number)
			r, d, err := f.engine.Inbound(t.Context(), trigger.InboundCall{CLI: tc.cli, Number: "18005550100", Channel: "1763900000.7"})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantSIP != 0 {
				if r != nil || d.Action != trigger.ActionReject || d.SIPCode != tc.wantSIP || d.Reason == "" {
					t.Fatalf("got request %+v, decision %+v; want a refusal with %d", r, d, tc.wantSIP)
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
			if r.Source != callback.SourceIVR || !r.Inbound() || r.CallID != "1763900000.7" || r.AccessNumber != "18005550100" ||
				r.OriginalCLD != "callingcard_en_es" || r.ID != 0 {
				t.Fatalf("request %+v", r)
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("request does not validate: %v", err)
			}
			// Nothing is queued: the dispatcher's Start inserts the row.
			if reqs, err := f.store.ListRequests(t.Context(), callback.RequestFilter{}); err != nil || len(reqs) != 0 {
				t.Fatalf("%d requests queued, %v", len(reqs), err)
			}
		})
	}

	t.Run("NotAnAccessNumber", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		r, d, err := f.engine.Inbound(t.Context(), trigger.InboundCall{CLI: "4930111111", Number: "555", Channel: "1.1"})
		if err != nil || r != nil || d.SIPCode != 404 {
			t.Fatalf("request %+v decision %+v err %v", r, d, err)
		}
	})

	t.Run("SubApplicationNotACallingCard", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ivr(func(n *callback.AccessNumber) { n.SubApp = "2way_12345" }))
		r, _, err := f.engine.Inbound(t.Context(), trigger.InboundCall{CLI: "4930111111", Number: "18005550100", Channel: "1.1"})
		if err != nil || r == nil || r.OriginalCLD != "callingcard" {
			t.Fatalf("request %+v err %v", r, err)
		}
	})
}
