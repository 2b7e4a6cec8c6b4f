package callingcard_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
)

const gap = 10 * time.Millisecond

func answerWith(digits string) aritest.Behaviour {
	return aritest.Answer(5 * time.Millisecond).ThenDTMF(aritest.Digits(digits, gap)...)
}

// checkMoney checks that the CDRs took from each account exactly what
// its balance lost, that no balance went below its credit limit (0), and
// that no money is left held.
func checkMoney(t *testing.T, e *env, cdrs []*callback.CDR, before map[string]callback.Money) {
	t.Helper()
	spent := map[string]callback.Money{}
	for _, c := range cdrs {
		spent[c.Account] += c.Charge
	}
	for u, b := range before {
		got := e.balance(u)
		if got != b-spent[u] {
			t.Errorf("%s: balance %s, want %s - %s", u, got, b, spent[u])
		}
		if got < 0 {
			t.Errorf("%s: balance %s below the credit limit", u, got)
		}
	}
	e.noReservations()
}

func TestBalanceRunsOutMidCall(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{})
		if err := st.SetBalance(t.Context(), "alice", money("0.10")); err != nil {
			t.Fatal(err)
		}
		e.sim.Phone("15550001", answerWith("4420123#"))
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond))
		r := e.create(card("alice", "15550001"))
		got := e.done.wait(t, r.ID)
		if got.Result != callback.ResultSuccessful || got.LastError != "talk time used up" {
			t.Fatalf("%s/%s %q", got.Status, got.Result, got.LastError)
		}
		a := legID(r.ID, "a")
		media := e.played(a)
		balance := []string{"sound:callbackd/your-balance-is", "number:0", "sound:callbackd/currency-USD", "sound:callbackd/and",
			"number:10", "sound:callbackd/currency-USD-minor"}
		if !slices.Equal(media[:len(balance)], balance) {
			t.Errorf("balance announcement %q", media[:len(balance)])
		}
		for _, m := range []string{"sound:callbackd/you-have", "sound:callbackd/connecting", "sound:callbackd/one-minute-left", "sound:callbackd/time-is-up"} {
			if count(media, m) != 1 {
				t.Errorf("%s played %d times: %q", m, count(media, m), media)
			}
		}
		cdrs := e.cdrs(r.ID)
		if len(cdrs) != 2 || cdrs[0].Leg != callback.LegA || cdrs[1].Leg != callback.LegB {
			t.Fatalf("CDRs %+v", cdrs)
		}
		b := cdrs[1]
		if b.ChannelID != legID(r.ID, "b") || b.Disposition != "ANSWERED" || b.Prefix != "44" || b.Charge <= 0 || b.Answer.IsZero() || b.Currency != "USD" {
			t.Errorf("CDR B %+v", b)
		}
		if cdrs[0].Charge+b.Charge > money("0.10") {
			t.Errorf("charged %s + %s of 0.10", cdrs[0].Charge, b.Charge)
		}
		checkMoney(t, e, cdrs, map[string]callback.Money{"alice": money("0.10")})
	})
}

func TestPINLoginPaysTheRest(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{})
		e.sim.Phone("15550002", answerWith("4242#4420123#"))
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond).ThenHangup(1500*time.Millisecond, aritest.CauseNormalClearing))
		r := card("default", "15550002")
		r.AskPIN, r.DefaultUserUsed, r.AnonAcctEnabled = true, true, true
		e.create(r)
		got := e.done.wait(t, r.ID)
		if got.Result != callback.ResultSuccessful {
			t.Fatalf("%s/%s %q", got.Status, got.Result, got.LastError)
		}
		a := legID(r.ID, "a")
		media := e.played(a)
		if !slices.Contains(media, "sound:callbackd/currency-EUR") || count(media, "sound:callbackd/invalid-pin") != 0 {
			t.Errorf("the PIN account's balance was not announced in its currency: %q", media)
		}
		cdrs := e.cdrs(r.ID)
		want := []struct {
			leg     callback.Leg
			account string
			channel string
		}{{callback.LegA, "default", a}, {callback.LegA, "carol", billing.BindChannel(a)}, {callback.LegB, "carol", legID(r.ID, "b")}}
		if len(cdrs) != len(want) {
			t.Fatalf("CDRs %+v", cdrs)
		}
		for i, w := range want {
			c := cdrs[i]
			if c.Leg != w.leg || c.Account != w.account || c.ChannelID != w.channel || c.Charge <= 0 || c.Disposition != "ANSWERED" {
				t.Errorf("CDR %d: %+v, want %+v", i, c, w)
			}
			// The controller's only trunk is the default one, "trunk".
			if c.Trunk != "trunk" {
				t.Errorf("CDR %d names trunk %q, want the trunk that carried the leg", i, c.Trunk)
			}
		}
		checkMoney(t, e, cdrs, map[string]callback.Money{"default": money("100"), "carol": money("2.50")})
	})
}

func TestIVRFailures(t *testing.T) {
	tests := []struct {
		name    string
		pin     bool
		digits  string
		dest    string
		phone   aritest.Behaviour
		result  callback.Result
		cause   int
		prompts map[string]int // prompt -> times played
		legs    int            // CDRs
		payer   string
	}{
		{name: "wrong PIN three times", pin: true, digits: "1111#2222#3333#", result: callback.ResultFirstLegAborted,
			prompts: map[string]int{"invalid-pin": 2, "too-many-attempts": 1, "your-balance-is": 0}, legs: 1, payer: "default"},
		{name: "no digits", result: callback.ResultFirstLegAborted,
			prompts: map[string]int{"enter-destination": 3, "no-destination": 3, "goodbye": 1}, legs: 1, payer: "alice"},
		{name: "hash only", digits: "###", result: callback.ResultFirstLegAborted,
			prompts: map[string]int{"enter-destination": 3, "no-destination": 3, "goodbye": 1}, legs: 1, payer: "alice"},
		{name: "always-blocked prefix", digits: "900123#900123#900123#", result: callback.ResultSecondLegFailed, cause: 21,
			prompts: map[string]int{"destination-blocked": 3, "goodbye": 1}, legs: 1, payer: "alice"},
		{name: "blocked rate", digits: "88161234#88161234#88161234#", result: callback.ResultSecondLegFailed, cause: 21,
			prompts: map[string]int{"destination-blocked": 3}, legs: 1, payer: "alice"},
		{name: "no rate", digits: "39123#39123#39123#", result: callback.ResultSecondLegFailed, cause: 3,
			prompts: map[string]int{"destination-unknown": 3}, legs: 1, payer: "alice"},
		{name: "unaffordable destination", digits: "9912#9912#9912#", result: callback.ResultSecondLegFailed, cause: 21,
			prompts: map[string]int{"insufficient-funds": 3, "connecting": 0}, legs: 1, payer: "alice"},
		{name: "busy destination", digits: "4420124#", dest: "4420124", phone: aritest.Busy(), result: callback.ResultSecondLegFailed, cause: 17,
			prompts: map[string]int{"connecting": 1, "busy": 1, "failed": 0}, legs: 2, payer: "alice"},
		{name: "unreachable destination", digits: "4420125#", dest: "4420125", phone: aritest.Unreachable(aritest.CauseNoRouteDestination),
			result: callback.ResultSecondLegFailed, cause: 3, prompts: map[string]int{"failed": 1, "busy": 0}, legs: 2, payer: "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stores(t, func(t *testing.T, st callback.Store) {
				e := newEnv(t, st, envOptions{})
				e.sim.Phone("15550003", answerWith(tt.digits))
				if tt.dest != "" {
					e.sim.Phone(tt.dest, tt.phone)
				}
				r := card("alice", "15550003")
				if tt.pin {
					r.Username, r.AskPIN, r.DefaultUserUsed = "default", true, true
				}
				e.create(r)
				got := e.done.wait(t, r.ID)
				if got.Status != callback.StatusFinished || got.Result != tt.result || got.LastCause != tt.cause {
					t.Fatalf("%s/%s cause %d %q, want %s cause %d", got.Status, got.Result, got.LastCause, got.LastError, tt.result, tt.cause)
				}
				media := e.played(legID(r.ID, "a"))
				for p, n := range tt.prompts {
					if c := count(media, "sound:callbackd/"+p); c != n {
						t.Errorf("%s played %d times, want %d: %q", p, c, n, media)
					}
				}
				cdrs := e.cdrs(r.ID)
				if len(cdrs) != tt.legs {
					t.Fatalf("%d CDRs, want %d: %+v", len(cdrs), tt.legs, cdrs)
				}
				if a := cdrs[0]; a.Leg != callback.LegA || a.Account != tt.payer || a.Charge <= 0 || a.Number != "15550003" {
					t.Errorf("CDR A %+v", a)
				}
				if tt.legs == 2 {
					b := cdrs[1]
					wantDisp := map[int]string{17: "BUSY", 3: "FAILED"}[tt.cause]
					if b.Leg != callback.LegB || b.Charge != 0 || b.Disposition != wantDisp || b.Cause != tt.cause || !b.Answer.IsZero() {
						t.Errorf("CDR B %+v", b)
					}
				}
				checkMoney(t, e, cdrs, map[string]callback.Money{"alice": money("5"), "default": money("100")})
			})
		})
	}
}

func TestFirstLegHangsUp(t *testing.T) {
	tests := []struct {
		name  string
		pin   bool
		at    string // hang up when this prompt starts; "" when leg B is dialled
		legs  int
		payer string
	}{
		{name: "PIN prompt", pin: true, at: "sound:callbackd/enter-pin", legs: 1, payer: "default"},
		{name: "balance announcement", at: "sound:callbackd/your-balance-is", legs: 1, payer: "alice"},
		{name: "destination prompt", at: "sound:callbackd/enter-destination", legs: 1, payer: "alice"},
		{name: "talk time announcement", at: "sound:callbackd/you-have", legs: 2, payer: "alice"},
		{name: "second leg ringing", legs: 2, payer: "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stores(t, func(t *testing.T, st callback.Store) {
				// Long prompts, so that the hangup lands in the one named.
				e := newEnv(t, st, envOptions{sims: []aritest.Option{aritest.WithPlaybackDuration(300 * time.Millisecond)}})
				// Digits are typed ahead only where the hangup comes after
				// they were taken: a late hangup (a loaded machine) must
				// not let a PIN login or a dial slip in before it.
				digits := ""
				if tt.legs == 2 {
					digits = "4420123#"
				}
				if tt.pin && tt.at != "sound:callbackd/enter-pin" {
					digits = "4242#" + digits
				}
				e.sim.Phone("15550004", answerWith(digits))
				e.sim.Phone("4420123", aritest.RingOut())
				r := card("alice", "15550004")
				if tt.pin {
					r.Username, r.AskPIN, r.DefaultUserUsed = "default", true, true
				}
				e.create(r)
				a := legID(r.ID, "a")
				if tt.at != "" {
					e.waitPlay(a, tt.at)
				} else {
					e.waitPath("POST", "/ari/channels/"+legID(r.ID, "b")+"/dial")
				}
				if err := e.sim.Hangup(a, aritest.CauseNormalClearing); err != nil {
					t.Fatal(err)
				}
				got := e.done.wait(t, r.ID)
				if got.Result != callback.ResultFirstLegAborted || !strings.Contains(got.LastError, "first leg hung up") {
					t.Fatalf("%s/%s %q", got.Status, got.Result, got.LastError)
				}
				cdrs := e.cdrs(r.ID)
				if len(cdrs) != tt.legs {
					t.Fatalf("%d CDRs, want %d: %+v", len(cdrs), tt.legs, cdrs)
				}
				if c := cdrs[0]; c.Account != tt.payer || c.Charge <= 0 || c.Disposition != "ANSWERED" {
					t.Errorf("CDR A %+v", c)
				}
				if tt.legs == 2 && (cdrs[1].Charge != 0 || !cdrs[1].Answer.IsZero()) {
					t.Errorf("leg B charged: %+v", cdrs[1])
				}
				checkMoney(t, e, cdrs, map[string]callback.Money{"alice": money("5"), "default": money("100")})
				if len(e.sim.Channels()) != 0 {
					t.Errorf("channels left: %+v", e.sim.Channels())
				}
			})
		})
	}
}

// TestCreditTime cuts a call with plenty of money at credit_time.
func TestCreditTime(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		e := newEnv(t, st, envOptions{})
		e.sim.Phone("15550005", answerWith("4420123#"))
		e.sim.Phone("4420123", aritest.Answer(5*time.Millisecond))
		r := card("alice", "15550005")
		r.CreditTime = 3
		e.create(r)
		got := e.done.wait(t, r.ID)
		if got.Result != callback.ResultSuccessful {
			t.Fatalf("%s/%s %q", got.Status, got.Result, got.LastError)
		}
		// The talk time granted is what credit_time leaves, not what the
		// money buys (minutes).
		media := e.played(legID(r.ID, "a"))
		i := slices.Index(media, "sound:callbackd/you-have")
		if i < 0 || i+2 >= len(media) || media[i+2] != "sound:callbackd/seconds" || media[i+1] > "number:3" {
			t.Errorf("talk time announced: %q", media)
		}
		cdrs := e.cdrs(r.ID)
		if len(cdrs) != 2 {
			t.Fatalf("CDRs %+v", cdrs)
		}
		checkMoney(t, e, cdrs, map[string]callback.Money{"alice": money("5")})
	})
}
