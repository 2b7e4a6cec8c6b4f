package callback

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// NewRequest returns a request with the seed's defaults: status Request
// received, anonymous accounting enabled.
func NewRequest(src Source) *Request {
	return &Request{Status: StatusRequestReceived, AnonAcctEnabled: true, Source: src}
}

// Service creates requests on behalf of every trigger (AGI, API, web, email,
// SMS, the admin CLI): one place that validates, schedules and wakes the
// dispatcher.
type Service struct {
	Store  Store
	Policy Policy
	// Notify is called after every insert so a dispatcher in this process
	// fires at once instead of at its next poll.
	Notify func()
	Now    func() time.Time
	// Check, when set, vets a new request's numbers and money before it is
	// queued (billing's check: rates, blocked prefixes, daily cap, the
	// first increment of both legs); a request it refuses is not created
	// and its caller gets the error, a *ValidationError for a refusal.
	Check RequestChecker
}

// RequestChecker vets a new request before it is queued.
type RequestChecker interface {
	CheckRequest(ctx context.Context, r *Request) error
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Create validates r, schedules it (next_call = now + Delay Before Callback
// unless set), and inserts it. The account named by r.Username must exist.
func (s *Service) Create(ctx context.Context, r *Request) error {
	if err := r.validateNew(); err != nil {
		return err
	}
	if err := s.Policy.CheckNew(r, s.now()); err != nil {
		return err
	}
	if _, err := s.Store.GetAccount(ctx, r.Username); err != nil {
		if errors.Is(err, ErrNotFound) {
			return &ValidationError{Field: "username", Reason: fmt.Sprintf("no account %q", r.Username)}
		}
		return fmt.Errorf("create request: look up account: %w", err)
	}
	if r.Source == "" {
		r.Source = SourceAdmin
	}
	if s.Check != nil {
		if err := s.Check.CheckRequest(ctx, r); err != nil {
			return fmt.Errorf("create request for %s: %w", r.Username, err)
		}
	}
	if r.NextCall.IsZero() {
		r.NextCall = s.now().Add(s.Policy.DelayBeforeCallback)
	}
	if err := s.Store.CreateRequest(ctx, r); err != nil {
		return fmt.Errorf("create request for %s: %w", r.Username, err)
	}
	if s.Notify != nil {
		s.Notify()
	}
	return nil
}

// Pending returns the request that already calls cli back, for the
// triggers' "already pending" check (F1): Store.PendingForCLISince with
// the bound callback.max_age sets, so a request too old to be dialled
// (it ends Expired when claimed) never holds a new callback back, nor does
// a row that will never call back. ErrNotFound when there is none.
func (s *Service) Pending(ctx context.Context, cli string) (*Request, error) {
	var since time.Time
	if s.Policy.MaxAge > 0 {
		since = s.now().Add(-s.Policy.MaxAge)
	}
	return s.Store.PendingForCLISince(ctx, cli, since)
}
