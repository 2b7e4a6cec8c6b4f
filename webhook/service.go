package webhook

import (
	"context"
	"fmt"
	"time"
)

// Service is what the admin surfaces (the CLI now, the admin API and the
// console later) do with the outbox, in one place.
type Service struct {
	Store Store
	Now   func() time.Time // nil: time.Now
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// List returns the notifications f selects, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]*Delivery, error) {
	if _, err := ParseState(string(f.State)); err != nil {
		return nil, err
	}
	return s.Store.ListDeliveries(ctx, f)
}

// Get returns notification id.
func (s *Service) Get(ctx context.Context, id int64) (*Delivery, error) {
	return s.Store.GetDelivery(ctx, id)
}

// Resend sends notification id again, now, whatever its state, with the
// same body and a retry window that starts now; a running sender picks it
// up at its next look for due rows.
func (s *Service) Resend(ctx context.Context, id int64) (*Delivery, error) {
	d, err := s.Store.ResendDelivery(ctx, id, s.now())
	if err != nil {
		return nil, fmt.Errorf("resend notification %d: %w", id, err)
	}
	return d, nil
}

// SetAccountWebhook checks and stores an account's webhook.
func (s *Service) SetAccountWebhook(ctx context.Context, w *AccountWebhook) error {
	if err := w.Validate(); err != nil {
		return err
	}
	return s.Store.PutAccountWebhook(ctx, w)
}
