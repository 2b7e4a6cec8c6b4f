package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// LegView is one leg of a live call.
type LegView struct {
	Leg      string     `json:"leg"`
	Number   string     `json:"number,omitempty"`
	Channel  string     `json:"channel_id,omitempty"`
	Account  string     `json:"account"`
	Started  time.Time  `json:"started"`
	Answered *time.Time `json:"answered,omitempty"`
	Held     string     `json:"held"`
}

// LiveCallView is a call in progress.
type LiveCallView struct {
	Request  RequestView `json:"request"`
	Node     string      `json:"node,omitempty"`
	Duration int64       `json:"duration"`
	Legs     []LegView   `json:"legs"`
}

// LiveCallsView is a page of live calls: Total counts every live call the
// filter selects, Next is the cursor of the next page (empty on the last).
type LiveCallsView struct {
	Calls []LiveCallView `json:"calls"`
	Total int64          `json:"total"`
	Next  string         `json:"next,omitempty"`
}

func (a *api) handleAdminLiveCalls(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.liveCalls(r, act)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// liveCalls reads the page the query asks for: status, account, node,
// after (the next of the previous page) and limit.
func (a *api) liveCalls(r *http.Request, act admin.Actor) (LiveCallsView, error) {
	q, err := adminQuery(r, "status", "account", "node", "after", "limit")
	if err != nil {
		return LiveCallsView{}, err
	}
	f := admin.LiveFilter{Status: callback.Status(q["status"]), Account: q["account"], Node: q["node"]}
	limit, err := pageSize(q)
	if err != nil {
		return LiveCallsView{}, err
	}
	if f.AfterID, err = parseIDParam(q, "after"); err != nil {
		return LiveCallsView{}, err
	}
	// One row more than the page tells whether there is a next page.
	f.Limit = limit + 1
	calls, err := a.admin.LiveCalls(r.Context(), act, f)
	if err != nil {
		return LiveCallsView{}, err
	}
	out := LiveCallsView{Calls: make([]LiveCallView, 0, min(len(calls), limit))}
	if out.Total, err = a.admin.CountLiveCalls(r.Context(), act, f); err != nil {
		return LiveCallsView{}, err
	}
	for i, c := range calls {
		if i == limit {
			out.Next = strconv.FormatInt(calls[i-1].Request.ID, 10)
			break
		}
		v := LiveCallView{Request: viewOf(c.Request, nil), Node: c.Node, Duration: int64(c.Duration / time.Second), Legs: []LegView{}}
		for _, l := range c.Legs {
			v.Legs = append(v.Legs, LegView{Leg: string(l.Leg), Number: l.Number, Channel: l.ChannelID, Account: l.Username,
				Started: l.Created.UTC(), Answered: timePtr(l.Answered), Held: l.Amount.String()})
		}
		out.Calls = append(out.Calls, v)
	}
	return out, nil
}

func (a *api) handleAdminHangUp(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	id, err := pathID(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	req, err := a.admin.HangUp(r.Context(), act, id)
	if err != nil {
		a.adminFail(w, r, err, "call")
		return
	}
	if req.Finished {
		// No node held it: it is finished now (or was already).
		writeJSON(w, http.StatusOK, viewOf(req, nil))
		return
	}
	writeJSON(w, http.StatusAccepted, viewOf(req, nil))
}
