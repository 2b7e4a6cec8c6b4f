package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// The dashboard's totals (cdr_totals, request_totals), kept by triggers
// as CDRs and requests are written: after any mix of writes they equal
// a GROUP BY over the rows themselves.

func init() {
	adminTests["CDRTotals"] = testCDRTotals
	adminTests["RequestTotals"] = testRequestTotals
	adminTests["RebuildTotals"] = testRebuildTotals
}

// cdrSums is one hour's, leg's and currency's figures, as text.
func cdrSums(r admin.ReportRow) string {
	return fmt.Sprintf("%s %d/%d %ds %d", r.Currency, r.Answered, r.Attempts, r.BillSec, int64(r.Revenue))
}

// checkCDRTotals compares, for each hour of [from, to) and each leg,
// CurrencyTotals with Report's GROUP BY over the CDRs summed per
// currency, and HourlyCallbacks with the same GROUP BY's first legs; it
// returns how many legs were compared.
func checkCDRTotals(t *testing.T, s admin.Store, from, to time.Time) int64 {
	t.Helper()
	ctx := t.Context()
	var legs int64
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		for _, leg := range []callback.Leg{callback.LegA, callback.LegB} {
			rows, err := s.Report(ctx, admin.ReportFilter{From: h, To: h.Add(time.Hour), By: admin.ByAccount, Leg: leg})
			if err != nil {
				t.Fatal(err)
			}
			per := map[string]*admin.ReportRow{}
			for _, r := range rows {
				p := per[r.Currency]
				if p == nil {
					p = &admin.ReportRow{Currency: r.Currency}
					per[r.Currency] = p
				}
				p.Attempts, p.Answered, p.BillSec, p.Revenue = p.Attempts+r.Attempts, p.Answered+r.Answered, p.BillSec+r.BillSec, p.Revenue+r.Revenue
			}
			var want []string
			for _, p := range per {
				want = append(want, cdrSums(*p))
				legs += p.Attempts
			}
			slices.Sort(want)
			got, err := s.CurrencyTotals(ctx, h, h.Add(time.Hour), leg)
			if err != nil {
				t.Fatal(err)
			}
			var have []string
			for _, r := range got {
				have = append(have, cdrSums(r))
			}
			if strings.Join(have, "; ") != strings.Join(want, "; ") {
				t.Errorf("%s leg %s: totals %q, CDRs %q", h.Format("2006-01-02 15"), leg, have, want)
			}
			if leg != callback.LegA {
				continue
			}
			hours, err := s.HourlyCallbacks(ctx, h, h.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var attempts, answered int64
			for _, p := range per {
				attempts, answered = attempts+p.Attempts, answered+p.Answered
			}
			switch {
			case attempts == 0 && len(hours) != 0:
				t.Errorf("%s: hourly %+v, no first legs", h.Format("2006-01-02 15"), hours)
			case attempts != 0 && (len(hours) != 1 || !hours[0].Hour.Equal(h) || hours[0].Attempts != attempts || hours[0].Answered != answered):
				t.Errorf("%s: hourly %+v, want %d/%d", h.Format("2006-01-02 15"), hours, answered, attempts)
			}
		}
	}
	return legs
}

// totalsCDR is a CDR of request id, leg and currency starting at start,
// answered after 3 s when billsec > 0.
func totalsCDR(id int64, leg callback.Leg, acct string, start time.Time, billsec int, charge callback.Money) *callback.CDR {
	c := &callback.CDR{RequestID: id, Leg: leg, Account: acct, ChannelID: fmt.Sprintf("ch-%d-%s", id, leg), Start: start,
		End: start.Add(time.Duration(billsec+5) * time.Second), BillSec: billsec, Charge: charge, Disposition: "NO ANSWER"}
	if billsec > 0 {
		c.Answer, c.Disposition = start.Add(3*time.Second), "ANSWERED"
	}
	return c
}

func testCDRTotals(t *testing.T, s admin.Store) {
	ctx := t.Context()
	for _, a := range []callback.Account{{Username: "usd", Currency: "USD"}, {Username: "eur", Currency: "EUR"}, {Username: "gbp", Currency: "GBP"}} {
		a.Balance = 1_000_000_000
		createAccount(t, s, a)
	}
	accts := []string{"usd", "eur", "gbp"}
	from := time.Date(2030, 3, 14, 10, 0, 0, 0, time.UTC)
	to := from.Add(4 * time.Hour)

	// Both legs of 60 calls over three hours, both sides of each hour's
	// boundary among them, in three currencies, some unanswered.
	edge := from.Add(time.Hour)
	starts := []time.Time{edge.Add(-time.Millisecond), edge, edge.Add(time.Hour - time.Millisecond), edge.Add(time.Hour)}
	for i := range 60 {
		start := from.Add(time.Duration(i) * 3 * time.Minute)
		if i < len(starts) {
			start = starts[i]
		}
		bill := 0
		if i%4 != 0 {
			bill = 30 + i
		}
		acct := accts[i%3]
		a := totalsCDR(int64(1000+i), callback.LegA, acct, start, bill, callback.Money(10*bill))
		b := totalsCDR(int64(1000+i), callback.LegB, acct, start.Add(10*time.Second), max(bill-10, 0), callback.Money(25*bill))
		if err := s.Settle(ctx, []*callback.CDR{a, b}); err != nil {
			t.Fatal(err)
		}
	}
	// A CDR settled again is not counted again.
	if err := s.Settle(ctx, []*callback.CDR{totalsCDR(1010, callback.LegA, "usd", starts[0], 99, 990)}); err != nil {
		t.Fatal(err)
	}
	// A rolled-back settlement counts nothing: its second CDR names no
	// account, so the first, written before it in the transaction, goes
	// too.
	err := s.Settle(ctx, []*callback.CDR{totalsCDR(2000, callback.LegA, "usd", edge, 40, 400), totalsCDR(2000, callback.LegB, "nobody", edge, 40, 400)})
	if !errors.Is(err, callback.ErrNotFound) {
		t.Fatalf("settle with a missing account: %v", err)
	}
	if got := checkCDRTotals(t, s, from, to); got != 120 {
		t.Errorf("%d legs compared, want 120", got)
	}

	// Concurrent writers over the same hour and currencies.
	concurrently(t, 8, func(w int) error {
		for i := range 15 {
			id := int64(3000 + 100*w + i)
			start := edge.Add(time.Duration(w*15+i) * time.Second)
			acct := accts[(w+i)%3]
			if err := s.Settle(ctx, []*callback.CDR{totalsCDR(id, callback.LegA, acct, start, 20+i, callback.Money(7*i)),
				totalsCDR(id, callback.LegB, acct, start, 10+i, callback.Money(9*i))}); err != nil {
				return err
			}
		}
		return nil
	})
	if got := checkCDRTotals(t, s, from, to); got != 120+240 {
		t.Errorf("%d legs compared, want %d", got, 120+240)
	}

	// Rows changed by other SQL clients: a CDR moved to another hour and
	// currency, one deleted, one inserted, one without a start time.
	db := raw(t, s)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"UPDATE cdrs SET start_time = ?, currency = 'CHF', answer_time = NULL WHERE request_id = 1005 AND leg = 'A'", []any{from.Add(3*time.Hour + time.Minute).Format("2006-01-02 15:04:05.000")}},
		{"UPDATE cdrs SET charge = charge + 1 WHERE request_id = 1006", nil},
		{"DELETE FROM cdrs WHERE request_id = 1007 AND leg = 'B'", nil},
		{"INSERT INTO cdrs (request_id, leg, account, channel_id, start_time, billsec, charge, currency) VALUES (4000, 'A', 'usd', 'x', ?, 12, 34, 'USD')", []any{from.Add(2 * time.Hour).Format("2006-01-02 15:04:05.000")}},
		{"INSERT INTO cdrs (request_id, leg, account, channel_id, billsec, charge, currency) VALUES (4001, 'A', 'usd', 'x', 12, 34, 'USD')", nil},
		{"UPDATE cdrs SET start_time = NULL WHERE request_id = 1008 AND leg = 'A'", nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if got := checkCDRTotals(t, s, from, to); got != 360-1+1-1 {
		t.Errorf("%d legs compared after other SQL, want %d", got, 360-1+1-1)
	}
}

// checkRequestTotals compares RequestsByResult over [from, to), whole
// hours, with a GROUP BY over the requests, and returns the requests
// counted.
func checkRequestTotals(t *testing.T, s admin.Store, from, to time.Time) int64 {
	t.Helper()
	rows, err := raw(t, s).QueryContext(t.Context(), "SELECT status, COALESCE(result, ''), COUNT(*) FROM callback_requests "+
		"WHERE creation_time >= ? AND creation_time < ? GROUP BY status, result ORDER BY status, result",
		from.Format("2006-01-02 15:04:05.000"), to.Format("2006-01-02 15:04:05.000"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var want []string
	var n int64
	for rows.Next() {
		var status, result string
		var c int64
		if err := rows.Scan(&status, &result, &c); err != nil {
			t.Fatal(err)
		}
		want, n = append(want, fmt.Sprintf("%s/%s=%d", status, result, c)), n+c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.RequestsByResult(t.Context(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, c := range got {
		have = append(have, fmt.Sprintf("%s/%s=%d", c.Status, c.Result, c.Count))
	}
	if strings.Join(have, " ") != strings.Join(want, " ") {
		t.Errorf("%s to %s: totals %s\nrequests %s", from.Format(time.RFC3339), to.Format(time.RFC3339), strings.Join(have, " "), strings.Join(want, " "))
	}
	return n
}

func testRequestTotals(t *testing.T, s admin.Store) {
	ctx := t.Context()
	now := time.Now().UTC()
	today := now.Truncate(time.Hour).Add(-24 * time.Hour)
	tomorrow := now.Truncate(time.Hour).Add(2 * time.Hour)
	day := time.Date(2030, 3, 14, 0, 0, 0, 0, time.UTC)

	// Requests through the queue: created, claimed, dialled, finished,
	// waiting for retry, cancelled; run by 4 writers at once.
	concurrently(t, 4, func(w int) error {
		for i := range 6 {
			r := newRequest(fmt.Sprintf("49301%02d%02d", w, i), base)
			if err := s.CreateRequest(ctx, r); err != nil {
				return err
			}
			if i%3 == 2 {
				if _, err := s.Cancel(ctx, r.ID, base); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if got := checkRequestTotals(t, s, today, tomorrow); got != 24 {
		t.Errorf("%d requests created, want 24", got)
	}
	for i := 0; ; i++ {
		got, err := s.Claim(ctx, callback.ClaimParams{Owner: "n1", Now: base.Add(time.Minute), Limit: 1, LeaseFor: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		if i > 24 {
			t.Fatal("more claims than requests")
		}
		r := got[0]
		l := callback.Lease{RequestID: r.ID, Attempt: r.Attempt, Owner: "n1"}
		r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFirstLegInitiated, CallID: "cb-a", CountCall: true, SetupTime: base})
		switch i % 4 {
		case 0:
			r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFirstLegConnected, ConnectTime: base})
			r = update(t, s, l, callback.Change{From: r.Status, To: callback.StatusSecondLegInitiated, TwowayCallID: "cb-b"})
			update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFinished, Result: callback.ResultSecondLegFailed})
		case 1:
			update(t, s, l, callback.Change{From: r.Status, To: callback.StatusWaitingForRetry, NextCall: base.Add(time.Hour)})
		case 2:
			update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFinished, Result: callback.ResultOutOfRetries})
		}
	}
	if got := checkRequestTotals(t, s, today, tomorrow); got != 24 {
		t.Errorf("%d requests after the calls, want 24", got)
	}

	// Other SQL: requests moved to either side of an hour's boundary
	// (the dashboard's day and a chart hour), one finished by hand, one
	// deleted, one inserted.
	db := raw(t, s)
	var ids []int64
	if err := dbSelect(t, s, &ids, "SELECT i_callback_request FROM callback_requests ORDER BY i_callback_request"); err != nil {
		t.Fatal(err)
	}
	for i, at := range []time.Time{day.Add(11*time.Hour - time.Millisecond), day.Add(11 * time.Hour), day.Add(-time.Millisecond), day.Add(24 * time.Hour)} {
		if _, err := db.ExecContext(ctx, "UPDATE callback_requests SET creation_time = ? WHERE i_callback_request = ?", at.Format("2006-01-02 15:04:05.000"), ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		"UPDATE callback_requests SET status = 'Finished', result = 'Expired', finished = 1 WHERE i_callback_request = " + fmt.Sprint(ids[5]),
		"DELETE FROM callback_requests WHERE i_callback_request = " + fmt.Sprint(ids[6]),
		"INSERT INTO callback_requests (username, original_cli, original_cld, status, result, finished, creation_time, next_call) " +
			"VALUES ('801', '4930999', 'callingcard', 'Finished', 'Invalid request', 1, '2030-03-14 10:30:00.000', '2030-03-14 10:30:00.000')",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if got := checkRequestTotals(t, s, today, tomorrow); got != 24-4-1 {
		t.Errorf("%d requests today after other SQL, want %d", got, 24-4-1)
	}
	if got := checkRequestTotals(t, s, day, day.Add(24*time.Hour)); got != 3 {
		t.Errorf("%d requests on %s, want 3", got, day.Format("2006-01-02"))
	}
	if got := checkRequestTotals(t, s, day.Add(11*time.Hour), day.Add(12*time.Hour)); got != 1 {
		t.Errorf("%d requests from 11:00, want 1", got)
	}
	if got := checkRequestTotals(t, s, day.Add(10*time.Hour), day.Add(11*time.Hour)); got != 2 {
		t.Errorf("%d requests before 11:00, want 2", got)
	}
	// A rolled-back change counts nothing.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE callback_requests SET status = 'Finished', result = 'Canceled', finished = 1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	checkRequestTotals(t, s, today, tomorrow)
	checkRequestTotals(t, s, day, day.Add(24*time.Hour))
}

// concurrently runs fn for writers 0..n-1 at once and fails t with the
// first error.
func concurrently(t *testing.T, n int, fn func(w int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range n {
		wg.Go(func() {
			if err := fn(w); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// dbSelect reads one column of q into dest.
func dbSelect(t *testing.T, s admin.Store, dest *[]int64, q string) error {
	rows, err := raw(t, s).QueryContext(t.Context(), q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return err
		}
		*dest = append(*dest, v)
	}
	return rows.Err()
}

func testRebuildTotals(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "usd", Currency: "USD", Balance: 1_000_000})
	from := time.Date(2030, 3, 14, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		start := from.Add(time.Duration(i) * 20 * time.Minute)
		if err := s.Settle(ctx, []*callback.CDR{totalsCDR(int64(i+1), callback.LegA, "usd", start, 10*i, callback.Money(i))}); err != nil {
			t.Fatal(err)
		}
	}
	// The next day, in another of the rebuild's transactions.
	if err := s.Settle(ctx, []*callback.CDR{totalsCDR(50, callback.LegA, "usd", from.Add(25*time.Hour), 10, 1)}); err != nil {
		t.Fatal(err)
	}
	// A finished request (the totals hold the finished ones; the
	// unfinished are counted from their rows).
	r := create(t, s, newRequest("4930111", base))
	if _, err := raw(t, s).ExecContext(ctx, "UPDATE callback_requests SET creation_time = ?, status = 'Finished', result = 'Successful', finished = 1 WHERE i_callback_request = ?",
		from.Add(30*time.Minute).Format("2006-01-02 15:04:05.000"), r.ID); err != nil {
		t.Fatal(err)
	}
	// Totals gone wrong (rows written with the triggers off look so):
	// one hour's counts lost, another's doubled, one outside the range.
	for _, q := range []string{
		"DELETE FROM cdr_totals WHERE hour = '2030-03-14 10'",
		"DELETE FROM cdr_totals WHERE hour = '2030-03-15 11'",
		"UPDATE cdr_totals SET attempts = 2 * attempts, revenue = revenue + 5 WHERE hour = '2030-03-14 11'",
		"UPDATE request_totals SET n = 7",
		"INSERT INTO cdr_totals (hour, leg, currency, shard, attempts) VALUES ('2030-03-14 09', 'A', 'USD', 0, 3)",
	} {
		if _, err := raw(t, s).ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	svc := &admin.Service{Store: s}
	if _, _, err := svc.RebuildTotals(ctx, admin.CLIActor, from.Add(time.Minute), from.Add(time.Hour)); err == nil {
		t.Error("rebuild from a time that is not a whole hour: no error")
	}
	cdrs, reqs, err := svc.RebuildTotals(ctx, admin.CLIActor, from, from.Add(30*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if cdrs != 11 || reqs != 1 {
		t.Errorf("rebuilt %d CDRs and %d requests, want 11 and 1", cdrs, reqs)
	}
	checkCDRTotals(t, s, from, from.Add(30*time.Hour))
	checkRequestTotals(t, s, from, from.Add(4*time.Hour))
	// The hour outside the range is left as it was.
	got, err := s.CurrencyTotals(ctx, from.Add(-time.Hour), from, callback.LegA)
	if err != nil || len(got) != 1 || got[0].Attempts != 3 {
		t.Errorf("the hour before the range: %+v, %v", got, err)
	}
	// Written after the rebuild, a CDR is counted once.
	if err := s.Settle(ctx, []*callback.CDR{totalsCDR(99, callback.LegA, "usd", from.Add(time.Hour), 10, 1)}); err != nil {
		t.Fatal(err)
	}
	checkCDRTotals(t, s, from, from.Add(4*time.Hour))
}
