package httpapi

import (
	"net/http"
	"time"
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

func (a *api) handleAdminLiveCalls(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	calls, err := a.admin.LiveCalls(r.Context(), act)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		Calls []LiveCallView `json:"calls"`
	}{Calls: []LiveCallView{}}
	for _, c := range calls {
		v := LiveCallView{Request: viewOf(c.Request, nil), Node: c.Node, Duration: int64(c.Duration / time.Second), Legs: []LegView{}}
		for _, l := range c.Legs {
			v.Legs = append(v.Legs, LegView{Leg: string(l.Leg), Number: l.Number, Channel: l.ChannelID, Account: l.Username,
				Started: l.Created.UTC(), Answered: timePtr(l.Answered), Held: l.Amount.String()})
		}
		out.Calls = append(out.Calls, v)
	}
	writeJSON(w, http.StatusOK, out)
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
