package main

import (
	"context"
	"encoding/csv"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
)

func TestOperatorCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "operator", "add", "-name", "ann", "-role", "admin", "-password", "ann-pw-1234")
	mustRun(t, db, "operator", "add", "-name", "rita", "-role", "reporting")
	if out, err := run(t, db, "", "operator", "add", "-name", "x", "-role", "root"); err == nil || !strings.Contains(out+err.Error(), "role") {
		t.Errorf("role root: %v %s", err, out)
	}
	if out, err := run(t, db, "", "operator", "add", "-name", "ann", "-role", "admin"); err == nil || !strings.Contains(out+err.Error(), "operator ann already exists") {
		t.Errorf("duplicate: %v %s", err, out)
	}
	tok := strings.TrimSpace(mustRun(t, db, "operator", "token", "-name", "rita", "-label", "reports"))
	if !strings.HasPrefix(tok, "cbd_") {
		t.Fatalf("token %q", tok)
	}
	mustRun(t, db, "operator", "set", "-name", "rita", "-disabled")
	if out := mustRun(t, db, "operator", "list"); !strings.Contains(out, "ann") || !strings.Contains(out, "reporting") {
		t.Errorf("list:\n%s", out)
	}
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := &admin.Service{Store: st}
	if _, err := svc.ByToken(t.Context(), tok); err == nil {
		t.Error("a disabled operator's token works")
	}
	if _, err := st.OperatorByToken(t.Context(), admin.TokenHash(tok)); err != nil {
		t.Errorf("token not stored by its hash: %v", err)
	}
	es, _ := st.ListAudit(t.Context(), admin.AuditFilter{Object: "operator/rita"})
	if len(es) != 3 || es[0].Operator != "cli" {
		t.Errorf("audit of rita: %+v", es)
	}
}

// The balance moves only by ledger entries with a reason; each is audited.
func TestBalanceLedgerCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "account", "add", "-username", "801", "-balance", "10")
	if out := mustRun(t, db, "account", "balance", "-username", "801", "-add", "5.25", "-reason", "paid"); !strings.Contains(out, "801 15.25 USD") {
		t.Errorf("-add: %s", out)
	}
	if out := mustRun(t, db, "account", "balance", "-username", "801", "-adjust", "-0.25"); !strings.Contains(out, "801 15.00 USD") {
		t.Errorf("-adjust: %s", out)
	}
	if out := mustRun(t, db, "account", "balance", "-username", "801", "-set", "20"); !strings.Contains(out, "801 20.00 USD") {
		t.Errorf("-set: %s", out)
	}
	if out, err := run(t, db, "", "account", "balance", "-username", "801", "-add", "-3"); err == nil || !strings.Contains(out+err.Error(), "amount") {
		t.Errorf("negative top-up: %v %s", err, out)
	}
	mustRun(t, db, "account", "cli", "-username", "801", "-add", "4930111")
	if out := mustRun(t, db, "account", "cli", "-username", "801", "-remove", "+4930111"); strings.Contains(out, "4930111") {
		t.Errorf("removed CLI listed: %s", out)
	}
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	led, _ := st.ListLedger(t.Context(), "801", 0, 10)
	var got []string
	for _, e := range led {
		got = append(got, string(e.Kind)+" "+e.Amount.String()+" "+e.BalanceAfter.String()+" "+e.Reason)
	}
	want := "adjustment 5.00 20.00 callbackd account balance -set 20," +
		"adjustment -0.25 15.00 callbackd account balance -adjust -0.25," +
		"topup 5.25 15.25 paid," +
		"adjustment 10.00 10.00 opening balance"
	if strings.Join(got, ",") != want {
		t.Errorf("ledger:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.ReplaceAll(want, ",", "\n"))
	}
}

func TestCDRExportCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "account", "add", "-username", "801", "-balance", "10")
	mustRun(t, db, "account", "add", "-username", "802", "-balance", "10")
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)
	var cdrs []*callback.CDR
	for i := range 3000 {
		acct := "801"
		if i%3 == 0 {
			acct = "802"
		}
		cdrs = append(cdrs, &callback.CDR{RequestID: int64(i + 1), Leg: callback.LegB, Account: acct, Number: "4930999",
			Start: start.Add(time.Duration(i) * time.Second), Currency: "USD", Disposition: "NO ANSWER"})
	}
	for lo := 0; lo < len(cdrs); lo += 200 {
		if err := st.Settle(context.Background(), cdrs[lo:lo+200]); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	out := mustRun(t, db, "cdr", "export", "-from", "2030-01-02", "-to", "2030-01-03", "-account", "802")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1001 || recs[0][0] != "id" || recs[1][3] != "802" || recs[1000][7] != "2030-01-02T10:49:57.000Z" {
		t.Errorf("%d records; first %v last %v", len(recs), recs[1], recs[len(recs)-1])
	}
	file := filepath.Join(t.TempDir(), "out.csv")
	if out := mustRun(t, db, "cdr", "export", "-from", "2030-01-02T00:00:00Z", "-to", "2030-01-03T00:00:00Z", "-out", file); !strings.Contains(out, "3000 CDRs written") {
		t.Errorf("export to file: %s", out)
	}
	if out, err := run(t, db, "", "cdr", "export", "-from", "2030-01-02"); err == nil || !strings.Contains(out+err.Error(), "-to is required") {
		t.Errorf("without -to: %v %s", err, out)
	}
	if out := mustRun(t, db, "cdr", "report", "-from", "2030-01-02", "-to", "2030-01-03", "-by", "account"); !strings.Contains(out, "2030-01-02  801") || !strings.Contains(out, "2000") {
		t.Errorf("report:\n%s", out)
	}
}

// `cdr rebuild-totals` counts the dashboard's totals again from the CDRs
// and requests: here after the totals of an hour were lost.
func TestCDRRebuildTotalsCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "account", "add", "-username", "801", "-balance", "10")
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2030, 1, 2, 10, 30, 0, 0, time.UTC)
	var cdrs []*callback.CDR
	for i := range 90 {
		cdrs = append(cdrs, &callback.CDR{RequestID: int64(i + 1), Leg: callback.LegA, Account: "801", Number: "4930999",
			Start: start.Add(time.Duration(i) * time.Minute), Currency: "USD", Disposition: "NO ANSWER"})
	}
	if err := st.Settle(t.Context(), cdrs); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	sums := func() int64 {
		t.Helper()
		rows, err := st.CurrencyTotals(t.Context(), day, day.Add(24*time.Hour), callback.LegA)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, r := range rows {
			n += r.Attempts
		}
		return n
	}
	if _, err := st.RawDB().ExecContext(t.Context(), "DELETE FROM cdr_totals WHERE hour = '2030-01-02 11'"); err != nil {
		t.Fatal(err)
	}
	if n := sums(); n != 30 {
		t.Fatalf("first legs counted after the loss: %d, want 30", n)
	}
	if out := mustRun(t, db, "cdr", "rebuild-totals", "-from", "2030-01-02", "-to", "2030-01-03"); !strings.Contains(out, "counted 90 CDRs and 0 finished requests") {
		t.Errorf("rebuild: %s", out)
	}
	if n := sums(); n != 90 {
		t.Errorf("first legs counted after the rebuild: %d, want 90", n)
	}
	if out, err := run(t, db, "", "cdr", "rebuild-totals", "-from", "2030-01-02T10:30:00Z", "-to", "2030-01-03"); err == nil || !strings.Contains(out+err.Error(), "whole UTC hour") {
		t.Errorf("from within an hour: %v %s", err, out)
	}
}
