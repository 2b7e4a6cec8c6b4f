package httpapi

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// adminEnv is an env with the admin API and three operators: ann
// (admin), sam (support) and rita (reporting), each with a token.
type adminEnv struct {
	*env
	svc                  *admin.Service
	asAnn, asSam, asRita cred
}

func newAdminEnv(t *testing.T, st callback.Store) *adminEnv {
	t.Helper()
	svc := &admin.Service{Store: st.(admin.Store), BcryptCost: bcrypt.MinCost,
		Webhooks: admin.WebhookConfig{Enabled: true, URL: testGlobalWebhook, Events: webhook.EventsFinal}}
	ae := &adminEnv{svc: svc}
	toks := map[string]string{}
	for name, role := range map[string]admin.Role{"ann": admin.RoleAdmin, "sam": admin.RoleSupport, "rita": admin.RoleReporting} {
		if _, err := svc.CreateOperator(t.Context(), admin.CLIActor, name, role, ""); err != nil {
			t.Fatal(err)
		}
		tok, err := svc.NewToken(t.Context(), admin.CLIActor, name, "test")
		if err != nil {
			t.Fatal(err)
		}
		toks[name] = tok
	}
	ae.asAnn, ae.asSam, ae.asRita = bearer(toks["ann"]), bearer(toks["sam"]), bearer(toks["rita"])
	ae.env = newEnv(t, st, func(o *Options) { o.Admin = svc })
	return ae
}

func (e *adminEnv) send(method, path, body string, creds ...cred) response {
	e.t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	return e.do(method, path, ct, body, creds...)
}

func TestAdminAuth(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		for _, c := range []struct {
			name string
			cred cred
			want int
		}{
			{"no credentials", anonymous, 401},
			{"account password", asAlice, 401},
			{"config API token is no operator", asOperator, 401},
			{"made-up token", bearer("cbd_nope"), 401},
			{"reporting reads", e.asRita, 200},
		} {
			if r := e.get("/api/v1/admin/accounts", c.cred); r.status != c.want {
				t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.want)
			}
		}
		// Roles: reporting reads only, support reads and cancels.
		if r := e.send("POST", "/api/v1/admin/accounts", `{"username":"x1"}`, e.asRita); r.status != 403 || r.apiErr(t).Code != CodeForbidden {
			t.Errorf("reporting creates: %d %s", r.status, r.body)
		}
		if r := e.send("POST", "/api/v1/admin/accounts/alice/ledger", `{"kind":"topup","amount":"5","reason":"x"}`, e.asSam); r.status != 403 {
			t.Errorf("support tops up: %d %s", r.status, r.body)
		}
		req := e.create(`{"original_cli":"4930111222","destination":"4930999"}`, asAlice)
		if r := e.send("POST", fmt.Sprintf("/api/v1/admin/requests/%d/cancel", req.ID), "", e.asRita); r.status != 403 {
			t.Errorf("reporting cancels: %d %s", r.status, r.body)
		}
		if r := e.send("POST", fmt.Sprintf("/api/v1/admin/requests/%d/retry", req.ID), "", e.asSam); r.status != 403 {
			t.Errorf("support retries: %d %s", r.status, r.body)
		}
		if r := e.send("POST", fmt.Sprintf("/api/v1/admin/requests/%d/cancel", req.ID), "", e.asSam); r.status != 200 || r.view(t).Result != "Canceled" {
			t.Errorf("support cancels: %d %s", r.status, r.body)
		}
		es, _ := e.svc.ListAudit(t.Context(), admin.CLIActor, admin.AuditFilter{Object: fmt.Sprintf("request/%d", req.ID)})
		if len(es) != 1 || es[0].Operator != "sam" || es[0].Action != "request.cancel" {
			t.Errorf("audit of the cancel: %+v", es)
		}
		// A disabled operator's token stops working.
		if _, err := e.svc.SetOperator(t.Context(), admin.CLIActor, "rita", "", nil, nil, new(true)); err != nil {
			t.Fatal(err)
		}
		if r := e.get("/api/v1/admin/accounts", e.asRita); r.status != 401 {
			t.Errorf("disabled operator: %d", r.status)
		}
	})
}

func TestAdminAccounts(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		r := e.send("POST", "/api/v1/admin/accounts", `{"username":"carol","currency":"eur","credit_limit":"-5","max_sessions":4,"balance":"12.50","password":"carol-pw-123"}`, e.asAnn)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		var v AdminAccountView
		r.json(t, &v)
		if v.Currency != "EUR" || v.Balance != "12.50" || v.Available != "17.50" || !v.HasPassword || v.MaxSessions != 4 || r.header.Get("ETag") == "" {
			t.Errorf("created %+v etag %q", v, r.header.Get("ETag"))
		}
		// Field-named refusals.
		for body, field := range map[string]string{
			`{"username":"d1","max_sessions":1}`:          "max_sessions",
			`{"username":"d1","credit_limit":"5"}`:        "credit_limit",
			`{"username":"d1","daily_cap":"x"}`:           "daily_cap",
			`{"username":"d1","currency":"EURO"}`:         "currency",
			`{"username":"d 1"}`:                          "username",
			`{"username":"d1","max_sessions":"2"}`:        "max_sessions",
			`{"username":"d1","colour":"red"}`:            "colour",
			`{"username":"d1","pin":"12ab"}`:              "pin",
			`{"username":"d1","associated_number":"abc"}`: "associated_number",
		} {
			if r := e.send("POST", "/api/v1/admin/accounts", body, e.asAnn); r.status != 400 || r.apiErr(t).Field != field {
				t.Errorf("%s: %d %s, want 400 on %s", body, r.status, r.body, field)
			}
		}
		if r := e.send("POST", "/api/v1/admin/accounts", `{"username":"carol"}`, e.asAnn); r.status != 409 {
			t.Errorf("duplicate: %d %s", r.status, r.body)
		}

		// Update: If-Match required, stale ETag refused, fields merged.
		g := e.get("/api/v1/admin/accounts/carol", e.asAnn)
		etag := g.header.Get("ETag")
		if r := e.send("PATCH", "/api/v1/admin/accounts/carol", `{"language":"de"}`, e.asAnn); r.status != 428 || r.apiErr(t).Code != CodePreconditionRequired {
			t.Errorf("PATCH without If-Match: %d %s", r.status, r.body)
		}
		r = e.send("PATCH", "/api/v1/admin/accounts/carol", `{"language":"de","daily_cap":"3"}`, e.asAnn, header("If-Match", etag))
		if r.status != 200 {
			t.Fatalf("PATCH: %d %s", r.status, r.body)
		}
		r.json(t, &v)
		if v.Language != "de" || v.DailyCap != "3.00" || v.MaxSessions != 4 || v.CreditLimit != "-5.00" || r.header.Get("ETag") == etag {
			t.Errorf("after PATCH %+v", v)
		}
		// A second operator still holding the old ETag is refused.
		if r := e.send("PATCH", "/api/v1/admin/accounts/carol", `{"language":"fr"}`, e.asAnn, header("If-Match", etag)); r.status != 412 || r.apiErr(t).Code != CodePreconditionFailed {
			t.Errorf("stale If-Match: %d %s", r.status, r.body)
		}
		for body, field := range map[string]string{`{"balance":"100"}`: "balance", `{"currency":"USD"}`: "currency", `{"username":"x"}`: "username"} {
			if r := e.send("PATCH", "/api/v1/admin/accounts/carol", body, e.asAnn, header("If-Match", r.header.Get("ETag"))); r.status != 400 || r.apiErr(t).Field != field {
				t.Errorf("PATCH %s: %d %s", body, r.status, r.body)
			}
		}
		if a, _ := e.store.GetAccount(t.Context(), "carol"); a.Language != "de" || a.Balance != 125000 {
			t.Errorf("stored %+v", a)
		}
		// Block and unblock.
		if r := e.send("POST", "/api/v1/admin/accounts/carol/block", "", e.asAnn); r.status != 200 {
			t.Errorf("block: %d %s", r.status, r.body)
		}
		if a, _ := e.store.GetAccount(t.Context(), "carol"); !a.Blocked {
			t.Error("not blocked")
		}
		if r := e.send("POST", "/api/v1/admin/accounts/nobody/block", "", e.asAnn); r.status != 404 || !strings.Contains(r.apiErr(t).Message, "account") {
			t.Errorf("block unknown: %d %s", r.status, r.body)
		}
		// List with filters and cursor.
		r = e.get("/api/v1/admin/accounts?limit=2", e.asRita)
		var page struct {
			Accounts []admin.AccountView `json:"accounts"`
			Next     string              `json:"next"`
		}
		r.json(t, &page)
		if len(page.Accounts) != 2 || page.Accounts[0].Username != "alice" || page.Next != "bob" {
			t.Fatalf("page 1: %s", r.body)
		}
		next := page.Next
		page.Next = ""
		e.get("/api/v1/admin/accounts?limit=2&after="+next, e.asRita).json(t, &page)
		if len(page.Accounts) != 1 || page.Accounts[0].Username != "carol" || page.Next != "" {
			t.Errorf("page 2: %+v", page)
		}
		e.get("/api/v1/admin/accounts?blocked=true", e.asRita).json(t, &page)
		if len(page.Accounts) != 1 || page.Accounts[0].Username != "carol" {
			t.Errorf("blocked: %+v", page)
		}
		if r := e.get("/api/v1/admin/accounts?blocked=maybe", e.asRita); r.status != 400 || r.apiErr(t).Field != "blocked" {
			t.Errorf("bad filter: %d %s", r.status, r.body)
		}
		// The audit log has every change, newest first.
		var audit struct {
			Entries []AuditView `json:"entries"`
		}
		e.get("/api/v1/admin/audit?object=account/carol", e.asRita).json(t, &audit)
		var acts []string
		for _, a := range audit.Entries {
			acts = append(acts, a.Operator+" "+a.Action)
		}
		if got := strings.Join(acts, ","); got != "ann account.block,ann account.update,ann account.create" {
			t.Errorf("audit: %s", got)
		}
		if b, a := audit.Entries[1].Before, audit.Entries[1].After; b["language"] != "en" || a["language"] != "de" {
			t.Errorf("update before %v after %v", b, a)
		}
	})
}

func TestAdminLedger(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		top := func(body, key string, c cred) response {
			creds := []cred{c}
			if key != "" {
				creds = append(creds, header("Idempotency-Key", key))
			}
			return e.send("POST", "/api/v1/admin/accounts/alice/ledger", body, creds...)
		}
		// A retried top-up with its key moves the balance once.
		for i, want := range []int{201, 200} {
			if r := top(`{"kind":"topup","amount":"10.25","reason":"card payment 991"}`, "pay-991", e.asAnn); r.status != want {
				t.Errorf("top-up %d: %d %s, want %d", i, r.status, r.body, want)
			}
		}
		if r := top(`{"kind":"topup","amount":"99","reason":"card payment 991"}`, "pay-991", e.asAnn); r.status != 409 || r.apiErr(t).Field != "Idempotency-Key" {
			t.Errorf("key reused for another amount: %d %s", r.status, r.body)
		}
		if r := top(`{"kind":"adjustment","amount":"-0.25","reason":"rounding"}`, "", e.asAnn); r.status != 201 {
			t.Errorf("adjustment: %d %s", r.status, r.body)
		}
		if a, _ := e.store.GetAccount(t.Context(), "alice"); a.Balance != 110*callback.MoneyScale {
			t.Errorf("balance %s, want 110.00", a.Balance)
		}
		for body, field := range map[string]string{
			`{"kind":"topup","amount":"-1","reason":"x"}`:      "amount",
			`{"kind":"adjustment","amount":"0","reason":"x"}`:  "amount",
			`{"kind":"topup","amount":"1.00001","reason":"x"}`: "amount",
			`{"kind":"topup","amount":"1","reason":"  "}`:      "reason",
			`{"kind":"gift","amount":"1","reason":"x"}`:        "kind",
			`{"kind":"topup","amount":1,"reason":"x"}`:         "amount",
		} {
			if r := top(body, "", e.asAnn); r.status != 400 || r.apiErr(t).Field != field {
				t.Errorf("%s: %d %s, want 400 on %s", body, r.status, r.body, field)
			}
		}
		var led struct {
			Entries []admin.LedgerView `json:"entries"`
		}
		e.get("/api/v1/admin/accounts/alice/ledger", e.asRita).json(t, &led)
		if len(led.Entries) != 2 || led.Entries[0].Amount != "-0.25" || led.Entries[1].BalanceAfter != "110.25" || led.Entries[1].Operator != "ann" {
			t.Errorf("ledger %+v", led.Entries)
		}
		if r := e.get("/api/v1/admin/accounts/nobody/ledger", e.asRita); r.status != 404 {
			t.Errorf("ledger of unknown: %d", r.status)
		}
	})
}

// Two top-ups with one key sent at once move the balance once.
func TestAdminLedgerKeyRace(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		var wg sync.WaitGroup
		codes := make([]int, 4)
		for i := range codes {
			wg.Go(func() {
				codes[i] = e.send("POST", "/api/v1/admin/accounts/bob/ledger", `{"kind":"topup","amount":"1","reason":"r"}`,
					e.asAnn, header("Idempotency-Key", "same")).status
			})
		}
		wg.Wait()
		created := 0
		for _, c := range codes {
			if c == 201 {
				created++
			} else if c != 200 {
				t.Errorf("status %d", c)
			}
		}
		if a, _ := e.store.GetAccount(t.Context(), "bob"); created != 1 || a.Balance != 101*callback.MoneyScale {
			t.Errorf("%d created, balance %s; want 1 and 101.00", created, a.Balance)
		}
	})
}

func TestAdminCLIsAndAccessNumbers(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		if r := e.send("POST", "/api/v1/admin/accounts/alice/clis", `{"cli":"+4930555"}`, e.asAnn); r.status != 201 {
			t.Fatalf("add CLI: %d %s", r.status, r.body)
		}
		if r := e.send("POST", "/api/v1/admin/accounts/alice/clis", `{"cli":"phone"}`, e.asAnn); r.status != 400 || r.apiErr(t).Field != "cli" {
			t.Errorf("bad CLI: %d %s", r.status, r.body)
		}
		if r := e.send("POST", "/api/v1/admin/accounts/bob/clis", `{"cli":"4930555"}`, e.asAnn); r.status != 409 {
			t.Errorf("CLI of another account: %d %s", r.status, r.body)
		}
		if r := e.send("DELETE", "/api/v1/admin/accounts/bob/clis/4917012345", "", e.asAnn); r.status != 204 {
			t.Errorf("remove CLI: %d %s", r.status, r.body)
		}
		if _, err := e.store.AccountByCLI(t.Context(), "4917012345"); err == nil {
			t.Error("removed CLI still maps to bob")
		}

		r := e.send("POST", "/api/v1/admin/access-numbers", `{"number":"4930123","trigger":"dnis","ringback_time":5,"minimum_balance":"2 USD","default_account_username":"alice"}`, e.asAnn, header("Idempotency-Key", "an-1"))
		if r.status != 201 {
			t.Fatalf("create number: %d %s", r.status, r.body)
		}
		var n admin.AccessNumberView
		r.json(t, &n)
		if n.Trigger != "dnis" || n.HangupSIPCode != 603 || !n.AnonymousAccounting || n.IsCallback != 6 || n.ANumberHandling != 3 || n.RingbackTime != 5 {
			t.Errorf("created with defaults %+v", n)
		}
		if r := e.send("POST", "/api/v1/admin/access-numbers", `{"number":"4930123","trigger":"dnis","ringback_time":5,"minimum_balance":"2 USD","default_account_username":"alice"}`, e.asAnn, header("Idempotency-Key", "an-1")); r.status != 200 {
			t.Errorf("replay: %d %s", r.status, r.body)
		}
		if r := e.send("POST", "/api/v1/admin/access-numbers", `{"number":"4930123"}`, e.asAnn); r.status != 409 {
			t.Errorf("duplicate number: %d %s", r.status, r.body)
		}
		for body, field := range map[string]string{
			`{"number":"4930124","ringback_time":61}`:                  "Ringback Time",
			`{"number":"4930124","hangup_sip_code":200}`:               "Hangup SIP Response Code",
			`{"number":"4930124","default_account_username":"nobody"}`: "default_account_username",
			`{"number":"4930124","iscallback":-1}`:                     "iscallback",
			`{"number":"4930124","iscallback":9}`:                      "iscallback", // no IVR 9
			`{"number":"x"}`:                                           "number",
		} {
			if r := e.send("POST", "/api/v1/admin/access-numbers", body, e.asAnn); r.status != 400 || r.apiErr(t).Field != field {
				t.Errorf("%s: %d %s, want 400 on %s", body, r.status, r.body, field)
			}
		}
		g := e.get("/api/v1/admin/access-numbers/4930123", e.asRita)
		etag := g.header.Get("ETag")
		if r := e.send("PATCH", "/api/v1/admin/access-numbers/4930123", `{"fixed_cli":"4930777"}`, e.asAnn, header("If-Match", etag)); r.status != 200 {
			t.Fatalf("update: %d %s", r.status, r.body)
		}
		got, _ := e.store.GetAccessNumber(t.Context(), "4930123")
		if got.FixedCLI != "4930777" || got.RingbackTime != 5 || got.Trigger != "dnis" {
			t.Errorf("stored %+v", got)
		}
		if r := e.send("DELETE", "/api/v1/admin/access-numbers/4930123", "", e.asAnn, header("If-Match", etag)); r.status != 412 {
			t.Errorf("delete with stale ETag: %d %s", r.status, r.body)
		}
		etag = e.get("/api/v1/admin/access-numbers/4930123", e.asRita).header.Get("ETag")
		if r := e.send("DELETE", "/api/v1/admin/access-numbers/4930123", "", e.asAnn, header("If-Match", etag)); r.status != 204 {
			t.Errorf("delete: %d %s", r.status, r.body)
		}
		if r := e.get("/api/v1/admin/access-numbers/4930123", e.asRita); r.status != 404 {
			t.Errorf("deleted number: %d", r.status)
		}
	})
}

func TestAdminRequests(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		later := time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339)
		req := e.create(`{"original_cli":"4930111222","destination":"4930999","next_call":"`+later+`"}`, asAlice)
		r := e.get(fmt.Sprintf("/api/v1/admin/requests/%d", req.ID), e.asRita)
		if v := r.view(t); r.status != 200 || len(v.History) == 0 {
			t.Fatalf("get: %d %s", r.status, r.body)
		}
		r = e.send("POST", fmt.Sprintf("/api/v1/admin/requests/%d/retry", req.ID), "", e.asAnn)
		if v := r.view(t); r.status != 200 || !v.NextCall.Before(time.Now().Add(time.Minute)) {
			t.Errorf("retry: %d %s", r.status, r.body)
		}
		var list ListView
		e.get("/api/v1/admin/requests?username=alice", e.asRita).json(t, &list)
		if len(list.Requests) != 1 {
			t.Errorf("list: %+v", list)
		}
		e.send("POST", fmt.Sprintf("/api/v1/admin/requests/%d/cancel", req.ID), "", e.asAnn)
		if r := e.send("POST", fmt.Sprintf("/api/v1/admin/requests/%d/retry", req.ID), "", e.asAnn); r.status != 400 || r.apiErr(t).Field != "id" {
			t.Errorf("retry of finished: %d %s", r.status, r.body)
		}
		if r := e.get("/api/v1/admin/requests/99999", e.asRita); r.status != 404 {
			t.Errorf("unknown: %d", r.status)
		}
	})
}

// settle writes n CDRs of alice, one a minute from start, every other one
// answered for 30 s at 0.0100.
func settle(t *testing.T, st callback.Store, start time.Time, n int) {
	t.Helper()
	var cdrs []*callback.CDR
	for i := range n {
		c := &callback.CDR{RequestID: int64(i + 1), Leg: callback.LegB, Account: "alice", Number: "4930999", ChannelID: fmt.Sprintf("ch%d", i),
			Start: start.Add(time.Duration(i) * time.Minute), End: start.Add(time.Duration(i)*time.Minute + 40*time.Second), Prefix: "4930",
			Disposition: "NO ANSWER", Currency: "USD"}
		if i%2 == 0 {
			c.Answer, c.BillSec, c.Charge, c.Disposition = c.Start.Add(10*time.Second), 30, 100, "ANSWERED"
		}
		cdrs = append(cdrs, c)
	}
	if err := st.Settle(context.Background(), cdrs); err != nil {
		t.Fatal(err)
	}
}

func TestAdminCDRsExportAndReport(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		start := time.Date(2030, 5, 1, 23, 50, 0, 0, time.UTC)
		settle(t, e.store, start, 20)
		r := e.get("/api/v1/admin/cdrs.csv?from=2030-05-01&to=2030-05-03&account=alice", e.asRita)
		if r.status != 200 || r.header.Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("export: %d %s", r.status, r.body)
		}
		recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 21 || strings.Join(recs[0], ",") != strings.Join(admin.CDRColumns, ",") {
			t.Fatalf("%d records, header %v", len(recs), recs[0])
		}
		if got := strings.Join(recs[1], ","); got != "1,1,B,alice,4930999,,ch0,2030-05-01T23:50:00.000Z,2030-05-01T23:50:10.000Z,2030-05-01T23:50:40.000Z,30,ANSWERED,,,4930,0.01,USD" {
			t.Errorf("first row %s", got)
		}
		if r := e.get("/api/v1/admin/cdrs.csv?from=2030-05-01", e.asRita); r.status != 400 || r.apiErr(t).Field != "to" {
			t.Errorf("export without to: %d %s", r.status, r.body)
		}
		if r := e.get("/api/v1/admin/cdrs.csv?from=2030-05-03&to=2030-05-01", e.asRita); r.status != 400 || r.apiErr(t).Field != "to" {
			t.Errorf("export backwards: %d %s", r.status, r.body)
		}
		var page struct {
			CDRs []CDRView `json:"cdrs"`
			Next string    `json:"next"`
		}
		e.get("/api/v1/admin/cdrs?limit=5", e.asRita).json(t, &page)
		if len(page.CDRs) != 5 || page.CDRs[0].ID != 20 || page.Next != "16" {
			t.Errorf("CDR page: %+v", page)
		}
		var rep struct {
			Rows []ReportRowView `json:"rows"`
		}
		r = e.get("/api/v1/admin/reports?from=2030-05-01&to=2030-05-03&by=account", e.asRita)
		r.json(t, &rep)
		if len(rep.Rows) != 2 {
			t.Fatalf("report: %s", r.body)
		}
		d1, d2 := rep.Rows[0], rep.Rows[1]
		if d1.Day != "2030-05-01" || d1.Attempts != 10 || d1.Answered != 5 || d1.ASR != "50.00" || d1.ACD != 30 || d1.Minutes != "2.50" || d1.Revenue != "0.05" || d2.Day != "2030-05-02" {
			t.Errorf("report rows %+v", rep.Rows)
		}
		if r := e.get("/api/v1/admin/reports?from=2030-05-01&to=2030-05-03&by=colour", e.asRita); r.status != 400 || r.apiErr(t).Field != "by" {
			t.Errorf("bad by: %d %s", r.status, r.body)
		}
	})
}

func TestAdminOperatorsAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		if r := e.send("POST", "/api/v1/admin/operators", `{"name":"otto","role":"reporting","password":"otto-pw-1234"}`, e.asAnn); r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		if r := e.send("POST", "/api/v1/admin/operators", `{"name":"x","role":"root"}`, e.asAnn); r.status != 400 || r.apiErr(t).Field != "role" {
			t.Errorf("bad role: %d %s", r.status, r.body)
		}
		r := e.send("POST", "/api/v1/admin/operators/otto/tokens", `{"label":"ci"}`, e.asAnn)
		var tok struct{ Token string }
		r.json(t, &tok)
		if r.status != 201 || !strings.HasPrefix(tok.Token, "cbd_") {
			t.Fatalf("token: %d %s", r.status, r.body)
		}
		if r := e.get("/api/v1/admin/accounts", bearer(tok.Token)); r.status != 200 {
			t.Errorf("new token: %d", r.status)
		}
		if _, err := e.svc.Login(t.Context(), "otto", "otto-pw-1234"); err != nil {
			t.Errorf("login: %v", err)
		}
		if _, err := e.svc.Login(t.Context(), "otto", "wrong-pw-1234"); err == nil {
			t.Error("wrong password logged in")
		}
		if r := e.send("POST", "/api/v1/admin/operators/otto/tokens", `{}`, e.asSam); r.status != 403 {
			t.Errorf("support makes tokens: %d", r.status)
		}
	})
}

func TestAdminTariffsAndCurrencies(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		good := "prefix,price_per_minute,connection_fee,first_increment,next_increment,description,blocked\n4930,0.0125,0,60,60,Berlin,false\n49,0.02,0.01,30,6,Germany,false\n"
		if r := e.do("POST", "/api/v1/admin/tariffs/gold/rates.csv", "text/csv", good, e.asAnn); r.status != 200 || !strings.Contains(string(r.body), `"imported":2`) {
			t.Fatalf("import: %d %s", r.status, r.body)
		}
		bad := "4931,0.01,0,60,60\n4932,cheap,0,60,60\n"
		r := e.do("POST", "/api/v1/admin/tariffs/gold/rates.csv?replace=true", "text/csv", bad, e.asAnn)
		if r.status != 400 || r.apiErr(t).Field != "csv" || !strings.Contains(r.apiErr(t).Message, "line 2") {
			t.Errorf("bad line: %d %s", r.status, r.body)
		}
		if r := e.do("POST", "/api/v1/admin/tariffs/gold/rates.csv", "text/csv", good, e.asSam); r.status != 403 {
			t.Errorf("support imports: %d", r.status)
		}
		r = e.get("/api/v1/admin/tariffs/gold/rates.csv", e.asRita)
		if r.status != 200 || string(r.body) != "prefix,price_per_minute,connection_fee,first_increment,next_increment,description,blocked\n49,0.02,0.01,30,6,Germany,false\n4930,0.0125,0.00,60,60,Berlin,false\n" {
			t.Errorf("export after the refused import: %d\n%s", r.status, r.body)
		}
		var rates struct {
			Rates []RateView `json:"rates"`
		}
		e.get("/api/v1/admin/tariffs/gold/rates", e.asRita).json(t, &rates)
		if len(rates.Rates) != 2 || rates.Rates[1].PricePerMinute != "0.0125" {
			t.Errorf("rates %+v", rates)
		}
		if r := e.send("PUT", "/api/v1/admin/currencies/eur", `{"rate":"1.085"}`, e.asAnn); r.status != 200 || !strings.Contains(string(r.body), `"EUR"`) {
			t.Errorf("put currency: %d %s", r.status, r.body)
		}
		if r := e.send("PUT", "/api/v1/admin/currencies/EUR", `{"rate":"-1"}`, e.asAnn); r.status != 400 || r.apiErr(t).Field != "rate" {
			t.Errorf("bad rate: %d %s", r.status, r.body)
		}
		if r := e.get("/api/v1/admin/currencies", e.asRita); !strings.Contains(string(r.body), `{"code":"EUR","rate":"1.085"}`) {
			t.Errorf("currencies: %s", r.body)
		}
		var audit struct {
			Entries []AuditView `json:"entries"`
		}
		e.get("/api/v1/admin/audit?object=tariff/gold", e.asRita).json(t, &audit)
		if len(audit.Entries) != 1 || audit.Entries[0].After["rates"] != float64(2) {
			t.Errorf("audit of the import: %+v", audit.Entries)
		}
	})
}

func TestAdminLiveCalls(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		ctx := t.Context()
		req := e.create(`{"original_cli":"4930111222","destination":"4930999"}`, asAlice)
		e.create(`{"original_cli":"4930111223","destination":"4930999"}`, asAlice) // waits: not live
		claimed, err := e.store.Claim(ctx, callback.ClaimParams{Owner: "node-1/boot", Now: time.Now().Add(time.Second), Limit: 1, LeaseFor: time.Minute})
		if err != nil || len(claimed) != 1 || claimed[0].ID != req.ID {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		l := callback.Lease{RequestID: req.ID, Attempt: claimed[0].Attempt, Owner: "node-1/boot"}
		if _, err := e.store.Update(ctx, l, callback.Change{From: callback.StatusRequestReceived, To: callback.StatusFirstLegInitiated,
			SetupTime: time.Now().Add(-5 * time.Second), CountCall: true}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Reserve(ctx, &callback.Reservation{RequestID: req.ID, Leg: callback.LegA, ChannelID: "ch-a", Username: "alice", Number: "4930111222", Amount: 500}); err != nil {
			t.Fatal(err)
		}
		var calls struct {
			Calls []LiveCallView `json:"calls"`
		}
		e.get("/api/v1/admin/calls", e.asRita).json(t, &calls)
		if len(calls.Calls) != 1 {
			t.Fatalf("calls: %+v", calls)
		}
		c := calls.Calls[0]
		if c.Request.ID != req.ID || c.Node != "node-1/boot" || c.Duration < 5 || len(c.Legs) != 1 || c.Legs[0].Held != "0.05" || c.Request.Status != "First leg initiated" {
			t.Errorf("call %+v", c)
		}
		if r := e.send("POST", fmt.Sprintf("/api/v1/admin/calls/%d/hangup", req.ID), "", e.asRita); r.status != 403 {
			t.Errorf("reporting hangs up: %d", r.status)
		}
		if r := e.send("POST", fmt.Sprintf("/api/v1/admin/calls/%d/hangup", req.ID), "", e.asSam); r.status != 202 {
			t.Errorf("hangup: %d %s", r.status, r.body)
		}
		held, err := e.store.CanceledHeld(ctx, "node-1/boot")
		if err != nil || len(held) != 1 || held[0] != req.ID {
			t.Errorf("the holding node is not told: %v %v", held, err)
		}
	})
}
