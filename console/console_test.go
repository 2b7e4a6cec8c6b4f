package console

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
)

// Both real stores; MariaDB runs when CALLBACKD_TEST_MYSQL_DSN is set
// (scripts/mariadb-test.sh) and is skipped otherwise.
var stores = []struct {
	name string
	open func(testing.TB) admin.Store
}{
	{"sqlite", func(tb testing.TB) admin.Store { return dbtest.SQLite(tb) }},
	{"mariadb", func(tb testing.TB) admin.Store { return dbtest.MySQL(tb) }},
}

const opPassword = "correct horse battery"

var testKey = []byte("0123456789abcdef0123456789abcdef-console")

type system struct {
	t   testing.TB
	st  admin.Store
	svc *admin.Service
	srv *httptest.Server
}

// newSystem serves the console over st with an operator of each role
// (admin, support, reporting), all with opPassword.
func newSystem(t testing.TB, st admin.Store) *system {
	t.Helper()
	return newSystemWith(t, st, admin.WebhookConfig{})
}

// newSystemWith is newSystem with the global webhook's configuration.
func newSystemWith(t testing.TB, st admin.Store, hooks admin.WebhookConfig) *system {
	t.Helper()
	svc := &admin.Service{Store: st, BcryptCost: bcrypt.MinCost, Webhooks: hooks}
	for _, r := range admin.Roles {
		if _, err := svc.CreateOperator(t.Context(), admin.CLIActor, string(r), r, opPassword); err != nil {
			t.Fatalf("create operator %s: %v", r, err)
		}
	}
	l := auth.DefaultLogin()
	h := New(Options{Admin: svc, Key: testKey, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Lockout: auth.NewLockout(auth.DefaultLimits(l.Every, l.Burst), auth.SurfaceConsole)})
	s := &system{t: t, st: st, svc: svc, srv: httptest.NewServer(h)}
	t.Cleanup(s.srv.Close)
	return s
}

// browser is a client without JavaScript: cookies, no automatic redirects.
type browser struct {
	t    testing.TB
	s    *system
	http *http.Client
}

func (s *system) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, s: s, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	code     int
	body     string
	location string
	header   http.Header
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{code: res.StatusCode, body: string(body), location: res.Header.Get("Location"), header: res.Header}
}

func (b *browser) get(path string) response {
	req, _ := http.NewRequest(http.MethodGet, b.s.srv.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, v url.Values) response {
	req, _ := http.NewRequest(http.MethodPost, b.s.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}

// login signs in as name and returns the CSRF token of the session.
func (b *browser) login(name, password string) response {
	b.t.Helper()
	page := b.get("/admin/login")
	return b.post("/admin/login", url.Values{"csrf": {csrfOf(b.t, page.body)}, "name": {name}, "password": {password}})
}

func (s *system) signedIn(role admin.Role) (*browser, string) {
	s.t.Helper()
	b := s.browser()
	if res := b.login(string(role), opPassword); res.code != http.StatusSeeOther || res.location != "/admin/" {
		s.t.Fatalf("login as %s: %d %s\n%s", role, res.code, res.location, res.body)
	}
	res := b.get("/admin/")
	if res.code != http.StatusOK {
		s.t.Fatalf("dashboard: %d\n%s", res.code, res.body)
	}
	return b, csrfOf(s.t, res.body)
}

func eachStore(t *testing.T, fn func(t *testing.T, s *system)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { fn(t, newSystem(t, st.open(t))) })
	}
}

func TestLogin(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		b := s.browser()
		if res := b.get("/admin/accounts"); res.code != http.StatusSeeOther || res.location != "/admin/login" {
			t.Fatalf("signed out: %d %s", res.code, res.location)
		}
		if res := b.login("admin", "wrong password"); res.code != http.StatusUnauthorized || !strings.Contains(res.body, "Wrong name or password") {
			t.Fatalf("wrong password: %d\n%s", res.code, res.body)
		}
		// A login form without its token (or another browser's) is refused.
		if res := b.post("/admin/login", url.Values{"csrf": {"00"}, "name": {"admin"}, "password": {opPassword}}); res.code != http.StatusForbidden {
			t.Fatalf("login without CSRF token: %d", res.code)
		}
		res := b.login("admin", opPassword)
		if res.code != http.StatusSeeOther {
			t.Fatalf("login: %d\n%s", res.code, res.body)
		}
		var ck *http.Cookie
		for _, c := range (&http.Response{Header: res.header}).Cookies() {
			if c.Name == sessionCookie && c.Value != "" {
				ck = c
			}
		}
		if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/admin/" {
			t.Fatalf("session cookie: %+v", ck)
		}
		page := b.get("/admin/")
		if page.code != http.StatusOK || !strings.Contains(page.body, "admin (admin)") {
			t.Fatalf("dashboard: %d\n%s", page.code, page.body)
		}
		// Logging out ends the session, even for a copy of the cookie.
		stolen := s.browser()
		u, _ := url.Parse(s.srv.URL + "/admin/")
		stolen.http.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: ck.Value, Path: "/admin/"}})
		if res := b.post("/admin/logout", url.Values{"csrf": {csrfOf(t, page.body)}}); res.code != http.StatusSeeOther {
			t.Fatalf("logout: %d", res.code)
		}
		if res := stolen.get("/admin/"); res.code != http.StatusSeeOther {
			t.Fatalf("after logout: %d", res.code)
		}
		// A disabled operator's session ends at once.
		b2, _ := s.signedIn(admin.RoleSupport)
		yes := true
		if _, err := s.svc.SetOperator(t.Context(), admin.CLIActor, "support", "", nil, nil, &yes); err != nil {
			t.Fatal(err)
		}
		if res := b2.get("/admin/"); res.code != http.StatusSeeOther {
			t.Fatalf("disabled operator: %d", res.code)
		}
	})
}

func TestLoginLockout(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		b := s.browser()
		for i := range 5 {
			if res := b.login("admin", "guess"); res.code != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i, res.code)
			}
		}
		res := b.login("admin", opPassword)
		if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
			t.Fatalf("after 5 failures, the right password: %d", res.code)
		}
	})
}

func TestCSRF(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		b, token := s.signedIn(admin.RoleAdmin)
		v := url.Values{"username": {"csrf-victim"}, "currency": {"USD"}, "credit_limit": {"0"}, "daily_cap": {"0"},
			"max_sessions": {"2"}, "language": {"en"}, "tariff": {"default"}, "balance": {"0"}}
		if res := b.post("/admin/accounts", v); res.code != http.StatusForbidden {
			t.Fatalf("no token: %d", res.code)
		}
		v.Set("csrf", strings.Repeat("0", len(token)))
		if res := b.post("/admin/accounts", v); res.code != http.StatusForbidden {
			t.Fatalf("wrong token: %d", res.code)
		}
		// Another operator's token does not fit this session.
		_, other := s.signedIn(admin.RoleAdmin)
		v.Set("csrf", other)
		if res := b.post("/admin/accounts", v); res.code != http.StatusForbidden {
			t.Fatalf("another session's token: %d", res.code)
		}
		if _, err := s.st.GetAccount(t.Context(), "csrf-victim"); err == nil {
			t.Fatal("an account was created without the session's token")
		}
		v.Set("csrf", token)
		if res := b.post("/admin/accounts", v); res.code != http.StatusSeeOther {
			t.Fatalf("with the token: %d\n%s", res.code, res.body)
		}
	})
}

func newAccountForm(token, username string) url.Values {
	return url.Values{"csrf": {token}, "username": {username}, "currency": {"USD"}, "credit_limit": {"0"}, "daily_cap": {"0"},
		"max_sessions": {"2"}, "language": {"en"}, "tariff": {"default"}, "balance": {"1.50"}}
}

func TestAccounts(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		b, token := s.signedIn(admin.RoleAdmin)
		res := b.post("/admin/accounts", newAccountForm(token, "alice"))
		if res.code != http.StatusSeeOther || res.location != "/admin/accounts/alice?done=created" {
			t.Fatalf("create: %d %s\n%s", res.code, res.location, res.body)
		}
		// Field-named errors, the form kept.
		bad := newAccountForm(token, "alice")
		if res := b.post("/admin/accounts", bad); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `id="e-username"`) {
			t.Fatalf("duplicate: %d\n%s", res.code, res.body)
		}
		bad = newAccountForm(token, "bob")
		bad.Set("currency", "dollars")
		if res := b.post("/admin/accounts", bad); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `id="e-currency"`) || !strings.Contains(res.body, `value="bob"`) {
			t.Fatalf("bad currency: %d\n%s", res.code, res.body)
		}
		bad = newAccountForm(token, "bob")
		bad.Set("max_sessions", "many")
		if res := b.post("/admin/accounts", bad); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `id="e-max_sessions"`) {
			t.Fatalf("bad max sessions: %d\n%s", res.code, res.body)
		}
		// Top-up with a reason.
		if res := b.post("/admin/accounts/alice/topup", url.Values{"csrf": {token}, "amount": {"10.25"}, "reason": {""}}); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `id="e-reason"`) {
			t.Fatalf("top-up without reason: %d\n%s", res.code, res.body)
		}
		if res := b.post("/admin/accounts/alice/topup", url.Values{"csrf": {token}, "amount": {"ten"}, "reason": {"paid"}}); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `id="e-amount"`) {
			t.Fatalf("top-up of a bad amount: %d\n%s", res.code, res.body)
		}
		if res := b.post("/admin/accounts/alice/topup", url.Values{"csrf": {token}, "amount": {"10.25"}, "reason": {"paid by card"}}); res.code != http.StatusSeeOther {
			t.Fatalf("top-up: %d\n%s", res.code, res.body)
		}
		page := b.get("/admin/accounts/alice")
		if !strings.Contains(page.body, `<dd id="balance">11.75 USD</dd>`) || !strings.Contains(page.body, "paid by card") {
			t.Fatalf("account page:\n%s", page.body)
		}
		if !strings.Contains(b.get("/admin/accounts").body, `data-account="alice">11.75 USD`) {
			t.Fatal("the list does not show the new balance")
		}
		// Block, unblock.
		if res := b.post("/admin/accounts/alice/block", url.Values{"csrf": {token}}); res.code != http.StatusSeeOther {
			t.Fatalf("block: %d", res.code)
		}
		if a, _ := s.st.GetAccount(t.Context(), "alice"); !a.Blocked {
			t.Fatal("not blocked")
		}
		if !strings.Contains(b.get("/admin/accounts?blocked=true").body, ">alice<") || strings.Contains(b.get("/admin/accounts?blocked=false").body, ">alice<") {
			t.Fatal("the blocked filter")
		}
		if res := b.post("/admin/accounts/alice/unblock", url.Values{"csrf": {token}}); res.code != http.StatusSeeOther {
			t.Fatalf("unblock: %d", res.code)
		}
		// Every change is in the audit log, by this operator.
		audit := b.get("/admin/audit?object=account/alice").body
		for _, a := range []string{"account.create", "account.topup", "account.block", "account.unblock"} {
			if !strings.Contains(audit, a) {
				t.Errorf("audit log lacks %s:\n%s", a, audit)
			}
		}
		if res := b.get("/admin/accounts/nobody"); res.code != http.StatusNotFound {
			t.Fatalf("no such account: %d", res.code)
		}
	})
}

func TestAccountsPaging(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		for i := range pageSize + 3 {
			if err := s.st.CreateAccount(t.Context(), &callback.Account{Username: fmt.Sprintf("p%03d", i), Currency: "USD"}); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := s.signedIn(admin.RoleReporting)
		first := b.get("/admin/accounts?prefix=p")
		m := regexp.MustCompile(`href="(\?[^"]+)" rel="next"`).FindStringSubmatch(first.body)
		if m == nil || !strings.Contains(first.body, ">p049<") || strings.Contains(first.body, ">p050<") {
			t.Fatalf("first page:\n%s", first.body)
		}
		second := b.get("/admin/accounts" + strings.ReplaceAll(m[1], "&amp;", "&"))
		if !strings.Contains(second.body, ">p050<") || !strings.Contains(second.body, ">p052<") || strings.Contains(second.body, ">p049<") || strings.Contains(second.body, `rel="next"`) {
			t.Fatalf("second page:\n%s", second.body)
		}
	})
}

// TestSecureCookies: with SecureCookies (web.secure_cookies) the session
// and login cookies are Secure.
func TestSecureCookies(t *testing.T) {
	svc := &admin.Service{Store: dbtest.SQLite(t), BcryptCost: bcrypt.MinCost}
	if _, err := svc.CreateOperator(t.Context(), admin.CLIActor, "admin", admin.RoleAdmin, opPassword); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Options{Admin: svc, Key: testKey, SecureCookies: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	s := &system{t: t, svc: svc, srv: srv}
	b := s.browser()
	page := b.get("/admin/login")
	res := b.post("/admin/login", url.Values{"csrf": {csrfOf(t, page.body)}, "name": {"admin"}, "password": {opPassword}})
	session := false
	for _, h := range []http.Header{page.header, res.header} {
		for _, c := range (&http.Response{Header: h}).Cookies() {
			session = session || (c.Name == sessionCookie && c.Value != "")
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("cookie %s: Secure %v HttpOnly %v SameSite %v", c.Name, c.Secure, c.HttpOnly, c.SameSite)
			}
		}
	}
	if !session {
		t.Fatalf("no session cookie: %d %v", res.code, res.header)
	}
}
