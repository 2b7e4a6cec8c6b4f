package httpapi

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/callback"
)

// With the store down (closed here: its calls fail as they do when the
// database is stopped or frozen, with callback.ErrUnavailable), every
// surface that needs it answers 503 with Retry-After, never 500, so clients
// and gateways retry.
func TestStoreDownIs503(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		st := open(t)
		e := newEnv(t, st)
		if err := st.(io.Closer).Close(); err != nil {
			t.Fatal(err)
		}
		const create = `{"username":"alice","original_cli":"4930111222","destination":"12345"}`
		rpc := `<?xml version="1.0"?><methodCall><methodName>callback.create</methodName><params><param><value><struct>
<member><name>original_cli</name><value><string>4930111222</string></value></member></struct></value></param></params></methodCall>`
		sms := url.Values{"From": {"4930111222"}, "To": {"18005550100"}, "Body": {"12345"}}.Encode()
		for _, tt := range []struct {
			name string
			do   func() response
		}{
			{"API create, operator token", func() response { return e.postJSON("/api/v1/requests", create, asOperator) }},
			{"API create, account password", func() response { return e.postJSON("/api/v1/requests", `{"original_cli":"4930111222"}`, asAlice) }},
			{"API get", func() response { return e.get("/api/v1/requests/1", asOperator) }},
			{"API list", func() response { return e.get("/api/v1/requests", asOperator) }},
			{"XML-RPC create", func() response { return e.rpc(rpc, asAlice) }},
			{"SMS", func() response {
				return e.do(http.MethodPost, "/sms/inbound", formType, sms, header("X-Callbackd-Secret", smsSecret))
			}},
		} {
			r := tt.do()
			if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
				t.Errorf("%s: %d Retry-After %q, want 503 with Retry-After\n%s", tt.name, r.status, r.header.Get("Retry-After"), r.body)
				continue
			}
			if strings.Contains(tt.name, "XML-RPC") {
				if _, code, msg := decodeResponse(t, r.body); code != http.StatusServiceUnavailable || !strings.HasPrefix(msg, CodeUnavailable) {
					t.Errorf("%s: fault %d %q", tt.name, code, msg)
				}
			} else if strings.HasPrefix(tt.name, "API") {
				if got := r.apiErr(t).Code; got != CodeUnavailable {
					t.Errorf("%s: code %s, want %s", tt.name, got, CodeUnavailable)
				}
			}
		}
	})
}
