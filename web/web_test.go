package web

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
	"github.com/callbackd/callbackd/store/dbtest"
)

func TestSecurityHeaders(t *testing.T) {
	tp := newTestPage(t, dbtest.SQLite(t), nil)
	u := tp.user()
	for _, path := range []string{"/", "/callback/extended", "/callback/status/xyz", "/nope", cssPath} {
		p := u.get(path)
		h := p.header
		for name, want := range map[string]string{
			"Content-Security-Policy": "frame-ancestors 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
		} {
			if !strings.Contains(h.Get(name), want) {
				t.Errorf("%s: %s = %q, want %q", path, name, h.Get(name), want)
			}
		}
		if strings.Contains(h.Get("Content-Security-Policy"), "script-src") || strings.Contains(h.Get("Content-Security-Policy"), "unsafe") {
			t.Errorf("%s: CSP %q allows script", path, h.Get("Content-Security-Policy"))
		}
		if strings.Contains(p.body, "<script") || strings.Contains(p.body, " style=") {
			t.Errorf("%s: inline script or style in page", path)
		}
	}
}

func TestIndexListsModes(t *testing.T) {
	tp := newTestPage(t, dbtest.SQLite(t), nil)
	p := tp.user().get("/")
	for _, m := range []string{"/callback/simple", "/callback/extended", "/callback/hosted"} {
		if !strings.Contains(p.body, `href="`+m+`"`) {
			t.Errorf("index has no link to %s", m)
		}
	}
	one := newTestPage(t, dbtest.SQLite(t), nil, func(o *Options) { o.Simple.Enabled, o.Hosted.Enabled = false, false })
	p = one.user().get("/")
	if p.code != http.StatusFound || p.header.Get("Location") != "/callback/extended" {
		t.Fatalf("one mode: GET / = %d %s, want a redirect to it", p.code, p.header.Get("Location"))
	}
	if p := one.user().get("/callback/hosted"); p.code != http.StatusNotFound {
		t.Fatalf("disabled mode: %d, want 404", p.code)
	}
}

// TestFormAccessible checks the markup a screen reader and a phone rely on.
func TestFormAccessible(t *testing.T) {
	tp := newTestPage(t, dbtest.SQLite(t), nil)
	u := tp.user()
	p := u.get("/callback/extended")
	for _, want := range []string{
		`<html lang="en">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<label for="f-account">`, `id="f-account" name="account"`, `autocomplete="username"`,
		`<label for="f-password">`, `type="password"`, `autocomplete="current-password"`,
		`<label for="f-number">`, `type="tel" inputmode="tel" autocomplete="tel"`,
		`<label for="f-destination">`, `maxlength="40"`,
		`aria-describedby="f-number-hint"`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	// A wrong password: the error sits next to the field and is bound to it.
	p = u.submit(ModeExtended, extended("+420 777 000 111", "+44 20 7946 0958"))
	if p.code != http.StatusUnprocessableEntity {
		t.Fatalf("bad password: %d", p.code)
	}
	for _, want := range []string{
		`id="f-password-error"`, `aria-describedby="f-password-error"`, `aria-invalid="true"`,
		`role="alert"`, `<a href="#f-password">Password</a>`,
		`value="` + testAccount + `"`, `value="&#43;420 777 000 111"`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("error page lacks %s", want)
		}
	}
	if strings.Contains(p.body, testPassword) {
		t.Error("the password was echoed back")
	}
}

// The extended mode queues the calling card with the destination given
// (seed 002: balance and maximum duration, then the second number).
func TestExtendedCreatesCallingCardWithDestination(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			seedAccounts(t, st)
			tp := newTestPage(t, st, nil)
			u := tp.user()
			p := u.submit(ModeExtended, extended("+420 (777) 000-111", "00420 212 345 678"))
			if p.code != http.StatusSeeOther {
				t.Fatalf("submit: %d\n%s", p.code, p.body)
			}
			loc := p.header.Get("Location")
			rs := tp.requests()
			if len(rs) != 1 {
				t.Fatalf("%d requests", len(rs))
			}
			r := rs[0]
			if r.Username != testAccount || r.OriginalCLI != "420777000111" || r.OriginalCLD != "callingcard" ||
				r.Destination != "420212345678" || r.Source != callback.SourceWeb || r.Language != "en" {
				t.Fatalf("request = %+v", r)
			}
			if tok := strings.TrimPrefix(loc, "/callback/status/"); len(tok) != 22 || tok == strconv.FormatInt(r.ID, 10) ||
				loc != StatusPath(testKey, r.ID) {
				t.Fatalf("Location %q, StatusPath %q", loc, StatusPath(testKey, r.ID))
			}
			sp := u.get(loc)
			if sp.code != http.StatusOK || !strings.Contains(sp.body, "Request received") ||
				!strings.Contains(sp.body, `<meta http-equiv="refresh" content="3">`) {
				t.Fatalf("status page %d:\n%s", sp.code, sp.body)
			}
			if strings.Contains(sp.body, "420777000111") || !strings.Contains(sp.body, "ending in </span>111") {
				t.Fatal("status page shows the whole number")
			}
		})
	}
}

func TestSimpleWithPIN(t *testing.T) {
	st := dbtest.SQLite(t)
	seedAccounts(t, st)
	tp := newTestPage(t, st, nil)
	u := tp.user()
	p := u.submit(ModeSimple, url.Values{"pin": {"000"}, "number": {"+420777000222"}})
	if p.code != http.StatusUnprocessableEntity || !strings.Contains(p.body, "This PIN is not correct.") {
		t.Fatalf("wrong PIN: %d", p.code)
	}
	p = u.submit(ModeSimple, url.Values{"pin": {testPIN}, "number": {"+420777000222"}})
	if p.code != http.StatusSeeOther {
		t.Fatalf("PIN: %d\n%s", p.code, p.body)
	}
	r := tp.requests()[0]
	if r.Username != testAccount || r.OriginalCLD != "2way_"+helpdeskNorm || r.Destination != helpdeskNorm {
		t.Fatalf("request = %+v", r)
	}
}

func TestSimpleWithPassword(t *testing.T) {
	st := dbtest.SQLite(t)
	seedAccounts(t, st)
	tp := newTestPage(t, st, nil, func(o *Options) { o.Simple.Auth = "password" })
	p := tp.user().submit(ModeSimple, url.Values{"account": {testAccount}, "password": {testPassword}, "number": {"+420777000333"}})
	if p.code != http.StatusSeeOther {
		t.Fatalf("%d\n%s", p.code, p.body)
	}
}

func TestSameMessageForUnknownAccountAndWrongPassword(t *testing.T) {
	st := dbtest.SQLite(t)
	seedAccounts(t, st)
	tp := newTestPage(t, st, nil)
	wrong := tp.user().submit(ModeExtended, url.Values{"account": {testAccount}, "password": {"nope"}, "number": {"+420777000111"}, "destination": {"+4420"}})
	unknown := tp.user().submit(ModeExtended, url.Values{"account": {"nobody"}, "password": {"nope"}, "number": {"+420777000111"}, "destination": {"+4420"}})
	clean := func(s string) string {
		return tokenRE.ReplaceAllString(strings.ReplaceAll(s, "nobody", testAccount), "")
	}
	if wrong.code != unknown.code || clean(wrong.body) != clean(unknown.body) {
		t.Fatalf("pages differ:\n%s\n---\n%s", wrong.body, unknown.body)
	}
}

func TestCSRF(t *testing.T) {
	st := dbtest.SQLite(t)
	seedAccounts(t, st)
	tp := newTestPage(t, st, nil)
	u := tp.user()
	form := u.get("/callback/hosted")
	tok := formToken(t, form.body)
	v := url.Values{"number": {"+420777000444"}, "csrf_token": {tok}}

	other := tp.user() // another browser: has no cookie, or its own
	other.get("/callback/hosted")
	tests := []struct {
		name string
		u    *user
		v    url.Values
		path string
	}{
		{"missing token", u, url.Values{"number": {"+420777000444"}}, "/callback/hosted"},
		{"token of another browser", other, v, "/callback/hosted"},
		{"token of another form", u, v, "/callback/extended"},
		{"forged token", u, url.Values{"number": {"+420777000444"}, "csrf_token": {tok[:len(tok)-2] + "AA"}}, "/callback/hosted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.u.post(tt.path, tt.v)
			if p.code != http.StatusForbidden || !strings.Contains(p.body, "Open the form again") {
				t.Fatalf("%d\n%s", p.code, p.body)
			}
		})
	}
	if p := u.post("/callback/hosted", v); p.code != http.StatusSeeOther {
		t.Fatalf("good token: %d\n%s", p.code, p.body)
	}
	if p := u.post("/callback/hosted", v); p.code != http.StatusForbidden {
		t.Fatalf("replayed token: %d, want 403", p.code)
	}
	stale := formToken(t, u.get("/callback/hosted").body)
	tp.clock.Add(2 * time.Hour)
	if p := u.post("/callback/hosted", url.Values{"number": {"+420777000555"}, "csrf_token": {stale}}); p.code != http.StatusForbidden {
		t.Fatalf("expired token: %d, want 403", p.code)
	}
	if n := len(tp.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestHostedAbuseLimits(t *testing.T) {
	st := dbtest.SQLite(t)
	seedAccounts(t, st)
	tp := newTestPage(t, st, nil, func(o *Options) {
		o.Limits = Limits{
			PerSource: limiter.Limit{Every: time.Hour, Burst: 5},
			PerNumber: limiter.Limit{Every: time.Hour, Burst: 1},
		}
	})
	u := tp.user()
	hosted := func(n string) response { return u.submit(ModeHosted, url.Values{"number": {n}}) }

	// Outside the allow-list: refused next to the field.
	p := hosted("+1 900 555 0100")
	if p.code != http.StatusUnprocessableEntity || !strings.Contains(p.body, "Only numbers starting with &#43;420 or &#43;421") {
		t.Fatalf("foreign number: %d\n%s", p.code, p.body)
	}
	// The first request for a number is placed; the same number again
	// shows the pending request instead of a new one.
	first := hosted("+420 777 000 666")
	again := hosted("00420777000666")
	if first.code != http.StatusSeeOther || again.code != http.StatusSeeOther || first.header.Get("Location") != again.header.Get("Location") {
		t.Fatalf("duplicate: %d %q, %d %q", first.code, first.header.Get("Location"), again.code, again.header.Get("Location"))
	}
	r := tp.requests()[0]
	if r.Username != hostedAcct || r.OriginalCLD != "2way_"+helpdeskNorm || !r.DefaultUserUsed || r.AnonAcctEnabled {
		t.Fatalf("hosted request = %+v", r)
	}
	// Once finished, the number may not be called again at once.
	finish(t, st, r.ID)
	if p := hosted("+420777000666"); p.code != http.StatusTooManyRequests || !strings.Contains(p.body, "called this number several times") {
		t.Fatalf("per-number limit: %d\n%s", p.code, p.body)
	}
	// The client's address has used its burst by now.
	hosted("+420777000777")
	if p := hosted("+420777000888"); p.code != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Fatalf("per-source limit: %d\n%s", p.code, p.body)
	}
	if n := len(tp.requests()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// finish drives request id to Finished/Successful through the store, as
// a dispatcher would.
func finish(t testing.TB, st callback.Store, id int64) {
	t.Helper()
	ctx := t.Context()
	claimed, err := st.Claim(ctx, callback.ClaimParams{Owner: "test/1", Now: time.Now().Add(time.Hour), Limit: 10, LeaseFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range claimed {
		if r.ID != id {
			continue
		}
		l := callback.Lease{RequestID: r.ID, Attempt: r.Attempt, Owner: "test/1"}
		c := callback.NewAttempt(st, l, *r, time.Minute, nil)
		for _, step := range []func() error{
			func() error { return c.FirstLegInitiated(ctx, "a") },
			func() error { return c.FirstLegConnected(ctx) },
			func() error { return c.SecondLegInitiated(ctx, "b") },
			func() error { return c.SecondLegConnected(ctx) },
		} {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Update(ctx, l, callback.Change{From: callback.StatusSecondLegConnected, To: callback.StatusFinished, Result: callback.ResultSuccessful}); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("request %d was not claimed", id)
}

func TestFieldValidation(t *testing.T) {
	st := dbtest.SQLite(t)
	seedAccounts(t, st)
	tp := newTestPage(t, st, nil)
	tests := []struct {
		name  string
		v     url.Values
		field string
		msg   string
	}{
		{"empty account", url.Values{"account": {""}, "password": {"x"}, "number": {"+420777"}, "destination": {"+420212"}}, "account", "Enter an account number."},
		{"long account", url.Values{"account": {strings.Repeat("9", 65)}, "password": {"x"}, "number": {"+420777000111"}, "destination": {"+420212"}}, "account", "too long"},
		{"letters in number", url.Values{"account": {testAccount}, "password": {"x"}, "number": {"call me"}, "destination": {"+420212"}}, "number", "not a phone number"},
		{"long destination", url.Values{"account": {testAccount}, "password": {"x"}, "number": {"+420777000111"}, "destination": {strings.Repeat("1", 41)}}, "destination", "too long"},
		{"control character", url.Values{"account": {"a\x00b"}, "password": {"x"}, "number": {"+420777000111"}, "destination": {"+420212"}}, "account", "cannot be used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tp.user().submit(ModeExtended, tt.v)
			if p.code != http.StatusUnprocessableEntity {
				t.Fatalf("%d", p.code)
			}
			i := strings.Index(p.body, `id="f-`+tt.field+`-error"`)
			if i < 0 || !strings.Contains(p.body[i:i+200], tt.msg) {
				t.Fatalf("no error %q next to %s:\n%s", tt.msg, tt.field, p.body)
			}
		})
	}
	if n := len(tp.requests()); n != 0 {
		t.Fatalf("%d requests created", n)
	}
}

func TestOutputEscaped(t *testing.T) {
	st := dbtest.SQLite(t)
	seedAccounts(t, st)
	tp := newTestPage(t, st, nil)
	evil := `"><script>alert(1)</script>`
	p := tp.user().submit(ModeExtended, url.Values{"account": {evil}, "password": {"x"}, "number": {evil}, "destination": {"1"}})
	if strings.Contains(p.body, "<script>") || !strings.Contains(p.body, html.EscapeString("<script>")) {
		t.Fatalf("input not escaped:\n%s", p.body)
	}
}

func TestNoCredit(t *testing.T) {
	st := dbtest.SQLite(t)
	seedAccounts(t, st)
	tp := newTestPage(t, st, nil)
	p := tp.user().submit(ModeExtended, url.Values{"account": {"broke"}, "password": {testPassword}, "number": {"+420777000111"}, "destination": {"+420212345678"}})
	if p.code != http.StatusPaymentRequired || !strings.Contains(p.body, "no credit") {
		t.Fatalf("%d\n%s", p.code, p.body)
	}
}

func TestStatusTokens(t *testing.T) {
	k, err := deriveKeys(testKey)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for id := int64(1); id < 200; id++ {
		tok := k.statusToken(id)
		if seen[tok] || strings.Contains(tok, strconv.FormatInt(id, 10)) && id > 9 {
			t.Fatalf("token %q for %d", tok, id)
		}
		seen[tok] = true
		got, ok := k.parseStatusToken(tok)
		if !ok || got != id {
			t.Fatalf("parse(%q) = %d %v", tok, got, ok)
		}
		// Any change of one character is refused.
		b := []byte(tok)
		b[id%22] ^= 1
		if _, ok := k.parseStatusToken(string(b)); ok && string(b) != tok {
			t.Fatalf("altered token %q accepted", b)
		}
	}
	other, _ := deriveKeys([]byte("another key of at least thirty-two bytes"))
	if _, ok := other.parseStatusToken(k.statusToken(7)); ok {
		t.Fatal("token accepted under another key")
	}
	if StatusPath([]byte("short"), 1) != "" {
		t.Fatal("StatusPath with a short key")
	}

	tp := newTestPage(t, dbtest.SQLite(t), nil)
	if p := tp.user().get("/callback/status/" + k.statusToken(999)); p.code != http.StatusNotFound {
		t.Fatalf("unknown request: %d", p.code)
	}
	if p := tp.user().get("/callback/status/AAAAAAAAAAAAAAAAAAAAAA"); p.code != http.StatusNotFound || !strings.Contains(p.body, "not valid") {
		t.Fatalf("forged token: %d", p.code)
	}
}

func TestStatusWords(t *testing.T) {
	tests := []struct {
		r        callback.Request
		headline string
		states   string
	}{
		{callback.Request{Status: callback.StatusRequestReceived}, "Request received", "current todo todo todo todo todo"},
		{callback.Request{Status: callback.StatusFirstLegInitiated, CallCount: 1}, "Calling you", "done current todo todo todo todo"},
		{callback.Request{Status: callback.StatusWaitingForRetry, CallCount: 1}, "Calling you", "done current todo todo todo todo"},
		{callback.Request{Status: callback.StatusFirstLegConnected}, "Connected", "done done current todo todo todo"},
		{callback.Request{Status: callback.StatusSecondLegInitiated}, "Calling the other party", "done done done current todo todo"},
		{callback.Request{Status: callback.StatusSecondLegConnected}, "Connected", "done done done done current todo"},
		{callback.Request{Status: callback.StatusFinished, Result: callback.ResultSuccessful}, "Finished: successful", "done done done done done done"},
		{callback.Request{Status: callback.StatusFinished, Result: callback.ResultOutOfRetries, CallCount: 3}, "Finished: could not reach you", "done done skipped skipped skipped failed"},
		{callback.Request{Status: callback.StatusFinished, Result: callback.ResultSecondLegFailed}, "Finished: could not reach the other party", "done done done done skipped failed"},
		{callback.Request{Status: callback.StatusFinished, Result: callback.ResultExpired}, "Finished: too late to call you", "done skipped skipped skipped skipped failed"},
	}
	for _, tt := range tests {
		t.Run(tt.headline, func(t *testing.T) {
			st := &oneRequest{r: tt.r}
			tp := newTestPage(t, st, nil)
			p := tp.user().get(StatusPath(testKey, 1))
			if !strings.Contains(p.body, ">"+tt.headline+"</h1>") {
				t.Fatalf("no headline %q:\n%s", tt.headline, p.body)
			}
			var states []string
			for _, part := range strings.Split(p.body, `<li class="`)[1:] {
				states = append(states, part[:strings.IndexByte(part, '"')])
			}
			if got := strings.Join(states, " "); got != tt.states {
				t.Fatalf("steps %q, want %q", got, tt.states)
			}
			refresh := strings.Contains(p.body, `http-equiv="refresh"`)
			if refresh == (tt.r.Status == callback.StatusFinished) {
				t.Fatalf("meta refresh %v for %s", refresh, tt.r.Status)
			}
		})
	}
}

// oneRequest is a store holding request 1 only; the rest fails.
type oneRequest struct {
	callback.Store
	r callback.Request
}

func (s *oneRequest) GetRequest(_ context.Context, id int64) (*callback.Request, error) {
	if id != 1 {
		return nil, callback.ErrNotFound
	}
	r := s.r
	r.ID = 1
	return &r, nil
}

func TestStoreDown(t *testing.T) {
	st := dbtest.SQLite(t)
	seedAccounts(t, st)
	tp := newTestPage(t, &downStore{st}, nil)
	p := tp.user().submit(ModeHosted, url.Values{"number": {"+420777000111"}})
	if p.code != http.StatusServiceUnavailable || !strings.Contains(p.body, "Nothing was requested") {
		t.Fatalf("%d\n%s", p.code, p.body)
	}
	if p := tp.user().get(StatusPath(testKey, 1)); p.code != http.StatusServiceUnavailable {
		t.Fatalf("status: %d", p.code)
	}
	if strings.Contains(p.body, "3306") {
		t.Fatal("page shows the store's error")
	}
}

type downStore struct{ callback.Store }

var errDown = errors.New("dial tcp 127.0.0.1:3306: connection refused")

func (downStore) GetAccount(context.Context, string) (*callback.Account, error) { return nil, errDown }
func (downStore) GetRequest(context.Context, int64) (*callback.Request, error)  { return nil, errDown }

func TestValidate(t *testing.T) {
	st := dbtest.SQLite(t)
	svc := &callback.Service{Store: st}
	good := Options{Service: svc, Key: testKey}
	allModes(&good)
	good.Auth = nil
	if err := good.Validate(); err == nil || !strings.Contains(err.Error(), "authenticator") {
		t.Fatalf("no authenticator: %v", err)
	}
	bad := Options{Service: svc, Key: []byte("short"), Hosted: Hosted{Enabled: true, Destination: "abc", AllowedPrefixes: []string{"+420"}}}
	err := bad.Validate()
	for _, want := range []string{"web key", "hosted account", "hosted destination", "allowed prefix"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want %q", err, want)
		}
	}
}

func TestMethodsAndBodyLimit(t *testing.T) {
	st := dbtest.SQLite(t)
	seedAccounts(t, st)
	tp := newTestPage(t, st, nil)
	u := tp.user()
	req, _ := http.NewRequest("DELETE", tp.srv.URL+"/callback/extended", nil)
	if p := u.do(req); p.code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d", p.code)
	}
	v := extended("+420777000111", "+420212345678")
	v.Set("padding", strings.Repeat("x", maxFormBytes))
	if p := u.submit(ModeExtended, v); p.code != http.StatusBadRequest {
		t.Fatalf("oversized form: %d", p.code)
	}
}

func TestRegionNumbers(t *testing.T) {
	st := dbtest.SQLite(t)
	seedAccounts(t, st)
	tp := newTestPage(t, st, nil, func(o *Options) { o.Region = "CZ" })
	u := tp.user()
	for _, n := range []string{"777 123 456", "+420 777-123-457", "00420 (777) 123 458"} {
		if p := u.submit(ModeHosted, url.Values{"number": {n}}); p.code != http.StatusSeeOther {
			t.Fatalf("%q: %d\n%s", n, p.code, p.body)
		}
	}
	var got []string
	for _, r := range tp.requests() {
		got = append(got, r.OriginalCLI)
	}
	if strings.Join(got, " ") != "420777123456 420777123457 420777123458" {
		t.Fatalf("numbers %v", got)
	}
}

func TestClientAddr(t *testing.T) {
	p := &page{o: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	tests := []struct {
		remote, xff, want string
	}{
		{"192.0.2.7:5000", "", "192.0.2.7"},
		{"192.0.2.7:5000", "203.0.113.9", "192.0.2.7"}, // not a trusted proxy: header ignored
		{"10.1.2.3:5000", "203.0.113.9", "203.0.113.9"},
		{"10.1.2.3:5000", "198.51.100.1, 203.0.113.9, 10.9.9.9", "203.0.113.9"}, // spoofed first hop ignored
		{"10.1.2.3:5000", "garbage", "10.1.2.3"},
		{"[2001:db8:1:2:3:4:5:6]:5000", "", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.8]:5000", "", "192.0.2.8"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := p.clientAddr(r); got != tt.want {
			t.Errorf("clientAddr(%s, %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}
