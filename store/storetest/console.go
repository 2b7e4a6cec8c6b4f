package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// The console's reads: the tariff list, a page of rates, the dashboard's
// counts, and deleting an account without history.

func testListTariffs(t *testing.T, s admin.Store) {
	ctx := t.Context()
	if _, err := s.ImportRates(ctx, "retail", []callback.TariffRate{{Prefix: "1", PricePerMinute: 10}, {Prefix: "44", PricePerMinute: 20}, {Prefix: "4930", PricePerMinute: 30}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportRates(ctx, "wholesale", []callback.TariffRate{{Prefix: "1", PricePerMinute: 5}}, false); err != nil {
		t.Fatal(err)
	}
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD", Tariff: "retail"})
	createAccount(t, s, callback.Account{Username: "802", Currency: "EUR", Tariff: "retail"})
	createAccount(t, s, callback.Account{Username: "803", Currency: "USD", Tariff: "retail"})
	createAccount(t, s, callback.Account{Username: "804", Currency: "USD", Tariff: "empty"})
	createAccount(t, s, callback.Account{Username: "805", Currency: "USD"})
	got, err := s.ListTariffs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, tr := range got {
		lines = append(lines, fmt.Sprintf("%s rates=%d accounts=%d %s", tr.Name, tr.Rates, tr.Accounts, strings.Join(tr.Currencies, ",")))
	}
	want := "empty rates=0 accounts=1 USD\nretail rates=3 accounts=3 EUR,USD\nwholesale rates=1 accounts=0 "
	if strings.Join(lines, "\n") != want {
		t.Errorf("tariffs:\n%s\nwant\n%s", strings.Join(lines, "\n"), want)
	}
}

func testListRatesPage(t *testing.T, s admin.Store) {
	ctx := t.Context()
	var rates []callback.TariffRate
	for _, p := range []string{"7", "1", "44", "4930", "33", "49"} {
		rates = append(rates, callback.TariffRate{Prefix: p, PricePerMinute: 10, FirstIncrement: 60, NextIncrement: 6, Description: "d" + p})
	}
	if _, err := s.ImportRates(ctx, "retail", rates, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportRates(ctx, "other", []callback.TariffRate{{Prefix: "45"}}, false); err != nil {
		t.Fatal(err)
	}
	page := func(after string, limit int) string {
		t.Helper()
		got, err := s.ListRatesPage(ctx, "retail", after, limit)
		if err != nil {
			t.Fatal(err)
		}
		return prefixes(got)
	}
	if got := page("", 4); got != "1 33 44 49" {
		t.Errorf("first page: %s", got)
	}
	if got := page("49", 4); got != "4930 7" {
		t.Errorf("second page: %s", got)
	}
	if got := page("7", 4); got != "" {
		t.Errorf("after the last: %s", got)
	}
	got, err := s.ListRatesPage(ctx, "retail", "4", 1)
	if err != nil || len(got) != 1 || got[0].Description != "d44" || got[0].FirstIncrement != 60 || got[0].NextIncrement != 6 || got[0].Tariff != "retail" {
		t.Errorf("rate read back: %+v, %v", got, err)
	}
}

func testRequestsByResult(t *testing.T, s admin.Store) {
	ctx := t.Context()
	day := time.Date(2030, 3, 14, 0, 0, 0, 0, time.UTC)
	set := func(created time.Time, status callback.Status, result callback.Result) {
		t.Helper()
		r := create(t, s, newRequest("4930111", base))
		var res any
		if result != "" {
			res = string(result)
		}
		finished := status == callback.StatusFinished
		if _, err := raw(t, s).ExecContext(ctx, "UPDATE callback_requests SET creation_time = ?, status = ?, result = ?, finished = ? WHERE i_callback_request = ?",
			created.Format("2006-01-02 15:04:05.000"), string(status), res, finished, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	set(day, callback.StatusFinished, callback.ResultSuccessful)
	set(day.Add(5*time.Hour), callback.StatusFinished, callback.ResultSuccessful)
	set(day.Add(23*time.Hour+59*time.Minute), callback.StatusFinished, callback.ResultOutOfRetries)
	set(day.Add(time.Hour), callback.StatusFinished, callback.ResultCanceled)
	set(day.Add(2*time.Hour), callback.StatusWaitingForRetry, "")
	set(day.Add(-time.Millisecond), callback.StatusFinished, callback.ResultSuccessful) // the day before
	set(day.Add(24*time.Hour), callback.StatusFinished, callback.ResultExpired)         // the day after
	got, err := s.RequestsByResult(ctx, day, day.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range got {
		lines = append(lines, fmt.Sprintf("%s/%s=%d", c.Status, c.Result, c.Count))
	}
	want := "Finished/Canceled=1 Finished/Out of retries=1 Finished/Successful=2 Waiting for retry/=1"
	if strings.Join(lines, " ") != want {
		t.Errorf("by result: %s\nwant %s", strings.Join(lines, " "), want)
	}
}

func testHourlyCallbacks(t *testing.T, s admin.Store) {
	ctx := t.Context()
	from := time.Date(2030, 3, 14, 10, 0, 0, 0, time.UTC)
	add := func(i int, leg callback.Leg, start time.Time, answered bool) {
		t.Helper()
		var ans any
		if answered {
			ans = start.Add(5 * time.Second).Format("2006-01-02 15:04:05.000")
		}
		if _, err := raw(t, s).ExecContext(ctx, `INSERT INTO cdrs (request_id, leg, account, channel_id, start_time, answer_time, end_time, currency, disposition)
			VALUES (?, ?, '801', ?, ?, ?, ?, 'USD', 'ANSWERED')`, i, string(leg), fmt.Sprintf("ch-%d", i),
			start.Format("2006-01-02 15:04:05.000"), ans, start.Add(time.Minute).Format("2006-01-02 15:04:05.000")); err != nil {
			t.Fatal(err)
		}
	}
	add(1, callback.LegA, from, true)
	add(2, callback.LegA, from.Add(59*time.Minute+59*time.Second+999*time.Millisecond), false)
	add(3, callback.LegB, from.Add(time.Minute), true) // a second leg: not a callback
	add(4, callback.LegA, from.Add(2*time.Hour+30*time.Minute), true)
	add(5, callback.LegA, from.Add(2*time.Hour+31*time.Minute), true)
	add(6, callback.LegA, from.Add(-time.Millisecond), true) // before
	add(7, callback.LegA, from.Add(3*time.Hour), true)       // at the end: after
	got, err := s.HourlyCallbacks(ctx, from, from.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, h := range got {
		lines = append(lines, fmt.Sprintf("%s %d/%d", h.Hour.Format(time.RFC3339), h.Answered, h.Attempts))
	}
	want := "2030-03-14T10:00:00Z 1/2 2030-03-14T12:00:00Z 2/2"
	if strings.Join(lines, " ") != want {
		t.Errorf("per hour: %s\nwant %s", strings.Join(lines, " "), want)
	}
}

func testDeleteAccount(t *testing.T, s admin.Store) {
	ctx := t.Context()
	pass := func(*callback.Account, admin.AccountHistory) error { return nil }
	createAccount(t, s, callback.Account{Username: "new", Currency: "USD"})
	if err := s.AddCLIAudited(ctx, callback.AccountCLI{CLI: "4930555", Username: "new"}, auditOf("ann", "account.cli.add", "account/new")); err != nil {
		t.Fatal(err)
	}
	var seen admin.AccountHistory
	if err := s.DeleteAccountAudited(ctx, "new", func(a *callback.Account, h admin.AccountHistory) error {
		if a.Username != "new" {
			t.Errorf("check got account %q", a.Username)
		}
		seen = h
		return nil
	}, auditOf("ann", "account.delete", "account/new")); err != nil {
		t.Fatal(err)
	}
	if !seen.Empty() {
		t.Errorf("a new account's history: %+v", seen)
	}
	if _, err := s.GetAccount(ctx, "new"); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("deleted account: %v", err)
	}
	if clis, err := s.ListCLIs(ctx, "new"); err != nil || len(clis) != 0 {
		t.Errorf("the deleted account's caller IDs: %v, %v", clis, err)
	}
	if e := lastAudit(t, s); e.Action != "account.delete" || !strings.Contains(string(e.Before), `"username":"new"`) || e.After != nil {
		t.Errorf("audit entry %s before %s after %s", e.Action, e.Before, e.After)
	}
	// The account can be made again.
	createAccount(t, s, callback.Account{Username: "new", Currency: "USD"})

	// Each kind of history is seen.
	history := func(username string) admin.AccountHistory {
		t.Helper()
		refuse := errors.New("kept")
		var h admin.AccountHistory
		n := auditCount(t, s)
		if err := s.DeleteAccountAudited(ctx, username, func(_ *callback.Account, got admin.AccountHistory) error {
			h = got
			return refuse
		}, auditOf("ann", "account.delete", "account/"+username)); !errors.Is(err, refuse) {
			t.Fatalf("delete %s refused by the check: %v", username, err)
		}
		if _, err := s.GetAccount(ctx, username); err != nil {
			t.Errorf("%s after a refused delete: %v", username, err)
		}
		if auditCount(t, s) != n {
			t.Errorf("a refused delete of %s wrote an audit entry", username)
		}
		return h
	}
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD"})
	r := create(t, s, newRequest("4930111", base))
	if h := history("801"); h != (admin.AccountHistory{Requests: true}) {
		t.Errorf("account with a request: %+v", h)
	}
	createAccount(t, s, callback.Account{Username: "payer", Currency: "USD"})
	if _, err := raw(t, s).ExecContext(ctx, "UPDATE callback_requests SET payer = 'payer' WHERE i_callback_request = ?", r.ID); err != nil {
		t.Fatal(err)
	}
	if h := history("payer"); h != (admin.AccountHistory{Requests: true}) {
		t.Errorf("account paying a request: %+v", h)
	}
	createAccount(t, s, callback.Account{Username: "cdr", Currency: "USD"})
	if _, err := raw(t, s).ExecContext(ctx, `INSERT INTO cdrs (request_id, leg, account, channel_id, start_time, currency) VALUES (99, 'B', 'cdr', 'c', ?, 'USD')`,
		base.Format("2006-01-02 15:04:05.000")); err != nil {
		t.Fatal(err)
	}
	if h := history("cdr"); h != (admin.AccountHistory{CDRs: true}) {
		t.Errorf("account with a CDR: %+v", h)
	}
	createAccount(t, s, callback.Account{Username: "paid", Currency: "USD"})
	if _, err := s.PostLedger(ctx, &admin.LedgerEntry{Username: "paid", Kind: admin.LedgerTopUp, Amount: 100, Reason: "r", Operator: "ann"},
		auditOf("ann", "account.topup", "account/paid")); err != nil {
		t.Fatal(err)
	}
	if h := history("paid"); h != (admin.AccountHistory{LedgerEntries: true}) {
		t.Errorf("account with a ledger entry: %+v", h)
	}
	createAccount(t, s, callback.Account{Username: "dflt", Currency: "USD"})
	if err := s.PutAccessNumber(ctx, &callback.AccessNumber{Number: "4930123", Trigger: callback.TriggerANI, DefaultAccountUsername: "dflt"}); err != nil {
		t.Fatal(err)
	}
	if h := history("dflt"); h != (admin.AccountHistory{AccessNumbers: true}) {
		t.Errorf("account named by an access number: %+v", h)
	}
	if err := s.DeleteAccountAudited(ctx, "nobody", pass, auditOf("ann", "account.delete", "account/nobody")); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("delete a missing account: %v", err)
	}
}
