package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestHealth(t *testing.T) {
	ariUp := true
	e := newEnv(t, stores[0].open(t), func(o *Options) {
		o.Ready = []ReadyCheck{{Name: "ari", Check: func(context.Context) error {
			if ariUp {
				return nil
			}
			return errors.New("dial tcp 127.0.0.1:8088: connection refused (user asterisk)")
		}}}
	})
	if r := e.get("/healthz"); r.status != http.StatusOK {
		t.Errorf("healthz %d", r.status)
	}
	if r := e.get("/readyz"); r.status != http.StatusOK {
		t.Errorf("readyz %d %s", r.status, r.body)
	}
	ariUp = false
	r := e.get("/readyz")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `"check":"ari"`) || r.header.Get("Retry-After") == "" {
		t.Errorf("readyz without ARI: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "refused") {
		t.Errorf("readyz shows the error: %s", r.body)
	}
	if !strings.Contains(e.logs.String(), "connection refused") {
		t.Error("the failing check's error is not logged")
	}
	ariUp = true

	e.create(`{"username":"alice","original_cli":"4930111222"}`, asOperator)
	m := e.get("/metrics")
	for _, want := range []string{
		`callbackd_http_requests_total{code="201",route="POST /api/v1/requests"} 1`,
		`callbackd_http_requests_total{code="503",route="GET /readyz"} 1`,
		`callbackd_requests_created_total 1`,
		`callbackd_live_calls 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if o := e.get("/api/v1/openapi.yaml"); o.status != http.StatusOK || !strings.HasPrefix(string(o.body), "openapi: 3") {
		t.Errorf("openapi: %d", o.status)
	}
}

func TestMetricsOff(t *testing.T) {
	e := newEnv(t, stores[0].open(t), func(o *Options) { o.Metrics = nil })
	if r := e.get("/metrics"); r.status != http.StatusNotFound {
		t.Errorf("metrics without Metrics: %d", r.status)
	}
}

// TestOpenAPICoversRoutes keeps the document and the mux in step: every
// route is documented, and every documented operation is served.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	a := newAPI(Options{})
	served := map[string]bool{}
	for _, rt := range a.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		served[strings.ToLower(method)+" "+path] = true
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %q is not in openapi.yaml", rt.pattern)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			if !served[method+" "+path] {
				t.Errorf("openapi.yaml documents %s %s, which no route serves", method, path)
			}
		}
	}
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"192.0.2.7:5000", nil, nil, "192.0.2.7"},
		{"192.0.2.7:5000", []string{"203.0.113.9"}, nil, "192.0.2.7"},                          // untrusted peer: header ignored
		{"127.0.0.1:5000", []string{"203.0.113.9"}, proxies, "203.0.113.9"},                    // one proxy
		{"127.0.0.1:5000", []string{"6.6.6.6, 203.0.113.9, 10.1.1.1"}, proxies, "203.0.113.9"}, // spoofed left part skipped
		{"127.0.0.1:5000", []string{"6.6.6.6", "203.0.113.9"}, proxies, "203.0.113.9"},
		{"127.0.0.1:5000", []string{"garbage"}, proxies, "127.0.0.1"},
		{"127.0.0.1:5000", []string{"10.1.1.1"}, proxies, "10.1.1.1"},
		{"[::ffff:192.0.2.7]:5000", nil, nil, "192.0.2.7"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		for _, h := range tt.xff {
			r.Header.Add("X-Forwarded-For", h)
		}
		if got := clientAddr(r, tt.trusted); got != tt.want {
			t.Errorf("%s %v: %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}

func TestClassifyIsTheOneMapping(t *testing.T) {
	// Statuses of the error codes, as documented.
	want := map[string]int{
		CodeInvalidRequest: 400, CodeMalformedRequest: 400, CodeUnauthenticated: 401, CodeForbidden: 403,
		CodeNotFound: 404, CodeMethodNotAllowed: 405, CodeConflict: 409, CodeAccountHasHistory: 409, CodeRequestTooLarge: 413,
		CodeUnsupportedMediaType: 415, CodeRateLimited: 429, CodeInternal: 500, CodeUnavailable: 503,
	}
	codes := []string{}
	for c := range want {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		if !strings.Contains(string(openapiDoc), c+" ("+strconv.Itoa(want[c])) {
			t.Errorf("openapi.yaml does not list %s (%d)", c, want[c])
		}
	}
	internal := classify(errors.New("select ... password=hunter2"))
	if internal.Status != 500 || strings.Contains(internal.Message, "hunter2") {
		t.Errorf("internal error shown: %+v", internal)
	}
}

func TestFallback(t *testing.T) {
	page := http.NewServeMux()
	page.HandleFunc("GET /callback/{mode}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("page " + r.PathValue("mode")))
	})
	e := newEnv(t, stores[0].open(t), func(o *Options) { o.Fallback = page })
	if r := e.get("/callback/simple"); r.status != http.StatusOK || string(r.body) != "page simple" {
		t.Errorf("page: %d %s", r.status, r.body)
	}
	if r := e.get("/api/v1/nothing", asOperator); r.status != http.StatusNotFound || r.apiErr(t).Code != CodeNotFound {
		t.Errorf("API 404: %d %s", r.status, r.body)
	}
	if r := e.get("/healthz"); r.status != http.StatusOK {
		t.Errorf("healthz: %d", r.status)
	}
	// The page's requests are logged and counted under its own pattern.
	if !strings.Contains(e.logs.String(), `route="GET /callback/{mode}" status=200`) {
		t.Errorf("log:\n%s", e.logs.String())
	}
}
