package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t, stores[0].open(t))
	t.Run("no credentials", func(t *testing.T) {
		for _, path := range []string{"/api/v1/requests", "/api/v1/requests/1"} {
			r := e.get(path, anonymous)
			if r.status != http.StatusUnauthorized || r.apiErr(t).Code != CodeUnauthenticated {
				t.Errorf("%s: %d %s", path, r.status, r.body)
			}
			if ch := r.header.Values("WWW-Authenticate"); len(ch) != 2 || !strings.HasPrefix(ch[0], "Basic ") || !strings.HasPrefix(ch[1], "Bearer ") {
				t.Errorf("challenges %q", ch)
			}
		}
	})
	t.Run("unknown scheme", func(t *testing.T) {
		r := e.get("/api/v1/requests", header("Authorization", "Digest username=alice"))
		if r.status != http.StatusUnauthorized {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("wrong password and unknown account read the same", func(t *testing.T) {
		wrong := e.get("/api/v1/requests", basic("alice", "not-the-password"))
		unknown := e.get("/api/v1/requests", basic("mallory", "whatever"))
		if wrong.status != http.StatusUnauthorized || unknown.status != wrong.status || !bytes.Equal(wrong.body, unknown.body) {
			t.Errorf("wrong password: %d %s; unknown account: %d %s", wrong.status, wrong.body, unknown.status, unknown.body)
		}
		badToken := e.get("/api/v1/requests", bearer("not-a-token"))
		if badToken.status != http.StatusUnauthorized || badToken.apiErr(t) != wrong.apiErr(t) {
			t.Errorf("wrong token: %d %s", badToken.status, badToken.body)
		}
	})
	t.Run("failed logins are limited", func(t *testing.T) {
		// The Authenticator allows 5 failures per account and per source;
		// 2 were used above.
		var last response
		for range 6 {
			last = e.get("/api/v1/requests", basic("alice", "guess"))
			if last.status == http.StatusTooManyRequests {
				break
			}
		}
		if last.status != http.StatusTooManyRequests || last.apiErr(t).Code != CodeRateLimited || last.header.Get("Retry-After") == "" {
			t.Fatalf("after repeated failures: %d %s %v", last.status, last.body, last.header)
		}
		// The right password is refused too while the source is limited:
		// otherwise the limit would tell a guesser when it guessed right.
		if r := e.get("/api/v1/requests", asAlice); r.status != http.StatusTooManyRequests {
			t.Errorf("right password while limited: %d", r.status)
		}
	})
	t.Run("wrong tokens are limited", func(t *testing.T) {
		var last response
		for range 12 {
			last = e.get("/api/v1/requests", bearer("guess"))
			if last.status == http.StatusTooManyRequests {
				break
			}
		}
		if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
			t.Fatalf("after repeated wrong tokens: %d %s", last.status, last.body)
		}
	})
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, stores[0].open(t), func(o *Options) { o.Limits = &Limits{} })
	big := `{"username":"alice","original_cli":"4930111222","original_set_cli":"` + strings.Repeat("1", 70<<10) + `"}`
	soon := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
		field       string
	}{
		{"garbage", "application/json", `{"username":`, 400, CodeMalformedRequest, ""},
		{"not JSON", "application/json", `username=alice`, 400, CodeMalformedRequest, ""},
		{"empty", "application/json", ``, 400, CodeMalformedRequest, ""},
		{"array", "application/json", `[1,2]`, 400, CodeMalformedRequest, ""},
		{"two values", "application/json", `{"username":"alice","original_cli":"1234"} {}`, 400, CodeMalformedRequest, ""},
		{"trailing garbage", "application/json", `{"username":"alice","original_cli":"1234"}]`, 400, CodeMalformedRequest, ""},
		{"unknown field", "application/json", `{"username":"alice","original_cli":"1234","md5secret":"x"}`, 400, CodeInvalidRequest, "md5secret"},
		{"wrong type", "application/json", `{"username":"alice","original_cli":1234}`, 400, CodeInvalidRequest, "original_cli"},
		{"credit_time float", "application/json", `{"username":"alice","original_cli":"1234","credit_time":1.5}`, 400, CodeInvalidRequest, "credit_time"},
		{"too large", "application/json", big, 413, CodeRequestTooLarge, ""},
		{"text/plain", "text/plain", `{"username":"alice","original_cli":"1234"}`, 415, CodeUnsupportedMediaType, ""},
		{"form", "application/x-www-form-urlencoded", `username=alice`, 415, CodeUnsupportedMediaType, ""},
		{"no content type", "", `{"username":"alice","original_cli":"1234"}`, 415, CodeUnsupportedMediaType, ""},
		{"empty original_cli", "application/json", `{"username":"alice"}`, 400, CodeInvalidRequest, "original_cli"},
		{"letters in original_cli", "application/json", `{"username":"alice","original_cli":"call me"}`, 400, CodeInvalidRequest, "original_cli"},
		{"bad destination", "application/json", `{"username":"alice","original_cli":"1234","destination":"abc"}`, 400, CodeInvalidRequest, "destination"},
		{"destination and other cld", "application/json", `{"username":"alice","original_cli":"1234","destination":"555","original_cld":"2way_666"}`, 400, CodeInvalidRequest, "original_cld"},
		{"bad cld", "application/json", `{"username":"alice","original_cli":"1234","original_cld":"3way_1"}`, 400, CodeInvalidRequest, "original_cld"},
		{"negative credit_time", "application/json", `{"username":"alice","original_cli":"1234","credit_time":-5}`, 400, CodeInvalidRequest, "credit_time"},
		{"bad next_call", "application/json", `{"username":"alice","original_cli":"1234","next_call":"tomorrow"}`, 400, CodeInvalidRequest, "next_call"},
		{"next_call beyond max_age", "application/json", `{"username":"alice","original_cli":"1234","next_call":"` + soon + `"}`, 400, CodeInvalidRequest, "next_call"},
		{"bad original_set_cli", "application/json", `{"username":"alice","original_cli":"1234","original_set_cli":"Bob <1>"}`, 400, CodeInvalidRequest, "original_set_cli"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/api/v1/requests", tt.contentType, tt.body, asOperator)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ae := r.apiErr(t); ae.Code != tt.code || ae.Field != tt.field {
				t.Errorf("error %+v, want code %s field %q", ae, tt.code, tt.field)
			}
		})
	}
	if n := e.count(); n != 0 {
		t.Errorf("%d requests stored from bad input", n)
	}
}

func TestMethodsAndUnknownPaths(t *testing.T) {
	e := newEnv(t, stores[0].open(t))
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodDelete, "/api/v1/requests", 405, "POST, GET, HEAD"},
		{http.MethodPut, "/api/v1/requests/1", 405, "GET, HEAD"},
		{http.MethodGet, "/api/v1/requests/1/cancel", 405, "POST"},
		{http.MethodGet, "/RPC2", 405, "POST"},
		{http.MethodGet, "/api/v1/nothing", 404, ""},
		{http.MethodGet, "/<script>alert(1)</script>", 404, ""},
	}
	for _, tt := range tests {
		r := e.do(tt.method, tt.path, "", "", asOperator)
		if r.status != tt.status || r.header.Get("Allow") != tt.allow || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d allow %q %s", tt.method, tt.path, r.status, r.header.Get("Allow"), r.body)
		}
		if bytes.Contains(r.body, []byte("<script")) {
			t.Errorf("%s %s reflects markup: %s", tt.method, tt.path, r.body)
		}
	}
}

func TestRateLimitPerSource(t *testing.T) {
	e := newEnv(t, stores[0].open(t), func(o *Options) {
		o.Limits = &Limits{PerSource: limiter.Limit{Every: time.Hour, Burst: 2}}
	})
	body := `{"username":"alice","original_cli":"4930111222"}`
	for i := range 2 {
		if r := e.postJSON("/api/v1/requests", body, asOperator); r.status != http.StatusCreated {
			t.Fatalf("write %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.postJSON("/api/v1/requests", body, asOperator)
	if r.status != http.StatusTooManyRequests || r.apiErr(t).Code != CodeRateLimited || r.header.Get("Retry-After") == "" {
		t.Fatalf("third write: %d %s %v", r.status, r.body, r.header)
	}
	// Reads are not limited per source.
	if g := e.get("/api/v1/requests", asOperator); g.status != http.StatusOK {
		t.Errorf("read while limited: %d", g.status)
	}
}

func TestRateLimitPerAccount(t *testing.T) {
	e := newEnv(t, stores[0].open(t), func(o *Options) {
		o.Limits = &Limits{PerAccount: limiter.Limit{Every: time.Hour, Burst: 1}}
	})
	e.create(`{"original_cli":"4930111222"}`, asAlice)
	if r := e.postJSON("/api/v1/requests", `{"original_cli":"4930111222"}`, asAlice); r.status != http.StatusTooManyRequests {
		t.Errorf("second create by the account: %d %s", r.status, r.body)
	}
	// The operator is not held to the account's limit.
	e.create(`{"username":"alice","original_cli":"4930111222"}`, asOperator)
}

// injections are stored verbatim where a field takes free text, refused
// where it takes a number, and never executed; no answer carries them as
// markup.
var injections = []string{
	`'; DROP TABLE callback_requests; --`,
	`1' OR '1'='1`,
	`" OR ""="`,
	`<script>alert("x")</script>`,
	`<img src=x onerror=alert(1)>`,
	`]]></string><int>1</int>`,
	"\x00\x01",
	`%27%3B--`,
}

func TestInjection(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newEnv(t, open(t), func(o *Options) { o.Limits = &Limits{} })
		fields := []string{"username", "original_cli", "original_cld", "destination", "original_set_cli", "next_call",
			"twoway_cli", "authname", "twoway_authname", "md5secret", "twoway_md5secret"}
		for _, inj := range injections {
			for _, f := range fields {
				in := map[string]any{"username": "alice", "original_cli": "4930111222"}
				in[f] = inj
				body, _ := json.Marshal(in)
				r := e.postJSON("/api/v1/requests", string(body), asOperator)
				if r.status != http.StatusBadRequest {
					t.Errorf("%s=%q: %d %s", f, inj, r.status, r.body)
				}
				assertNoMarkup(t, r.body)
			}
			// The idempotency key is free text: stored and returned verbatim.
			if !validKey(inj) {
				continue
			}
			body, _ := json.Marshal(map[string]any{"username": "alice", "original_cli": "4930111222", "request_key": inj})
			r := e.postJSON("/api/v1/requests", string(body), asOperator)
			if r.status != http.StatusCreated {
				t.Fatalf("request_key %q: %d %s", inj, r.status, r.body)
			}
			assertNoMarkup(t, r.body)
			v := r.view(t)
			if v.RequestKey != inj {
				t.Errorf("request_key stored as %q, want %q", v.RequestKey, inj)
			}
			// XML-RPC returns it as text, whatever markup it holds.
			get := fmt.Sprintf(`<methodCall><methodName>callback.get</methodName><params><param><value><struct><member><name>id</name><value><int>%d</int></value></member></struct></value></param></params></methodCall>`, v.ID)
			x, fault, msg := decodeResponse(t, e.rpc(get, asOperator).body)
			if fault != 0 || member(t, x, "request_key") != inj {
				t.Errorf("XML-RPC get: fault %d %s, request_key %#v", fault, msg, member(t, x, "request_key"))
			}
			// Query parameters reach SQL as parameters.
			for _, q := range []string{"cli", "username"} {
				g := e.get("/api/v1/requests?"+q+"="+url.QueryEscape(inj), asOperator)
				if g.status != http.StatusOK {
					t.Errorf("?%s=%q: %d %s", q, inj, g.status, g.body)
				}
				var page ListView
				g.json(t, &page)
				if len(page.Requests) != 0 {
					t.Errorf("?%s=%q matched %d requests", q, inj, len(page.Requests))
				}
			}
		}
		// The table is still there and holds what was created.
		if n := e.count(); n == 0 {
			t.Error("no request stored")
		}
	})
}

func assertNoMarkup(t *testing.T, body []byte) {
	t.Helper()
	for _, s := range []string{"<script", "<img", "</string>"} {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("answer reflects %q unescaped: %s", s, body)
		}
	}
}

// TestLogs checks the request log line and that no secret reaches the log.
func TestLogs(t *testing.T) {
	e := newEnv(t, stores[0].open(t))
	e.create(`{"username":"alice","original_cli":"4930111222"}`, asOperator)
	e.get("/api/v1/requests", asAlice)
	e.get("/api/v1/requests", basic("alice", "wrong-"+alicePassword))
	e.get("/api/v1/requests", bearer("wrong-"+testToken))
	e.do(http.MethodPost, "/sms/inbound?secret="+smsSecret, "application/x-www-form-urlencoded", "From=%2B4930111222&Body=call+12345", anonymous)
	e.do(http.MethodPost, "/sms/inbound", "application/x-www-form-urlencoded", "From=%2B4930111222&Body=hi", header("X-Callbackd-Secret", "wrong-"+smsSecret))
	logs := e.logs.String()
	for _, secret := range []string{alicePassword, testToken, smsSecret, twilioToken, "4930111222"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{
		`route="POST /api/v1/requests" status=201`, `account=operator`,
		`route="GET /api/v1/requests" status=200`, `account=alice`,
		`status=401`, `http_request_id=`, `route="POST /sms/inbound"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, `msg="http request"`); n != 6 {
		t.Errorf("%d request lines for 6 requests:\n%s", n, logs)
	}
}

func TestPanicRecovered(t *testing.T) {
	e := newEnv(t, stores[0].open(t), func(o *Options) {
		o.Ready = []ReadyCheck{{Name: "boom", Check: func(context.Context) error { panic("check exploded") }}}
	})
	r := e.get("/readyz")
	if r.status != http.StatusInternalServerError || r.apiErr(t).Code != CodeInternal || strings.Contains(string(r.body), "exploded") {
		t.Errorf("%d %s", r.status, r.body)
	}
	if !strings.Contains(e.logs.String(), "handler panic") {
		t.Error("the panic was not logged")
	}
}
