package console

import (
	"bytes"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// postFile sends the import form: fields and the file csv.
func (b *browser) postFile(path string, fields map[string]string, csv string) response {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if csv != "" {
		fw, _ := mw.CreateFormFile("csv", "rates.csv")
		fw.Write([]byte(csv))
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.s.srv.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

const ratesHeader = "prefix,price_per_minute,connection_fee,first_increment,next_increment,description,blocked\n"

func TestTariffs(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		b, token := s.signedIn(admin.RoleAdmin)
		var csv strings.Builder
		csv.WriteString(ratesHeader)
		for i := range pageSize + 3 {
			fmt.Fprintf(&csv, "49%03d,0.0125,0,60,60,Germany %d,false\n", i, i)
		}
		res := b.postFile("/admin/tariffs/import", map[string]string{"csrf": token, "tariff": "gold"}, csv.String())
		if res.code != http.StatusSeeOther || res.location != "/admin/tariffs/gold?done=imported&n=53" {
			t.Fatalf("import: %d %s\n%s", res.code, res.location, res.body)
		}
		if page := b.get(res.location); !strings.Contains(page.body, "53 rates imported.") {
			t.Errorf("after the import:\n%s", page.body)
		}
		if err := s.st.CreateAccount(t.Context(), &callback.Account{Username: "g", Currency: "EUR", Tariff: "gold"}); err != nil {
			t.Fatal(err)
		}
		list := b.get("/admin/tariffs")
		if list.code != http.StatusOK || !strings.Contains(list.body, `<td>EUR</td><td data-tariff="gold">53</td><td>1</td>`) {
			t.Fatalf("tariffs: %d\n%s", list.code, list.body)
		}
		// One bad line: named, nothing imported, the form kept.
		bad := ratesHeader + "4930,0.01,0,60,60,Berlin,false\n4931,cheap,0,60,60,Berlin,false\n"
		res = b.postFile("/admin/tariffs/import", map[string]string{"csrf": token, "tariff": "gold", "replace": "on", "back": "tariff"}, bad)
		if res.code != http.StatusUnprocessableEntity || !regexp.MustCompile(`id="e-csv">[^<]*line 3`).MatchString(res.body) || !strings.Contains(res.body, "<h1>Tariff gold</h1>") {
			t.Errorf("bad line: %d\n%s", res.code, res.body)
		}
		if rates, _ := s.st.ListRates(t.Context(), "gold"); len(rates) != pageSize+3 {
			t.Errorf("after a refused import, gold has %d rates", len(rates))
		}
		if res := b.postFile("/admin/tariffs/import", map[string]string{"csrf": token, "tariff": "gold"}, ""); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `id="e-csv"`) {
			t.Errorf("no file: %d\n%s", res.code, res.body)
		}
		if res := b.postFile("/admin/tariffs/import", map[string]string{"csrf": token, "tariff": "go ld"}, ratesHeader+"1,0,0,1,1\n"); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `id="e-tariff"`) {
			t.Errorf("bad tariff name: %d\n%s", res.code, res.body)
		}
		if res := b.postFile("/admin/tariffs/import", map[string]string{"tariff": "gold"}, ratesHeader+"1,0,0,1,1\n"); res.code != http.StatusForbidden {
			t.Errorf("import without CSRF token: %d", res.code)
		}
		// Rates a page at a time, by prefix.
		page := b.get("/admin/tariffs/gold")
		m := regexp.MustCompile(`href="(\?after=[^"]+)" rel="next"`).FindStringSubmatch(page.body)
		if m == nil || !strings.Contains(page.body, "<td>49049</td>") || strings.Contains(page.body, "<td>49050</td>") {
			t.Fatalf("first page of rates:\n%s", page.body)
		}
		if next := b.get("/admin/tariffs/gold" + m[1]); !strings.Contains(next.body, "<td>49052</td>") || strings.Contains(next.body, "<td>49049</td>") {
			t.Errorf("second page of rates:\n%s", next.body)
		}
		// Every role reads and exports; only admin imports.
		for _, role := range []admin.Role{admin.RoleSupport, admin.RoleReporting} {
			rb, rtoken := s.signedIn(role)
			if p := rb.get("/admin/tariffs/gold"); p.code != http.StatusOK || strings.Contains(p.body, "import-rates") {
				t.Errorf("%s tariff page: %d, import form shown: %v", role, p.code, strings.Contains(p.body, "import-rates"))
			}
			exp := rb.get("/admin/tariffs/gold/rates.csv")
			if exp.code != http.StatusOK || !strings.HasPrefix(exp.body, ratesHeader+"49000,0.0125,0.00,60,60,Germany 0,false\n") || strings.Count(exp.body, "\n") != pageSize+4 {
				t.Errorf("%s export: %d\n%s", role, exp.code, exp.body)
			}
			if res := rb.postFile("/admin/tariffs/import", map[string]string{"csrf": rtoken, "tariff": "gold", "replace": "on"}, ratesHeader+"1,0,0,1,1\n"); res.code != http.StatusForbidden {
				t.Errorf("%s imports: %d", role, res.code)
			}
		}
		if rates, _ := s.st.ListRates(t.Context(), "gold"); len(rates) != pageSize+3 {
			t.Errorf("gold has %d rates after the refused imports", len(rates))
		}
		if audit := b.get("/admin/audit?object=tariff/gold").body; strings.Count(audit, "tariff.import") != 1 {
			t.Errorf("audit of the imports:\n%s", audit)
		}
	})
}

func TestOperators(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		b, token := s.signedIn(admin.RoleAdmin)
		page := b.get("/admin/operators")
		if page.code != http.StatusOK || !strings.Contains(page.body, `id="role-reporting"`) {
			t.Fatalf("operators: %d\n%s", page.code, page.body)
		}
		form := url.Values{"csrf": {token}, "name": {"olga"}, "role": {"support"}, "password": {"olga's long password"}}
		if res := b.post("/admin/operators", form); res.code != http.StatusSeeOther || res.location != "/admin/operators?done=created" {
			t.Fatalf("create: %d %s\n%s", res.code, res.location, res.body)
		}
		op, err := s.svc.Login(t.Context(), "olga", "olga's long password")
		if err != nil || op.Role != admin.RoleSupport || !strings.HasPrefix(op.PasswordHash, "$2") {
			t.Fatalf("olga signs in: %+v, %v", op, err)
		}
		for field, v := range map[string]url.Values{
			"name":     {"csrf": {token}, "name": {"olga"}, "role": {"support"}},
			"password": {"csrf": {token}, "name": {"pete"}, "role": {"support"}, "password": {"short"}},
			"role":     {"csrf": {token}, "name": {"pete"}, "role": {"root"}},
		} {
			if res := b.post("/admin/operators", v); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `id="e-`+field+`"`) {
				t.Errorf("bad %s: %d\n%s", field, res.code, res.body)
			}
		}
		// Role and disabled.
		if res := b.post("/admin/operators/olga", url.Values{"csrf": {token}, "role": {"reporting"}, "disabled": {"on"}}); res.code != http.StatusSeeOther {
			t.Fatalf("set: %d\n%s", res.code, res.body)
		}
		if op, _ := s.st.GetOperator(t.Context(), "olga"); op.Role != admin.RoleReporting || !op.Disabled {
			t.Errorf("olga after the change: %+v", op)
		}
		if _, err := s.svc.Login(t.Context(), "olga", "olga's long password"); !errors.Is(err, admin.ErrBadCredentials) {
			t.Errorf("a disabled operator signs in: %v", err)
		}
		if res := b.post("/admin/operators/olga", url.Values{"csrf": {token}, "role": {"admin"}}); res.code != http.StatusSeeOther {
			t.Fatalf("enable: %d", res.code)
		}
		if op, _ := s.st.GetOperator(t.Context(), "olga"); op.Role != admin.RoleAdmin || op.Disabled {
			t.Errorf("olga enabled: %+v", op)
		}
		if res := b.post("/admin/operators/nobody", url.Values{"csrf": {token}, "role": {"admin"}}); res.code != http.StatusNotFound {
			t.Errorf("no such operator: %d", res.code)
		}
		// A token, shown once.
		res := b.post("/admin/operators/olga/tokens", url.Values{"csrf": {token}, "label": {"billing"}})
		m := regexp.MustCompile(`id="token">(cbd_[A-Za-z0-9_-]+)<`).FindStringSubmatch(res.body)
		if res.code != http.StatusOK || m == nil {
			t.Fatalf("token: %d\n%s", res.code, res.body)
		}
		if op, err := s.svc.ByToken(t.Context(), m[1]); err != nil || op.Name != "olga" {
			t.Errorf("the token opens %+v, %v", op, err)
		}
		if strings.Contains(b.get("/admin/operators").body, m[1]) {
			t.Error("the token is shown again")
		}
		audit := b.get("/admin/audit?object=operator/olga").body
		for _, a := range []string{"operator.create", "operator.update", "operator.token"} {
			if !strings.Contains(audit, a) || !strings.Contains(audit, "<td>admin</td>") {
				t.Errorf("audit lacks %s by admin:\n%s", a, audit)
			}
		}
		// Others neither see nor change operators.
		for _, role := range []admin.Role{admin.RoleSupport, admin.RoleReporting} {
			rb, rtoken := s.signedIn(role)
			if p := rb.get("/admin/operators"); p.code != http.StatusForbidden {
				t.Errorf("%s lists operators: %d", role, p.code)
			}
			if strings.Contains(rb.get("/admin/").body, `href="/admin/operators"`) {
				t.Errorf("%s sees the operators link", role)
			}
			for p, v := range map[string]url.Values{
				"/admin/operators":             {"csrf": {rtoken}, "name": {"mal"}, "role": {"admin"}, "password": {"long enough pw"}},
				"/admin/operators/olga":        {"csrf": {rtoken}, "role": {"reporting"}, "disabled": {"on"}},
				"/admin/operators/olga/tokens": {"csrf": {rtoken}},
			} {
				if res := rb.post(p, v); res.code != http.StatusForbidden || strings.Contains(res.body, "cbd_") {
					t.Errorf("%s POST %s: %d", role, p, res.code)
				}
			}
		}
		if op, _ := s.st.GetOperator(t.Context(), "olga"); op.Role != admin.RoleAdmin || op.Disabled {
			t.Errorf("olga changed by others: %+v", op)
		}
		if _, err := s.st.GetOperator(t.Context(), "mal"); err == nil {
			t.Error("mal was created")
		}
	})
}

func TestDeleteAccount(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		s.newRequest(t, "4930111222") // alice has a request
		for _, u := range []string{"temp", "keep"} {
			if err := s.st.CreateAccount(t.Context(), &callback.Account{Username: u, Currency: "USD"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, role := range []admin.Role{admin.RoleSupport, admin.RoleReporting} {
			rb, rtoken := s.signedIn(role)
			if strings.Contains(rb.get("/admin/accounts/temp").body, "delete-account") {
				t.Errorf("%s sees the delete button", role)
			}
			if res := rb.post("/admin/accounts/temp/delete", url.Values{"csrf": {rtoken}}); res.code != http.StatusForbidden {
				t.Errorf("%s deletes: %d", role, res.code)
			}
		}
		b, token := s.signedIn(admin.RoleAdmin)
		if !strings.Contains(b.get("/admin/accounts/temp").body, `id="delete-account"`) {
			t.Error("admin sees no delete button")
		}
		if res := b.post("/admin/accounts/temp/delete", url.Values{}); res.code != http.StatusForbidden {
			t.Errorf("delete without CSRF token: %d", res.code)
		}
		res := b.post("/admin/accounts/alice/delete", url.Values{"csrf": {token}})
		if res.code != http.StatusConflict || !strings.Contains(res.body, "block it instead") || !strings.Contains(res.body, "callback requests") || !strings.Contains(res.body, `id="balance"`) {
			t.Errorf("delete an account with history: %d\n%s", res.code, res.body)
		}
		if res := b.post("/admin/accounts/temp/delete", url.Values{"csrf": {token}}); res.code != http.StatusSeeOther || res.location != "/admin/accounts?done=deleted" {
			t.Fatalf("delete: %d %s\n%s", res.code, res.location, res.body)
		}
		for _, u := range []string{"temp", "keep", "alice"} {
			_, err := s.st.GetAccount(t.Context(), u)
			if gone := errors.Is(err, callback.ErrNotFound); gone != (u == "temp") {
				t.Errorf("%s: %v", u, err)
			}
		}
		if res := b.post("/admin/accounts/temp/delete", url.Values{"csrf": {token}}); res.code != http.StatusNotFound {
			t.Errorf("delete again: %d", res.code)
		}
		if audit := b.get("/admin/audit?object=account/temp").body; !strings.Contains(audit, "account.delete") {
			t.Errorf("audit:\n%s", audit)
		}
	})
}

func TestDashboardActivity(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		s.newRequest(t, "4930111222")
		r := s.newRequest(t, "4930111333")
		if _, err := s.svc.CancelRequest(t.Context(), admin.CLIActor, r.ID); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		s.settle(t, now.Truncate(time.Hour).Add(-2*time.Hour), 4) // 4 first legs, 2 answered, 2 hours ago
		b, _ := s.signedIn(admin.RoleReporting)
		body := b.get("/admin/").body
		for _, want := range []string{
			`<span id="requests-today">2</span>`,
			"<tr><td>Request received</td><td>(unfinished)</td><td>1</td></tr>",
			"<tr><td>Finished</td><td>Canceled</td><td>1</td></tr>",
			"<tr><td>Finished</td><td>Successful</td><td>0</td></tr>",
			`role="img" aria-labelledby="chart-title chart-desc"`,
			"4 first legs dialled, 2 answered.",
			"<tr><td>" + now.Truncate(time.Hour).Add(-2*time.Hour).Format("2006-01-02 15:04:05") + "</td><td>4</td><td>2</td></tr>",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("dashboard lacks %s", want)
			}
		}
		if n := strings.Count(body, `class="bar-attempts"`); n != 24 {
			t.Errorf("%d hours in the chart, want 24", n)
		}
		if t.Failed() {
			t.Logf("dashboard:\n%s", body)
		}
	})
}

// TestNewFormsNeedCSRF: every form of the tariff, operator and account
// pages is refused without the session's token, and changes nothing.
func TestNewFormsNeedCSRF(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		if err := s.st.CreateAccount(t.Context(), &callback.Account{Username: "temp", Currency: "USD"}); err != nil {
			t.Fatal(err)
		}
		b, _ := s.signedIn(admin.RoleAdmin)
		for p, v := range map[string]url.Values{
			"/admin/operators":              {"name": {"mal"}, "role": {"admin"}, "password": {"long enough pw"}},
			"/admin/operators/reporting":    {"role": {"admin"}},
			"/admin/operators/admin/tokens": {"label": {"x"}},
			"/admin/accounts/temp/delete":   {},
			"/admin/tariffs/import":         {"tariff": {"gold"}},
		} {
			if res := b.post(p, v); res.code != http.StatusForbidden {
				t.Errorf("POST %s without CSRF token: %d", p, res.code)
			}
		}
		if op, _ := s.st.GetOperator(t.Context(), "reporting"); op.Role != admin.RoleReporting {
			t.Error("reporting was made admin")
		}
		if _, err := s.st.GetAccount(t.Context(), "temp"); err != nil {
			t.Errorf("temp: %v", err)
		}
	})
}

// TestImportTooLarge: a rates file above admin.MaxRatesCSV is refused
// with 413 and nothing is imported; another form carrying a file is held
// to the small forms' limit.
func TestImportTooLarge(t *testing.T) {
	s := newSystem(t, stores[0].open(t))
	b, token := s.signedIn(admin.RoleAdmin)
	big := ratesHeader + strings.Repeat("4930,0.0125,0,60,60,Berlin,false\n", (admin.MaxRatesCSV+128<<10)/33)
	if res := b.postFile("/admin/tariffs/import", map[string]string{"csrf": token, "tariff": "gold"}, big); res.code != http.StatusRequestEntityTooLarge {
		t.Errorf("a %d-byte file: %d\n%s", len(big), res.code, res.body)
	}
	if res := b.postFile("/admin/operators", map[string]string{"csrf": token, "name": "x", "role": "admin"}, strings.Repeat("x", 70<<10)); res.code != http.StatusRequestEntityTooLarge {
		t.Errorf("a file sent to another form: %d", res.code)
	}
	if rates, _ := s.st.ListRates(t.Context(), "gold"); len(rates) != 0 {
		t.Errorf("%d rates imported", len(rates))
	}
}
