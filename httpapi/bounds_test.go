package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// credit_time above callback.max_credit_time and a next_call more than
// callback.max_age in the past are refused with the field named, on the
// JSON API and XML-RPC alike; nothing is queued.
func TestOutOfBoundInputRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newEnv(t, open(t))
		past := time.Now().UTC().Add(-2 * time.Hour).Format(time.RFC3339)
		for _, c := range []struct{ body, field string }{
			{`{"original_cli":"4930111222","credit_time":10000000000}`, "credit_time"},
			{`{"original_cli":"4930111222","credit_time":9223372036854775807}`, "credit_time"},
			{`{"original_cli":"4930111222","credit_time":86401}`, "credit_time"},
			{`{"original_cli":"4930111222","next_call":"` + past + `"}`, "next_call"},
		} {
			r := e.postJSON("/api/v1/requests", c.body, asAlice)
			if r.status != http.StatusBadRequest {
				t.Errorf("%s: %d %s", c.body, r.status, r.body)
				continue
			}
			if got := r.apiErr(t); got.Code != CodeInvalidRequest || got.Field != c.field {
				t.Errorf("%s: %+v, want invalid_request on %s", c.body, got, c.field)
			}
		}
		rpc := fmt.Sprintf(`<?xml version="1.0"?><methodCall><methodName>callback.create</methodName><params><param><value><struct>
			<member><name>original_cli</name><value><string>4930111222</string></value></member>
			<member><name>credit_time</name><value><int>%d</int></value></member>
			</struct></value></param></params></methodCall>`, 100000)
		r := e.do(http.MethodPost, "/RPC2", "text/xml", rpc, asAlice)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), "credit_time") || !strings.Contains(string(r.body), "faultCode") {
			t.Errorf("XML-RPC credit_time 100000: %d %s", r.status, r.body)
		}
		if reqs, err := e.store.ListRequests(t.Context(), callback.RequestFilter{Username: "alice"}); err != nil || len(reqs) != 0 {
			t.Errorf("queued %d requests, %v", len(reqs), err)
		}
		// At the bound: accepted.
		e.create(`{"original_cli":"4930111222","credit_time":86400}`, asAlice)
	})
}
