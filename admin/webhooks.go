package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// WebhookConfig is the global webhook as the configuration sets it
// (webhooks.*). It lives in the configuration only, the same on every
// node, so the admin surfaces show it and never change it.
type WebhookConfig struct {
	Enabled  bool           // webhooks.enabled
	URL      string         // webhooks.url; "" none
	Events   webhook.Events // webhooks.events
	RetryFor time.Duration  // webhooks.retry_for; 0 the sender's default
}

// WebhookConfigView is WebhookConfig as shown: the URL without its
// userinfo and query, which may hold tokens.
type WebhookConfigView struct {
	Enabled  bool   `json:"enabled"`
	URL      string `json:"url,omitempty"`
	Events   string `json:"events"`
	RetryFor string `json:"retry_for"`
	Source   string `json:"source"`
}

// WebhookConfig returns the global webhook's settings, read-only.
func (s *Service) WebhookConfig(a Actor) (WebhookConfigView, error) {
	if err := a.Check(PermRead); err != nil {
		return WebhookConfigView{}, err
	}
	c := s.Webhooks
	ev := c.Events
	if ev == "" {
		ev = webhook.EventsAll
	}
	rf := c.RetryFor
	if rf <= 0 {
		rf = webhook.DefaultOptions().RetryFor
	}
	retry := rf.String()
	if rf%time.Hour == 0 {
		retry = fmt.Sprintf("%dh", rf/time.Hour)
	}
	return WebhookConfigView{Enabled: c.Enabled, URL: webhook.Redact(c.URL), Events: string(ev), RetryFor: retry,
		Source: "configuration (webhooks.*): change it there, on every node, and restart"}, nil
}

// DeliveryFilter selects webhook notifications for a page, newest first.
type DeliveryFilter struct {
	State     string // pending, retrying, delivered, failed (given up); "" any
	RequestID int64
	Account   string
	URL       string // the webhook URL it is POSTed to
	BeforeID  int64  // cursor: only ids below this
	Limit     int
}

// ListDeliveries returns a page of the webhook notifications f selects.
func (s *Service) ListDeliveries(ctx context.Context, a Actor, f DeliveryFilter) ([]*webhook.Delivery, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	st, err := webhook.ParseState(f.State)
	if err != nil {
		return nil, &callback.ValidationError{Field: "state", Reason: fmt.Sprintf("%q: want pending, retrying, delivered or failed", f.State)}
	}
	if f.RequestID < 0 {
		return nil, &callback.ValidationError{Field: "request", Reason: "not a request id"}
	}
	if f.URL != "" {
		if err := webhook.CheckURL(f.URL); err != nil {
			return nil, &callback.ValidationError{Field: "url", Reason: err.Error()}
		}
	}
	wf := webhook.Filter{State: st, RequestID: f.RequestID, Account: f.Account, URL: f.URL, BeforeID: f.BeforeID, Limit: f.Limit}
	wf.Global = f.URL != "" && s.Webhooks.URL != "" && (f.URL == s.Webhooks.URL || f.URL == webhook.Redact(s.Webhooks.URL))
	return s.Store.ListDeliveries(ctx, wf)
}

// GetDelivery returns webhook notification id.
func (s *Service) GetDelivery(ctx context.Context, a Actor, id int64) (*webhook.Delivery, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	return s.Store.GetDelivery(ctx, id)
}

// ListDeliveryAttempts returns the attempts kept of webhook notification
// id, oldest first.
func (s *Service) ListDeliveryAttempts(ctx context.Context, a Actor, id int64) ([]*webhook.Attempt, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	return s.Store.ListDeliveryAttempts(ctx, id)
}

// DeliveryObject names notification id in the audit log.
func DeliveryObject(id int64) string { return fmt.Sprintf("webhook_delivery/%d", id) }

// ResendDelivery sends webhook notification id again, whatever its state:
// due now, the same body, a retry window that starts now. Admin and
// support may. created is false when the actor's idempotency key replays
// an earlier resend of the same notification: nothing is sent again then.
func (s *Service) ResendDelivery(ctx context.Context, a Actor, id int64) (d *webhook.Delivery, created bool, err error) {
	if err := a.Check(PermResend); err != nil {
		return nil, false, err
	}
	const action = "webhook.resend"
	if e, err := s.replayed(ctx, a, action); err != nil || e != nil {
		return s.replayDelivery(ctx, e, err)
	}
	d, err = s.Store.ResendDelivery(ctx, id, s.now(), s.audit(a, action, DeliveryObject(id)))
	if err != nil {
		e, err := s.afterConflict(ctx, a, action, err)
		return s.replayDelivery(ctx, e, err)
	}
	return d, true, nil
}

func (s *Service) replayDelivery(ctx context.Context, e *AuditEntry, err error) (*webhook.Delivery, bool, error) {
	if err != nil {
		return nil, false, err
	}
	var id int64
	if _, err := fmt.Sscanf(strings.TrimPrefix(e.Object, "webhook_delivery/"), "%d", &id); err != nil {
		return nil, false, fmt.Errorf("audit entry %d: object %q: %w", e.ID, e.Object, err)
	}
	d, err := s.Store.GetDelivery(ctx, id)
	return d, false, err
}

// WebhookSettings is a change of an account's webhook. Nil fields keep
// their values; a new webhook needs URL and Secret.
type WebhookSettings struct {
	URL    *string `json:"url,omitempty"`
	Secret *string `json:"secret,omitempty"`
	Events *string `json:"events,omitempty"`
}

// AccountWebhookView is an account's webhook without its secret.
type AccountWebhookView struct {
	Username  string `json:"username"`
	Set       bool   `json:"set"`
	URL       string `json:"url,omitempty"`
	Events    string `json:"events,omitempty"`
	HasSecret bool   `json:"has_secret"`
}

// ViewAccountWebhook is the view of username's webhook w (nil: none).
func ViewAccountWebhook(username string, w *webhook.AccountWebhook) AccountWebhookView {
	if w == nil {
		return AccountWebhookView{Username: username}
	}
	return AccountWebhookView{Username: username, Set: true, URL: w.URL, Events: string(w.Events), HasSecret: w.Secret != ""}
}

// AccountWebhookETag is the version of an account's webhook (nil: none),
// for If-Match.
func AccountWebhookETag(username string, w *webhook.AccountWebhook) string {
	if w == nil {
		return etag(username, "no webhook")
	}
	return etag(username, w.URL, w.Secret, w.Events)
}

// GetAccountWebhook returns an account's webhook, nil when it has none.
func (s *Service) GetAccountWebhook(ctx context.Context, a Actor, username string) (*webhook.AccountWebhook, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if _, err := s.Store.GetAccount(ctx, username); err != nil {
		return nil, err
	}
	w, err := s.Store.GetAccountWebhook(ctx, username)
	if errors.Is(err, callback.ErrNotFound) {
		return nil, nil
	}
	return w, err
}

// checkWebhookSettings refuses what no webhook could take, naming the
// field, before any row is locked.
func checkWebhookSettings(in WebhookSettings) error {
	if in.URL != nil {
		if err := webhook.CheckURL(*in.URL); err != nil {
			return &callback.ValidationError{Field: "url", Reason: err.Error()}
		}
	}
	if in.Secret != nil && len(*in.Secret) < webhook.MinSecretBytes {
		return &callback.ValidationError{Field: "secret", Reason: fmt.Sprintf("at least %d bytes", webhook.MinSecretBytes)}
	}
	if in.Events != nil {
		if _, err := webhook.ParseEvents(*in.Events); err != nil || *in.Events == "" {
			return &callback.ValidationError{Field: "events", Reason: fmt.Sprintf("%q: want all (every status change) or final (only when it ends)", *in.Events)}
		}
	}
	return nil
}

// SetAccountWebhook sets or changes an account's webhook: its URL, its
// signing secret, and whether it is told of every status change (all) or
// only of the end (final). Only admin may. ifMatch, when not empty, must
// be the AccountWebhookETag of the webhook as read.
func (s *Service) SetAccountWebhook(ctx context.Context, a Actor, username, ifMatch string, in WebhookSettings) (*webhook.AccountWebhook, error) {
	if err := a.Check(PermWrite); err != nil {
		return nil, err
	}
	if err := checkWebhookSettings(in); err != nil {
		return nil, err
	}
	return s.Store.EditAccountWebhook(ctx, username, func(cur *webhook.AccountWebhook) (*webhook.AccountWebhook, error) {
		if ifMatch != "" && ifMatch != AccountWebhookETag(username, cur) {
			return nil, ErrPreconditionFailed
		}
		next := &webhook.AccountWebhook{Username: username, Events: webhook.EventsAll}
		if cur != nil {
			*next = *cur
		}
		switch {
		case cur == nil && in.URL == nil:
			return nil, &callback.ValidationError{Field: "url", Reason: "required: the account has no webhook yet"}
		case cur == nil && in.Secret == nil:
			return nil, &callback.ValidationError{Field: "secret", Reason: fmt.Sprintf("required: the account has no webhook yet; at least %d bytes", webhook.MinSecretBytes)}
		}
		if in.URL != nil {
			next.URL = *in.URL
		}
		if in.Secret != nil {
			next.Secret = *in.Secret
		}
		if in.Events != nil {
			next.Events = webhook.Events(*in.Events)
		}
		if err := next.Validate(); err != nil {
			return nil, err
		}
		return next, nil
	}, s.audit(a, "account.webhook.set", "account/"+username))
}

// RemoveAccountWebhook removes an account's webhook; its notifications
// not yet delivered then fail. Only admin may. ErrNotFound when it has
// none.
func (s *Service) RemoveAccountWebhook(ctx context.Context, a Actor, username, ifMatch string) error {
	if err := a.Check(PermWrite); err != nil {
		return err
	}
	_, err := s.Store.EditAccountWebhook(ctx, username, func(cur *webhook.AccountWebhook) (*webhook.AccountWebhook, error) {
		if cur == nil {
			return nil, fmt.Errorf("account %s has no webhook: %w", username, callback.ErrNotFound)
		}
		if ifMatch != "" && ifMatch != AccountWebhookETag(username, cur) {
			return nil, ErrPreconditionFailed
		}
		return nil, nil
	}, s.audit(a, "account.webhook.remove", "account/"+username))
	return err
}

// DeliveryView is a webhook notification as the admin API shows it.
type DeliveryView struct {
	ID        int64  `json:"id"`
	RequestID int64  `json:"request_id"`
	EventID   int64  `json:"event_id"`
	Channel   string `json:"channel"`
	// Target is global (webhooks.url), account (Account's webhook) or
	// reply (to the requester's Address).
	Target  string `json:"target"`
	Account string `json:"account,omitempty"`
	Address string `json:"address,omitempty"`
	// URL is where a webhook row is POSTed now: the account's webhook, or
	// webhooks.url without its userinfo and query.
	URL         string          `json:"url,omitempty"`
	Status      string          `json:"status"`
	Result      string          `json:"result,omitempty"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	Created     time.Time       `json:"created"`
	Queued      time.Time       `json:"queued"`
	NextAttempt *time.Time      `json:"next_attempt,omitempty"`
	LastCode    int             `json:"last_code,omitempty"`
	LastError   string          `json:"last_error,omitempty"`
	Delivered   *time.Time      `json:"delivered,omitempty"`
	Sending     string          `json:"sending_node,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	// AttemptsLog is every attempt kept, oldest first: only in the view
	// of one notification (an empty list when none was made).
	AttemptsLog []AttemptView `json:"attempts_log,omitzero"`
}

// AttemptView is one attempt of a notification as the admin API shows
// it.
type AttemptView struct {
	Attempt    int       `json:"attempt"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	DurationMS int64     `json:"duration_ms"`
	Code       int       `json:"code,omitempty"`
	Error      string    `json:"error,omitempty"`
	Node       string    `json:"node"`
}

// ViewAttempts is the view of attempts as; never nil.
func ViewAttempts(as []*webhook.Attempt) []AttemptView {
	out := make([]AttemptView, len(as))
	for i, a := range as {
		out[i] = AttemptView{Attempt: a.Attempt, Started: a.Started.UTC(), Finished: a.Finished.UTC(), DurationMS: a.Duration().Milliseconds(),
			Code: a.Code, Error: a.Error, Node: a.Owner}
	}
	return out
}

// DeliveryTarget says where d goes: global, account or reply.
func DeliveryTarget(d *webhook.Delivery) string {
	switch {
	case d.Channel == webhook.ChannelEmail || d.Channel == webhook.ChannelSMS:
		return "reply"
	case d.Account != "":
		return "account"
	}
	return "global"
}

// DeliveryURL is where d is POSTed now (see DeliveryView.URL).
func (s *Service) DeliveryURL(d *webhook.Delivery) string {
	switch DeliveryTarget(d) {
	case "account":
		return d.URL
	case "global":
		return webhook.Redact(s.Webhooks.URL)
	}
	return ""
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// ViewDelivery is d's view; the body only when withPayload.
func (s *Service) ViewDelivery(d *webhook.Delivery, withPayload bool) DeliveryView {
	v := DeliveryView{ID: d.ID, RequestID: d.RequestID, EventID: d.EventID, Channel: string(d.Channel), Target: DeliveryTarget(d),
		Account: d.Account, Address: d.Address, URL: s.DeliveryURL(d), Status: string(d.Status), Result: string(d.Result),
		State: string(d.State), Attempts: d.Attempts, Created: d.Created.UTC(), Queued: d.Queued.UTC(),
		LastCode: d.LastCode, LastError: d.LastError, Delivered: timeOrNil(d.Delivered)}
	if d.State == webhook.StatePending {
		v.NextAttempt = timeOrNil(d.NextAttempt)
		if d.LeaseOwner != "" && d.LeaseExpires.After(s.now()) {
			v.Sending = d.LeaseOwner
		}
	}
	if withPayload && json.Valid(d.Payload) {
		v.Payload = json.RawMessage(d.Payload)
	}
	return v
}
