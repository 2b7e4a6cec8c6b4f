package admin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// LiveCall is a callback being set up or up now, on whichever node holds
// it: its request, the node (the lease owner), its legs (the money held
// for each while it runs) and how long it has run.
type LiveCall struct {
	Request  *callback.Request
	Node     string
	Legs     []*callback.Reservation
	Duration time.Duration // since the attempt's setup time
}

// LiveFilter selects the live calls of a page: the unfinished requests in
// a live status (callback.Status.Live), by id. Zero fields do not filter.
type LiveFilter struct {
	Status  callback.Status // one live status
	Account string          // the request's account (username)
	Node    string          // the node holding it (lease owner)
	AfterID int64           // cursor: only ids above this
	Limit   int
}

// LiveStore is the part of Store behind the live calls page.
type LiveStore interface {
	// ListLiveRequests returns up to f.Limit requests f selects (by
	// ascending id, f.AfterID and f.Limit as ListRequests's), reading for
	// each live status only the page's rows.
	ListLiveRequests(ctx context.Context, f LiveFilter) ([]*callback.Request, error)
	// CountLiveRequests counts the requests f selects (f.AfterID and
	// f.Limit aside) in one query.
	CountLiveRequests(ctx context.Context, f LiveFilter) (int64, error)
	// RequestReservations returns the reservations (legs) of the requests
	// ids, by request, then creation.
	RequestReservations(ctx context.Context, ids []int64) ([]*callback.Reservation, error)
}

// checkLive refuses a status filter that is not a live status.
func checkLive(f LiveFilter) error {
	if f.Status != "" && !f.Status.Live() {
		return &callback.ValidationError{Field: "status", Reason: "not a live status: want one of " + liveStatusList()}
	}
	return nil
}

// liveStatusList names the live statuses.
func liveStatusList() string {
	var names []string
	for _, st := range LiveStatuses() {
		names = append(names, string(st))
	}
	return strings.Join(names, ", ")
}

// LiveStatuses are the statuses of a call in progress, in the order a
// call goes through them.
func LiveStatuses() []callback.Status {
	var out []callback.Status
	for _, st := range callback.Statuses {
		if st.Live() {
			out = append(out, st)
		}
	}
	return out
}

// LiveCalls returns a page of the calls in progress on every node, oldest
// request (lowest id) first: up to f.Limit requests in a live status with
// their legs, which are read for the page's requests alone. A request
// keeps its id across its attempts, so paging by id lists a call that is
// up throughout once, whatever starts or ends meanwhile.
func (s *Service) LiveCalls(ctx context.Context, a Actor, f LiveFilter) ([]LiveCall, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if err := checkLive(f); err != nil {
		return nil, err
	}
	reqs, err := s.Store.ListLiveRequests(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("live calls: %w", err)
	}
	if len(reqs) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(reqs))
	for i, r := range reqs {
		ids[i] = r.ID
	}
	res, err := s.Store.RequestReservations(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("live calls: %w", err)
	}
	legs := map[int64][]*callback.Reservation{}
	for _, r := range res {
		legs[r.RequestID] = append(legs[r.RequestID], r)
	}
	now := s.now()
	out := make([]LiveCall, len(reqs))
	for i, r := range reqs {
		out[i] = LiveCall{Request: r, Node: r.LeaseOwner, Legs: legs[r.ID]}
		if !r.SetupTime.IsZero() {
			out[i].Duration = now.Sub(r.SetupTime).Truncate(time.Second)
		}
	}
	return out, nil
}

// CountLiveCalls counts the calls in progress f selects (its cursor and
// limit aside), in one query.
func (s *Service) CountLiveCalls(ctx context.Context, a Actor, f LiveFilter) (int64, error) {
	if err := a.Check(PermRead); err != nil {
		return 0, err
	}
	if err := checkLive(f); err != nil {
		return 0, err
	}
	n, err := s.Store.CountLiveRequests(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("count live calls: %w", err)
	}
	return n, nil
}

// HangUp ends a live call: its request is canceled, and the node holding
// it hangs up its legs (support may, as it may cancel).
func (s *Service) HangUp(ctx context.Context, a Actor, id int64) (*callback.Request, error) {
	if err := a.Check(PermCancel); err != nil {
		return nil, err
	}
	return s.Store.CancelAudited(ctx, id, s.now(), s.audit(a, "call.hangup", fmt.Sprintf("request/%d", id)))
}
