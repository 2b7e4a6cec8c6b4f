package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPINKey is auth.pin_key of the commands run.
const testPINKey = "admin test PIN key, 32 bytes or more"

// run runs a callbackd command in-process against the embedded store at db.
func run(t *testing.T, db string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	env := []string{"CALLBACKD_DATABASE_SQLITE_PATH=" + db, "CALLBACKD_AUTH_PIN_KEY=" + testPINKey}
	err := Run(t.Context(), args, env, strings.NewReader(stdin), &out, &errb)
	return out.String() + errb.String(), err
}

func mustRun(t *testing.T, db string, args ...string) string {
	t.Helper()
	out, err := run(t, db, "", args...)
	if err != nil {
		t.Fatalf("callbackd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestAdminCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "migrate")
	mustRun(t, db, "account", "add", "-username", "801", "-password", "secret", "-balance", "10.50", "-pin", "1234")
	mustRun(t, db, "account", "cli", "-username", "801", "-add", "+4930111111")
	if out := mustRun(t, db, "account", "list"); !strings.Contains(out, "801") || !strings.Contains(out, "10.50") {
		t.Fatalf("account list:\n%s", out)
	}
	mustRun(t, db, "account", "balance", "-username", "801", "-set", "12")
	if out := mustRun(t, db, "account", "show", "-username", "801"); !strings.Contains(out, "12.00 USD") || !strings.Contains(out, "4930111111") {
		t.Fatalf("account show:\n%s", out)
	}
	mustRun(t, db, "access", "add", "-number", "18005550100", "-trigger", "ani", "-default-account", "801", "-ringback-time", "3", "-minimum-balance", "2 USD")
	if out := mustRun(t, db, "access", "list"); !strings.Contains(out, "18005550100") || !strings.Contains(out, "2 USD") {
		t.Fatalf("access list:\n%s", out)
	}
	// Both numbers need a rate in the account's tariff.
	rates := filepath.Join(t.TempDir(), "default.csv")
	os.WriteFile(rates, []byte("prefix,price_per_minute,connection_fee,first_increment,next_increment,description,blocked\n8,0.01,0,60,60,test,false\n1,0.01,0,60,60,test,false\n"), 0o600)
	mustRun(t, db, "tariff", "import", "-tariff", "default", "-file", rates)
	out := mustRun(t, db, "request", "add", "-username", "801", "-cli", "87654321", "-cld", "2way_12345")
	if !strings.Contains(out, "request 1 queued") {
		t.Fatalf("request add: %s", out)
	}
	if out := mustRun(t, db, "request", "show", "1"); !strings.Contains(out, "Request received") || !strings.Contains(out, "2way_12345") {
		t.Fatalf("request show:\n%s", out)
	}
	if out := mustRun(t, db, "request", "cancel", "1"); !strings.Contains(out, "Finished/Canceled") {
		t.Fatalf("request cancel: %s", out)
	}
	if out := mustRun(t, db, "request", "list", "-result", "Canceled"); !strings.Contains(out, "87654321") {
		t.Fatalf("request list:\n%s", out)
	}
	csv := filepath.Join(t.TempDir(), "rates.csv")
	os.WriteFile(csv, []byte("prefix,price_per_minute,connection_fee,first_increment,next_increment,description,blocked\n49,0.02,0,60,60,Germany,false\n4990,1.99,0,60,60,premium,true\n"), 0o600)
	if out := mustRun(t, db, "tariff", "import", "-tariff", "retail", "-file", csv); !strings.Contains(out, "2 rates") {
		t.Fatalf("tariff import: %s", out)
	}
	mustRun(t, db, "currency", "set", "-code", "eur", "-rate", "0.92")
	if out := mustRun(t, db, "currency", "list"); !strings.Contains(out, "EUR 0.92") {
		t.Fatalf("currency list: %s", out)
	}
}

func TestHelpRunsNothing(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	out, err := run(t, db, "", "serve", "-h")
	if err != nil || !strings.Contains(out, "-sqlite") {
		t.Fatalf("serve -h: %v\n%s", err, out)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("serve -h opened the store: %v", err)
	}
}

func TestAdminRefusesBadInput(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "account", "add", "-username", "801")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"request", "add", "-username", "nobody", "-cli", "1234"}, "no account"},
		{[]string{"request", "add", "-username", "801", "-cli", ""}, "-cli is required"},
		{[]string{"request", "add", "-username", "801", "-cli", "12ab"}, "original_cli"},
		{[]string{"request", "add", "-username", "801", "-cli", "1234", "-cld", "2way_"}, "original_cld"},
		{[]string{"request", "add", "-username", "801", "-cli", "1234", "-credit-time", "-5"}, "credit_time"},
		{[]string{"access", "add", "-number", "100", "-hangup-code", "200"}, "Hangup SIP Response Code"},
		{[]string{"access", "add", "-number", "100", "-ringback-type", "loud"}, "Ringback Type"},
		{[]string{"access", "add", "-number", "100", "-minimum-balance", "two"}, "Minimum Balance"},
		{[]string{"request", "show", "abc"}, "not a request id"},
		{[]string{"request", "show", "99"}, "request 99 not found"},
		{[]string{"account", "add", "-username", "801"}, "account 801 already exists"},
		{[]string{"frobnicate"}, "unknown command"},
	} {
		out, err := run(t, db, "", tc.args...)
		if err == nil || !strings.Contains(err.Error()+out, tc.want) {
			t.Errorf("callbackd %s: err %v, output %q; want %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}
	rates := "prefix,price\n49,x\n"
	if _, err := run(t, db, rates, "tariff", "import", "-file", "-"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad rates CSV: %v", err)
	}
}

func TestServeWaitsForAsteriskOnTheEmbeddedStore(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	w := &syncWriter{buf: &out, seen: make(chan struct{}), want: "wait for it"}
	go func() {
		done <- Run(ctx, []string{"serve", "-sqlite", filepath.Join(dir, "cb.db")}, []string{"CALLBACKD_AGI_LISTEN=127.0.0.1:0", "CALLBACKD_HTTP_LISTEN=127.0.0.1:0"}, strings.NewReader(""), w, w)
	}()
	<-w.seen // the dispatcher said what it waits for
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, w.String())
	}
	log := w.String()
	for _, want := range []string{"store: embedded", "ari.url", "FastAGI server listening", "HTTP server listening"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestMailPipe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "account", "add", "-username", "6192345678", "-password", "1ak45", "-balance", "5")
	// Both numbers need a rate in the account's tariff.
	rates := filepath.Join(t.TempDir(), "default.csv")
	os.WriteFile(rates, []byte("prefix,price_per_minute,connection_fee,first_increment,next_increment,description,blocked\n6,0.01,0,60,60,test,false\n42,0.05,0,60,60,test,false\n"), 0o600)
	mustRun(t, db, "tariff", "import", "-tariff", "default", "-file", rates)
	msg := "From: user@example.com\r\nTo: callback@example.com\r\nSubject: callback\r\nMessage-ID: <1@example.com>\r\n\r\nP 6192345678 1ak45 SN 6581433653 DN 420212345678\r\n"
	if out, err := run(t, db, msg, "mail"); err != nil {
		t.Fatalf("seed example: %v\n%s", err, out)
	}
	if out := mustRun(t, db, "request", "list"); !strings.Contains(out, "6581433653") || !strings.Contains(out, "2way_420212345678") || !strings.Contains(out, "email") {
		t.Fatalf("request list:\n%s", out)
	}
	for _, tc := range []struct {
		body string
		code int
	}{
		{"Hello, please call me.", 65},
		{"P 6192345678 wrong SN 6581433653 DN 420212345678", 77},
		{"P 6192345678 1ak45 SN abc DN 420212345678", 65},
	} {
		m := strings.Replace(msg, "P 6192345678 1ak45 SN 6581433653 DN 420212345678", tc.body, 1)
		m = strings.Replace(m, "<1@example.com>", "<"+tc.body[:5]+"@example.com>", 1)
		_, err := run(t, db, m, "mail")
		var xe exitError
		if !errors.As(err, &xe) || xe.code != tc.code {
			t.Errorf("%q: %v, want exit %d", tc.body, err, tc.code)
		}
	}
}

// An account whose Max Sessions is below the two a callback holds can
// never be called back: add and edit refuse it and say why.
func TestAccountMaxSessionsRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "migrate")
	out, err := run(t, db, "", "account", "add", "-username", "801", "-max-sessions", "1")
	if err == nil || !strings.Contains(out+err.Error(), "max_sessions: 1 is below the 2 sessions a callback needs") {
		t.Fatalf("account add -max-sessions 1: %v\n%s", err, out)
	}
	mustRun(t, db, "account", "add", "-username", "801")
	out, err = run(t, db, "", "account", "edit", "-username", "801", "-max-sessions", "1")
	if err == nil || !strings.Contains(out+err.Error(), "below the 2 sessions a callback needs") {
		t.Fatalf("account edit -max-sessions 1: %v\n%s", err, out)
	}
	mustRun(t, db, "account", "edit", "-username", "801", "-max-sessions", "4", "-language", "es")
	if out := mustRun(t, db, "account", "show", "-username", "801"); !strings.Contains(out, "max sessions: 4") || !strings.Contains(out, "language:     es") {
		t.Fatalf("account show after edit:\n%s", out)
	}
}

// request add refuses a credit_time above callback.max_credit_time and a
// time more than callback.max_age in the past, naming the field.
func TestRequestAddBounds(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "migrate")
	mustRun(t, db, "account", "add", "-username", "801")
	for _, c := range []struct{ flag, value, field string }{
		{"-credit-time", "10000000000", "credit_time"},
		{"-at", time.Now().UTC().Add(-3 * time.Hour).Format(time.RFC3339), "next_call"},
	} {
		out, err := run(t, db, "", "request", "add", "-username", "801", "-cli", "87654321", "-cld", "2way_12345", c.flag, c.value)
		if err == nil || !strings.Contains(out+err.Error(), c.field) {
			t.Errorf("request add %s %s: %v\n%s", c.flag, c.value, err, out)
		}
	}
}
