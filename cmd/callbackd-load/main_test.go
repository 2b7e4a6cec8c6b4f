package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/httpapi"
	"github.com/callbackd/callbackd/httpapi/apiload"
	"github.com/callbackd/callbackd/store/sqlite"
)

// TestRunAgainstServer runs the command against a callbackd HTTP front end
// started in the test, over the embedded store.
func TestRunAgainstServer(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "load.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateAccount(t.Context(), &callback.Account{Username: "loadtest", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(httpapi.Options{
		Store:         st,
		Service:       &callback.Service{Store: st, Policy: callback.DefaultPolicy()},
		Authenticator: auth.New(st, []string{"load-token"}, 0, 1),
		Logger:        slog.New(slog.DiscardHandler),
		Limits:        &httpapi.Limits{},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == "CALLBACKD_LOAD_TOKEN" {
			return "load-token"
		}
		return ""
	}
	err = run(t.Context(), []string{"api", "-url", srv.URL, "-n", "200", "-c", "4"}, env, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "requests 200  ok 200  failed 0") || !strings.Contains(out.String(), "requests/s") ||
		!strings.Contains(out.String(), "p99") {
		t.Errorf("output %q", out.String())
	}
	rows, err := st.ListRequests(t.Context(), callback.RequestFilter{Username: "loadtest", Limit: 500})
	if err != nil || len(rows) != 200 {
		t.Errorf("%d requests stored, %v", len(rows), err)
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		args  []string
		usage bool
		want  error
	}{
		{[]string{"api", "-url", "http://192.0.2.1:8080", "-token", "t"}, false, apiload.ErrNotLoopback},
		{[]string{"api", "-url", "http://example.com", "-token", "t"}, false, apiload.ErrNotLoopback},
		{[]string{"api", "-url", "http://[::1]:1", "-token", "t", "-n", "0"}, false, nil},
		{[]string{"api", "-url", "http://127.0.0.1:1", "-token", "t", "-c", "5000"}, false, nil},
		{[]string{"api", "-url", "http://127.0.0.1:1", "-token", "t", "-duration", "1h"}, false, nil},
		{[]string{"api", "-url", "http://127.0.0.1:1"}, false, nil},
		{[]string{"flood"}, true, nil},
		{nil, true, nil},
		{[]string{"api", "-bogus"}, true, nil},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := run(t.Context(), tt.args, func(string) string { return "" }, &out, &errOut)
		if err == nil {
			t.Errorf("%q: accepted", tt.args)
			continue
		}
		var ue usageError
		if errors.As(err, &ue) != tt.usage {
			t.Errorf("%q: %v, usage error %v", tt.args, err, tt.usage)
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%q: %v, want %v", tt.args, err, tt.want)
		}
	}
}
