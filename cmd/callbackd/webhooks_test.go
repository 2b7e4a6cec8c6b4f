package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/webhook"
)

// The webhook commands on both stores: a cancel from the command line
// writes its notification (the policy comes from the configuration), list
// and show it, resend it, and set an account's webhook.
func TestWebhookCommands(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testWebhookCommands(t, "CALLBACKD_DATABASE_SQLITE_PATH="+filepath.Join(t.TempDir(), "callbackd.db"))
	})
	t.Run("mariadb", func(t *testing.T) {
		testWebhookCommands(t, "CALLBACKD_DATABASE_MYSQL_DSN="+dbtest.MySQLDSN(t))
	})
}

func testWebhookCommands(t *testing.T, storeEnv string) {
	env := []string{storeEnv, "CALLBACKD_WEBHOOKS_ENABLED=true", "CALLBACKD_WEBHOOKS_URL=http://127.0.0.1:9/hook",
		"CALLBACKD_WEBHOOKS_SECRET=whsec_0123456789abcdef", "CALLBACKD_WEBHOOKS_EVENTS=final"}
	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := Run(t.Context(), args, env, strings.NewReader(""), &out, &errb)
		return out.String() + errb.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	seedWebhookRequest(t, must)
	if out := must("webhook", "list"); strings.Count(out, "\n") != 1 {
		t.Errorf("notifications before any status change:\n%s", out)
	}
	must("request", "cancel", "1")
	out := must("webhook", "list")
	for _, w := range []string{"REQUEST", "global", "Finished", "Canceled", "pending"} {
		if !strings.Contains(out, w) {
			t.Errorf("webhook list lacks %q:\n%s", w, out)
		}
	}
	out = must("webhook", "show", "1")
	for _, w := range []string{`"type":"request.finished"`, `"result":"Canceled"`, `"original_cli":"4930111111"`, "global (webhooks.url)",
		"attempt log: none yet"} {
		if !strings.Contains(out, w) {
			t.Errorf("webhook show lacks %q:\n%s", w, out)
		}
	}
	if out := must("webhook", "resend", "1"); !strings.Contains(out, "notification 1 (request 1, Finished) is due again now") {
		t.Errorf("resend: %s", out)
	}
	if out, err := run("webhook", "resend", "99"); err == nil || !strings.Contains(err.Error(), "notification 99 not found") {
		t.Errorf("resend of an unknown id: %v\n%s", err, out)
	}
	if out := must("webhook", "list", "-state", "failed"); strings.Count(out, "\n") != 1 {
		t.Errorf("failed notifications:\n%s", out)
	}
	if _, err := run("webhook", "list", "-state", "lost"); err == nil {
		t.Error("webhook list -state lost: no error")
	}

	if out, err := run("webhook", "account", "-username", "801", "-url", "http://127.0.0.1:9/a", "-secret", "short"); err == nil ||
		!strings.Contains(err.Error(), "secret") {
		t.Errorf("a short secret: %v\n%s", err, out)
	}
	for _, bad := range []string{"ftp://127.0.0.1/a", "http://", "https://:443/x", "127.0.0.1:9/a"} {
		if out, err := run("webhook", "account", "-username", "801", "-url", bad, "-secret", "0123456789abcdef"); err == nil ||
			!strings.Contains(err.Error(), "url") {
			t.Errorf("webhook URL %q: %v\n%s", bad, err, out)
		}
	}
	if _, err := run("webhook", "account", "-username", "802", "-url", "http://127.0.0.1:9/a", "-secret", "0123456789abcdef"); err == nil ||
		!strings.Contains(err.Error(), "account 802 not found") {
		t.Errorf("an unknown account: %v", err)
	}
	out = must("webhook", "account", "-username", "801", "-url", "http://127.0.0.1:9/a", "-secret", "0123456789abcdef", "-events", "all")
	if !strings.Contains(out, "account 801: webhook http://127.0.0.1:9/a, events all") || strings.Contains(out, "0123456789abcdef") {
		t.Errorf("account webhook set: %s", out)
	}
	must("request", "add", "-username", "801", "-cli", "4930222222", "-cld", "2way_12345", "-at", "2099-01-01T00:00:00Z")
	must("request", "cancel", "2")
	if out := must("webhook", "list", "-request", "2"); !strings.Contains(out, "account 801") || !strings.Contains(out, "global") {
		t.Errorf("notifications of request 2:\n%s", out)
	}
	if out := must("webhook", "list", "-url", "http://127.0.0.1:9/a"); !strings.Contains(out, "account 801") || strings.Contains(out, "global") {
		t.Errorf("notifications to the account's URL:\n%s", out)
	}
	if out := must("webhook", "list", "-url", "http://127.0.0.1:9/hook"); strings.Contains(out, "account 801") || strings.Count(out, "global") != 2 {
		t.Errorf("notifications to webhooks.url:\n%s", out)
	}
	// Only the events change; the URL and the secret stay.
	if out := must("webhook", "account", "-username", "801", "-events", "final"); !strings.Contains(out, "webhook http://127.0.0.1:9/a, events final") {
		t.Errorf("events changed alone: %s", out)
	}
	must("webhook", "account", "-username", "801", "-delete")
	if _, err := run("webhook", "account", "-username", "801"); err == nil || !strings.Contains(err.Error(), "account 801 has no webhook") {
		t.Errorf("after delete: %v", err)
	}
	if err := Run(t.Context(), []string{"webhook", "frob"}, env, strings.NewReader(""), io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "list, show, resend, account") {
		t.Errorf("unknown subcommand: %v", err)
	}
}

// serve refuses a global webhook it could not sign for, and a bad events
// value, naming the key.
func TestServeRefusesBadWebhookConfig(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"CALLBACKD_WEBHOOKS_ENABLED=true", "CALLBACKD_WEBHOOKS_URL=http://127.0.0.1:9/"}, "webhooks.secret"},
		{[]string{"CALLBACKD_WEBHOOKS_ENABLED=true", "CALLBACKD_WEBHOOKS_URL=ftp://127.0.0.1/", "CALLBACKD_WEBHOOKS_SECRET=0123456789abcdef"}, "webhooks.url"},
		{[]string{"CALLBACKD_WEBHOOKS_EVENTS=some"}, "webhooks.events"},
		{[]string{"CALLBACKD_WEBHOOKS_REPLY_EMAIL=true", "CALLBACKD_WEBHOOKS_REPLY_FROM=cb@example.net"}, "webhooks.smtp_relay"},
		{[]string{"CALLBACKD_WEBHOOKS_REPLY_SMS=true", "CALLBACKD_WEBHOOKS_SMS_URL=http://127.0.0.1:9/"}, "webhooks.sms_secret"},
		{[]string{"CALLBACKD_WEBHOOKS_REPLY_SMS=true", "CALLBACKD_WEBHOOKS_SMS_URL=http://127.0.0.1:9/", "CALLBACKD_WEBHOOKS_SMS_SECRET=0123456789abcdef",
			"CALLBACKD_WEBHOOKS_REPLY_TEMPLATE={{.Nope}}"}, "webhooks.reply_template"},
	} {
		env := append([]string{"CALLBACKD_DATABASE_SQLITE_PATH=" + filepath.Join(t.TempDir(), "callbackd.db"),
			"CALLBACKD_AGI_LISTEN=", "CALLBACKD_HTTP_LISTEN="}, c.env...)
		var errb bytes.Buffer
		err := Run(t.Context(), []string{"serve"}, env, strings.NewReader(""), io.Discard, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: serve = %v, want an error naming %s", c.env, err, c.want)
		}
	}
}

// webhook show lists each attempt kept: number, start, duration, HTTP
// status, error and node.
func TestWebhookShowAttempts(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	env := []string{"CALLBACKD_DATABASE_SQLITE_PATH=" + db, "CALLBACKD_WEBHOOKS_ENABLED=true", "CALLBACKD_WEBHOOKS_URL=http://127.0.0.1:9/hook",
		"CALLBACKD_WEBHOOKS_SECRET=whsec_0123456789abcdef", "CALLBACKD_WEBHOOKS_EVENTS=final"}
	must := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := Run(t.Context(), args, env, strings.NewReader(""), &out, &out); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	seedWebhookRequest(t, must)
	must("request", "cancel", "1")
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	ds, err := st.ClaimDeliveries(t.Context(), webhook.ClaimParams{Owner: "n1/boot", Now: time.Now().Add(time.Second), Limit: 1, LeaseFor: time.Minute})
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim: %v %v", ds, err)
	}
	if n, err := st.FinishDeliveries(t.Context(), []webhook.Outcome{{ID: ds[0].ID, Owner: "n1/boot", Attempts: 1, State: webhook.StatePending,
		Started: now, At: now.Add(250 * time.Millisecond), NextAttempt: now, Code: 503, Error: "HTTP 503: busy"}}); err != nil || n != 1 {
		t.Fatalf("finish: %d %v", n, err)
	}
	out := must("webhook", "show", "1")
	if !regexp.MustCompile(`(?m)^attempt log:\n#\s+STARTED\s+DURATION\s+CODE\s+ERROR\s+NODE\n1\s+2031-05-06 07:08:09.000\s+250ms\s+503\s+HTTP 503: busy\s+n1/boot\n`).MatchString(out) {
		t.Errorf("webhook show:\n%s", out)
	}
}

// seedWebhookRequest adds, through the command line, account 801 with a
// balance, a tariff for it and request 1, due far ahead.
func seedWebhookRequest(t *testing.T, must func(args ...string) string) {
	t.Helper()
	must("account", "add", "-username", "801", "-balance", "10")
	rates := filepath.Join(t.TempDir(), "rates.csv")
	if err := os.WriteFile(rates, []byte("49,0.02,0,1,1\n1,0.01,0,1,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	must("tariff", "import", "-tariff", "default", "-file", rates)
	must("request", "add", "-username", "801", "-cli", "4930111111", "-cld", "2way_12345", "-at", "2099-01-01T00:00:00Z")
}
