package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// Webhook notifications: the list with its filters, one notification with
// its body and its resends, the Resend button (admin and support), and an
// account's own webhook on the account's page (admin sets it).

type webhooksPage struct {
	Global     admin.WebhookConfigView
	Deliveries []deliveryRow
	States     []stateOption
	Next       string
}

// deliveryRow is a notification in the list, with where it goes.
type deliveryRow struct {
	*webhook.Delivery
	To string
}

type stateOption struct{ Value, Label string }

// stateOptions are the list's state filter: failed is given up.
var stateOptions = []stateOption{{"pending", "pending"}, {"retrying", "retrying (failing now)"}, {"delivered", "delivered"},
	{"failed", "failed (given up)"}}

// deliveryTo says where d goes, in words.
func deliveryTo(d *webhook.Delivery) string {
	switch admin.DeliveryTarget(d) {
	case "reply":
		return "reply by " + string(d.Channel) + " to " + d.Address
	case "account":
		return "account " + d.Account
	}
	return "global webhook"
}

var webhookFilterFields = []string{"state", "account", "request", "url"}

func (c *console) webhooks(w http.ResponseWriter, r *http.Request, s *session) {
	global, err := c.svc.WebhookConfig(s.actor())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	q := r.URL.Query()
	form := map[string]string{}
	for _, k := range webhookFilterFields {
		form[k] = strings.TrimSpace(q.Get(k))
	}
	f := admin.DeliveryFilter{State: form["state"], Account: form["account"], URL: form["url"], Limit: pageSize + 1}
	errs := map[string]string{}
	if form["request"] != "" {
		n, err := strconv.ParseInt(form["request"], 10, 64)
		if err != nil || n <= 0 {
			errs["request"] = "a request id"
		}
		f.RequestID = n
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			errs["before"] = "not a cursor"
		}
		f.BeforeID = n
	}
	p := webhooksPage{Global: global, States: stateOptions}
	if len(errs) == 0 {
		list, err := c.svc.ListDeliveries(r.Context(), s.actor(), f)
		switch {
		case fieldErrors(err) != nil:
			errs = fieldErrors(err)
		case err != nil:
			c.fail(w, r, s, err)
			return
		}
		for i, d := range list {
			if i < pageSize {
				p.Deliveries = append(p.Deliveries, deliveryRow{Delivery: d, To: deliveryTo(d)})
			}
		}
		if len(list) > pageSize {
			v := url.Values{"before": {strconv.FormatInt(list[pageSize-1].ID, 10)}}
			for _, k := range webhookFilterFields {
				if form[k] != "" {
					v.Set(k, form[k])
				}
			}
			p.Next = "?" + v.Encode()
		}
	}
	code := http.StatusOK
	if len(errs) > 0 {
		code = http.StatusUnprocessableEntity
	} else {
		errs = nil
	}
	c.render(w, r, code, "webhooks", s, pageData{Title: "Webhook notifications", Nav: "webhooks", Data: p, Form: form, Errors: errs})
}

type webhookPage struct {
	Delivery *webhook.Delivery
	To       string
	URL      string
	Payload  string // indented
	Resends  []*admin.AuditEntry
	Attempts []*webhook.Attempt // oldest first
}

func (c *console) webhook(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := pathID(r)
	if !ok {
		c.fail(w, r, s, callback.ErrNotFound)
		return
	}
	d, err := c.svc.GetDelivery(r.Context(), s.actor(), id)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	resends, err := c.svc.ListAudit(r.Context(), s.actor(), admin.AuditFilter{Object: admin.DeliveryObject(id), Limit: pageSize})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	attempts, err := c.svc.ListDeliveryAttempts(r.Context(), s.actor(), id)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var body bytes.Buffer
	if json.Indent(&body, d.Payload, "", "  ") != nil {
		body.Reset()
		body.Write(d.Payload)
	}
	c.render(w, r, http.StatusOK, "webhook", s, pageData{Title: fmt.Sprintf("Webhook notification %d", id), Nav: "webhooks",
		Data: webhookPage{Delivery: d, To: deliveryTo(d), URL: c.svc.DeliveryURL(d), Payload: body.String(), Resends: resends,
			Attempts: attempts}})
}

func (c *console) resendWebhook(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := pathID(r)
	if !ok {
		c.fail(w, r, s, callback.ErrNotFound)
		return
	}
	d, _, err := c.svc.ResendDelivery(r.Context(), s.actor(), id)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.Info("console: webhook notification resent", "operator", s.op.Name, "delivery_id", id, "request_id", d.RequestID)
	done(w, r, fmt.Sprintf("%swebhooks/%d", Prefix, id), "resent")
}

// accountWebhookFields are the fields of the account page's webhook form.
var accountWebhookFields = []string{"webhook_url", "webhook_events"}

func (c *console) setAccountWebhook(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.actor().Check(admin.PermWrite); err != nil {
		c.fail(w, r, s, err)
		return
	}
	name := r.PathValue("username")
	form := formValues(r, accountWebhookFields...)
	in := admin.WebhookSettings{URL: new(form["webhook_url"]), Events: new(form["webhook_events"])}
	if sec := r.PostForm.Get("webhook_secret"); sec != "" {
		in.Secret = &sec
	}
	_, err := c.svc.SetAccountWebhook(r.Context(), s.actor(), name, r.PostForm.Get("etag"), in)
	if ve := fieldErrors(err); ve != nil {
		errs := map[string]string{}
		for k, v := range ve {
			errs["webhook_"+k] = v
		}
		c.accountWith(w, r, s, http.StatusUnprocessableEntity, form, errs)
		return
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	done(w, r, Prefix+"accounts/"+url.PathEscape(name), "webhook-set")
}

func (c *console) removeAccountWebhook(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("username")
	if err := c.svc.RemoveAccountWebhook(r.Context(), s.actor(), name, r.PostForm.Get("etag")); err != nil {
		c.fail(w, r, s, err)
		return
	}
	done(w, r, Prefix+"accounts/"+url.PathEscape(name), "webhook-removed")
}

// accountWebhook is the webhook part of an account's page.
type accountWebhook struct {
	Webhook *webhook.AccountWebhook // nil: none
	ETag    string
	URL     string // the form's values: the current ones
	Events  string
}

func (c *console) accountWebhookOf(r *http.Request, s *session, username string) (accountWebhook, error) {
	wh, err := c.svc.GetAccountWebhook(r.Context(), s.actor(), username)
	if err != nil {
		return accountWebhook{}, err
	}
	out := accountWebhook{Webhook: wh, ETag: admin.AccountWebhookETag(username, wh), Events: string(webhook.EventsAll)}
	if wh != nil {
		out.URL, out.Events = wh.URL, string(wh.Events)
	}
	return out, nil
}
