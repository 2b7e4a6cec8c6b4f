package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

func balance(t *testing.T, s callback.Store, username string) callback.Money {
	t.Helper()
	a, err := s.GetAccount(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	return a.Balance
}

var billingTests = map[string]func(t *testing.T, s callback.Store){
	"SettleExactlyOnce": func(t *testing.T, s callback.Store) {
		createAccount(t, s, callback.Account{Username: "alice", Balance: 100_000, Currency: "EUR"})
		createAccount(t, s, callback.Account{Username: "default", Balance: 100_000, Currency: "USD"})
		a := &callback.CDR{RequestID: 7, Leg: callback.LegA, Account: "default", Number: "4930111111", CallerID: "18005550100",
			ChannelID: "cb-7-1-a", Start: base, Answer: base.Add(5 * time.Second), End: base.Add(65 * time.Second),
			BillSec: 60, Cause: 16, SIPCode: 200, Prefix: "49", Charge: 2_000, Disposition: "ANSWERED"}
		b := &callback.CDR{RequestID: 7, Leg: callback.LegB, Account: "alice", Number: "12345", ChannelID: "cb-7-1-b",
			Start: base.Add(6 * time.Second), End: base.Add(65 * time.Second), Cause: 17, SIPCode: 486, Charge: 0, Disposition: "BUSY"}
		if err := s.Settle(t.Context(), []*callback.CDR{a, b}); err != nil {
			t.Fatal(err)
		}
		if a.ID == 0 || b.ID == 0 || a.Currency != "USD" || b.Currency != "EUR" {
			t.Fatalf("settled CDRs: %+v %+v", a, b)
		}
		if got := balance(t, s, "default"); got != 98_000 {
			t.Errorf("default balance %s, want 9.80", got)
		}
		list, err := s.ListCDRs(t.Context(), callback.CDRFilter{RequestID: 7})
		if err != nil || len(list) != 2 {
			t.Fatalf("CDRs: %v %v", list, err)
		}
		mustEqual(t, "CDR A", list[0], a)
		mustEqual(t, "CDR B (NULL answer)", list[1], b)

		// The same legs again (a retried settlement) are skipped with their
		// charges; a new leg in the same batch is not.
		again := *a
		again.ID, again.Charge = 0, 5_000
		retry := &callback.CDR{RequestID: 7, Leg: callback.LegA, Account: "default", ChannelID: "cb-7-2-a", Start: base.Add(time.Minute), Charge: 1_000}
		if err := s.Settle(t.Context(), []*callback.CDR{&again, retry}); err != nil {
			t.Fatal(err)
		}
		if again.ID != a.ID || again.Charge != 2_000 {
			t.Errorf("duplicate CDR: id %d charge %s, want the recorded %d and 0.20", again.ID, again.Charge, a.ID)
		}
		if got := balance(t, s, "default"); got != 97_000 {
			t.Errorf("default balance %s after a retried settlement, want 9.70", got)
		}
		if list, _ := s.ListCDRs(t.Context(), callback.CDRFilter{Account: "default"}); len(list) != 2 {
			t.Errorf("default has %d CDRs, want 2", len(list))
		}
		if list, _ := s.ListCDRs(t.Context(), callback.CDRFilter{Limit: 1}); len(list) != 1 {
			t.Errorf("limit 1 returned %d", len(list))
		}
	},

	"CreditLimit": func(t *testing.T, s callback.Store) {
		createAccount(t, s, callback.Account{Username: "prepaid", Balance: 1_500})
		createAccount(t, s, callback.Account{Username: "postpaid", Balance: 0, CreditLimit: -10_000})
		c1 := &callback.CDR{RequestID: 1, Leg: callback.LegA, Account: "prepaid", ChannelID: "a", Start: base, Charge: 1_000}
		c2 := &callback.CDR{RequestID: 1, Leg: callback.LegB, Account: "prepaid", ChannelID: "b", Start: base, Charge: 1_000}
		c3 := &callback.CDR{RequestID: 2, Leg: callback.LegA, Account: "postpaid", ChannelID: "a", Start: base, Charge: 25_000}
		if err := s.Settle(t.Context(), []*callback.CDR{c1, c2, c3}); err != nil {
			t.Fatal(err)
		}
		if c1.Charge != 1_000 || c2.Charge != 500 || c3.Charge != 10_000 {
			t.Errorf("charged %s %s %s, want 0.10 0.05 1.00", c1.Charge, c2.Charge, c3.Charge)
		}
		if got := balance(t, s, "prepaid"); got != 0 {
			t.Errorf("prepaid balance %s, want 0", got)
		}
		if got := balance(t, s, "postpaid"); got != -10_000 {
			t.Errorf("postpaid balance %s, want -1.00", got)
		}
		// An account already at its limit is charged nothing.
		c4 := &callback.CDR{RequestID: 3, Leg: callback.LegA, Account: "prepaid", ChannelID: "a", Start: base, Charge: 700}
		if err := s.Settle(t.Context(), []*callback.CDR{c4}); err != nil || c4.Charge != 0 {
			t.Errorf("at the limit: charged %s, %v", c4.Charge, err)
		}
		list, _ := s.ListCDRs(t.Context(), callback.CDRFilter{Account: "prepaid"})
		if len(list) != 3 || list[1].Charge != 500 || list[2].Charge != 0 {
			t.Errorf("stored charges: %+v", list)
		}
	},

	"UnknownAccountRollsBack": func(t *testing.T, s callback.Store) {
		createAccount(t, s, callback.Account{Username: "alice", Balance: 10_000})
		ok := &callback.CDR{RequestID: 1, Leg: callback.LegA, Account: "alice", ChannelID: "a", Start: base, Charge: 1_000}
		bad := &callback.CDR{RequestID: 1, Leg: callback.LegB, Account: "nobody", ChannelID: "b", Start: base, Charge: 1_000}
		if err := s.Settle(t.Context(), []*callback.CDR{ok, bad}); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("settle with an unknown account: %v, want ErrNotFound", err)
		}
		if got := balance(t, s, "alice"); got != 10_000 {
			t.Errorf("a failed settlement debited alice: %s", got)
		}
		if list, _ := s.ListCDRs(t.Context(), callback.CDRFilter{}); len(list) != 0 {
			t.Errorf("a failed settlement left %d CDRs", len(list))
		}
		// The same CDR settles once the batch is right.
		if err := s.Settle(t.Context(), []*callback.CDR{ok}); err != nil || ok.Charge != 1_000 {
			t.Errorf("settle: %v, charge %s", err, ok.Charge)
		}
	},

	"SpentSince": func(t *testing.T, s callback.Store) {
		createAccount(t, s, callback.Account{Username: "alice", Balance: 100_000})
		createAccount(t, s, callback.Account{Username: "bob", Balance: 100_000})
		var cdrs []*callback.CDR
		for i, c := range []struct {
			account string
			start   time.Time
			charge  callback.Money
		}{
			{"alice", base.Add(-25 * time.Hour), 1_000},
			{"alice", base.Add(-time.Hour), 200},
			{"alice", base, 30},
			{"bob", base, 4},
		} {
			cdrs = append(cdrs, &callback.CDR{RequestID: int64(i + 1), Leg: callback.LegA, Account: c.account, ChannelID: "a", Start: c.start, Charge: c.charge})
		}
		if err := s.Settle(t.Context(), cdrs); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			account string
			since   time.Time
			want    callback.Money
		}{
			{"alice", base.Add(-24 * time.Hour), 230},
			{"alice", base, 30},
			{"alice", base.Add(time.Millisecond), 0},
			{"alice", time.Time{}, 1_230},
			{"bob", base.Add(-24 * time.Hour), 4},
			{"nobody", base.Add(-24 * time.Hour), 0},
		} {
			got, err := s.SpentSince(t.Context(), c.account, c.since)
			if err != nil || got != c.want {
				t.Errorf("%s since %s: %s %v, want %s", c.account, c.since, got, err, c.want)
			}
		}
	},
}
