package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// The admin store's webhook changes, each written with its audit entry in
// one transaction, and the filters of the outbox's list.
func init() {
	adminTests["WebhookResendAudited"] = testResendAudited
	adminTests["AccountWebhookAudited"] = testAccountWebhookAudited
	adminTests["DeliveryFilters"] = testDeliveryFilters
}

// failedDelivery makes a request finish (canceled) with the global
// webhook on, and fails its notification: claimed, answered 500, given up.
func failedDelivery(t *testing.T, s admin.Store, cli string) *webhook.Delivery {
	t.Helper()
	ws := hooks(t, s, allChanges)
	row := canceledHook(t, s, ws, cli)
	claimed := claimHooks(t, ws, "n1/a", time.Now().Add(time.Second), 10)
	if len(claimed) != 1 {
		t.Fatalf("claimed %d rows, want 1", len(claimed))
	}
	if n, err := ws.FinishDeliveries(t.Context(), []webhook.Outcome{{ID: claimed[0].ID, Owner: "n1/a", Attempts: claimed[0].Attempts,
		State: webhook.StateFailed, At: time.Now(), Code: 500, Error: "HTTP 500"}}); err != nil || n != 1 {
		t.Fatalf("fail the row: %d %v", n, err)
	}
	d, err := s.GetDelivery(t.Context(), row.ID)
	if err != nil || d.State != webhook.StateFailed {
		t.Fatalf("failed row: %+v %v", d, err)
	}
	return d
}

func testResendAudited(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD", MaxSessions: 2})
	d := failedDelivery(t, s, "4930000101")
	n := auditCount(t, s)

	// A resend whose audit entry cannot be written (its idempotency key
	// is taken) changes nothing.
	taken := auditOf("ann", "webhook.resend", admin.DeliveryObject(d.ID))
	taken.IdempotencyKey, taken.RequestHash = "k-resend", "h"
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := s.ResendDelivery(ctx, d.ID, now, taken); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetDelivery(ctx, d.ID); got.State != webhook.StatePending {
		t.Fatalf("after a resend: %s", got.State)
	}
	// Fail it again, then resend with the taken key: refused, still failed.
	ws := s.(webhook.Store)
	claimed := claimHooks(t, ws, "n1/b", time.Now().Add(time.Second), 10)
	if len(claimed) != 1 {
		t.Fatalf("claimed %d after the resend", len(claimed))
	}
	if _, err := ws.FinishDeliveries(ctx, []webhook.Outcome{{ID: d.ID, Owner: "n1/b", Attempts: claimed[0].Attempts,
		State: webhook.StateFailed, At: time.Now(), Code: 502, Error: "HTTP 502"}}); err != nil {
		t.Fatal(err)
	}
	dup := *taken
	if _, err := s.ResendDelivery(ctx, d.ID, now, &dup); !errors.Is(err, callback.ErrConflict) {
		t.Fatalf("resend with a taken key: %v, want ErrConflict", err)
	}
	got, err := s.GetDelivery(ctx, d.ID)
	if err != nil || got.State != webhook.StateFailed || got.LastCode != 502 {
		t.Errorf("a refused resend changed the row: %+v %v", got, err)
	}
	if c := auditCount(t, s); c != n+1 {
		t.Errorf("%d audit entries after one resend and one refused, want %d", c, n+1)
	}

	// The entry: who, what, before (failed) and after (pending, due now).
	res, err := s.ResendDelivery(ctx, d.ID, now.Add(time.Minute), auditOf("bob", "webhook.resend", admin.DeliveryObject(d.ID)))
	if err != nil || res.State != webhook.StatePending || !res.NextAttempt.Equal(now.Add(time.Minute)) || !res.Queued.Equal(now.Add(time.Minute)) || res.LeaseOwner != "" {
		t.Fatalf("resend: %+v %v", res, err)
	}
	e := lastAudit(t, s)
	var before, after map[string]any
	if err := json.Unmarshal(e.Before, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(e.After, &after); err != nil {
		t.Fatal(err)
	}
	if e.Operator != "bob" || e.Action != "webhook.resend" || e.Object != admin.DeliveryObject(d.ID) ||
		before["state"] != "failed" || after["state"] != "pending" || before["last_code"] != float64(502) {
		t.Errorf("audit entry: %s %s %s before %v after %v", e.Operator, e.Action, e.Object, before, after)
	}
	if _, err := s.ResendDelivery(ctx, 999999, base, auditOf("bob", "webhook.resend", admin.DeliveryObject(999999))); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("resend of an unknown row: %v", err)
	}
	if c := auditCount(t, s); c != n+2 {
		t.Errorf("%d audit entries, want %d: a resend of nothing writes none", c, n+2)
	}
}

func testAccountWebhookAudited(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD", MaxSessions: 2})
	n := auditCount(t, s)
	set := func(w *webhook.AccountWebhook, a *admin.AuditEntry) (*webhook.AccountWebhook, error) {
		return s.EditAccountWebhook(ctx, "801", func(cur *webhook.AccountWebhook) (*webhook.AccountWebhook, error) { return w, nil }, a)
	}
	w, err := set(&webhook.AccountWebhook{Username: "801", URL: "https://shop.example.com/cb", Secret: "0123456789abcdef", Events: webhook.EventsFinal},
		auditOf("ann", "account.webhook.set", "account/801"))
	if err != nil || w.Events != webhook.EventsFinal {
		t.Fatalf("set: %+v %v", w, err)
	}
	e := lastAudit(t, s)
	if e.Before != nil || !json.Valid(e.After) || e.Action != "account.webhook.set" {
		t.Errorf("entry of the first set: before %s after %s", e.Before, e.After)
	}
	for _, b := range [][]byte{e.Before, e.After} {
		if bytes.Contains(b, []byte("0123456789abcdef")) {
			t.Errorf("the audit log keeps the secret: %s", b)
		}
	}
	// An edit that fails, a bad webhook, a taken key: nothing changes.
	boom := errors.New("refused")
	if _, err := s.EditAccountWebhook(ctx, "801", func(*webhook.AccountWebhook) (*webhook.AccountWebhook, error) { return nil, boom },
		auditOf("ann", "account.webhook.remove", "account/801")); !errors.Is(err, boom) {
		t.Errorf("failing edit: %v", err)
	}
	if _, err := set(&webhook.AccountWebhook{Username: "801", URL: "ftp://shop.example.com/", Secret: "0123456789abcdef"},
		auditOf("ann", "account.webhook.set", "account/801")); !errors.Is(err, callback.ErrInvalid) {
		t.Errorf("ftp URL: %v, want ErrInvalid", err)
	}
	k := auditOf("ann", "account.webhook.set", "account/801")
	k.IdempotencyKey = "k-hook"
	if _, err := set(&webhook.AccountWebhook{Username: "801", URL: "https://a.example.com/", Secret: "0123456789abcdef", Events: webhook.EventsAll}, k); err != nil {
		t.Fatal(err)
	}
	k2 := *k
	if _, err := set(&webhook.AccountWebhook{Username: "801", URL: "https://b.example.com/", Secret: "0123456789abcdef", Events: webhook.EventsAll}, &k2); !errors.Is(err, callback.ErrConflict) {
		t.Errorf("set with a taken key: %v, want ErrConflict", err)
	}
	if got, err := s.GetAccountWebhook(ctx, "801"); err != nil || got.URL != "https://a.example.com/" {
		t.Errorf("after the refused set: %+v %v", got, err)
	}
	if _, err := s.EditAccountWebhook(ctx, "801", func(cur *webhook.AccountWebhook) (*webhook.AccountWebhook, error) {
		if cur == nil || cur.URL != "https://a.example.com/" {
			t.Errorf("edit sees %+v", cur)
		}
		return nil, nil
	}, auditOf("ann", "account.webhook.remove", "account/801")); err != nil {
		t.Fatal(err)
	}
	if e := lastAudit(t, s); e.After != nil || !json.Valid(e.Before) || e.Action != "account.webhook.remove" {
		t.Errorf("entry of the removal: before %s after %s", e.Before, e.After)
	}
	if _, err := s.GetAccountWebhook(ctx, "801"); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("removed webhook: %v", err)
	}
	if _, err := s.EditAccountWebhook(ctx, "nobody", func(*webhook.AccountWebhook) (*webhook.AccountWebhook, error) { return nil, nil },
		auditOf("ann", "account.webhook.remove", "account/nobody")); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("webhook of an unknown account: %v", err)
	}
	if c := auditCount(t, s); c != n+3 {
		t.Errorf("%d audit entries, want %d (two sets, one removal)", c, n+3)
	}
}

// The list selects by state (retrying: pending after a failed attempt),
// account and URL (an account's webhook, and the global rows when asked).
func testDeliveryFilters(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD", MaxSessions: 2})
	if err := putHook(t, s, &webhook.AccountWebhook{Username: "801", URL: "http://127.0.0.1:9/acct", Secret: "0123456789abcdef", Events: webhook.EventsFinal}); err != nil {
		t.Fatal(err)
	}
	ws := hooks(t, s, webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
	r := create(t, s, newRequest("4930000102", base.Add(time.Hour)))
	if _, err := s.Cancel(ctx, r.ID, base); err != nil {
		t.Fatal(err)
	}
	all := deliveries(t, ws, r.ID) // the global row, then the account's
	if len(all) != 2 || all[0].Account != "" || all[1].Account != "801" {
		t.Fatalf("rows: %+v", all)
	}
	claimed := claimHooks(t, ws, "n1/a", time.Now().Add(time.Second), 10)
	var outs []webhook.Outcome
	for _, d := range claimed {
		if d.Account == "801" {
			outs = append(outs, webhook.Outcome{ID: d.ID, Owner: "n1/a", Attempts: d.Attempts, State: webhook.StatePending,
				At: time.Now(), NextAttempt: time.Now().Add(time.Hour), Code: 500, Error: "HTTP 500"})
		} else {
			outs = append(outs, webhook.Outcome{ID: d.ID, Owner: "n1/a", Attempts: d.Attempts, State: webhook.StateDelivered, At: time.Now(), Code: 204})
		}
	}
	if _, err := ws.FinishDeliveries(ctx, outs); err != nil {
		t.Fatal(err)
	}
	ids := func(f webhook.Filter) []int64 {
		t.Helper()
		ds, err := s.ListDeliveries(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    webhook.Filter
		want []int64
	}{
		{"retrying", webhook.Filter{State: webhook.StateRetrying}, []int64{all[1].ID}},
		{"pending", webhook.Filter{State: webhook.StatePending}, []int64{all[1].ID}},
		{"delivered", webhook.Filter{State: webhook.StateDelivered}, []int64{all[0].ID}},
		{"account", webhook.Filter{Account: "801"}, []int64{all[1].ID}},
		{"account url", webhook.Filter{URL: "http://127.0.0.1:9/acct"}, []int64{all[1].ID}},
		{"global url", webhook.Filter{URL: "http://127.0.0.1:9/global", Global: true}, []int64{all[0].ID}},
		{"unknown url", webhook.Filter{URL: "http://127.0.0.1:9/other"}, nil},
		{"cursor", webhook.Filter{BeforeID: all[1].ID}, []int64{all[0].ID}},
	} {
		if got := ids(c.f); len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) {
			t.Errorf("%s: ids %v, want %v", c.name, got, c.want)
		}
	}
}
