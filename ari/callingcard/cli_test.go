package callingcard_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/ari/callingcard"
	"github.com/callbackd/callbackd/callback"
)

// TestLegBCallerID: the destination sees the caller's number by default,
// the paying account's number ("Send Device CID") or a fixed Callback CID
// as configured, per trigger (a "WEB Callback CID" for web requests).
func TestLegBCallerID(t *testing.T) {
	cases := []struct {
		spec   string
		user   string
		source callback.Source
		want   string
	}{
		{"", "dave", callback.SourceAPI, "15550007"},
		{"device,web=+4930123456", "dave", callback.SourceAPI, "4930777"},
		{"device,web=+4930123456", "dave", callback.SourceWeb, "+4930123456"},
		{"device", "alice", callback.SourceAPI, "15550007"}, // no associated number: the caller's
		{"source,sms=device", "dave", callback.SourceSMS, "4930777"},
	}
	for _, tc := range cases {
		t.Run(tc.spec+"/"+string(tc.source)+"/"+tc.user, func(t *testing.T) {
			choice, err := callingcard.ParseLegBCLI(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			stores(t, func(t *testing.T, st callback.Store) {
				e := newEnv(t, st, envOptions{app: func(o *callingcard.Options) { o.LegBCLI = choice }})
				if err := st.CreateAccount(context.Background(), &callback.Account{Username: "dave", Balance: money("5"), Currency: "USD",
					Tariff: "retail", MaxSessions: 10, AssociatedNumber: "4930777"}); err != nil {
					t.Fatal(err)
				}
				e.sim.Phone("15550007", answerWith("4420123#"))
				e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(20*time.Millisecond, aritest.CauseNormalClearing))
				r := card(tc.user, "15550007")
				r.Source = tc.source
				e.create(r)
				if got := e.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
					t.Fatalf("%s/%s %q", got.Status, got.Result, got.LastError)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				inv, err := e.sim.WaitInvite(ctx, legID(r.ID, "b"))
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				if inv.FromUser != tc.want {
					t.Errorf("leg B From user %q, want %q", inv.FromUser, tc.want)
				}
			})
		})
	}
}

func TestParseLegBCLI(t *testing.T) {
	got, err := callingcard.ParseLegBCLI(" device , web=+4930123456, EMAIL=source ")
	if err != nil {
		t.Fatal(err)
	}
	if got.Default.Kind != callingcard.CLIDevice || got.BySource[callback.SourceWeb] != (callingcard.CLIChoice{Kind: callingcard.CLIFixed, Number: "+4930123456"}) ||
		got.BySource[callback.SourceEmail].Kind != callingcard.CLISource {
		t.Errorf("parsed %+v", got)
	}
	if got, err := callingcard.ParseLegBCLI(""); err != nil || got.Default.Kind != callingcard.CLISource {
		t.Errorf("empty: %+v %v", got, err)
	}
	for _, bad := range []string{"fax=device", "web=Bob", "anything", "web="} {
		if _, err := callingcard.ParseLegBCLI(bad); !errors.Is(err, callback.ErrInvalid) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}
