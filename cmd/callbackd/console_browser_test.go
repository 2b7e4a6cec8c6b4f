//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/internal/cdptest"
)

// TestConsoleBrowserCall drives the console in headless Chromium over the
// server callbackd serve builds, whose ARI controller and dispatcher run
// calls on the simulated Asterisk: the operator adds an access number
// with the form, watches a callback reach Second leg connected on the
// Requests page and on Live calls, presses Hang up (the simulated
// Asterisk gets the DELETE of the channels), reads the finished request's
// history, and downloads the CDRs through the CDRs page's export link.
// Every page visited passes the accessibility check.
func TestConsoleBrowserCall(t *testing.T) {
	ch := cdptest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// Both legs answer and stay up until callbackd hangs them up.
	const user, access, dest, password = "4930111111", "18005550170", "12345", "correct horse battery"
	sim := aritest.New(aritest.WithCredentials("callbackd", "console"))
	sim.Phone(user, aritest.Answer(100*time.Millisecond))
	sim.Phone(dest, aritest.Answer(100*time.Millisecond))
	base, err := sim.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Stop()
	httpAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Database.SQLitePath = filepath.Join(t.TempDir(), "console.db")
	c.AGI.Listen = ""
	c.HTTP.Listen = httpAddr
	c.Web.HMACKey = strings.Repeat("k", 32)
	c.ARI.URL, c.ARI.User, c.ARI.Password = base, "callbackd", "console"
	c.Callback.DelayBeforeCallback = 0
	c.Callback.ScanInterval = 100 * time.Millisecond
	srv, err := newServer(ctx, &c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	if err := seedDemo(ctx, srv.store, user, "18005550100", "18005550105", dest); err != nil {
		t.Fatal(err)
	}
	if _, err := newAdminService(&c, srv.store, nil).CreateOperator(ctx, admin.CLIActor, "admin", admin.RoleAdmin, password); err != nil {
		t.Fatal(err)
	}
	srvCtx, stopSrv := context.WithCancel(ctx)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.run(srvCtx) }()
	defer func() { stopSrv(); <-srvDone }()
	if err := waitListening(ctx, httpAddr); err != nil {
		t.Fatal(err)
	}
	site := "http://" + httpAddr

	tb := ch.NewDesktopTab(ctx, 1280, 900)
	check := func(page string) {
		t.Helper()
		tb.CheckPage(ctx, page)
	}
	body := func() string { return tb.Text(ctx, "document.body.innerText") }
	// reloadUntil opens path again (at most 300 times, 100 ms apart) until
	// cond, a JavaScript expression, is true.
	reloadUntil := func(path, cond string) {
		t.Helper()
		for range 300 {
			tb.Navigate(ctx, site+path)
			var ok bool
			tb.Eval(ctx, cond, &ok)
			if ok {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s never showed %s: %v\n%s", path, cond, ctx.Err(), body())
			case <-time.After(100 * time.Millisecond):
			}
		}
		t.Fatalf("%s never showed %s:\n%s", path, cond, body())
	}

	// 1. Sign in; an access number through the form.
	tb.Navigate(ctx, site+"/admin/login")
	check("login")
	tb.TypeInto(ctx, "f-name", "admin")
	tb.TypeInto(ctx, "f-password", password)
	tb.SubmitForm(ctx, "login")
	if h1 := tb.Text(ctx, `document.querySelector('h1').textContent`); h1 != "Dashboard" {
		t.Fatalf("after login: %q\n%s", h1, body())
	}
	check("dashboard")
	tb.Navigate(ctx, site+"/admin/access-numbers")
	check("access-numbers")
	for id, v := range map[string]string{"f-number": access, "f-trigger": "ani", "f-sub_app": "2way_" + dest, "f-language": "en",
		"f-iscallback": "1", "f-ivrauthentication": "0"} {
		tb.TypeInto(ctx, id, v)
	}
	tb.SubmitForm(ctx, "create-access-number")
	if msg := tb.Text(ctx, `(document.querySelector('.notice') || document.body).textContent`); msg != "Created." {
		t.Fatalf("after creating the access number: %q\n%s", msg, body())
	}
	var row []string
	tb.Eval(ctx, fmt.Sprintf(`[...document.querySelectorAll('main tbody tr')].map(tr => [...tr.cells].map(td => td.textContent)).find(r => r[0] === %q) || []`, access), &row)
	if !slices.Equal(row, []string{access, "ani", "2way_" + dest, "en", "", "1"}) {
		t.Errorf("the access numbers page lists %q\n%s", row, body())
	}
	check("access-number-created")

	// 2. A callback through the access number runs on the simulated
	// Asterisk; the operator watches it connect.
	r := &callback.Request{Username: "801", OriginalCLI: user, Destination: dest, AccessNumber: access, Source: callback.SourceAPI}
	if err := srv.svc.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(r.ID, 10)
	statusCell := fmt.Sprintf(`(() => { const a = [...document.querySelectorAll('main tbody a')].find(a => a.textContent === %q); return a ? a.closest('tr').cells[%%d].textContent : ''; })()`, id)
	reloadUntil("/admin/requests", fmt.Sprintf(statusCell, 3)+` === 'Second leg connected'`)
	check("requests-live")
	tb.Navigate(ctx, site+"/admin/calls")
	if st, num := tb.Text(ctx, fmt.Sprintf(statusCell, 3)), tb.Text(ctx, fmt.Sprintf(statusCell, 2)); st != "Second leg connected" || num != user {
		t.Fatalf("live calls show request %s as %q, number %q\n%s", id, st, num, body())
	}
	check("calls")

	// 3. Hang up.
	var channels []string
	for _, q := range sim.Requests() {
		// Leg A: POST /ari/channels; leg B: POST /ari/channels/create.
		if q.Method == "POST" && (q.Path == "/ari/channels" || q.Path == "/ari/channels/create") && q.Query.Get("channelId") != "" {
			channels = append(channels, q.Query.Get("channelId"))
		}
	}
	if len(channels) != 2 {
		t.Fatalf("callbackd originated channels %q", channels)
	}
	var pressed bool
	tb.Eval(ctx, fmt.Sprintf(`(() => { const f = document.querySelector('form[action="/admin/calls/%s/hangup"]'); if (!f) return false; f.id = 'hangup'; return true; })()`, id), &pressed)
	if !pressed {
		t.Fatalf("no Hang up button for request %s\n%s", id, body())
	}
	tb.SubmitForm(ctx, "hangup")
	if msg := tb.Text(ctx, `(document.querySelector('.notice') || document.body).textContent`); msg != "Call hung up." {
		t.Errorf("after Hang up: %q\n%s", msg, body())
	}
	check("calls-hung-up")
	deleted := func() []string {
		var ds []string
		for _, q := range sim.Requests() {
			if q.Method == "DELETE" && strings.HasPrefix(q.Path, "/ari/channels/") {
				ds = append(ds, strings.TrimPrefix(q.Path, "/ari/channels/"))
			}
		}
		return ds
	}
	reloadUntil("/admin/requests/"+id, `document.getElementById('status').textContent === 'Finished'`)
	for _, c := range channels {
		if !slices.Contains(deleted(), c) {
			t.Errorf("the simulated Asterisk never got DELETE /ari/channels/%s (deleted: %q)", c, deleted())
		}
	}
	var hist [][]string
	tb.Eval(ctx, `[...document.querySelectorAll('main tbody tr')].map(tr => [...tr.cells].map(td => td.textContent))`, &hist)
	var statuses []string
	for _, h := range hist {
		statuses = append(statuses, h[2])
	}
	for _, want := range []string{"First leg initiated", "First leg connected", "Second leg initiated", "Second leg connected", "Finished"} {
		if !slices.Contains(statuses, want) {
			t.Errorf("the request's history lacks %q: %q", want, statuses)
		}
	}
	if res := tb.Text(ctx, `document.getElementById('result').textContent`); res != string(callback.ResultCanceled) {
		t.Errorf("the hung-up request's result: %q", res)
	}
	check("request-finished")
	tb.Navigate(ctx, site+"/admin/calls")
	if n := tb.Text(ctx, fmt.Sprintf(statusCell, 3)); n != "" {
		t.Errorf("live calls still list request %s as %q", id, n)
	}

	// 4. The CDRs through the page's export link.
	reloadUntil("/admin/cdrs", fmt.Sprintf(`[...document.querySelectorAll('main tbody a')].filter(a => a.textContent === %q).length === 2`, id))
	check("cdrs")
	// The console's pages run no script and its policy allows no fetch:
	// the operator clicks the link and Chromium saves the file.
	downloads := t.TempDir()
	tb.Do(ctx, "Page.setDownloadBehavior", map[string]any{"behavior": "allow", "downloadPath": downloads}, nil)
	var href string
	tb.Eval(ctx, `(() => { const a = [...document.querySelectorAll('a[download]')].find(a => a.textContent.includes('Export')); if (!a) return ''; a.click(); return a.href; })()`, &href)
	if !strings.HasPrefix(href, site+"/admin/cdrs.csv?") {
		t.Fatalf("the CDRs page's export link: %q\n%s", href, body())
	}
	var exported []byte
	for i := 0; exported == nil; i++ {
		files, _ := filepath.Glob(filepath.Join(downloads, "*"))
		if len(files) == 1 && !strings.HasSuffix(files[0], ".crdownload") {
			if exported, err = os.ReadFile(files[0]); err != nil {
				t.Fatal(err)
			}
			t.Logf("downloaded %s from %s", filepath.Base(files[0]), href)
			break
		}
		if i == 300 || ctx.Err() != nil {
			t.Fatalf("no download of %s in %s: %q", href, downloads, files)
		}
		time.Sleep(100 * time.Millisecond)
	}
	recs, err := csv.NewReader(bytes.NewReader(exported)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("export: %v\n%s", err, exported)
	}
	if !slices.Equal(recs[0], admin.CDRColumns) {
		t.Errorf("export header %q", recs[0])
	}
	col := func(name string) int { return slices.Index(admin.CDRColumns, name) }
	legs := map[string]string{}
	for _, rec := range recs[1:] {
		if rec[col("request_id")] == id {
			legs[rec[col("leg")]] = rec[col("number")]
			if rec[col("account")] != "801" {
				t.Errorf("CDR row of account %q: %q", rec[col("account")], rec)
			}
		}
	}
	if len(recs) != 3 || legs["A"] != user || legs["B"] != dest {
		t.Errorf("export rows of request %s: legs %v\n%s", id, legs, exported)
	}
}
