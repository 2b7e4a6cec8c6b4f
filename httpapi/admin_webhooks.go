package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/webhook"
)

// The webhook notifications and the accounts' webhooks in the admin API:
// list, show and resend notifications; read, set and remove an account's
// webhook. The global webhook is configuration and is only shown.

func (a *api) adminWebhookRoutes() []route {
	return []route{
		{"GET /api/v1/admin/webhooks/settings", false, a.handleAdminWebhookSettings},
		{"GET /api/v1/admin/webhooks/deliveries", false, a.handleAdminListDeliveries},
		{"GET /api/v1/admin/webhooks/deliveries/{id}", false, a.handleAdminGetDelivery},
		{"POST /api/v1/admin/webhooks/deliveries/{id}/resend", false, a.handleAdminResendDelivery},
		{"GET /api/v1/admin/accounts/{username}/webhook", false, a.handleAdminGetAccountWebhook},
		{"PATCH /api/v1/admin/accounts/{username}/webhook", false, a.handleAdminSetAccountWebhook},
		{"DELETE /api/v1/admin/accounts/{username}/webhook", false, a.handleAdminRemoveAccountWebhook},
	}
}

func (a *api) handleAdminWebhookSettings(w http.ResponseWriter, r *http.Request) {
	act, ok := a.adminReader(w, r)
	if !ok {
		return
	}
	if _, err := adminQuery(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	v, err := a.admin.WebhookConfig(act)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Global admin.WebhookConfigView `json:"global"`
	}{v})
}

func (a *api) handleAdminListDeliveries(w http.ResponseWriter, r *http.Request) {
	act, q, limit, ok := a.adminPage(w, r, "state", "request", "account", "url", "before", "limit")
	if !ok {
		return
	}
	before, err := parseIDParam(q, "before")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var request int64
	if s, ok := q["request"]; ok {
		if request, err = strconv.ParseInt(s, 10, 64); err != nil || request <= 0 {
			a.writeError(w, r, invalid("request", "not a request id"))
			return
		}
	}
	ds, err := a.admin.ListDeliveries(r.Context(), act, admin.DeliveryFilter{State: q["state"], RequestID: request,
		Account: q["account"], URL: q["url"], BeforeID: before, Limit: limit + 1})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		Deliveries []admin.DeliveryView `json:"deliveries"`
		Next       string               `json:"next,omitempty"`
	}{Deliveries: []admin.DeliveryView{}}
	for i, d := range ds {
		if i == limit {
			out.Next = strconv.FormatInt(ds[i-1].ID, 10)
			break
		}
		out.Deliveries = append(out.Deliveries, a.admin.ViewDelivery(d, false))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) handleAdminGetDelivery(w http.ResponseWriter, r *http.Request) {
	act, ok := a.adminReader(w, r)
	if !ok {
		return
	}
	id, err := pathIDOf(r, "notification")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	d, err := a.admin.GetDelivery(r.Context(), act, id)
	if err != nil {
		a.adminFail(w, r, err, "webhook notification")
		return
	}
	as, err := a.admin.ListDeliveryAttempts(r.Context(), act, id)
	if err != nil {
		a.adminFail(w, r, err, "webhook notification")
		return
	}
	v := a.admin.ViewDelivery(d, true)
	v.AttemptsLog = admin.ViewAttempts(as)
	writeJSON(w, http.StatusOK, v)
}

func (a *api) handleAdminResendDelivery(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	id, err := pathIDOf(r, "notification")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	d, _, err := a.admin.ResendDelivery(r.Context(), act, id)
	if err != nil {
		a.adminFail(w, r, err, "webhook notification")
		return
	}
	writeJSON(w, http.StatusOK, a.admin.ViewDelivery(d, false))
}

func (a *api) writeAccountWebhook(w http.ResponseWriter, status int, username string, wh *webhook.AccountWebhook) {
	w.Header().Set("ETag", admin.AccountWebhookETag(username, wh))
	writeJSON(w, status, admin.ViewAccountWebhook(username, wh))
}

func (a *api) handleAdminGetAccountWebhook(w http.ResponseWriter, r *http.Request) {
	act, ok := a.adminReader(w, r)
	if !ok {
		return
	}
	username := r.PathValue("username")
	wh, err := a.admin.GetAccountWebhook(r.Context(), act, username)
	if err != nil {
		a.adminFail(w, r, err, "account")
		return
	}
	a.writeAccountWebhook(w, http.StatusOK, username, wh)
}

func (a *api) handleAdminSetAccountWebhook(w http.ResponseWriter, r *http.Request) {
	body, act, match, ok := a.adminUpdate(w, r)
	if !ok {
		return
	}
	var in admin.WebhookSettings
	if err := decodeStrict(body, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	username := r.PathValue("username")
	wh, err := a.admin.SetAccountWebhook(r.Context(), act, username, match, in)
	if err != nil {
		a.adminFail(w, r, err, "account")
		return
	}
	a.writeAccountWebhook(w, http.StatusOK, username, wh)
}

func (a *api) handleAdminRemoveAccountWebhook(w http.ResponseWriter, r *http.Request) {
	act, match, ok := a.adminDelete(w, r)
	if !ok {
		return
	}
	if err := a.admin.RemoveAccountWebhook(r.Context(), act, r.PathValue("username"), strings.TrimSpace(match)); err != nil {
		a.adminFail(w, r, err, "webhook of this account")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
