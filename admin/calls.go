package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// maxLiveCalls bounds the live calls listed per status.
const maxLiveCalls = 1000

// LiveCall is a callback being set up or up now, on whichever node holds
// it: its request, the node (the lease owner), its legs (the money held
// for each while it runs) and how long it has run.
type LiveCall struct {
	Request  *callback.Request
	Node     string
	Legs     []*callback.Reservation
	Duration time.Duration // since the attempt's setup time
}

// LiveCalls lists the calls in progress on every node, oldest first by
// status: the requests in a live status (callback.Status.Live) with their
// legs, read from the shared store.
func (s *Service) LiveCalls(ctx context.Context, a Actor) ([]LiveCall, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	res, err := s.Store.ListReservations(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("live calls: %w", err)
	}
	legs := map[int64][]*callback.Reservation{}
	for _, r := range res {
		legs[r.RequestID] = append(legs[r.RequestID], r)
	}
	no := false
	now := s.now()
	var out []LiveCall
	for _, st := range callback.Statuses {
		if !st.Live() {
			continue
		}
		reqs, err := s.Store.ListRequests(ctx, callback.RequestFilter{Status: st, Finished: &no, Limit: maxLiveCalls})
		if err != nil {
			return nil, fmt.Errorf("live calls: %w", err)
		}
		for _, r := range reqs {
			c := LiveCall{Request: r, Node: r.LeaseOwner, Legs: legs[r.ID]}
			if !r.SetupTime.IsZero() {
				c.Duration = now.Sub(r.SetupTime).Truncate(time.Second)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// HangUp ends a live call: its request is canceled, and the node holding
// it hangs up its legs (support may, as it may cancel).
func (s *Service) HangUp(ctx context.Context, a Actor, id int64) (*callback.Request, error) {
	if err := a.Check(PermCancel); err != nil {
		return nil, err
	}
	return s.Store.CancelAudited(ctx, id, s.now(), s.audit(a, "call.hangup", fmt.Sprintf("request/%d", id)))
}
