package httpapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// testGlobalWebhook is webhooks.url of the admin tests: its query holds a
// token, which the API never shows.
const testGlobalWebhook = "http://127.0.0.1:9/global?token=s3cr3t"

// An account's webhook over the API: read, set with If-Match (the fields
// named when wrong, admin only), and removed.
func TestAdminAccountWebhook(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		const path = "/api/v1/admin/accounts/alice/webhook"
		r := e.get(path, e.asRita)
		var v admin.AccountWebhookView
		r.json(t, &v)
		none := r.header.Get("ETag")
		if r.status != 200 || v.Set || v.Username != "alice" || none == "" {
			t.Fatalf("no webhook yet: %d %s etag %q", r.status, r.body, none)
		}
		if r := e.get("/api/v1/admin/accounts/nobody/webhook", e.asAnn); r.status != 404 {
			t.Errorf("webhook of an unknown account: %d %s", r.status, r.body)
		}
		good := `{"url":"http://127.0.0.1:9/alice","secret":"0123456789abcdef","events":"final"}`
		if r := e.send("PATCH", path, good, e.asAnn); r.status != 428 || r.apiErr(t).Code != CodePreconditionRequired {
			t.Errorf("PATCH without If-Match: %d %s", r.status, r.body)
		}
		for _, c := range []struct{ as cred }{{e.asSam}, {e.asRita}} {
			if r := e.send("PATCH", path, good, c.as, header("If-Match", none)); r.status != 403 {
				t.Errorf("a non-admin sets a webhook: %d %s", r.status, r.body)
			}
		}
		for body, field := range map[string]string{
			`{"url":"ftp://127.0.0.1/x","secret":"0123456789abcdef"}`:                    "url",
			`{"url":"http://","secret":"0123456789abcdef"}`:                              "url",
			`{"url":"https://:8443/x","secret":"0123456789abcdef"}`:                      "url",
			`{"url":"/relative","secret":"0123456789abcdef"}`:                            "url",
			`{"url":"http://127.0.0.1:9/a","secret":"short"}`:                            "secret",
			`{"url":"http://127.0.0.1:9/a"}`:                                             "secret",
			`{"secret":"0123456789abcdef"}`:                                              "url",
			`{"url":"http://127.0.0.1:9/a","secret":"0123456789abcdef","events":"some"}`: "events",
			`{"url":"http://127.0.0.1:9/a","colour":"red"}`:                              "colour",
		} {
			if r := e.send("PATCH", path, body, e.asAnn, header("If-Match", none)); r.status != 400 || r.apiErr(t).Field != field {
				t.Errorf("%s: %d %s, want 400 on %s", body, r.status, r.body, field)
			}
		}
		r = e.send("PATCH", path, good, e.asAnn, header("If-Match", none))
		r.json(t, &v)
		etag := r.header.Get("ETag")
		if r.status != 200 || !v.Set || v.URL != "http://127.0.0.1:9/alice" || v.Events != "final" || !v.HasSecret ||
			strings.Contains(string(r.body), "0123456789abcdef") || etag == none {
			t.Fatalf("set: %d %s etag %q", r.status, r.body, etag)
		}
		if r := e.send("PATCH", path, `{"events":"all"}`, e.asAnn, header("If-Match", none)); r.status != 412 {
			t.Errorf("stale If-Match: %d %s", r.status, r.body)
		}
		r = e.send("PATCH", path, `{"events":"all"}`, e.asAnn, header("If-Match", etag))
		r.json(t, &v)
		if r.status != 200 || v.Events != "all" || v.URL != "http://127.0.0.1:9/alice" {
			t.Errorf("events alone: %d %s", r.status, r.body)
		}
		etag = r.header.Get("ETag")
		es, _ := e.svc.ListAudit(t.Context(), admin.CLIActor, admin.AuditFilter{Object: "account/alice"})
		if len(es) != 2 || es[0].Action != "account.webhook.set" || es[0].Operator != "ann" || strings.Contains(string(es[0].After), "0123456789abcdef") {
			t.Errorf("audit: %+v", es)
		}
		if r := e.send("DELETE", path, "", e.asAnn); r.status != 428 {
			t.Errorf("DELETE without If-Match: %d", r.status)
		}
		if r := e.send("DELETE", path, "", e.asSam, header("If-Match", etag)); r.status != 403 {
			t.Errorf("support removes: %d", r.status)
		}
		if r := e.send("DELETE", path, "", e.asAnn, header("If-Match", etag)); r.status != 204 {
			t.Fatalf("DELETE: %d %s", r.status, r.body)
		}
		if r := e.get(path, e.asAnn); r.status != 200 || r.header.Get("ETag") != none {
			t.Errorf("after DELETE: %d %s", r.status, r.body)
		}
		if r := e.send("DELETE", path, "", e.asAnn, header("If-Match", none)); r.status != 404 {
			t.Errorf("DELETE of no webhook: %d %s", r.status, r.body)
		}
	})
}

// Notifications over the API: list with filters and a cursor, one with
// its body, and a resend by support, audited and idempotent.
func TestAdminDeliveries(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		st := open(t)
		e := newAdminEnv(t, st)
		st.(webhook.Store).SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
		url, secret, final := "http://127.0.0.1:9/alice", "0123456789abcdef", "final"
		if _, err := e.svc.SetAccountWebhook(t.Context(), admin.CLIActor, "alice", "", admin.WebhookSettings{URL: &url, Secret: &secret, Events: &final}); err != nil {
			t.Fatal(err)
		}
		req := e.create(`{"original_cli":"4930111222","destination":"4930999"}`, asAlice)
		if r := e.send("POST", fmt.Sprintf("/api/v1/admin/requests/%d/cancel", req.ID), "", e.asAnn); r.status != 200 {
			t.Fatalf("cancel: %d %s", r.status, r.body)
		}
		type page struct {
			Deliveries []admin.DeliveryView `json:"deliveries"`
			Next       string               `json:"next"`
		}
		list := func(q string) (p page) {
			t.Helper()
			r := e.get("/api/v1/admin/webhooks/deliveries"+q, e.asRita)
			if r.status != 200 {
				t.Fatalf("list %s: %d %s", q, r.status, r.body)
			}
			r.json(t, &p)
			return p
		}
		all := list("")
		if len(all.Deliveries) != 2 || all.Deliveries[0].Target != "account" || all.Deliveries[1].Target != "global" {
			t.Fatalf("deliveries: %+v", all)
		}
		acct, global := all.Deliveries[0], all.Deliveries[1]
		if acct.URL != url || global.URL != "http://127.0.0.1:9/global?..." || acct.State != "pending" || acct.Payload != nil ||
			acct.RequestID != req.ID || acct.Status != "Finished" || acct.Result != "Canceled" {
			t.Errorf("views: %+v %+v", acct, global)
		}
		for q, want := range map[string]int64{
			"?account=alice": acct.ID,
			"?url=" + url:    acct.ID,
			"?url=http://127.0.0.1:9/global?token=s3cr3t":    global.ID,
			fmt.Sprintf("?request=%d&state=pending", req.ID): acct.ID,
		} {
			if p := list(strings.ReplaceAll(strings.ReplaceAll(q, "?token", "%3Ftoken"), "=s3cr3t", "%3Ds3cr3t")); len(p.Deliveries) == 0 || p.Deliveries[0].ID != want {
				t.Errorf("%s: %+v, want %d first", q, p.Deliveries, want)
			}
		}
		if p := list("?state=failed"); len(p.Deliveries) != 0 {
			t.Errorf("failed: %+v", p)
		}
		p := list("?limit=1")
		if len(p.Deliveries) != 1 || p.Next == "" {
			t.Fatalf("first page: %+v", p)
		}
		if p := list("?limit=1&before=" + p.Next); len(p.Deliveries) != 1 || p.Deliveries[0].ID != global.ID || p.Next != "" {
			t.Errorf("second page: %+v", p)
		}
		for q, field := range map[string]string{"?state=lost": "state", "?url=ftp://x/": "url", "?request=x": "request", "?colour=red": "colour"} {
			if r := e.get("/api/v1/admin/webhooks/deliveries"+q, e.asAnn); r.status != 400 || r.apiErr(t).Field != field {
				t.Errorf("%s: %d %s, want 400 on %s", q, r.status, r.body, field)
			}
		}

		r := e.get(fmt.Sprintf("/api/v1/admin/webhooks/deliveries/%d", acct.ID), e.asRita)
		var one admin.DeliveryView
		r.json(t, &one)
		if r.status != 200 || !strings.Contains(string(one.Payload), `"type":"request.finished"`) {
			t.Errorf("one: %d %s", r.status, r.body)
		}
		if r := e.get("/api/v1/admin/webhooks/deliveries/999999", e.asAnn); r.status != 404 {
			t.Errorf("unknown: %d", r.status)
		}

		resend := func(id int64, as cred, key string) response {
			t.Helper()
			creds := []cred{as}
			if key != "" {
				creds = append(creds, header("Idempotency-Key", key))
			}
			return e.send("POST", fmt.Sprintf("/api/v1/admin/webhooks/deliveries/%d/resend", id), "", creds...)
		}
		if r := resend(acct.ID, e.asRita, ""); r.status != 403 {
			t.Errorf("reporting resends: %d %s", r.status, r.body)
		}
		for range 2 {
			if r := resend(acct.ID, e.asSam, "rs-1"); r.status != 200 {
				t.Errorf("support resends: %d %s", r.status, r.body)
			}
		}
		if r := resend(global.ID, e.asSam, "rs-1"); r.status != 409 || r.apiErr(t).Field != "Idempotency-Key" {
			t.Errorf("the key on another notification: %d %s", r.status, r.body)
		}
		if r := resend(999999, e.asAnn, ""); r.status != 404 {
			t.Errorf("resend of an unknown one: %d %s", r.status, r.body)
		}
		es, _ := e.svc.ListAudit(t.Context(), admin.CLIActor, admin.AuditFilter{Object: admin.DeliveryObject(acct.ID)})
		if len(es) != 1 || es[0].Operator != "sam" || es[0].Action != "webhook.resend" || !strings.Contains(string(es[0].After), `"state":"pending"`) {
			t.Errorf("audit of the resend: %+v", es)
		}

		r = e.get("/api/v1/admin/webhooks/settings", e.asRita)
		if r.status != 200 || strings.Contains(string(r.body), "s3cr3t") || !strings.Contains(string(r.body), `"events":"final"`) {
			t.Errorf("settings: %d %s", r.status, r.body)
		}
	})
}

// One notification over the API lists its attempts, oldest first; the
// list of notifications does not.
func TestAdminDeliveryAttempts(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		st := open(t)
		e := newAdminEnv(t, st)
		ws := st.(webhook.Store)
		ws.SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
		req := e.create(`{"original_cli":"4930111222","destination":"4930999"}`, asAlice)
		if r := e.send("POST", fmt.Sprintf("/api/v1/admin/requests/%d/cancel", req.ID), "", e.asAnn); r.status != 200 {
			t.Fatalf("cancel: %d %s", r.status, r.body)
		}
		path := ""
		get := func() (v admin.DeliveryView, body string) {
			t.Helper()
			r := e.get(path, e.asRita)
			if r.status != 200 {
				t.Fatalf("get: %d %s", r.status, r.body)
			}
			r.json(t, &v)
			return v, string(r.body)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		ds, err := ws.ClaimDeliveries(t.Context(), webhook.ClaimParams{Owner: "n1/boot", Now: now.Add(time.Second), Limit: 10, LeaseFor: time.Minute})
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim: %v %v", ds, err)
		}
		path = fmt.Sprintf("/api/v1/admin/webhooks/deliveries/%d", ds[0].ID)
		if v, body := get(); !strings.Contains(body, `"attempts_log":[]`) || v.Attempts != 1 {
			t.Errorf("before any outcome: %s", body)
		}
		if n, err := ws.FinishDeliveries(t.Context(), []webhook.Outcome{{ID: ds[0].ID, Owner: "n1/boot", Attempts: 1, State: webhook.StatePending,
			Started: now, At: now.Add(250 * time.Millisecond), NextAttempt: now.Add(time.Minute), Code: 503, Error: "HTTP 503: busy"}}); err != nil || n != 1 {
			t.Fatalf("finish: %d %v", n, err)
		}
		v, body := get()
		want := admin.AttemptView{Attempt: 1, Started: now, Finished: now.Add(250 * time.Millisecond), DurationMS: 250, Code: 503,
			Error: "HTTP 503: busy", Node: "n1/boot"}
		if len(v.AttemptsLog) != 1 || v.AttemptsLog[0] != want || v.LastCode != 503 || v.LastError != "HTTP 503: busy" ||
			v.State != "pending" || v.Payload == nil {
			t.Errorf("after one attempt: %s", body)
		}
		r := e.get("/api/v1/admin/webhooks/deliveries", e.asRita)
		if r.status != 200 || strings.Contains(string(r.body), "attempts_log") {
			t.Errorf("list: %d %s", r.status, r.body)
		}
		if r := e.get("/api/v1/admin/webhooks/deliveries/999999", e.asRita); r.status != 404 {
			t.Errorf("unknown: %d %s", r.status, r.body)
		}
	})
}
