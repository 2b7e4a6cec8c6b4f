package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/callback/callbacktest"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/store/dbtest"
)

// Both real stores; MariaDB runs when CALLBACKD_TEST_MYSQL_DSN is set
// (scripts/mariadb-test.sh) and is skipped otherwise.
var stores = []struct {
	name string
	open func(testing.TB) callback.Store
}{
	{"sqlite", func(tb testing.TB) callback.Store { return dbtest.SQLite(tb) }},
	{"mariadb", func(tb testing.TB) callback.Store {
		dbtest.MySQLDSN(tb)
		return dbtest.MySQL(tb)
	}},
}

func forEachStore(t *testing.T, fn func(t *testing.T, open func(testing.TB) callback.Store)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { fn(t, s.open) })
	}
}

const (
	testToken     = "op-token-7f3a9c1e5b2d4f6a8c0e"
	alicePassword = "alice-Secret-pw-1"
	bobPassword   = "bob-Secret-pw-2"
	smsSecret     = "sms-shared-secret-91b2"
	twilioToken   = "twilio-auth-token-55e1"
)

// env is a callbackd HTTP front end on a real listener over a real store,
// with accounts alice (associated number +4930111222) and bob (CLI
// 4917012345 in the CLI map).
type env struct {
	t       testing.TB
	store   callback.Store
	svc     *callback.Service
	srv     *httptest.Server
	logs    *callbacktest.LogBuffer
	metrics *metrics.Metrics
	opts    Options
}

type envOption func(*Options)

func newEnv(t testing.TB, st callback.Store, opts ...envOption) *env {
	t.Helper()
	ctx := t.Context()
	for _, a := range []struct{ user, pw, number string }{
		{"alice", alicePassword, "+4930111222"},
		{"bob", bobPassword, ""},
	} {
		// The lowest cost keeps the suite fast under -race; the
		// Authenticator reads the cost from the hash.
		hash, err := bcrypt.GenerateFromPassword([]byte(a.pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		acct := &callback.Account{Username: a.user, PasswordHash: string(hash), Currency: "USD", MaxSessions: 10,
			Balance: 100 * callback.MoneyScale, AssociatedNumber: a.number, Language: "en"}
		if err := st.CreateAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddCLI(ctx, callback.AccountCLI{CLI: "4917012345", Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	p := callback.DefaultPolicy()
	p.DelayBeforeCallback = 0
	e := &env{t: t, store: st, logs: &callbacktest.LogBuffer{}, metrics: metrics.New()}
	e.svc = &callback.Service{Store: st, Policy: p, Notify: e.metrics.Created}
	e.opts = Options{
		Store:         st,
		Service:       e.svc,
		Authenticator: auth.New(st, []string{testToken}, time.Hour, 5),
		Logger:        slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:       e.metrics,
		SMS:           SMSOptions{Secret: smsSecret, TwilioAuthToken: twilioToken},
	}
	for _, o := range opts {
		o(&e.opts)
	}
	e.srv = httptest.NewServer(New(e.opts))
	t.Cleanup(e.srv.Close)
	return e
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// apiErr decodes the error body.
func (r response) apiErr(t testing.TB) errorDetail {
	t.Helper()
	var b errorBody
	r.json(t, &b)
	return b.Error
}

func (r response) view(t testing.TB) RequestView {
	t.Helper()
	var v RequestView
	r.json(t, &v)
	return v
}

// cred is how a test request authenticates.
type cred func(*http.Request)

func bearer(tok string) cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func basic(user, pw string) cred { return func(r *http.Request) { r.SetBasicAuth(user, pw) } }

var (
	asOperator = bearer(testToken)
	asAlice    = basic("alice", alicePassword)
	asBob      = basic("bob", bobPassword)
	anonymous  = cred(func(*http.Request) {})
)

func header(k, v string) cred { return func(r *http.Request) { r.Header.Set(k, v) } }

func (e *env) do(method, path, contentType, body string, creds ...cred) response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, c := range creds {
		c(req)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) postJSON(path, body string, creds ...cred) response {
	e.t.Helper()
	return e.do(http.MethodPost, path, "application/json", body, creds...)
}

func (e *env) get(path string, creds ...cred) response {
	e.t.Helper()
	return e.do(http.MethodGet, path, "", "", creds...)
}

// create makes a request and fails the test unless it is created.
func (e *env) create(body string, creds ...cred) RequestView {
	e.t.Helper()
	r := e.postJSON("/api/v1/requests", body, creds...)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create %s: %d %s", body, r.status, r.body)
	}
	return r.view(e.t)
}

// count returns how many requests the store holds.
func (e *env) count() int {
	e.t.Helper()
	n, after := 0, int64(0)
	for range 1000 {
		rows, err := e.store.ListRequests(e.t.Context(), callback.RequestFilter{AfterID: after, Limit: 500})
		if err != nil {
			e.t.Fatal(err)
		}
		n += len(rows)
		if len(rows) < 500 {
			return n
		}
		after = rows[len(rows)-1].ID
	}
	e.t.Fatal("more than 500000 requests")
	return n
}
