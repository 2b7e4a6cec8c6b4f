package web

import (
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

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/callback/callbacktest"
	"github.com/callbackd/callbackd/store/dbtest"
)

// Both real stores; MariaDB runs when CALLBACKD_TEST_MYSQL_DSN is set
// (scripts/mariadb-test.sh) and is skipped otherwise.
var stores = []struct {
	name string
	open func(testing.TB) callback.Store
}{
	{"sqlite", func(tb testing.TB) callback.Store { return dbtest.SQLite(tb) }},
	{"mariadb", func(tb testing.TB) callback.Store { return dbtest.MySQL(tb) }},
}

const (
	// The seed's account and password (seed 002's email example).
	testAccount  = "6192345678"
	testPassword = "1ak45"
	testPIN      = "48151623"
	hostedAcct   = "hosted-helpdesk"
	helpdesk     = "+420 212 000 111"
	helpdeskNorm = "420212000111"
)

var testKey = []byte("0123456789abcdef0123456789abcdef-test-key")

// testPage is the page on a real listener on 127.0.0.1 over a real store
// with the seed's account, a broke account and the hosted mode's internal
// account.
type testPage struct {
	t     testing.TB
	store callback.Store
	svc   *callback.Service
	srv   *httptest.Server
	logs  *callbacktest.LogBuffer
	clock *callbacktest.Clock
	opts  Options
}

func seedAccounts(t testing.TB, st callback.Store) {
	t.Helper()
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*callback.Account{
		{Username: testAccount, PasswordHash: hash, PIN: testPIN, Balance: 10 * callback.MoneyScale, Currency: "USD", MaxSessions: 2, Language: "en"},
		{Username: "broke", PasswordHash: hash, PIN: "999000", Currency: "USD", MaxSessions: 2},
		{Username: hostedAcct, Balance: 100 * callback.MoneyScale, Currency: "USD", MaxSessions: 10},
	} {
		if err := st.CreateAccount(t.Context(), a); err != nil {
			t.Fatalf("create account %s: %v", a.Username, err)
		}
	}
}

func allModes(o *Options) {
	o.Simple = Simple{Enabled: true, Destination: helpdesk}
	o.Extended = Extended{Enabled: true}
	o.Hosted = Hosted{Enabled: true, Account: hostedAcct, Destination: helpdesk, AllowedPrefixes: []string{"420", "421"}}
}

func newTestPage(t testing.TB, st callback.Store, svc *callback.Service, opts ...func(*Options)) *testPage {
	t.Helper()
	if svc == nil {
		svc = &callback.Service{Store: st, Policy: callback.DefaultPolicy()}
	}
	tp := &testPage{t: t, store: st, svc: svc, logs: &callbacktest.LogBuffer{}, clock: callbacktest.NewClock(time.Now())}
	o := Options{
		Service: svc,
		Auth:    auth.New(st, nil, time.Minute, 5),
		Key:     testKey,
		Limits:  DefaultLimits(),
		Title:   "Example Telecom",
		Logger:  slog.New(slog.NewTextHandler(tp.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     tp.clock.Now,
	}
	allModes(&o)
	for _, fn := range opts {
		fn(&o)
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("options: %v", err)
	}
	tp.opts = o
	tp.srv = httptest.NewServer(New(o))
	t.Cleanup(tp.srv.Close)
	t.Cleanup(func() {
		// No secret may reach the log, whatever the test did.
		logs := tp.logs.String()
		for _, secret := range []string{testPassword, testPIN, string(testKey)} {
			if strings.Contains(logs, secret) {
				t.Errorf("a secret reached the log:\n%s", logs)
			}
		}
	})
	return tp
}

// user is a browser without JavaScript: cookies, no automatic redirects.
type user struct {
	t    testing.TB
	tp   *testPage
	http *http.Client
	ip   string
}

func (tp *testPage) user() *user {
	jar, _ := cookiejar.New(nil)
	return &user{t: tp.t, tp: tp, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type response struct {
	code   int
	header http.Header
	body   string
}

func (u *user) do(req *http.Request) response {
	u.t.Helper()
	resp, err := u.http.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		u.t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (u *user) get(path string) response {
	u.t.Helper()
	req, _ := http.NewRequestWithContext(u.t.Context(), "GET", u.tp.srv.URL+path, nil)
	return u.do(req)
}

func (u *user) post(path string, v url.Values) response {
	u.t.Helper()
	req, _ := http.NewRequestWithContext(u.t.Context(), "POST", u.tp.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return u.do(req)
}

var tokenRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func formToken(t testing.TB, body string) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

// submit opens the form of mode and sends it with v.
func (u *user) submit(mode string, v url.Values) response {
	u.t.Helper()
	f := u.get("/callback/" + mode)
	if f.code != http.StatusOK {
		u.t.Fatalf("GET form %s: %d", mode, f.code)
	}
	v.Set("csrf_token", formToken(u.t, f.body))
	return u.post("/callback/"+mode, v)
}

// requests lists the store's requests, oldest first.
func (tp *testPage) requests() []*callback.Request {
	tp.t.Helper()
	rs, err := tp.store.ListRequests(tp.t.Context(), callback.RequestFilter{})
	if err != nil {
		tp.t.Fatal(err)
	}
	return rs
}

func extended(number, dest string) url.Values {
	return url.Values{"account": {testAccount}, "password": {testPassword}, "number": {number}, "destination": {dest}}
}
