package storetest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// RunAdmin runs the suite of admin.Store: operators and tokens, the audit
// log written with each change, ledger entries, paged lists, the CDR
// export and reports. open returns a new, empty, migrated store per call.
func RunAdmin(t *testing.T, open func(t *testing.T) admin.Store) {
	for name, test := range adminTests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, open(t))
		})
	}
}

var adminTests = map[string]func(t *testing.T, s admin.Store){
	"OperatorsAndTokens":       testOperatorsAndTokens,
	"LedgerMovesBalance":       testLedgerMovesBalance,
	"IdempotencyKeyOnce":       testIdempotencyKeyOnce,
	"FailedEditChangesNothing": testFailedEditChangesNothing,
	"AccountsPage":             testAccountsPage,
	"CLIs":                     testAdminCLIs,
	"AccessNumbers":            testAdminAccessNumbers,
	"CancelAndRetry":           testCancelAndRetry,
	"ExportAllInOrder":         testExportAllInOrder,
	"ExportReadsWhatListReads": testExportReadsWhatListReads,
	"Report":                   testReport,
	"ListTariffs":              testListTariffs,
	"ListRatesPage":            testListRatesPage,
	"RequestsByResult":         testRequestsByResult,
	"HourlyCallbacks":          testHourlyCallbacks,
	"DeleteAccount":            testDeleteAccount,
}

func auditOf(op, action, object string) *admin.AuditEntry {
	return &admin.AuditEntry{Time: base, Operator: op, Action: action, Object: object}
}

func lastAudit(t *testing.T, s admin.Store) *admin.AuditEntry {
	t.Helper()
	es, err := s.ListAudit(t.Context(), admin.AuditFilter{Limit: 1})
	if err != nil || len(es) != 1 {
		t.Fatalf("ListAudit = %v, %v; want one entry", es, err)
	}
	return es[0]
}

func auditCount(t *testing.T, s admin.Store) int {
	t.Helper()
	es, err := s.ListAudit(t.Context(), admin.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func testOperatorsAndTokens(t *testing.T, s admin.Store) {
	ctx := t.Context()
	op := &admin.Operator{Name: "ann", Role: admin.RoleSupport, PasswordHash: "$2a$hash"}
	if err := s.CreateOperator(ctx, op, auditOf("cli", "operator.create", "operator/ann")); err != nil {
		t.Fatal(err)
	}
	if op.ID == 0 || op.Created.IsZero() {
		t.Errorf("created operator %+v lacks ID or Created", op)
	}
	if err := s.CreateOperator(ctx, &admin.Operator{Name: "ann", Role: admin.RoleAdmin}, auditOf("cli", "operator.create", "operator/ann")); !errors.Is(err, callback.ErrConflict) {
		t.Errorf("second operator ann: %v, want ErrConflict", err)
	}
	if err := s.CreateOperator(ctx, &admin.Operator{Name: "bad", Role: "root"}, auditOf("cli", "operator.create", "operator/bad")); err == nil {
		t.Error("operator with role root was stored")
	}
	e := lastAudit(t, s)
	if e.Action != "operator.create" || e.Before != nil || !strings.Contains(string(e.After), `"role":"support"`) || strings.Contains(string(e.After), "$2a$") {
		t.Errorf("audit entry %s / before %s / after %s: want the creation without the password hash", e.Action, e.Before, e.After)
	}
	tok := &admin.Token{Operator: "ann", Hash: strings.Repeat("ab", 32), Label: "laptop"}
	if err := s.AddToken(ctx, tok, auditOf("cli", "operator.token", "operator/ann")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddToken(ctx, &admin.Token{Operator: "nobody", Hash: strings.Repeat("cd", 32)}, auditOf("cli", "operator.token", "operator/nobody")); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("token of unknown operator: %v, want ErrNotFound", err)
	}
	got, err := s.OperatorByToken(ctx, tok.Hash)
	if err != nil || got.Name != "ann" || got.Role != admin.RoleSupport {
		t.Fatalf("OperatorByToken = %+v, %v", got, err)
	}
	if _, err := s.OperatorByToken(ctx, strings.Repeat("ef", 32)); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
	up, err := s.EditOperator(ctx, "ann", func(op *admin.Operator) error { op.Disabled = true; return nil }, auditOf("cli", "operator.update", "operator/ann"))
	if err != nil || !up.Disabled {
		t.Fatalf("EditOperator = %+v, %v", up, err)
	}
	ops, err := s.ListOperators(ctx)
	if err != nil || len(ops) != 1 || !ops[0].Disabled {
		t.Errorf("ListOperators = %+v, %v", ops, err)
	}
}

func testLedgerMovesBalance(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "801", Currency: "EUR", Balance: 5 * callback.MoneyScale})
	acct, err := s.PostLedger(ctx, &admin.LedgerEntry{Username: "801", Kind: admin.LedgerTopUp, Amount: 1234567, Reason: "paid by card", Operator: "ann"},
		auditOf("ann", "account.topup", "account/801"))
	if err != nil {
		t.Fatal(err)
	}
	if want := callback.Money(5*callback.MoneyScale + 1234567); acct.Balance != want {
		t.Errorf("balance %s, want %s", acct.Balance, want)
	}
	// A settle in between must not be undone by the next entry.
	if err := s.Settle(ctx, []*callback.CDR{{RequestID: 1, Leg: callback.LegA, Account: "801", Charge: 10000, Start: base}}); err != nil {
		t.Fatal(err)
	}
	to := callback.Money(100 * callback.MoneyScale)
	acct, err = s.PostLedger(ctx, &admin.LedgerEntry{Username: "801", Kind: admin.LedgerAdjustment, SetTo: &to, Reason: "set", Operator: "cli"},
		auditOf("cli", "account.adjustment", "account/801"))
	if err != nil || acct.Balance != to {
		t.Fatalf("set to 100: %v, %v", acct, err)
	}
	es, err := s.ListLedger(ctx, "801", 0, 10)
	if err != nil || len(es) != 2 {
		t.Fatalf("ListLedger = %v, %v", es, err)
	}
	if es[0].Amount != to-(5*callback.MoneyScale+1234567-10000) || es[0].BalanceAfter != to || es[0].Currency != "EUR" || es[0].Reason != "set" {
		t.Errorf("newest entry %+v", es[0])
	}
	if es[1].Amount != 1234567 || es[1].Kind != admin.LedgerTopUp || es[1].Operator != "ann" {
		t.Errorf("oldest entry %+v", es[1])
	}
	if more, _ := s.ListLedger(ctx, "801", es[0].ID, 10); len(more) != 1 || more[0].ID != es[1].ID {
		t.Errorf("page below %d = %v", es[0].ID, more)
	}
	e := lastAudit(t, s)
	var before, after admin.AccountView
	if err := json.Unmarshal(e.Before, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(e.After, &after); err != nil {
		t.Fatal(err)
	}
	if before.Balance != "127.4567" || after.Balance != "100.00" {
		t.Errorf("audit before %s after %s", before.Balance, after.Balance)
	}
	if _, err := s.PostLedger(ctx, &admin.LedgerEntry{Username: "nobody", Kind: admin.LedgerTopUp, Amount: 1, Reason: "x"}, auditOf("ann", "account.topup", "account/nobody")); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("top-up of unknown account: %v", err)
	}
}

func testIdempotencyKeyOnce(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD"})
	a := auditOf("ann", "account.topup", "account/801")
	a.IdempotencyKey, a.RequestHash = "k1", "h1"
	post := func() error {
		e := *a
		_, err := s.PostLedger(ctx, &admin.LedgerEntry{Username: "801", Kind: admin.LedgerTopUp, Amount: 10000, Reason: "r", Operator: "ann"}, &e)
		return err
	}
	if err := post(); err != nil {
		t.Fatal(err)
	}
	if err := post(); !errors.Is(err, callback.ErrConflict) {
		t.Fatalf("second post with the key: %v, want ErrConflict", err)
	}
	acct, _ := s.GetAccount(ctx, "801")
	if acct.Balance != 10000 {
		t.Errorf("balance %s after the same key twice, want 1.00", acct.Balance)
	}
	e, err := s.AuditByKey(ctx, "ann", "k1")
	if err != nil || e.RequestHash != "h1" || e.Object != "account/801" {
		t.Errorf("AuditByKey = %+v, %v", e, err)
	}
	if _, err := s.AuditByKey(ctx, "bob", "k1"); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("another operator's key: %v", err)
	}
}

func testFailedEditChangesNothing(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD", MaxSessions: 2})
	n := auditCount(t, s)
	boom := errors.New("boom")
	_, err := s.EditAccount(ctx, "801", func(a *callback.Account) error { a.Blocked = true; return boom }, auditOf("ann", "account.update", "account/801"))
	if !errors.Is(err, boom) {
		t.Fatalf("EditAccount: %v, want the edit's error", err)
	}
	if a, _ := s.GetAccount(ctx, "801"); a.Blocked {
		t.Error("a failed edit blocked the account")
	}
	if auditCount(t, s) != n {
		t.Error("a failed edit was audited")
	}
	got, err := s.EditAccount(ctx, "801", func(a *callback.Account) error { a.Blocked = true; a.Balance = 999; return nil }, auditOf("ann", "account.block", "account/801"))
	if err != nil || !got.Blocked || got.Balance != 0 {
		t.Fatalf("EditAccount = %+v, %v; want blocked, balance untouched", got, err)
	}
	e := lastAudit(t, s)
	if e.Action != "account.block" || !strings.Contains(string(e.Before), `"blocked":false`) || !strings.Contains(string(e.After), `"blocked":true`) {
		t.Errorf("audit %s %s -> %s", e.Action, e.Before, e.After)
	}
	if _, err := s.EditAccount(ctx, "nobody", func(*callback.Account) error { return nil }, auditOf("ann", "account.update", "account/nobody")); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("edit of unknown account: %v", err)
	}
}

func testAccountsPage(t *testing.T, s admin.Store) {
	ctx := t.Context()
	for i := range 7 {
		createAccount(t, s, callback.Account{Username: fmt.Sprintf("a%02d", i), Currency: []string{"USD", "EUR"}[i%2], Tariff: "t1", Blocked: i == 3})
	}
	createAccount(t, s, callback.Account{Username: "b00", Currency: "USD"})
	names := func(f admin.AccountFilter) string {
		as, err := s.ListAccountsPage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, a := range as {
			n = append(n, a.Username)
		}
		return strings.Join(n, ",")
	}
	yes := true
	for _, c := range []struct {
		f    admin.AccountFilter
		want string
	}{
		{admin.AccountFilter{Limit: 3}, "a00,a01,a02"},
		{admin.AccountFilter{Limit: 3, After: "a02"}, "a03,a04,a05"},
		{admin.AccountFilter{UsernamePrefix: "b"}, "b00"},
		{admin.AccountFilter{UsernamePrefix: "a0", After: "a04"}, "a05,a06"},
		{admin.AccountFilter{Currency: "EUR"}, "a01,a03,a05"},
		{admin.AccountFilter{Blocked: &yes}, "a03"},
		{admin.AccountFilter{Tariff: "t1", Currency: "USD", Limit: 2}, "a00,a02"},
	} {
		if got := names(c.f); got != c.want {
			t.Errorf("%+v: %s, want %s", c.f, got, c.want)
		}
	}
}

func testAdminCLIs(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD"})
	createAccount(t, s, callback.Account{Username: "802", Currency: "USD"})
	if err := s.AddCLIAudited(ctx, callback.AccountCLI{CLI: "4930111", Username: "801"}, auditOf("ann", "account.cli.add", "account/801")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCLIAudited(ctx, callback.AccountCLI{CLI: "4930111", Username: "802"}, auditOf("ann", "account.cli.add", "account/802")); !errors.Is(err, callback.ErrConflict) {
		t.Errorf("CLI of another account: %v, want ErrConflict", err)
	}
	if err := s.RemoveCLI(ctx, callback.AccountCLI{CLI: "4930111", Username: "802"}, auditOf("ann", "account.cli.remove", "account/802")); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("removing another account's CLI: %v, want ErrNotFound", err)
	}
	if err := s.RemoveCLI(ctx, callback.AccountCLI{CLI: "4930111", Username: "801"}, auditOf("ann", "account.cli.remove", "account/801")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AccountByCLI(ctx, "4930111"); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("removed CLI still finds %v", err)
	}
	if e := lastAudit(t, s); e.Action != "account.cli.remove" || e.After != nil || !strings.Contains(string(e.Before), "4930111") {
		t.Errorf("audit %+v", e)
	}
}

func testAdminAccessNumbers(t *testing.T, s admin.Store) {
	ctx := t.Context()
	set := func(n *callback.AccessNumber) error {
		n.Trigger, n.SubApp, n.HangupSIPCode, n.RingbackType, n.DiversionReason, n.IsCallback = callback.TriggerANI, "callingcard", 603, "indicate", "unconditional", 6
		n.FixedCLI = "4930999"
		return nil
	}
	n, err := s.EditAccessNumber(ctx, "4930123", true, set, auditOf("ann", "access_number.create", "access_number/4930123"))
	if err != nil || n.FixedCLI != "4930999" {
		t.Fatalf("create = %+v, %v", n, err)
	}
	if _, err := s.EditAccessNumber(ctx, "4930123", true, set, auditOf("ann", "access_number.create", "access_number/4930123")); !errors.Is(err, callback.ErrConflict) {
		t.Errorf("second create: %v, want ErrConflict", err)
	}
	if _, err := s.EditAccessNumber(ctx, "4930124", false, set, auditOf("ann", "access_number.update", "access_number/4930124")); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("update of unknown number: %v, want ErrNotFound", err)
	}
	n, err = s.EditAccessNumber(ctx, "4930123", false, func(n *callback.AccessNumber) error { n.RingbackTime = 7; return nil }, auditOf("ann", "access_number.update", "access_number/4930123"))
	if err != nil || n.RingbackTime != 7 || n.FixedCLI != "4930999" {
		t.Fatalf("update = %+v, %v", n, err)
	}
	refuse := errors.New("changed")
	if err := s.DeleteAccessNumberAudited(ctx, "4930123", func(*callback.AccessNumber) error { return refuse }, auditOf("ann", "access_number.delete", "access_number/4930123")); !errors.Is(err, refuse) {
		t.Errorf("refused delete: %v", err)
	}
	if err := s.DeleteAccessNumberAudited(ctx, "4930123", func(*callback.AccessNumber) error { return nil }, auditOf("ann", "access_number.delete", "access_number/4930123")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessNumber(ctx, "4930123"); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("deleted number: %v", err)
	}
	es, _ := s.ListAudit(ctx, admin.AuditFilter{Object: "access_number/4930123"})
	var acts []string
	for _, e := range es {
		acts = append(acts, e.Action)
	}
	if got := strings.Join(acts, ","); got != "access_number.delete,access_number.update,access_number.create" {
		t.Errorf("audit of the number: %s", got)
	}
}

func testCancelAndRetry(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD"})
	later := base.Add(time.Hour)
	r := create(t, s, newRequest("4930111", later))
	got, err := s.RetryNow(ctx, r.ID, base, auditOf("ann", "request.retry", "request/1"))
	if err != nil || !got.NextCall.Equal(base) {
		t.Fatalf("RetryNow = %+v, %v; want due at %s", got, err, base)
	}
	h, _ := s.History(ctx, r.ID)
	if last := h[len(h)-1]; !strings.Contains(last.Note, "retry now (operator ann)") {
		t.Errorf("history ends with %+v", last)
	}
	got, err = s.CancelAudited(ctx, r.ID, base, auditOf("ann", "request.cancel", "request/1"))
	if err != nil || got.Result != callback.ResultCanceled {
		t.Fatalf("CancelAudited = %+v, %v", got, err)
	}
	if e := lastAudit(t, s); e.Action != "request.cancel" || !strings.Contains(string(e.After), `"finished":true`) {
		t.Errorf("audit %+v", e)
	}
	if _, err := s.RetryNow(ctx, r.ID, base, auditOf("ann", "request.retry", "request/1")); !errors.Is(err, callback.ErrInvalid) {
		t.Errorf("retry of a finished request: %v, want ErrInvalid", err)
	}
	if _, err := s.RetryNow(ctx, 999, base, auditOf("ann", "request.retry", "request/999")); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("retry of unknown request: %v", err)
	}
}

// insertCDRs writes n CDRs the way an import script would, one minute
// apart from start, alternating accounts 801/802 and answered/not.
func insertCDRs(t *testing.T, s admin.Store, start time.Time, n int) {
	t.Helper()
	db := raw(t, s)
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for i := range n {
		st := start.Add(time.Duration(i) * time.Minute).UTC()
		acct, ans, bill, disp := "801", any(nil), 0, "NO ANSWER"
		if i%2 == 1 {
			acct = "802"
		}
		if i%3 == 0 {
			ans, bill, disp = st.Add(5*time.Second).Format("2006-01-02 15:04:05.000"), 60, "ANSWERED"
		}
		if _, err := tx.ExecContext(t.Context(), `INSERT INTO cdrs (request_id, leg, account, number, channel_id, start_time, answer_time,
			end_time, billsec, prefix, charge, currency, disposition) VALUES (?, 'B', ?, '4930111', ?, ?, ?, ?, ?, '4930', ?, 'USD', ?)`,
			i+1, acct, fmt.Sprintf("ch-%d", i), st.Format("2006-01-02 15:04:05.000"), ans, st.Add(time.Minute).Format("2006-01-02 15:04:05.000"),
			bill, bill*100, disp); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func testExportAllInOrder(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD"})
	createAccount(t, s, callback.Account{Username: "802", Currency: "USD"})
	// More than one page of the export (1,000 rows), with rows sharing a
	// start time across a page boundary (after 5,000).
	const n = 5003
	insertCDRs(t, s, base, n)
	if _, err := raw(t, s).ExecContext(ctx, "UPDATE cdrs SET start_time = (SELECT start_time FROM (SELECT start_time FROM cdrs WHERE id = 4999) x) WHERE id BETWEEN 4999 AND 5002"); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	err := s.EachCDR(ctx, admin.CDRFilter{From: base, To: base.Add(n * time.Minute)}, func(c *callback.CDR) error {
		ids = append(ids, c.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n {
		t.Fatalf("exported %d CDRs, want %d", len(ids), n)
	}
	for i, id := range ids {
		if id != int64(i+1) {
			t.Fatalf("row %d is CDR %d, want %d", i, id, i+1)
		}
	}
	var c802 int
	err = s.EachCDR(ctx, admin.CDRFilter{From: base, To: base.Add(10 * time.Minute), Account: "802"}, func(c *callback.CDR) error {
		if c.Account != "802" {
			t.Errorf("CDR of %s in 802's export", c.Account)
		}
		c802++
		return nil
	})
	if err != nil || c802 != 5 {
		t.Errorf("802's first 10 minutes: %d CDRs, %v; want 5", c802, err)
	}
	stop := errors.New("stop")
	if err := s.EachCDR(ctx, admin.CDRFilter{From: base, To: base.Add(time.Hour)}, func(*callback.CDR) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("EachCDR did not return fn's error: %v", err)
	}
	page, err := s.ListCDRsPage(ctx, admin.CDRFilter{Account: "801", Limit: 2})
	if err != nil || len(page) != 2 || page[0].ID != 5003 || page[1].ID != 5001 {
		t.Fatalf("first page of 801 = %v, %v", page, err)
	}
	page, err = s.ListCDRsPage(ctx, admin.CDRFilter{Account: "801", Limit: 2, BeforeID: 5001})
	if err != nil || len(page) != 2 || page[0].ID != 4999 {
		t.Errorf("second page of 801 = %v, %v", page, err)
	}
	// With a time range, pages go by start time then id: 4999..5002
	// share one start time (that of 4999), before 5003's and after 4998's.
	var got []int64
	var before int64
	for range 10 {
		page, err := s.ListCDRsPage(ctx, admin.CDRFilter{From: base.Add(4997 * time.Minute), To: base.Add(n * time.Minute), Limit: 2, BeforeID: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			got = append(got, c.ID)
		}
		if len(page) < 2 {
			break
		}
		before = page[len(page)-1].ID
	}
	if fmt.Sprint(got) != "[5003 5002 5001 5000 4999 4998]" {
		t.Errorf("ranged pages: %v", got)
	}
}

// cdrText is every field of c, times to the nanosecond, for comparing
// CDRs read two ways.
func cdrText(c *callback.CDR) string {
	tm := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%d %d %s %q %q %q %q %q %s %s %s %d %d %d %q %d %q %q", c.ID, c.RequestID, c.Leg, c.Account, c.Number,
		c.CallerID, c.ChannelID, c.Trunk, tm(c.Start), tm(c.Answer), tm(c.End), c.BillSec, c.Cause, c.SIPCode, c.Prefix,
		c.Charge, c.Currency, c.Disposition)
}

// testExportReadsWhatListReads checks that the export reads each CDR as
// the CDR pages read it, every field, NULLs and awkward text included,
// over several pages of both of its orders: by start time, and (without
// a range) the CDRs that never started, by id.
func testExportReadsWhatListReads(t *testing.T, s admin.Store) {
	ctx := t.Context()
	const n = 5300
	tx, err := raw(t, s).BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const ts = "2006-01-02 15:04:05.000"
	texts := []string{"", "801", `a,b`, `say "hi"`, " lead", "ln\nbrk", `\.`, "ünïcode", "cr\r"}
	for i := range n {
		// Start times out of id order, some shared, and every other row
		// from 2,000 on without one.
		var st, ans, end any
		if i < 2000 || i%2 == 0 {
			v := base.Add(time.Duration(i*7919%1000) * time.Second).Add(time.Duration(i%7) * time.Millisecond)
			st, end = v.Format(ts), v.Add(time.Minute+time.Duration(i)*time.Millisecond).Format(ts)
			if i%3 == 0 {
				ans = v.Add(5 * time.Second).Format(ts)
			}
		}
		text := func(k int) any {
			if v := texts[(i+k)%len(texts)]; v != "" {
				return v
			}
			return nil
		}
		num := func(k int) any {
			if (i+k)%4 == 0 {
				return nil
			}
			return (i + k) % 600
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cdrs (request_id, leg, account, number, caller_id, channel_id, trunk, start_time,
			answer_time, end_time, billsec, cause, sip_code, prefix, charge, currency, disposition)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			i/2+1, []string{"A", "B"}[i%2], fmt.Sprintf("acct %d", i%17), text(1), text(2), fmt.Sprintf("ch-%d", i), texts[(i+3)%len(texts)],
			st, ans, end, i%300, num(4), num(5), text(6), (i-2650)*1234567, text(7), text(8)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var all []*callback.CDR
	for before := int64(0); ; {
		page, err := s.ListCDRsPage(ctx, admin.CDRFilter{BeforeID: before, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			break
		}
		before = page[len(page)-1].ID
	}
	if len(all) != n {
		t.Fatalf("listed %d CDRs, want %d", len(all), n)
	}
	slices.SortFunc(all, func(a, b *callback.CDR) int {
		switch {
		case a.Start.IsZero() != b.Start.IsZero():
			if a.Start.IsZero() {
				return 1
			}
			return -1
		case !a.Start.Equal(b.Start):
			return a.Start.Compare(b.Start)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	var want []string
	for _, c := range all {
		want = append(want, cdrText(c))
	}
	for _, f := range []admin.CDRFilter{
		{},
		{From: base.Add(100 * time.Second), To: base.Add(900 * time.Second)},
		{From: base, To: base.Add(time.Hour), Account: "acct 3"},
		{Leg: callback.LegB},
	} {
		var got []string
		err := s.EachCDR(ctx, f, func(c *callback.CDR) error {
			got = append(got, cdrText(c))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var wantf []string
		for i, c := range all {
			unranged := f.From.IsZero() && f.To.IsZero()
			if (!unranged && (c.Start.IsZero() || c.Start.Before(f.From) || !c.Start.Before(f.To))) ||
				(f.Account != "" && c.Account != f.Account) || (f.Leg != "" && c.Leg != f.Leg) {
				continue
			}
			wantf = append(wantf, want[i])
		}
		if len(got) != len(wantf) {
			t.Errorf("%+v: exported %d CDRs, want %d", f, len(got), len(wantf))
			continue
		}
		for i := range got {
			if got[i] != wantf[i] {
				t.Errorf("%+v: row %d is\n%s\nwant\n%s", f, i, got[i], wantf[i])
				break
			}
		}
	}
}

func testReport(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD"})
	createAccount(t, s, callback.Account{Username: "802", Currency: "USD"})
	day := time.Date(2030, 3, 14, 23, 0, 0, 0, time.UTC)
	insertCDRs(t, s, day, 90) // 60 on the 14th, 30 on the 15th
	r := create(t, s, newRequest("4930111", base))
	if _, err := raw(t, s).ExecContext(ctx, "UPDATE callback_requests SET access_number = '4930123', i_callback_request = 1 WHERE i_callback_request = ?", r.ID); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Report(ctx, admin.ReportFilter{From: day.Add(-time.Hour), To: day.Add(3 * time.Hour), By: admin.ByAccount})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s %s %s %d/%d %ds %s", r.Day, r.Key, r.Currency, r.Answered, r.Attempts, r.BillSec, r.Revenue))
	}
	// i%3 == 0 answered (60 s, 6000 = 0.60); even i is 801.
	want := []string{
		"2030-03-14 801 USD 10/30 600s 6.00",
		"2030-03-14 802 USD 10/30 600s 6.00",
		"2030-03-15 801 USD 5/15 300s 3.00",
		"2030-03-15 802 USD 5/15 300s 3.00",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("report by account:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rows[0].ASR() != 3333 || rows[0].ACD() != 60 {
		t.Errorf("ASR %d ACD %d, want 3333 (33.33 %%) and 60", rows[0].ASR(), rows[0].ACD())
	}
	rows, err = s.Report(ctx, admin.ReportFilter{From: day, To: day.Add(time.Hour), By: admin.ByAccessNumber, Account: "801"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Key != "" || rows[0].Attempts != 29 || rows[1].Key != "4930123" || rows[1].Attempts != 1 {
		t.Errorf("report by access number: %+v", rows)
	}
	rows, err = s.Report(ctx, admin.ReportFilter{From: day, To: day.Add(time.Hour), By: admin.ByPrefix})
	if err != nil || len(rows) != 1 || rows[0].Key != "4930" || rows[0].Attempts != 60 {
		t.Errorf("report by prefix: %+v, %v", rows, err)
	}
}
