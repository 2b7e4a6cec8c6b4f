package ari_test

import (
	"context"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

// invites returns the INVITEs of the first attempt's two legs of r.
func (e *env) invites(r *callback.Request) (a, b aritest.Invite) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var err error
	if a, err = e.sim.WaitInvite(ctx, legID(r.ID, 1, "a")); err != nil {
		e.t.Fatal(err)
	}
	if b, err = e.sim.WaitInvite(ctx, legID(r.ID, 1, "b")); err != nil {
		e.t.Fatal(err)
	}
	return a, b
}

func callerIDEnv(t *testing.T, opts ...envOption) *env {
	sim := aritest.NewT(t)
	sim.Phone("87654321", aritest.Answer(5*time.Millisecond))
	sim.Phone("12345", aritest.Answer(5*time.Millisecond).ThenHangup(20*time.Millisecond, aritest.CauseNormalClearing))
	e := newEnv(t, sim, opts...)
	if err := e.st.PutAccessNumber(context.Background(), &callback.AccessNumber{Number: "4930111"}); err != nil {
		t.Fatal(err)
	}
	e.start()
	return e
}

// TestSeedInsertCallerIDs is seed 001's own INSERT (username, authname,
// md5secret, original_cli, original_cld; no original_set_cli): leg A
// presents original_cli ("original_cli as CLI"), leg B the username
// ("username as CLI"). Both went out as "Anonymous" before.
func TestSeedInsertCallerIDs(t *testing.T) {
	e := callerIDEnv(t)
	r := callback.NewRequest(callback.SourceSQL)
	r.Username, r.Authname, r.MD5Secret = "801", "902", callback.HA1("902", "sip.example.net", "secret")
	r.OriginalCLI, r.OriginalCLD = "87654321", "2way_12345"
	e.create(r)
	if got := e.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s", got.Status, got.Result)
	}
	a, b := e.invites(r)
	if a.Anonymous() || a.FromUser != "87654321" {
		t.Errorf("leg A From %q <%s>, want original_cli 87654321", a.FromName, a.FromUser)
	}
	if b.Anonymous() || b.FromUser != "801" {
		t.Errorf("leg B From %q <%s>, want the username 801", b.FromName, b.FromUser)
	}
	// anon_acct_enabled defaults to true: both legs carry the header.
	if a.Headers["X-2Way-Need-Bind"] != "yes" || b.Headers["X-2Way-Need-Bind"] != "yes" {
		t.Errorf("X-2Way-Need-Bind: leg A %v, leg B %v", a.Headers, b.Headers)
	}
	e.noChannels()
}

// TestANICallbackCallerIDs: a callback through an access number presents
// original_cli on leg A (or the access number with ari.leg_a_cli
// access_number), and leg B shows twoway_cli, else the username, never leg
// A's caller ID.
func TestANICallbackCallerIDs(t *testing.T) {
	cases := []struct {
		name      string
		mode      ari.LegACLI
		twowayCLI string
		setCLI    string
		wantA     string
		wantB     string
	}{
		{"default", "", "", "", "87654321", "801"},
		{"access number on leg A", ari.LegACLIAccessNumber, "", "", "4930111", "801"},
		{"twoway_cli", ari.LegACLIAccessNumber, "4930999", "", "4930111", "4930999"},
		{"original_set_cli", ari.LegACLIAccessNumber, "", "4930777", "4930777", "801"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []envOption
			if tc.mode != "" {
				opts = append(opts, withCtl(ari.WithLegACLI(tc.mode)))
			}
			e := callerIDEnv(t, opts...)
			r := callback.NewRequest(callback.SourceANI)
			r.Username, r.OriginalCLI, r.OriginalCLD = "801", "87654321", "2way_12345"
			r.AccessNumber, r.TwowayCLI, r.OriginalSetCLI = "4930111", tc.twowayCLI, tc.setCLI
			e.create(r)
			if got := e.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
				t.Fatalf("got %s/%s", got.Status, got.Result)
			}
			a, b := e.invites(r)
			if a.FromUser != tc.wantA {
				t.Errorf("leg A From user %q, want %q", a.FromUser, tc.wantA)
			}
			if b.FromUser != tc.wantB {
				t.Errorf("leg B From user %q, want %q (leg A presented %q)", b.FromUser, tc.wantB, a.FromUser)
			}
			if a.Headers["Diversion"] != "<tel:4930111>;reason=unconditional" {
				t.Errorf("leg A Diversion %q", a.Headers["Diversion"])
			}
			if _, ok := b.Headers["Diversion"]; ok {
				t.Errorf("leg B carries a Diversion: %v", b.Headers)
			}
		})
	}
}

// TestSecondLegNeedBind: X-2Way-Need-Bind goes on leg B's INVITE exactly
// when anon_acct_enabled is set (seed 000: "while creating second call
// leg").
func TestSecondLegNeedBind(t *testing.T) {
	for _, anon := range []bool{true, false} {
		e := callerIDEnv(t)
		r := twoWay("87654321", "12345")
		r.AnonAcctEnabled = anon
		e.create(r)
		if got := e.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
			t.Fatalf("anon_acct_enabled=%v: got %s/%s", anon, got.Status, got.Result)
		}
		a, b := e.invites(r)
		for leg, inv := range map[string]aritest.Invite{"A": a, "B": b} {
			v, ok := inv.Headers["X-2Way-Need-Bind"]
			if anon && v != "yes" || !anon && ok {
				t.Errorf("anon_acct_enabled=%v: leg %s X-2Way-Need-Bind %q (present %v)", anon, leg, v, ok)
			}
		}
		e.stop()
	}
}
