//go:build unix

package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/internal/cdptest"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/webhook"
)

// screenshotPath is where a screenshot goes: docs/screenshots when
// CALLBACKD_SCREENSHOTS=1, the test's temporary directory otherwise.
func screenshotPath(t *testing.T, dir, name string) string {
	if os.Getenv("CALLBACKD_SCREENSHOTS") == "1" {
		return filepath.Join("..", "docs", "screenshots", name+".png")
	}
	return filepath.Join(dir, name+".png")
}

// setFile chooses path in the file input selector, as a person picking
// the file would.
func setFile(ctx context.Context, t *testing.T, tb *cdptest.Tab, selector, path string) {
	t.Helper()
	var doc struct {
		Root struct {
			NodeID int64 `json:"nodeId"`
		} `json:"root"`
	}
	tb.Do(ctx, "DOM.getDocument", map[string]any{}, &doc)
	var q struct {
		NodeID int64 `json:"nodeId"`
	}
	tb.Do(ctx, "DOM.querySelector", map[string]any{"nodeId": doc.Root.NodeID, "selector": selector}, &q)
	if q.NodeID == 0 {
		t.Fatalf("no %s on the page", selector)
	}
	tb.Do(ctx, "DOM.setFileInputFiles", map[string]any{"nodeId": q.NodeID, "files": []string{path}}, nil)
}

// pageChecker returns a check of the page tb shows: accessibility and the
// stylesheet (cdptest's CheckPage), and a screenshot named console-<page>.
func pageChecker(ctx context.Context, t *testing.T, tb *cdptest.Tab) func(page string) {
	shots := t.TempDir()
	return func(page string) {
		t.Helper()
		tb.CheckPage(ctx, page)
		tb.Screenshot(ctx, screenshotPath(t, shots, "console-"+page))
	}
}

// signIn fills the login form tb shows as operator name.
func signIn(ctx context.Context, t *testing.T, tb *cdptest.Tab, name string) {
	t.Helper()
	tb.TypeInto(ctx, "f-name", name)
	tb.TypeInto(ctx, "f-password", opPassword)
	tb.SubmitForm(ctx, "login")
	if h1 := tb.Text(ctx, `document.querySelector('h1').textContent`); h1 != "Dashboard" {
		t.Fatalf("after login: %q\n%s", h1, tb.Text(ctx, "document.body.innerText"))
	}
}

// TestBrowser signs in with headless Chromium, creates an account, tops
// it up and finds the new balance on the accounts page, reads the
// dashboard's chart, imports a rates CSV through the file input, and is
// refused the deletion of an account with history, checking every page
// for accessibility on the way.
func TestBrowser(t *testing.T) {
	ch := cdptest.Start(t)
	s := newSystem(t, dbtest.SQLite(t))
	r := s.newRequest(t, "4930111222")
	s.liveCall(t, r)
	s.newRequest(t, "4930111333")
	s.settle(t, time.Now().UTC().Truncate(24*time.Hour), 6)
	s.spread(t, time.Now().UTC())

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	tb := ch.NewDesktopTab(ctx, 1280, 900)
	check := pageChecker(ctx, t, tb)

	tb.Navigate(ctx, s.srv.URL+"/admin/")
	if got := tb.Text(ctx, `location.pathname`); got != "/admin/login" {
		t.Fatalf("signed out, the console opens %s", got)
	}
	check("login")
	signIn(ctx, t, tb, "admin")
	if live := tb.Text(ctx, `document.getElementById('live').textContent`); live != "1" {
		t.Errorf("calls now: %q", live)
	}
	check("dashboard")
	var chart struct {
		Bars  int    `json:"bars"`
		Label string `json:"label"`
		Rows  int    `json:"rows"`
	}
	tb.Eval(ctx, `(() => { const s = document.getElementById('chart'); document.getElementById('hours').scrollIntoView();
	  return {bars: s.querySelectorAll('rect').length, label: document.getElementById(s.getAttribute('aria-labelledby').split(' ')[0]).textContent,
	          rows: document.querySelectorAll('#per-hour tbody tr').length}; })()`, &chart)
	if chart.Bars != 48 || chart.Rows != 24 || !strings.HasPrefix(chart.Label, "Callbacks per hour") {
		t.Errorf("the chart: %+v", chart)
	}
	check("dashboard-chart")

	tb.Navigate(ctx, s.srv.URL+"/admin/accounts")
	check("accounts")
	tb.TypeInto(ctx, "f-username", "carol")
	tb.TypeInto(ctx, "f-balance", "2.00")
	tb.SubmitForm(ctx, "create-account")
	if got := tb.Text(ctx, `document.getElementById('balance').textContent`); got != "2 USD" && got != "2.00 USD" {
		t.Fatalf("new account's balance: %q\n%s", got, tb.Text(ctx, "document.body.innerText"))
	}
	tb.TypeInto(ctx, "f-amount", "12.50")
	tb.TypeInto(ctx, "f-reason", "paid at the counter")
	tb.SubmitForm(ctx, "topup")
	if msg := tb.Text(ctx, `document.querySelector('.notice').textContent`); msg != "Top-up posted." {
		t.Errorf("after the top-up: %q", msg)
	}
	check("account")
	tb.Navigate(ctx, s.srv.URL+"/admin/accounts")
	if got := tb.Text(ctx, `document.querySelector('[data-account="carol"]').textContent`); got != "14.5 USD" && got != "14.50 USD" {
		t.Errorf("the accounts page shows carol's balance as %q", got)
	}

	for _, p := range []struct{ name, path string }{
		{"requests", "/admin/requests"}, {"request", "/admin/requests/" + itoa64(r.ID)}, {"calls", "/admin/calls"},
		{"cdrs", "/admin/cdrs"}, {"access-numbers", "/admin/access-numbers"}, {"audit", "/admin/audit"},
	} {
		tb.Navigate(ctx, s.srv.URL+p.path)
		check(p.name)
	}
	if !strings.Contains(tb.Text(ctx, "document.body.innerText"), "account.topup") {
		t.Error("the audit log does not show the top-up")
	}

	// A rates CSV imported through the file input.
	csvFile := filepath.Join(t.TempDir(), "rates.csv")
	if err := os.WriteFile(csvFile, []byte("prefix,price_per_minute,connection_fee,first_increment,next_increment,description\n4930,0.0125,0,60,60,Berlin\n49,0.02,0.01,30,6,Germany\n44,0.015,0,60,1,United Kingdom\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb.Navigate(ctx, s.srv.URL+"/admin/tariffs")
	check("tariffs")
	tb.TypeInto(ctx, "f-tariff", "retail")
	setFile(ctx, t, tb, "#f-csv", csvFile)
	tb.SubmitForm(ctx, "import-rates")
	if msg := tb.Text(ctx, `(document.querySelector('.notice') || document.body).textContent`); msg != "3 rates imported." {
		t.Fatalf("after the import: %q\n%s", msg, tb.Text(ctx, "document.body.innerText"))
	}
	if n := tb.Text(ctx, `String(document.querySelectorAll('#rates tbody tr').length)`); n != "3" {
		t.Errorf("the tariff's page shows %s rates", n)
	}
	check("tariff")
	tb.Navigate(ctx, s.srv.URL+"/admin/tariffs")
	if n := tb.Text(ctx, `document.querySelector('[data-tariff="retail"]').textContent`); n != "3" {
		t.Errorf("the tariffs page shows %s rates in retail", n)
	}
	check("tariffs")
	tb.Navigate(ctx, s.srv.URL+"/admin/operators")
	check("operators")
	tb.Navigate(ctx, s.srv.URL+"/admin/accounts/alice")
	tb.SubmitForm(ctx, "delete-account")
	if alert := tb.Text(ctx, `(document.querySelector('.alert') || document.body).textContent`); !strings.Contains(alert, "block it instead") {
		t.Errorf("deleting alice: %q", alert)
	}
	check("account-delete-refused")

	// The check finds each fault it looks for.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html lang="en"><body><h1>A</h1><h1>B</h1><h4>C</h4><input name="unlabelled"><p style="color:#bbb">faint</p></body></html>`)
	}))
	defer bad.Close()
	tb.Navigate(ctx, bad.URL)
	var faults []string
	tb.Eval(ctx, cdptest.A11yScript, &faults)
	got := strings.Join(faults, "; ")
	for _, want := range []string{"no label: unlabelled", "h1 count 2", "heading h4 after h1", "contrast"} {
		if !strings.Contains(got, want) {
			t.Errorf("the accessibility check misses %q: %s", want, got)
		}
	}
}

// TestBrowserWebhooks gives an account a webhook on its page, whose
// receiver on 127.0.0.1 answers 500: the notification of a cancel fails
// (given up) and the webhooks page shows it with its HTTP status. Once
// the receiver is fixed, Resend sends it again and the page shows it
// delivered; the receiver checks the signature of what it gets.
func TestBrowserWebhooks(t *testing.T) {
	ch := cdptest.Start(t)
	s := newSystemWith(t, dbtest.SQLite(t), admin.WebhookConfig{Enabled: true, Events: webhook.EventsFinal, RetryFor: 300 * time.Millisecond})
	s.alice(t)
	ws := s.st.(webhook.Store)
	ws.SetWebhookPolicy(webhook.Policy{Enabled: true})
	const secret = "browser-test-secret-0123"
	var fixed atomic.Bool
	var delivered atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, 5*time.Minute, time.Now()); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if !fixed.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	sender, err := webhook.NewSender(webhook.Options{Store: ws, Owner: "node1/browser", Poll: 20 * time.Millisecond,
		RetryFor: 300 * time.Millisecond, BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	sent := make(chan struct{})
	go func() { defer close(sent); sender.Run(sctx) }()
	defer func() { stop(); <-sent }()
	// waitState waits (at most 30 s) for notification id to reach state.
	waitState := func(id int64, state webhook.State) {
		t.Helper()
		for range 600 {
			if d, err := ws.GetDelivery(t.Context(), id); err == nil && d.State == state {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("notification %d never became %s", id, state)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	tb := ch.NewDesktopTab(ctx, 1280, 900)
	check := pageChecker(ctx, t, tb)
	tb.Navigate(ctx, s.srv.URL+"/admin/login")
	signIn(ctx, t, tb, "admin")

	tb.Navigate(ctx, s.srv.URL+"/admin/accounts/alice")
	tb.TypeInto(ctx, "f-webhook_url", rc.URL+"/hooks/callbackd")
	tb.TypeInto(ctx, "f-webhook_secret", secret)
	tb.SubmitForm(ctx, "webhook-form")
	if msg := tb.Text(ctx, `document.querySelector('.notice').textContent`); msg != "Webhook saved." {
		t.Fatalf("after saving the webhook: %q\n%s", msg, tb.Text(ctx, "document.body.innerText"))
	}
	check("account-webhook")

	r := s.newRequest(t, "4930111444")
	if _, err := s.svc.CancelRequest(t.Context(), admin.CLIActor, r.ID); err != nil {
		t.Fatal(err)
	}
	ds, err := s.svc.ListDeliveries(t.Context(), admin.CLIActor, admin.DeliveryFilter{RequestID: r.ID})
	if err != nil || len(ds) != 1 {
		t.Fatalf("notifications of the cancel: %v %v", ds, err)
	}
	id := ds[0].ID
	waitState(id, webhook.StateFailed)

	tb.Navigate(ctx, s.srv.URL+"/admin/webhooks?state=failed")
	if got := tb.Text(ctx, fmt.Sprintf(`document.querySelector('[data-delivery="%d"] .state').textContent`, id)); got != "failed (given up)" {
		t.Errorf("the list shows the notification as %q\n%s", got, tb.Text(ctx, "document.body.innerText"))
	}
	check("webhooks")
	tb.Navigate(ctx, fmt.Sprintf("%s/admin/webhooks/%d", s.srv.URL, id))
	if st, code := tb.Text(ctx, `document.getElementById('state').textContent`), tb.Text(ctx, `document.getElementById('last-code').textContent`); st != "failed (given up)" || code != "500" {
		t.Errorf("the notification's page: state %q, last HTTP status %q", st, code)
	}
	check("webhook")

	fixed.Store(true)
	tb.SubmitForm(ctx, "resend")
	if msg := tb.Text(ctx, `document.querySelector('.notice').textContent`); msg != "Notification due again now." {
		t.Errorf("after Resend: %q", msg)
	}
	waitState(id, webhook.StateDelivered)
	tb.Navigate(ctx, fmt.Sprintf("%s/admin/webhooks/%d", s.srv.URL, id))
	if st := tb.Text(ctx, `document.getElementById('state').textContent`); st != "delivered" || delivered.Load() != 1 {
		t.Errorf("after the resend: state %q, %d delivered", st, delivered.Load())
	}
	// Every attempt has its row: the 500s before the resend, then the 204.
	var codes []string
	tb.Eval(ctx, `[...document.querySelectorAll('#attempts-log tbody tr[data-attempt] td:nth-child(4)')].map(td => td.textContent)`, &codes)
	if len(codes) < 2 || codes[len(codes)-1] != "204" || codes[0] != "500" {
		t.Errorf("the attempts table's HTTP statuses: %q, want 500 first and 204 last", codes)
	}
	var resentBy bool
	tb.Eval(ctx, `[...document.querySelectorAll('main table td')].some(td => td.textContent === 'admin')`, &resentBy)
	if !resentBy {
		t.Errorf("the notification's page does not name who resent it:\n%s", tb.Text(ctx, "document.body.innerText"))
	}
}
