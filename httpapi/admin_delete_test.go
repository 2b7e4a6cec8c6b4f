package httpapi

import (
	"strings"
	"testing"

	"github.com/callbackd/callbackd/callback"
)

func TestAdminListTariffs(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		csv := "prefix,price_per_minute,connection_fee,first_increment,next_increment\n4930,0.0125,0,60,60\n49,0.02,0.01,30,6\n"
		if r := e.do("POST", "/api/v1/admin/tariffs/gold/rates.csv", "text/csv", csv, e.asAnn); r.status != 200 {
			t.Fatalf("import: %d %s", r.status, r.body)
		}
		if r := e.send("POST", "/api/v1/admin/accounts", `{"username":"g1","currency":"EUR","tariff":"gold"}`, e.asAnn); r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		var out struct {
			Tariffs []TariffView `json:"tariffs"`
		}
		r := e.get("/api/v1/admin/tariffs", e.asRita)
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		r.json(t, &out)
		var gold *TariffView
		for i := range out.Tariffs {
			if out.Tariffs[i].Name == "gold" {
				gold = &out.Tariffs[i]
			}
		}
		if gold == nil || gold.Rates != 2 || gold.Accounts != 1 || strings.Join(gold.Currencies, ",") != "EUR" {
			t.Errorf("tariffs: %s", r.body)
		}
		if r := e.get("/api/v1/admin/tariffs", anonymous); r.status != 401 || r.apiErr(t).Code != CodeUnauthenticated {
			t.Errorf("without a token: %d %s", r.status, r.body)
		}
		if r := e.get("/api/v1/admin/tariffs?limit=5", e.asRita); r.status != 400 || r.apiErr(t).Field != "limit" {
			t.Errorf("unknown parameter: %d %s", r.status, r.body)
		}
	})
}

func TestAdminDeleteAccount(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		for _, u := range []string{"empty", "paid"} {
			if r := e.send("POST", "/api/v1/admin/accounts", `{"username":"`+u+`"}`, e.asAnn); r.status != 201 {
				t.Fatalf("create %s: %d %s", u, r.status, r.body)
			}
		}
		if r := e.send("POST", "/api/v1/admin/accounts/paid/ledger", `{"kind":"topup","amount":"5","reason":"card"}`, e.asAnn); r.status != 201 {
			t.Fatalf("top-up: %d %s", r.status, r.body)
		}
		etag := e.get("/api/v1/admin/accounts/empty", e.asAnn).header.Get("ETag")
		if r := e.send("DELETE", "/api/v1/admin/accounts/empty", "", e.asAnn); r.status != 428 || r.apiErr(t).Code != CodePreconditionRequired {
			t.Errorf("without If-Match: %d %s", r.status, r.body)
		}
		if r := e.send("DELETE", "/api/v1/admin/accounts/empty", "", e.asAnn, header("If-Match", `"stale"`)); r.status != 412 {
			t.Errorf("stale If-Match: %d %s", r.status, r.body)
		}
		for _, who := range []cred{e.asSam, e.asRita} {
			if r := e.send("DELETE", "/api/v1/admin/accounts/empty", "", who, header("If-Match", etag)); r.status != 403 || r.apiErr(t).Code != CodeForbidden {
				t.Errorf("support or reporting deletes: %d %s", r.status, r.body)
			}
		}
		// An account with history is kept: 409 with its own code.
		e.create(`{"original_cli":"4930111222","destination":"4930999"}`, asAlice)
		for _, u := range []string{"paid", "alice"} {
			tag := e.get("/api/v1/admin/accounts/"+u, e.asAnn).header.Get("ETag")
			r := e.send("DELETE", "/api/v1/admin/accounts/"+u, "", e.asAnn, header("If-Match", tag))
			if r.status != 409 || r.apiErr(t).Code != CodeAccountHasHistory || !strings.Contains(r.apiErr(t).Message, "block it instead") {
				t.Errorf("delete %s with history: %d %s", u, r.status, r.body)
			}
		}
		if r := e.send("DELETE", "/api/v1/admin/accounts/empty", "", e.asAnn, header("If-Match", etag)); r.status != 204 {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if r := e.get("/api/v1/admin/accounts/empty", e.asAnn); r.status != 404 {
			t.Errorf("after the delete: %d", r.status)
		}
		if r := e.send("DELETE", "/api/v1/admin/accounts/empty", "", e.asAnn, header("If-Match", etag)); r.status != 404 {
			t.Errorf("delete again: %d %s", r.status, r.body)
		}
		var audit struct {
			Entries []AuditView `json:"entries"`
		}
		e.get("/api/v1/admin/audit?object=account/empty", e.asRita).json(t, &audit)
		if len(audit.Entries) == 0 || audit.Entries[0].Action != "account.delete" || audit.Entries[0].Operator != "ann" || audit.Entries[0].After != nil {
			t.Errorf("audit: %+v", audit.Entries)
		}
	})
}
