package console

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/webhook"
)

// canceledWithHook gives alice a webhook (events all) with the global
// one on, and cancels a request of hers: two notifications.
func (s *system) canceledWithHook(t *testing.T, hookURL string) (acct, global *webhook.Delivery) {
	t.Helper()
	s.st.(webhook.Store).SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
	s.alice(t)
	secret, all := "0123456789abcdef", "all"
	if _, err := s.svc.SetAccountWebhook(t.Context(), admin.CLIActor, "alice", "", admin.WebhookSettings{URL: &hookURL, Secret: &secret, Events: &all}); err != nil {
		t.Fatal(err)
	}
	r := s.newRequest(t, "4930111222")
	if _, err := s.svc.CancelRequest(t.Context(), admin.CLIActor, r.ID); err != nil {
		t.Fatal(err)
	}
	ds, err := s.svc.ListDeliveries(t.Context(), admin.CLIActor, admin.DeliveryFilter{RequestID: r.ID})
	if err != nil || len(ds) != 2 {
		t.Fatalf("notifications: %v %v", ds, err)
	}
	return ds[0], ds[1]
}

var deliveryRowRe = regexp.MustCompile(`data-delivery="(\d+)"`)

func listedDeliveries(body string) []string {
	var out []string
	for _, m := range deliveryRowRe.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// The webhooks page lists and filters notifications; one notification
// shows its state and body; support resends it (audited), reporting
// cannot.
func TestWebhooksPages(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		acct, global := s.canceledWithHook(t, "http://127.0.0.1:9/alice")
		rep, repCSRF := s.signedIn(admin.RoleReporting)
		res := rep.get("/admin/webhooks")
		if res.code != 200 || strings.Join(listedDeliveries(res.body), ",") != fmt.Sprintf("%d,%d", acct.ID, global.ID) ||
			!strings.Contains(res.body, `href="/admin/webhooks"`) || !strings.Contains(res.body, "account alice") {
			t.Fatalf("list: %d\n%s", res.code, res.body)
		}
		for q, want := range map[string]string{
			"?account=alice": fmt.Sprint(acct.ID),
			"?url=" + url.QueryEscape("http://127.0.0.1:9/alice"): fmt.Sprint(acct.ID),
			"?state=delivered": "",
			"?state=pending&request=" + fmt.Sprint(acct.RequestID): fmt.Sprintf("%d,%d", acct.ID, global.ID),
		} {
			if got := strings.Join(listedDeliveries(rep.get("/admin/webhooks"+q).body), ","); got != want {
				t.Errorf("%s: %q, want %q", q, got, want)
			}
		}
		for q, field := range map[string]string{"?state=lost": "state", "?url=ftp%3A%2F%2Fx": "url", "?request=x": "request"} {
			if res := rep.get("/admin/webhooks" + q); res.code != 422 || !strings.Contains(res.body, `href="#f-`+field+`"`) {
				t.Errorf("%s: %d, want 422 naming %s\n%s", q, res.code, field, res.body)
			}
		}
		res = rep.get(fmt.Sprintf("/admin/webhooks/%d", acct.ID))
		if res.code != 200 || !strings.Contains(res.body, `<dd id="state">pending</dd>`) || !strings.Contains(res.body, "request.finished") ||
			strings.Contains(res.body, `id="resend"`) {
			t.Errorf("detail for reporting: %d\n%s", res.code, res.body)
		}
		if res := rep.post(fmt.Sprintf("/admin/webhooks/%d/resend", acct.ID), url.Values{"csrf": {repCSRF}}); res.code != 403 {
			t.Errorf("reporting resends: %d", res.code)
		}
		if res := rep.get("/admin/webhooks/999999"); res.code != 404 {
			t.Errorf("unknown notification: %d", res.code)
		}

		sup, supCSRF := s.signedIn(admin.RoleSupport)
		if !strings.Contains(sup.get(fmt.Sprintf("/admin/webhooks/%d", acct.ID)).body, `id="resend"`) {
			t.Error("support sees no Resend button")
		}
		if res := sup.post(fmt.Sprintf("/admin/webhooks/%d/resend", acct.ID), url.Values{}); res.code != 403 {
			t.Errorf("resend without CSRF: %d", res.code)
		}
		res = sup.post(fmt.Sprintf("/admin/webhooks/%d/resend", acct.ID), url.Values{"csrf": {supCSRF}})
		if res.code != http.StatusSeeOther || res.location != fmt.Sprintf("/admin/webhooks/%d?done=resent", acct.ID) {
			t.Fatalf("resend: %d %s\n%s", res.code, res.location, res.body)
		}
		if body := sup.get(res.location).body; !strings.Contains(body, "Notification due again now.") || !strings.Contains(body, "<td>support</td>") {
			t.Errorf("after the resend:\n%s", body)
		}
		es, _ := s.svc.ListAudit(t.Context(), admin.CLIActor, admin.AuditFilter{Object: admin.DeliveryObject(acct.ID)})
		if len(es) != 1 || es[0].Operator != "support" || es[0].Action != "webhook.resend" {
			t.Errorf("audit: %+v", es)
		}
		// Support may not set webhooks; the account page has no form for it.
		if body := sup.get("/admin/accounts/alice").body; strings.Contains(body, `id="webhook-form"`) || !strings.Contains(body, "http://127.0.0.1:9/alice") {
			t.Errorf("account page for support:\n%s", body)
		}
		if res := sup.post("/admin/accounts/alice/webhook", url.Values{"csrf": {supCSRF}, "webhook_url": {"http://127.0.0.1:9/x"}, "webhook_events": {"all"}}); res.code != 403 {
			t.Errorf("support sets a webhook: %d", res.code)
		}
	})
}

var etagRe = regexp.MustCompile(`name="etag" value="([^"]+)"`)

// An admin sets, changes and removes an account's webhook on its page; a
// URL that is not http(s) or has no host is refused naming the field.
func TestAccountWebhookForm(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		s.alice(t)
		b, csrf := s.signedIn(admin.RoleAdmin)
		page := b.get("/admin/accounts/alice")
		if !strings.Contains(page.body, "No webhook of its own.") || !strings.Contains(page.body, `id="webhook-form"`) {
			t.Fatalf("account page:\n%s", page.body)
		}
		etag := html.UnescapeString(etagRe.FindStringSubmatch(page.body)[1])
		post := func(v url.Values) response {
			t.Helper()
			v.Set("csrf", csrf)
			v.Set("etag", etag)
			return b.post("/admin/accounts/alice/webhook", v)
		}
		for _, c := range []struct{ u, secret, field string }{
			{"ftp://127.0.0.1/x", "0123456789abcdef", "webhook_url"},
			{"http://", "0123456789abcdef", "webhook_url"},
			{"127.0.0.1:9/x", "0123456789abcdef", "webhook_url"},
			{"http://127.0.0.1:9/x", "short", "webhook_secret"},
			{"http://127.0.0.1:9/x", "", "webhook_secret"},
		} {
			res := post(url.Values{"webhook_url": {c.u}, "webhook_secret": {c.secret}, "webhook_events": {"final"}})
			if res.code != 422 || !strings.Contains(res.body, `id="e-`+c.field+`"`) || !strings.Contains(res.body, `value="`+c.u+`"`) {
				t.Errorf("%q %q: %d, want 422 on %s\n%s", c.u, c.secret, res.code, c.field, res.body)
			}
		}
		res := post(url.Values{"webhook_url": {"https://shop.example.com/cb"}, "webhook_secret": {"0123456789abcdef"}, "webhook_events": {"final"}})
		if res.code != http.StatusSeeOther || res.location != "/admin/accounts/alice?done=webhook-set" {
			t.Fatalf("set: %d %s\n%s", res.code, res.location, res.body)
		}
		page = b.get(res.location)
		if !strings.Contains(page.body, `<span id="webhook-url">https://shop.example.com/cb</span>, only when a request ends`) ||
			strings.Contains(page.body, "0123456789abcdef") {
			t.Errorf("after the set:\n%s", page.body)
		}
		// The old ETag is stale now.
		if res := post(url.Values{"webhook_url": {"https://other.example.com/"}, "webhook_events": {"all"}}); res.code != 409 {
			t.Errorf("stale form: %d", res.code)
		}
		etag = html.UnescapeString(etagRe.FindStringSubmatch(page.body)[1])
		if res := post(url.Values{"webhook_url": {"https://shop.example.com/cb2"}, "webhook_events": {"all"}}); res.code != http.StatusSeeOther {
			t.Errorf("change without the secret: %d\n%s", res.code, res.body)
		}
		w, err := s.svc.GetAccountWebhook(t.Context(), admin.CLIActor, "alice")
		if err != nil || w.URL != "https://shop.example.com/cb2" || w.Secret != "0123456789abcdef" || w.Events != webhook.EventsAll {
			t.Errorf("stored: %+v %v", w, err)
		}
		page = b.get("/admin/accounts/alice")
		res = b.post("/admin/accounts/alice/webhook/remove", url.Values{"csrf": {csrf}, "etag": {html.UnescapeString(etagRe.FindStringSubmatch(page.body)[1])}})
		if res.code != http.StatusSeeOther || !strings.Contains(b.get(res.location).body, "No webhook of its own.") {
			t.Errorf("remove: %d %s", res.code, res.location)
		}
		es, _ := s.svc.ListAudit(t.Context(), admin.CLIActor, admin.AuditFilter{Object: "account/alice", Operator: "admin"})
		if len(es) != 3 || es[0].Action != "account.webhook.remove" || es[2].Action != "account.webhook.set" {
			t.Errorf("audit: %+v", es)
		}
	})
}

var attemptRowRe = regexp.MustCompile(`<tr data-attempt="(\d+)"><td>\d+</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>`)

// A notification's page lists its attempts in a labelled table: number,
// start, duration, HTTP status, error, node.
func TestWebhookAttemptsTable(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		acct, _ := s.canceledWithHook(t, "http://127.0.0.1:9/alice")
		rep, _ := s.signedIn(admin.RoleReporting)
		page := fmt.Sprintf("/admin/webhooks/%d", acct.ID)
		res := rep.get(page)
		if res.code != 200 || !strings.Contains(res.body, `<h2 id="attempts-title">Attempts</h2>`) ||
			!strings.Contains(res.body, `<table id="attempts-log" aria-labelledby="attempts-title">`) ||
			!strings.Contains(res.body, `<th scope="col">#</th><th scope="col">Started (UTC)</th><th scope="col">Duration</th><th scope="col">HTTP status</th><th scope="col">Error</th><th scope="col">Node</th>`) ||
			!strings.Contains(res.body, "No attempt yet.") {
			t.Fatalf("before any attempt: %d\n%s", res.code, res.body)
		}
		ws := s.st.(webhook.Store)
		now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
		for i, o := range []webhook.Outcome{
			{State: webhook.StatePending, Started: now, At: now.Add(250 * time.Millisecond), NextAttempt: time.Now(), Code: 503, Error: "HTTP 503: <busy>"},
			{State: webhook.StateDelivered, Started: now.Add(time.Minute), At: now.Add(time.Minute + 1250*time.Millisecond), Code: 204},
		} {
			ds, err := ws.ClaimDeliveries(t.Context(), webhook.ClaimParams{Owner: fmt.Sprintf("node%d/boot", i+1), Now: time.Now().Add(time.Second),
				Limit: 10, LeaseFor: time.Minute})
			i := slices.IndexFunc(ds, func(d *webhook.Delivery) bool { return d.ID == acct.ID })
			if err != nil || i < 0 {
				t.Fatalf("claim: %v %v", ds, err)
			}
			o.ID, o.Owner, o.Attempts = ds[i].ID, ds[i].LeaseOwner, ds[i].Attempts
			if n, err := ws.FinishDeliveries(t.Context(), []webhook.Outcome{o}); err != nil || n != 1 {
				t.Fatalf("finish: %d %v", n, err)
			}
		}
		res = rep.get(page)
		var got []string
		for _, m := range attemptRowRe.FindAllStringSubmatch(res.body, -1) {
			got = append(got, strings.Join(m[1:], "|"))
		}
		want := []string{
			"1|2031-05-06 07:08:09|250 ms|503|HTTP 503: &lt;busy&gt;|node1/boot",
			"2|2031-05-06 07:09:09|1,250 ms|204||node2/boot",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") || strings.Contains(res.body, "No attempt yet.") {
			t.Errorf("attempts:\n got %q\nwant %q\n%s", got, want, res.body)
		}
	})
}
