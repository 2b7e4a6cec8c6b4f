package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// The operations on requests, shared by the JSON API and XML-RPC: both
// decode their input into the same structs (XML-RPC through JSON, so the
// member names cannot drift apart) and answer with the same views.

// CreateInput is the body of POST /api/v1/requests and the struct of
// callback.create. Names are the seed's callback_requests columns.
type CreateInput struct {
	// Username is the account the callback is made for: required with an
	// operator token; an account may only name itself.
	Username string `json:"username,omitempty"`
	// OriginalCLI is the number to call back.
	OriginalCLI string `json:"original_cli"`
	// OriginalCLD is the sub-application: "2way_<number>" or
	// "callingcard[_<lang>...]"; empty means the calling card, unless
	// Destination is set.
	OriginalCLD string `json:"original_cld,omitempty"`
	// Destination is the second leg's number: a 2-way callback to it.
	Destination string `json:"destination,omitempty"`
	// OriginalSetCLI is the caller ID presented on the callback leg.
	OriginalSetCLI string `json:"original_set_cli,omitempty"`
	// CreditTime caps the callback leg, in seconds; 0 is no cap.
	CreditTime int `json:"credit_time,omitempty"`
	// NextCall schedules the callback (RFC 3339); empty: Delay Before
	// Callback from now.
	NextCall string `json:"next_call,omitempty"`
	// RequestKey is the idempotency key, for clients that cannot send the
	// Idempotency-Key header.
	RequestKey string `json:"request_key,omitempty"`

	// The seed's identity columns (seed 001). TwowayCLI is leg B's caller
	// ID. Authname and TwowayAuthname name the SIP identity the legs are
	// placed as: an account may only name itself. The md5secrets (HA1,
	// 32 hex digits) and the preset channel ids (CallID, TwowayCallID)
	// need an operator token: they let a caller act as another identity
	// or take over another call's channel.
	TwowayCLI       string `json:"twoway_cli,omitempty"`
	Authname        string `json:"authname,omitempty"`
	MD5Secret       string `json:"md5secret,omitempty"`
	TwowayAuthname  string `json:"twoway_authname,omitempty"`
	TwowayMD5Secret string `json:"twoway_md5secret,omitempty"`
	CallID          string `json:"call_id,omitempty"`
	TwowayCallID    string `json:"twoway_call_id,omitempty"`
}

// authnamePattern is what an authname may hold: a SIP user part of
// unreserved characters, which the per-identity auth object takes as is.
var authnamePattern = regexp.MustCompile(`^[A-Za-z0-9._~+-]{1,128}$`)

// maxCallIDLen is Asterisk's AST_MAX_PUBLIC_UNIQUEID: a preset call_id is
// the channel id of its leg.
const maxCallIDLen = 149

// validCallID reports whether s can be a channel id: printable ASCII
// without a comma (which would split addChannel?channel=a,b).
func validCallID(s string) bool {
	if len(s) == 0 || len(s) > maxCallIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// applyIdentity checks and copies the identity fields of in onto r.
func applyIdentity(r *callback.Request, p principal, in CreateInput) error {
	if in.TwowayCLI != "" && !callback.ValidDestination(in.TwowayCLI) {
		return invalid("twoway_cli", fmt.Sprintf("%q is not a caller ID number", in.TwowayCLI))
	}
	for _, f := range []struct{ name, v string }{{"authname", in.Authname}, {"twoway_authname", in.TwowayAuthname}} {
		if f.v == "" {
			continue
		}
		if !authnamePattern.MatchString(f.v) {
			return invalid(f.name, "1 to 128 letters, digits and ._~+-")
		}
		if !p.operator && f.v != r.Username {
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Field: f.name,
				Message: "an account places calls as itself only; another identity needs an API token"}
		}
	}
	for _, f := range []struct{ name, v string }{{"md5secret", in.MD5Secret}, {"twoway_md5secret", in.TwowayMD5Secret}} {
		if f.v == "" {
			continue
		}
		if !p.operator {
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Field: f.name, Message: f.name + " needs an API token"}
		}
		if !callback.IsHA1(f.v) {
			return invalid(f.name, "not an HA1 (32 hex digits)")
		}
	}
	for _, f := range []struct{ name, v string }{{"call_id", in.CallID}, {"twoway_call_id", in.TwowayCallID}} {
		if f.v == "" {
			continue
		}
		if !p.operator {
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Field: f.name, Message: f.name + " needs an API token"}
		}
		if !validCallID(f.v) {
			return invalid(f.name, fmt.Sprintf("1 to %d printable characters without a comma: it becomes the leg's channel id", maxCallIDLen))
		}
	}
	if in.CallID != "" && in.CallID == in.TwowayCallID {
		return invalid("twoway_call_id", "the same as call_id: the legs need distinct channel ids")
	}
	r.TwowayCLI, r.Authname, r.MD5Secret = in.TwowayCLI, in.Authname, in.MD5Secret
	r.TwowayAuthname, r.TwowayMD5Secret = in.TwowayAuthname, in.TwowayMD5Secret
	r.CallID, r.TwowayCallID = in.CallID, in.TwowayCallID
	return nil
}

// sameIdentity reports whether prev, a request found by its idempotency
// key, was created with the identity fields of r. Call ids are compared
// only when given: a request that had none gets generated ones when it is
// dialled.
func sameIdentity(prev, r *callback.Request) bool {
	return prev.TwowayCLI == r.TwowayCLI && prev.Identity() == r.Identity() && strings.EqualFold(prev.MD5Secret, r.MD5Secret) &&
		prev.TwowayAuthname == r.TwowayAuthname && strings.EqualFold(prev.TwowayMD5Secret, r.TwowayMD5Secret) &&
		(r.CallID == "" || prev.CallID == r.CallID) && (r.TwowayCallID == "" || prev.TwowayCallID == r.TwowayCallID)
}

// listInput is the query of GET /api/v1/requests and the struct of
// callback.list.
type listInput struct {
	Status   string `json:"status,omitempty"`
	Result   string `json:"result,omitempty"`
	Username string `json:"username,omitempty"`
	CLI      string `json:"cli,omitempty"`
	Finished *bool  `json:"finished,omitempty"`
	// After is the cursor: the "next" of the previous page.
	After flexInt `json:"after,omitempty"`
	Limit int     `json:"limit,omitempty"`
}

// idInput is the struct of callback.get and callback.cancel.
type idInput struct {
	ID flexInt `json:"id"`
}

// flexInt is an id or cursor, given as a number or as a decimal string.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		// The decoder fills in the field name of a type error.
		return &json.UnmarshalTypeError{Value: "value " + truncate(string(b), 32), Type: reflect.TypeFor[int64]()}
	}
	*f = flexInt(n)
	return nil
}

// RequestView is a request as the API shows it: the seed's columns, minus
// the md5secret fields and the lease, plus the history when asked for.
type RequestView struct {
	ID             int64       `json:"id"`
	Username       string      `json:"username"`
	OriginalCLI    string      `json:"original_cli"`
	OriginalSetCLI string      `json:"original_set_cli,omitempty"`
	OriginalCLD    string      `json:"original_cld,omitempty"`
	TwowayCLI      string      `json:"twoway_cli,omitempty"`
	Authname       string      `json:"authname,omitempty"`
	TwowayAuthname string      `json:"twoway_authname,omitempty"`
	CallID         string      `json:"call_id,omitempty"`
	TwowayCallID   string      `json:"twoway_call_id,omitempty"`
	Destination    string      `json:"destination,omitempty"`
	CreditTime     int         `json:"credit_time,omitempty"`
	NextCall       time.Time   `json:"next_call"`
	CallCount      int         `json:"call_count"`
	Canceled       bool        `json:"canceled"`
	Finished       bool        `json:"finished"`
	Status         string      `json:"status"`
	Result         string      `json:"result,omitempty"`
	Source         string      `json:"source,omitempty"`
	RequestKey     string      `json:"request_key,omitempty"`
	CreationTime   time.Time   `json:"creation_time"`
	SetupTime      *time.Time  `json:"setup_time,omitempty"`
	ConnectTime    *time.Time  `json:"connect_time,omitempty"`
	DisconnectTime *time.Time  `json:"disconnect_time,omitempty"`
	LastCause      int         `json:"last_cause,omitempty"`
	LastCauseName  string      `json:"last_cause_name,omitempty"`
	LastSIPCode    int         `json:"last_sip_code,omitempty"`
	LastError      string      `json:"last_error,omitempty"`
	History        []EventView `json:"history,omitempty"`
}

// EventView is one line of a request's status history.
type EventView struct {
	Time      time.Time `json:"time"`
	Attempt   int       `json:"attempt"`
	Status    string    `json:"status"`
	Result    string    `json:"result,omitempty"`
	Cause     int       `json:"cause,omitempty"`
	CauseName string    `json:"cause_name,omitempty"`
	SIPCode   int       `json:"sip_code,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// ListView is a page of requests; Next is the cursor of the next page, empty
// on the last.
type ListView struct {
	Requests []RequestView `json:"requests"`
	Next     string        `json:"next,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func causeName(c int) string {
	if c == 0 {
		return ""
	}
	return callback.Cause(c).String()
}

func viewOf(r *callback.Request, history []callback.Event) RequestView {
	v := RequestView{
		ID: r.ID, Username: r.Username, OriginalCLI: r.OriginalCLI, OriginalSetCLI: r.OriginalSetCLI,
		OriginalCLD: r.OriginalCLD, Destination: r.Destination, CreditTime: r.CreditTime,
		TwowayCLI: r.TwowayCLI, Authname: r.Authname, TwowayAuthname: r.TwowayAuthname, CallID: r.CallID, TwowayCallID: r.TwowayCallID,
		NextCall: r.NextCall.UTC(), CallCount: r.CallCount, Canceled: r.Canceled, Finished: r.Finished,
		Status: string(r.Status), Result: string(r.Result), Source: string(r.Source),
		RequestKey: clientKey(r.Username, r.RequestKey), CreationTime: r.CreationTime.UTC(),
		SetupTime: timePtr(r.SetupTime), ConnectTime: timePtr(r.ConnectTime), DisconnectTime: timePtr(r.DisconnectTime),
		LastCause: r.LastCause, LastCauseName: causeName(r.LastCause), LastSIPCode: r.LastSIPCode, LastError: r.LastError,
	}
	for _, e := range history {
		v.History = append(v.History, EventView{
			Time: e.Time.UTC(), Attempt: e.Attempt, Status: string(e.Status), Result: string(e.Result),
			Cause: e.Cause, CauseName: causeName(e.Cause), SIPCode: e.SIPCode, Note: e.Note,
		})
	}
	return v
}

// Idempotency keys are stored namespaced by account, so one account's keys
// can neither collide with nor reveal another's.
const apiKeyPrefix = "api:"

func storedKey(username, key string) string { return apiKeyPrefix + username + "/" + key }

// clientKey is the key as the client sent it.
func clientKey(username, stored string) string {
	if k, ok := strings.CutPrefix(stored, storedKey(username, "")); ok {
		return k
	}
	return stored
}

const maxKeyLen = 128

func validKey(k string) bool {
	if len(k) == 0 || len(k) > maxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// create validates in for p, and inserts the request, or returns the one
// created earlier with the same idempotency key (created false).
func (a *api) create(ctx context.Context, p principal, in CreateInput, headerKey string) (*callback.Request, bool, error) {
	key := in.RequestKey
	if headerKey != "" {
		if key != "" && key != headerKey {
			return nil, false, invalid("request_key", "differs from the Idempotency-Key header")
		}
		key = headerKey
	}
	if key != "" && !validKey(key) {
		return nil, false, invalid("request_key", fmt.Sprintf("an idempotency key is 1 to %d printable ASCII characters", maxKeyLen))
	}
	username := in.Username
	switch {
	case p.operator && username == "":
		return nil, false, invalid("username", "required with an API token: the account the callback is for")
	case !p.operator && username != "" && username != p.username:
		return nil, false, newError(http.StatusForbidden, CodeForbidden, "an account creates requests for itself only")
	case !p.operator:
		username = p.username
	}

	r := callback.NewRequest(callback.SourceAPI)
	r.Username = username
	r.OriginalCLI = in.OriginalCLI
	r.OriginalSetCLI = in.OriginalSetCLI
	r.CreditTime = in.CreditTime
	if err := a.applyCLD(r, in); err != nil {
		return nil, false, err
	}
	if in.OriginalSetCLI != "" && !callback.ValidDestination(in.OriginalSetCLI) {
		return nil, false, invalid("original_set_cli", fmt.Sprintf("%q is not a caller ID number", in.OriginalSetCLI))
	}
	if err := applyIdentity(r, p, in); err != nil {
		return nil, false, err
	}
	if in.NextCall != "" {
		t, err := time.Parse(time.RFC3339, in.NextCall)
		if err != nil {
			return nil, false, invalid("next_call", "want an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
		// The dispatcher expires requests older than max_age counted from
		// their creation: a callback scheduled beyond it could never run.
		if maxAge := a.svc.Policy.MaxAge; maxAge > 0 && t.Sub(a.now()) >= maxAge {
			return nil, false, invalid("next_call", fmt.Sprintf("more than %s ahead: the request would expire before it is due", maxAge))
		}
		r.NextCall = t
	}
	if key != "" {
		r.RequestKey = storedKey(username, key)
		if len(r.RequestKey) > 255 {
			return nil, false, invalid("request_key", "too long for this account")
		}
	}
	if !p.operator {
		if ok, wait := a.perAccount.TakeContext(ctx, username); !ok {
			return nil, false, &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
				Message: "too many requests for this account; slow down", RetryAfter: wait}
		}
	}

	err := a.svc.Create(ctx, r)
	if err == nil {
		return r, true, nil
	}
	if !errors.Is(err, callback.ErrConflict) || key == "" {
		return nil, false, err
	}
	// The key exists: a retried POST. Inserting first and reading on
	// conflict saves the lookup on every first try.
	prev, gerr := a.store.GetRequestByKey(ctx, r.RequestKey)
	if gerr != nil {
		return nil, false, fmt.Errorf("idempotent create: read request by key: %w", gerr)
	}
	if prev.Username != r.Username || prev.OriginalCLI != r.OriginalCLI || prev.OriginalCLD != r.OriginalCLD ||
		prev.OriginalSetCLI != r.OriginalSetCLI || prev.CreditTime != r.CreditTime || !sameIdentity(prev, r) {
		return nil, false, &Error{Status: http.StatusConflict, Code: CodeConflict, Field: "request_key",
			Message: "this idempotency key was used for a different request"}
	}
	return prev, false, nil
}

// applyCLD sets original_cld and destination: a destination makes a 2-way
// callback to it; otherwise original_cld is taken as given, and an empty
// one is the calling card.
func (a *api) applyCLD(r *callback.Request, in CreateInput) error {
	if in.Destination != "" {
		if !callback.ValidDestination(in.Destination) {
			return invalid("destination", fmt.Sprintf("%q is not a number that can be called", in.Destination))
		}
		cld := "2way_" + in.Destination
		if in.OriginalCLD != "" && in.OriginalCLD != cld {
			return invalid("original_cld", "conflicts with destination: give one of them")
		}
		r.OriginalCLD, r.Destination = cld, in.Destination
		return nil
	}
	if in.OriginalCLD == "" {
		r.OriginalCLD = string(callback.SubAppCallingCard)
		return nil
	}
	cld, err := callback.ParseCLD(in.OriginalCLD)
	if err != nil {
		return err
	}
	r.OriginalCLD = in.OriginalCLD
	if cld.App == callback.SubAppTwoWay {
		r.Destination = cld.Destination
	}
	return nil
}

// get returns request id with its history, if p may see it.
func (a *api) get(ctx context.Context, p principal, id int64) (RequestView, error) {
	r, err := a.store.GetRequest(ctx, id)
	if err != nil {
		return RequestView{}, err
	}
	if !p.owns(r.Username) {
		// Another account's request reads as absent, not as forbidden.
		return RequestView{}, fmt.Errorf("request %d: %w", id, callback.ErrNotFound)
	}
	h, err := a.store.History(ctx, id)
	if err != nil {
		return RequestView{}, err
	}
	return viewOf(r, h), nil
}

const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// list returns a page of the requests p may see.
func (a *api) list(ctx context.Context, p principal, in listInput) (ListView, error) {
	f := callback.RequestFilter{
		Status: callback.Status(in.Status), Result: callback.Result(in.Result),
		Username: in.Username, CLI: in.CLI, Finished: in.Finished, AfterID: int64(in.After),
	}
	if f.Status != "" && !f.Status.Valid() {
		return ListView{}, invalid("status", fmt.Sprintf("%q is not a status", in.Status))
	}
	if f.Result != "" && !f.Result.Valid() {
		return ListView{}, invalid("result", fmt.Sprintf("%q is not a result", in.Result))
	}
	if !p.operator {
		if f.Username != "" && f.Username != p.username {
			return ListView{}, newError(http.StatusForbidden, CodeForbidden, "an account lists its own requests only")
		}
		f.Username = p.username
	}
	limit := in.Limit
	switch {
	case limit == 0:
		limit = defaultPageSize
	case limit < 0 || limit > maxPageSize:
		return ListView{}, invalid("limit", fmt.Sprintf("want 1 to %d", maxPageSize))
	}
	// One row more than the page tells whether there is a next page,
	// without a trailing empty one.
	f.Limit = limit + 1
	rows, err := a.store.ListRequests(ctx, f)
	if err != nil {
		return ListView{}, err
	}
	out := ListView{Requests: make([]RequestView, 0, min(len(rows), limit))}
	for i, r := range rows {
		if i == limit {
			out.Next = strconv.FormatInt(rows[i-1].ID, 10)
			break
		}
		out.Requests = append(out.Requests, viewOf(r, nil))
	}
	return out, nil
}

// cancel cancels request id for p. A request no node holds is finished
// Canceled at once; a live one is hung up by its holder.
func (a *api) cancel(ctx context.Context, p principal, id int64) (*callback.Request, error) {
	r, err := a.store.GetRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.owns(r.Username) {
		return nil, fmt.Errorf("request %d: %w", id, callback.ErrNotFound)
	}
	if r.Finished && r.Result != callback.ResultCanceled {
		return nil, &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: fmt.Sprintf("the request already finished: %s", r.Result)}
	}
	got, err := a.store.Cancel(ctx, id, a.now())
	if err != nil {
		return nil, err
	}
	if got.Finished && got.Result != callback.ResultCanceled {
		// It finished between the read and the cancel.
		return nil, &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: fmt.Sprintf("the request already finished: %s", got.Result)}
	}
	return got, nil
}

// JSON handlers.

func (a *api) handleCreate(w http.ResponseWriter, r *http.Request) {
	p, err := a.authenticate(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var in CreateInput
	if err := a.decodeJSONBody(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	req, created, err := a.create(r.Context(), p, in, r.Header.Get("Idempotency-Key"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/requests/"+strconv.FormatInt(req.ID, 10))
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, viewOf(req, nil))
}

// authenticateWithID is the start of the handlers of one request: who
// asks, and the request id of the path.
func (a *api) authenticateWithID(r *http.Request) (principal, int64, error) {
	p, err := a.authenticate(r)
	if err != nil {
		return p, 0, err
	}
	id, err := pathID(r)
	return p, id, err
}

func pathID(r *http.Request) (int64, error) { return pathIDOf(r, "request") }

// pathIDOf reads the {id} of the path, the id of a what.
func pathIDOf(r *http.Request, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, invalid("id", "not a "+what+" id")
	}
	return id, nil
}

func (a *api) handleGet(w http.ResponseWriter, r *http.Request) {
	p, id, err := a.authenticateWithID(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	v, err := a.get(r.Context(), p, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *api) handleList(w http.ResponseWriter, r *http.Request) {
	p, err := a.authenticate(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := parseListQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	page, err := a.list(r.Context(), p, in)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// parseListQuery reads the list filters from the query string, strictly:
// an unknown or repeated parameter is an error, not silently ignored.
func parseListQuery(r *http.Request) (listInput, error) {
	q, err := urlQuery(r)
	if err != nil {
		return listInput{}, err
	}
	var in listInput
	for name, vals := range q {
		if len(vals) != 1 {
			return listInput{}, invalid(name, "given more than once")
		}
		v := vals[0]
		switch name {
		case "status":
			in.Status = v
		case "result":
			in.Result = v
		case "username":
			in.Username = v
		case "cli":
			in.CLI = v
		case "finished":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return listInput{}, invalid(name, "want true or false")
			}
			in.Finished = &b
		case "after":
			if err := in.After.UnmarshalJSON([]byte(v)); err != nil {
				return listInput{}, invalid(name, "not a cursor: pass the next of the previous page")
			}
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return listInput{}, invalid(name, fmt.Sprintf("want 1 to %d", maxPageSize))
			}
			in.Limit = n
		default:
			return listInput{}, invalid(truncate(name, 64), "unknown query parameter")
		}
	}
	return in, nil
}

func (a *api) handleCancel(w http.ResponseWriter, r *http.Request) {
	p, id, err := a.authenticateWithID(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	req, err := a.cancel(r.Context(), p, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if !req.Finished {
		// A node holds the call and hangs it up; the request finishes then.
		status = http.StatusAccepted
	}
	writeJSON(w, status, viewOf(req, nil))
}

// JSON decoding.

// decodeJSONBody checks the content type and decodes the body strictly.
func (a *api) decodeJSONBody(w http.ResponseWriter, r *http.Request, v any) error {
	if !isMediaType(r.Header.Get("Content-Type"), "application/json") {
		return newError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "send application/json")
	}
	body, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}

// decodeStrict decodes exactly one JSON value into v, refusing fields v
// does not have, and turns the decoder's errors into API errors naming the
// field.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return newError(http.StatusBadRequest, CodeMalformedRequest, "the body must hold one JSON value")
	}
	// More reports only values; trailing garbage shows as a token error.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newError(http.StatusBadRequest, CodeMalformedRequest, "the body must hold one JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var (
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return newError(http.StatusBadRequest, CodeMalformedRequest, "empty body: want a JSON object")
	case errors.As(err, &se):
		return newError(http.StatusBadRequest, CodeMalformedRequest, fmt.Sprintf("invalid JSON at byte %d", se.Offset))
	case errors.As(err, &ute):
		if ute.Field == "" {
			return newError(http.StatusBadRequest, CodeMalformedRequest, "want a JSON object")
		}
		return invalid(truncate(ute.Field, 64), "wrong type: want "+jsonType(ute.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return invalid(truncate(name, 64), "unknown field")
	}
	var fe fieldError
	if errors.As(err, &fe) {
		return invalid(fe.field, fe.msg)
	}
	// Unexpected EOF and the like.
	return newError(http.StatusBadRequest, CodeMalformedRequest, "invalid JSON: "+truncate(err.Error(), 120))
}

// fieldError lets a custom decoder name its field.
type fieldError struct{ field, msg string }

func (e fieldError) Error() string { return e.field + ": " + e.msg }

func jsonType(kind string) string {
	switch kind {
	case "int", "int64", "int32":
		return "an integer"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	case "ptr":
		return "true or false"
	}
	return kind
}

// truncate bounds text reflected from the client, counting bytes and
// cutting at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// isMediaType reports whether the Content-Type header names want, with any
// parameters (charset).
func isMediaType(header, want string) bool {
	mt, _, _ := strings.Cut(header, ";")
	return strings.EqualFold(strings.TrimSpace(mt), want)
}

// urlQuery parses the query string, refusing malformed escapes instead of
// dropping the parameter the way URL.Query does.
func urlQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, newError(http.StatusBadRequest, CodeMalformedRequest, "malformed query string")
	}
	return q, nil
}
