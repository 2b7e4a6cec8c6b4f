package webhook

import (
	"encoding/json"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// Event types, the payload's "type".
const (
	// TypeStatusChanged: the request moved to a status other than Finished.
	TypeStatusChanged = "request.status_changed"
	// TypeFinished: the request finished; "result" says how.
	TypeFinished = "request.finished"
)

// Payload is the JSON body of a notification. It is written when the
// status changes, so every attempt (and a resend) POSTs the same bytes, and
// the request's fields are those it had right after that change.
type Payload struct {
	// ID is the history line of the change (callback_request_events.id):
	// every webhook told of one change gets the same id, and a receiver
	// that sees an id twice has a copy.
	ID             int64           `json:"id"`
	Type           string          `json:"type"`
	Time           time.Time       `json:"time"` // when the change happened, UTC
	PreviousStatus callback.Status `json:"previous_status,omitempty"`
	Status         callback.Status `json:"status"`
	Result         callback.Result `json:"result,omitempty"`
	Attempt        int             `json:"attempt"`
	Cause          int             `json:"cause,omitempty"`    // Q.850 cause of the failed leg
	SIPCode        int             `json:"sip_code,omitempty"` // its SIP code
	Note           string          `json:"note,omitempty"`     // the history line's text
	Request        RequestBody     `json:"request"`
}

// RequestBody is the request inside a Payload, named as in the API's
// request resource. Secrets (md5secret) are left out.
type RequestBody struct {
	ID             int64           `json:"id"`
	Username       string          `json:"username,omitempty"`
	Payer          string          `json:"payer,omitempty"`
	OriginalCLI    string          `json:"original_cli,omitempty"`
	OriginalSetCLI string          `json:"original_set_cli,omitempty"`
	OriginalCLD    string          `json:"original_cld,omitempty"`
	Destination    string          `json:"destination,omitempty"`
	AccessNumber   string          `json:"access_number,omitempty"`
	Source         callback.Source `json:"source,omitempty"`
	RequestKey     string          `json:"request_key,omitempty"`
	Language       string          `json:"language,omitempty"`
	Status         callback.Status `json:"status"`
	Result         callback.Result `json:"result,omitempty"`
	Finished       bool            `json:"finished"`
	Canceled       bool            `json:"canceled"`
	CallCount      int             `json:"call_count"`
	Attempt        int             `json:"attempt"`
	CallID         string          `json:"call_id,omitempty"`
	TwowayCallID   string          `json:"twoway_call_id,omitempty"`
	CreationTime   *time.Time      `json:"creation_time,omitempty"`
	NextCall       *time.Time      `json:"next_call,omitempty"`
	SetupTime      *time.Time      `json:"setup_time,omitempty"`
	ConnectTime    *time.Time      `json:"connect_time,omitempty"`
	DisconnectTime *time.Time      `json:"disconnect_time,omitempty"`
	// Duration is the seconds from connect to disconnect of leg A; 0 for
	// a call never answered.
	Duration    int64  `json:"duration,omitempty"`
	LastCause   int    `json:"last_cause,omitempty"`
	LastSIPCode int    `json:"last_sip_code,omitempty"`
	LastError   string `json:"last_error,omitempty"`
}

// NewPayload returns the body telling of event ev (the history line id)
// that moved r, as it is after the change, from prev. r may be nil when the
// row could not be read as a request; the body then carries its id only.
func NewPayload(id int64, prev callback.Status, ev callback.Event, r *callback.Request) Payload {
	p := Payload{ID: id, Type: TypeStatusChanged, Time: ev.Time.UTC(), PreviousStatus: prev, Status: ev.Status, Result: ev.Result,
		Attempt: ev.Attempt, Cause: ev.Cause, SIPCode: ev.SIPCode, Note: ev.Note, Request: RequestBody{ID: ev.RequestID, Status: ev.Status, Result: ev.Result}}
	if ev.Status == callback.StatusFinished {
		p.Type = TypeFinished
	}
	if r == nil {
		return p
	}
	p.Request = RequestBody{ID: r.ID, Username: r.Username, Payer: r.Payer, OriginalCLI: r.OriginalCLI, OriginalSetCLI: r.OriginalSetCLI,
		OriginalCLD: r.OriginalCLD, Destination: r.Destination, AccessNumber: r.AccessNumber, Source: r.Source, RequestKey: r.RequestKey,
		Language: r.Language, Status: r.Status, Result: r.Result, Finished: r.Finished, Canceled: r.Canceled, CallCount: r.CallCount,
		Attempt: r.Attempt, CallID: r.CallID, TwowayCallID: r.TwowayCallID, CreationTime: timePtr(r.CreationTime), NextCall: timePtr(r.NextCall),
		SetupTime: timePtr(r.SetupTime), ConnectTime: timePtr(r.ConnectTime), DisconnectTime: timePtr(r.DisconnectTime),
		LastCause: r.LastCause, LastSIPCode: r.LastSIPCode, LastError: r.LastError}
	if !r.ConnectTime.IsZero() && r.DisconnectTime.After(r.ConnectTime) {
		p.Request.Duration = int64(r.DisconnectTime.Sub(r.ConnectTime) / time.Second)
	}
	return p
}

// Marshal returns p as JSON.
func (p Payload) Marshal() ([]byte, error) { return json.Marshal(p) }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
