package billing_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/tariff"
)

func money(s string) callback.Money {
	m, err := callback.ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return m
}

func rate(prefix, perMin, fee string, first, next int) callback.TariffRate {
	return callback.TariffRate{Prefix: prefix, PricePerMinute: money(perMin), ConnectionFee: money(fee), FirstIncrement: first, NextIncrement: next}
}

// memRates is a fixed tariff per name, for tests that need no store.
type memRates map[string]*tariff.Table

func (m memRates) Lookup(_ context.Context, name, number string) (callback.TariffRate, bool, error) {
	t, ok := m[name]
	if !ok {
		return callback.TariffRate{}, false, nil
	}
	r, ok := t.Lookup(number)
	return r, ok, nil
}

func TestWhoPays(t *testing.T) {
	tests := []struct {
		name string
		r    callback.Request
		pin  string
		want billing.Payers
	}{
		{"identified caller pays both legs", callback.Request{Username: "alice", AnonAcctEnabled: true}, "",
			billing.Payers{A: "alice", B: "alice"}},
		{"identified caller with a payer named pays both", callback.Request{Username: "alice", Payer: "bob"}, "",
			billing.Payers{A: "alice", B: "alice"}},
		{"unidentified, nobody known: the default account pays", callback.Request{Username: "default", DefaultUserUsed: true, AnonAcctEnabled: true}, "",
			billing.Payers{A: "default", B: "default"}},
		{"unidentified with a known account and anonymous accounting", callback.Request{Username: "default", DefaultUserUsed: true, AnonAcctEnabled: true, Payer: "alice"}, "",
			billing.Payers{A: "default", ABind: "alice", B: "alice"}},
		{"noanonacct: the real account is not charged for leg A", callback.Request{Username: "default", DefaultUserUsed: true, Payer: "alice"}, "",
			billing.Payers{A: "default", B: "alice"}},
		{"PIN login pays leg B", callback.Request{Username: "internal", DefaultUserUsed: true, AskPIN: true}, "carol",
			billing.Payers{A: "internal", B: "carol"}},
		{"PIN login with anonymous accounting pays leg A too", callback.Request{Username: "internal", DefaultUserUsed: true, AskPIN: true, AnonAcctEnabled: true, Payer: "alice"}, "carol",
			billing.Payers{A: "internal", ABind: "carol", B: "carol"}},
		{"PIN of the default account itself is not charged twice", callback.Request{Username: "default", DefaultUserUsed: true, AnonAcctEnabled: true}, "default",
			billing.Payers{A: "default", B: "default"}},
		{"identified caller logging in with another PIN", callback.Request{Username: "alice", AnonAcctEnabled: true}, "carol",
			billing.Payers{A: "alice", B: "carol"}},
	}
	for _, tt := range tests {
		if got := billing.WhoPays(&tt.r, tt.pin); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestPrice(t *testing.T) {
	rates := memRates{
		"retail": tariff.NewTable([]callback.TariffRate{
			rate("1", "0.60", "0", 1, 1), rate("44", "1.20", "0", 1, 1), rate("4420", "2.40", "0.05", 30, 6),
			rate("33", "9.00", "0", 60, 60), rate("497", "0.30", "0", 60, 60),
		}),
		"blockedsat": tariff.NewTable([]callback.TariffRate{{Prefix: "44", PricePerMinute: money("1"), Blocked: true}, rate("1", "0", "0", 1, 1)}),
	}
	b := billing.New(nil, rates, billing.Options{})
	acct := func(name, bal string, cap string) billing.Funds {
		a := &callback.Account{Username: name, Balance: money(bal), Tariff: "retail"}
		if cap != "" {
			a.DailyCap = money(cap)
		}
		return billing.Funds{Account: a}
	}
	alice := acct("alice", "10", "")
	tests := []struct {
		name  string
		p     billing.Pricing
		err   error
		talk  time.Duration
		check func(t *testing.T, q *billing.Quote)
	}{
		{name: "per-second rates, one payer", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"}, Funds: []billing.Funds{alice}, ANumber: "15551234", BNumber: "4478"},
			// 10 / (0.01 + 0.02) per second
			talk: 333 * time.Second},
		{name: "always-blocked prefix", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"}, Funds: []billing.Funds{alice}, ANumber: "1", BNumber: "+8821234"},
			err: billing.ErrDestinationBlocked},
		{name: "blocked rate", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"},
			Funds: []billing.Funds{{Account: &callback.Account{Username: "alice", Balance: money("10"), Tariff: "blockedsat"}}}, ANumber: "1", BNumber: "4478"},
			err: billing.ErrDestinationBlocked},
		{name: "no rate", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"}, Funds: []billing.Funds{alice}, ANumber: "1", BNumber: "39123"},
			err: billing.ErrDestinationUnknown},
		{name: "first increment not affordable", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"}, Funds: []billing.Funds{acct("alice", "8.99", "")}, ANumber: "1", BNumber: "3361"},
			err: billing.ErrInsufficientFunds},
		{name: "credit limit counts as money", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"},
			Funds: []billing.Funds{{Account: &callback.Account{Username: "alice", Balance: 0, CreditLimit: money("-0.30"), Tariff: "retail"}}}, ANumber: "1", BNumber: "4478"},
			talk: 10 * time.Second},
		{name: "other calls' holds are not available", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"},
			Funds: []billing.Funds{{Account: alice.Account, Held: money("9.70")}}, ANumber: "1", BNumber: "4478"},
			talk: 10 * time.Second},
		{name: "daily cap spent", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"},
			Funds: []billing.Funds{{Account: acct("alice", "10", "1").Account, SpentToday: money("1")}}, ANumber: "1", BNumber: "4478"},
			err: billing.ErrDailyCapReached},
		{name: "daily cap limits talk time", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"},
			Funds: []billing.Funds{{Account: acct("alice", "10", "1").Account, SpentToday: money("0.70")}}, ANumber: "1", BNumber: "4478"},
			talk: 10 * time.Second},
		{name: "leg A up for a while already", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"},
			Funds: []billing.Funds{acct("alice", "0.30", "")}, ANumber: "1", AUp: 4 * time.Second, BNumber: "4478"},
			// 0.01*(4+t) + 0.02*t <= 0.30
			talk: 8 * time.Second},
		{name: "credit_time caps", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"}, Funds: []billing.Funds{alice}, ANumber: "1", BNumber: "4478", Limit: 90 * time.Second},
			talk: 90 * time.Second},
		{name: "separate payers: each pays its leg", p: billing.Pricing{Payers: billing.Payers{A: "default", ABind: "alice", B: "alice"},
			Funds: []billing.Funds{acct("default", "0.05", ""), acct("alice", "10", "")}, ANumber: "1", BNumber: "4478"},
			talk: 5 * time.Second, check: func(t *testing.T, q *billing.Quote) {
				if len(q.Legs) != 3 || q.Legs[1].Account != "alice" || q.LegB().Account != "alice" || q.PerMinute() != money("2.40") {
					t.Errorf("legs %+v per minute %s", q.Legs, q.PerMinute())
				}
			}},
		{name: "the real account also pays leg A", p: billing.Pricing{Payers: billing.Payers{A: "default", ABind: "alice", B: "alice"},
			Funds: []billing.Funds{acct("default", "100", ""), acct("alice", "0.30", "")}, ANumber: "1", BNumber: "4478"},
			talk: 10 * time.Second},
		{name: "connection fee and increments", p: billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"},
			Funds: []billing.Funds{acct("alice", "2", "")}, ANumber: "1", BNumber: "44201"},
			talk: 36 * time.Second, check: func(t *testing.T, q *billing.Quote) {
				if want := tariff.MaxTalkTime(money("2"), q.Legs[0].Rate, q.LegB().Rate); q.TalkTime != want {
					t.Errorf("talk time %s, tariff.MaxTalkTime says %s", q.TalkTime, want)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := b.Price(t.Context(), &tt.p)
			if tt.err != nil {
				var re *billing.RefusedError
				if !errors.Is(err, tt.err) || !errors.As(err, &re) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.TalkTime != tt.talk {
				t.Errorf("talk time %s, want %s", q.TalkTime, tt.talk)
			}
			// Never more than the money: what the talk time costs fits.
			spent := map[string]callback.Money{}
			for _, l := range q.Legs {
				spent[l.Account] += l.Cost(q.TalkTime)
			}
			for _, f := range tt.p.Funds {
				free := f.Account.Balance - f.Account.CreditLimit - f.Held
				if spent[f.Account.Username] > free {
					t.Errorf("%s: %s for the talk time, %s free", f.Account.Username, spent[f.Account.Username], free)
				}
			}
			if tt.check != nil {
				tt.check(t, q)
			}
		})
	}
}

// TestTalkTimeMatchesTariff checks the search against tariff.MaxTalkTime
// over many balances: one payer, nothing paid for yet.
func TestTalkTimeMatchesTariff(t *testing.T) {
	a, bb := rate("1", "0.08", "0", 60, 60), rate("234", "0.20", "0.01", 30, 6)
	rates := memRates{"t": tariff.NewTable([]callback.TariffRate{a, bb})}
	b := billing.New(nil, rates, billing.Options{})
	for bal := callback.Money(500); bal < 5*callback.MoneyScale; bal += 1733 {
		p := &billing.Pricing{Payers: billing.Payers{A: "x", B: "x"}, Funds: []billing.Funds{{Account: &callback.Account{Username: "x", Balance: bal, Tariff: "t"}}},
			ANumber: "1555", BNumber: "234803"}
		q, err := b.Price(t.Context(), p)
		want := tariff.MaxTalkTime(bal, a, bb)
		if want == 0 {
			if !errors.Is(err, billing.ErrInsufficientFunds) {
				t.Errorf("balance %s: %v, want insufficient funds", bal, err)
			}
			continue
		}
		if err != nil || q.TalkTime != want {
			t.Errorf("balance %s: %v %v, want %s", bal, q, err, want)
		}
	}
}

type fixture struct {
	st    interface{ callback.Store }
	b     *billing.Biller
	rates *tariff.Cache
}

func newFixture(t *testing.T, st callback.Store) *fixture {
	t.Helper()
	ctx := t.Context()
	if _, err := st.ImportRates(ctx, "retail", []callback.TariffRate{rate("1", "0.60", "0", 1, 1), rate("44", "1.20", "0", 1, 1)}, true); err != nil {
		t.Fatal(err)
	}
	for _, a := range []callback.Account{
		{Username: "alice", Balance: money("1"), Currency: "USD", Tariff: "retail"},
		{Username: "default", Balance: money("100"), Currency: "USD", Tariff: "retail"},
	} {
		if err := st.CreateAccount(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	cache := tariff.NewCache(st, time.Minute)
	return &fixture{st: st, rates: cache, b: billing.New(st, cache, billing.Options{})}
}

func stores(t *testing.T, test func(t *testing.T, st callback.Store)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); test(t, dbtest.SQLite(t)) })
	t.Run("mariadb", func(t *testing.T) { t.Parallel(); test(t, dbtest.MySQL(t)) })
}

// TestParallelCallsOfOneAccount runs eight calls of one account at once:
// each quotes and reserves; together they are never granted more than the
// account has, and the ones refused are refused for want of money.
func TestParallelCallsOfOneAccount(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		f := newFixture(t, st)
		const calls = 8
		var wg sync.WaitGroup
		quotes := make([]*billing.Quote, calls)
		errs := make([]error, calls)
		start := make(chan struct{})
		for i := range calls {
			wg.Go(func() {
				r := callback.Request{ID: int64(i + 1), Username: "alice", OriginalCLI: "15550001", ConnectTime: time.Now()}
				c := f.b.Open(t.Context(), r, fmt.Sprintf("c-%d-a", i+1), nil)
				<-start
				// A quote may be overtaken by another call's reservation:
				// quote again, as the calling card does on its next try.
				for range 3 {
					q, err := c.Quote(t.Context(), "4420")
					if err == nil {
						err = c.Reserve(t.Context(), q, fmt.Sprintf("c-%d-b", i+1))
					}
					quotes[i], errs[i] = q, err
					if !errors.Is(err, callback.ErrInsufficientFunds) || errors.As(err, new(*billing.RefusedError)) {
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		granted := 0
		for i, err := range errs {
			switch {
			case err == nil:
				granted++
			case !errors.Is(err, callback.ErrInsufficientFunds):
				t.Errorf("call %d: %v", i, err)
			}
		}
		rs, err := st.ListReservations(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		var held callback.Money
		for _, r := range rs {
			held += r.Amount
		}
		if granted == 0 || held > money("1") {
			t.Fatalf("%d calls granted, %s held of 1.00", granted, held)
		}
	})
}

// TestRecover settles what a call that died mid-call left behind, once,
// and leaves running calls alone.
func TestRecover(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		ctx := t.Context()
		f := newFixture(t, st)
		req := callback.NewRequest(callback.SourceAPI)
		req.Username, req.OriginalCLI, req.OriginalCLD, req.NextCall = "alice", "15550001", "callingcard", time.Now()
		if err := st.CreateRequest(ctx, req); err != nil {
			t.Fatal(err)
		}
		claimed, err := st.Claim(ctx, callback.ClaimParams{Owner: "dead/1", Now: time.Now(), Limit: 1, LeaseFor: time.Minute})
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v %d", err, len(claimed))
		}
		answered := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
		call := f.b.Open(ctx, callback.Request{ID: req.ID, Username: "alice", OriginalCLI: "15550001", ConnectTime: answered}, "c-a", nil)
		q, err := call.Quote(ctx, "4420")
		if err != nil {
			t.Fatal(err)
		}
		if err := call.Reserve(ctx, q, "c-b"); err != nil {
			t.Fatal(err)
		}
		call.Answered(ctx, answered.Add(2*time.Second))
		// The process dies here. While the request runs, nobody touches it.
		if n, err := f.b.RecoverAll(ctx); err != nil || n != 0 {
			t.Fatalf("recover of a running call: %d %v", n, err)
		}
		// The rescuer finishes the row 10 s after the answer of leg B.
		l := callback.Lease{RequestID: req.ID, Attempt: claimed[0].Attempt, Owner: "dead/1"}
		for _, ch := range []callback.Change{
			{From: callback.StatusRequestReceived, To: callback.StatusFirstLegInitiated},
			{From: callback.StatusFirstLegInitiated, To: callback.StatusFirstLegConnected, ConnectTime: answered},
			{From: callback.StatusFirstLegConnected, To: callback.StatusSecondLegInitiated},
			{From: callback.StatusSecondLegInitiated, To: callback.StatusSecondLegConnected},
		} {
			if _, err := st.Update(ctx, l, ch); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Rescue(ctx, callback.RescueParams{Now: answered.Add(12 * time.Second), MaxAttempts: 3, Backoff: time.Second,
			StaleOwnerPrefix: "dead/", Self: "alive/1"}); err != nil {
			t.Fatal(err)
		}
		if n, err := f.b.RecoverAll(ctx); err != nil || n != 2 {
			t.Fatalf("recover: %d %v, want 2 legs", n, err)
		}
		cdrs, err := st.ListCDRs(ctx, callback.CDRFilter{RequestID: req.ID})
		if err != nil || len(cdrs) != 2 {
			t.Fatalf("CDRs %v %v", cdrs, err)
		}
		// Leg A: 12 s at 0.01/s; leg B: 10 s at 0.02/s.
		if cdrs[0].Leg != callback.LegA || cdrs[0].Charge != money("0.12") || cdrs[1].Charge != money("0.20") || cdrs[1].BillSec != 10 {
			t.Errorf("recovered CDRs: %+v %+v", cdrs[0], cdrs[1])
		}
		a, _ := st.GetAccount(ctx, "alice")
		if a.Balance != money("0.68") {
			t.Errorf("balance %s, want 0.68", a.Balance)
		}
		// Found again (another node, the next call): nothing more.
		if n, err := f.b.RecoverAll(ctx); err != nil || n != 0 {
			t.Fatalf("second recover: %d %v", n, err)
		}
		// The process that held the call comes back and settles: skipped.
		if _, err := call.Settle(ctx, billing.End{A: answered.Add(30 * time.Second), B: answered.Add(30 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		if a, _ := st.GetAccount(ctx, "alice"); a.Balance != money("0.68") {
			t.Errorf("balance %s after a late settlement, want 0.68", a.Balance)
		}
	})
}

// memTariffs serves one tariff from memory to a tariff.Cache, so that the
// benchmark measures rating and arithmetic, not a database.
type memTariffs struct {
	callback.Tariffs
	rates []callback.TariffRate
}

func (m *memTariffs) TariffsVersion(context.Context) (int64, error) { return 1, nil }
func (m *memTariffs) ListRates(context.Context, string) ([]callback.TariffRate, error) {
	return m.rates, nil
}

// BenchmarkQuote measures the whole quote of a destination through the
// cache over a 100,000-prefix tariff: blocked-prefix check, rating of both
// legs, talk-time search.
func BenchmarkQuote(b *testing.B) {
	rates := make([]callback.TariffRate, 0, 100_001)
	for i := range 100_000 {
		rates = append(rates, rate(fmt.Sprintf("%d", 100000+i*7), "0.05", "0.01", 30, 6))
	}
	rates = append(rates, rate("1", "0.02", "0", 60, 60))
	cache := tariff.NewCache(&memTariffs{rates: rates}, time.Hour)
	bl := billing.New(nil, cache, billing.Options{})
	numbers := make([]string, 1024)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("%d%07d", 100000+(i*7919%100_000)*7, i)
	}
	p := billing.Pricing{Payers: billing.Payers{A: "alice", B: "alice"}, ANumber: "15550001",
		Funds: []billing.Funds{{Account: &callback.Account{Username: "alice", Balance: 123456, Tariff: "retail"}}}}
	ctx := context.Background()
	if _, err := cache.Table(ctx, "retail"); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		p.BNumber = numbers[i&1023]
		if _, err := bl.Price(ctx, &p); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "quotes/s")
}

// TestRecoverAdmitted settles a call whose money was held before its leg A
// was placed and whose process died mid-call: leg A is charged from the
// request's connect_time, leg B from its recorded answer, once.
func TestRecoverAdmitted(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		ctx := t.Context()
		f := newFixture(t, st)
		req := callback.NewRequest(callback.SourceAPI)
		req.Username, req.OriginalCLI, req.OriginalCLD, req.NextCall = "alice", "15550001", "2way_4420", time.Now()
		if err := st.CreateRequest(ctx, req); err != nil {
			t.Fatal(err)
		}
		claimed, err := st.Claim(ctx, callback.ClaimParams{Owner: "dead/1", Now: time.Now(), Limit: 1, LeaseFor: time.Minute})
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v %d", err, len(claimed))
		}
		call, err := f.b.Admit(ctx, *req, "c-a", "c-b", nil)
		if err != nil {
			t.Fatal(err)
		}
		if call.End().IsZero() || call.TalkTime() != 33*time.Second {
			t.Fatalf("admitted for %s", call.TalkTime())
		}
		answered := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
		call.LegAAnswered(answered)
		call.Answered(ctx, answered.Add(2*time.Second))
		l := callback.Lease{RequestID: req.ID, Attempt: claimed[0].Attempt, Owner: "dead/1"}
		for _, ch := range []callback.Change{
			{From: callback.StatusRequestReceived, To: callback.StatusFirstLegInitiated, CallID: "c-a"},
			{From: callback.StatusFirstLegInitiated, To: callback.StatusFirstLegConnected, ConnectTime: answered},
			{From: callback.StatusFirstLegConnected, To: callback.StatusSecondLegInitiated},
			{From: callback.StatusSecondLegInitiated, To: callback.StatusSecondLegConnected},
		} {
			if _, err := st.Update(ctx, l, ch); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Rescue(ctx, callback.RescueParams{Now: answered.Add(12 * time.Second), MaxAttempts: 3, Backoff: time.Second,
			StaleOwnerPrefix: "dead/", Self: "alive/1"}); err != nil {
			t.Fatal(err)
		}
		if n, err := f.b.RecoverAll(ctx); err != nil || n != 2 {
			t.Fatalf("recover: %d %v, want 2 legs", n, err)
		}
		cdrs, err := st.ListCDRs(ctx, callback.CDRFilter{RequestID: req.ID})
		if err != nil || len(cdrs) != 2 {
			t.Fatalf("CDRs %v %v", cdrs, err)
		}
		// Leg A: 12 s at 0.01/s; leg B: 10 s at 0.02/s.
		if cdrs[0].Leg != callback.LegA || cdrs[0].Charge != money("0.12") || cdrs[1].Charge != money("0.20") {
			t.Errorf("recovered CDRs: %+v %+v", cdrs[0], cdrs[1])
		}
		if a, _ := st.GetAccount(ctx, "alice"); a.Balance != money("0.68") {
			t.Errorf("balance %s, want 0.68", a.Balance)
		}
	})
}

// TestAdmitRefusesLegA: leg A's number passes the checks a destination
// passes; a leg without a rate is refused, not free.
func TestAdmitRefusesLegA(t *testing.T) {
	stores(t, func(t *testing.T, st callback.Store) {
		f := newFixture(t, st)
		for cli, want := range map[string]error{"3912345": billing.ErrDestinationUnknown, "8707731": billing.ErrDestinationBlocked} {
			r := callback.Request{ID: 1, Username: "alice", OriginalCLI: cli, OriginalCLD: "2way_4420"}
			_, err := f.b.Check(t.Context(), &r)
			var re *billing.RefusedError
			if !errors.Is(err, want) || !errors.As(err, &re) || re.Leg != callback.LegA {
				t.Errorf("%s: %v, want %v on leg A", cli, err, want)
			}
			if _, err := f.b.Admit(t.Context(), r, "c-a", "c-b", nil); !errors.Is(err, want) {
				t.Errorf("admit %s: %v, want %v", cli, err, want)
			}
		}
		// The inbound leg on an access number without a rate is free.
		r := callback.Request{ID: 2, Username: "alice", OriginalCLI: "3912345", OriginalCLD: "callingcard", Source: callback.SourceIVR, AccessNumber: "3980000"}
		if _, err := f.b.Check(t.Context(), &r); err != nil {
			t.Errorf("inbound leg on an unrated access number: %v", err)
		}
		if rs := reservationsOf(t, st); len(rs) != 0 {
			t.Errorf("reservations %+v", rs)
		}
	})
}

func reservationsOf(t *testing.T, st callback.Store) []*callback.Reservation {
	rs, err := st.ListReservations(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
