package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// The admin API, /api/v1/admin/...: what an operator runs the service
// with. Every handler authenticates an operator by their API token,
// checks their role through admin.Service, and leaves every rule to it.

func (a *api) adminRoutes() []route {
	return append([]route{
		{"GET /api/v1/admin/accounts", false, a.handleAdminListAccounts},
		{"POST /api/v1/admin/accounts", false, a.handleAdminCreateAccount},
		{"GET /api/v1/admin/accounts/{username}", false, a.handleAdminGetAccount},
		{"PATCH /api/v1/admin/accounts/{username}", false, a.handleAdminUpdateAccount},
		{"DELETE /api/v1/admin/accounts/{username}", false, a.handleAdminDeleteAccount},
		{"POST /api/v1/admin/accounts/{username}/block", false, a.handleAdminBlock(true)},
		{"POST /api/v1/admin/accounts/{username}/unblock", false, a.handleAdminBlock(false)},
		{"GET /api/v1/admin/accounts/{username}/ledger", false, a.handleAdminListLedger},
		{"POST /api/v1/admin/accounts/{username}/ledger", false, a.handleAdminPostLedger},
		{"GET /api/v1/admin/accounts/{username}/clis", false, a.handleAdminListCLIs},
		{"POST /api/v1/admin/accounts/{username}/clis", false, a.handleAdminAddCLI},
		{"DELETE /api/v1/admin/accounts/{username}/clis/{cli}", false, a.handleAdminRemoveCLI},
		{"GET /api/v1/admin/access-numbers", false, a.handleAdminListAccessNumbers},
		{"POST /api/v1/admin/access-numbers", false, a.handleAdminCreateAccessNumber},
		{"GET /api/v1/admin/access-numbers/{number}", false, a.handleAdminGetAccessNumber},
		{"PATCH /api/v1/admin/access-numbers/{number}", false, a.handleAdminUpdateAccessNumber},
		{"DELETE /api/v1/admin/access-numbers/{number}", false, a.handleAdminDeleteAccessNumber},
		{"GET /api/v1/admin/requests", false, a.handleAdminListRequests},
		{"GET /api/v1/admin/requests/{id}", false, a.handleAdminGetRequest},
		{"POST /api/v1/admin/requests/{id}/cancel", false, a.handleAdminCancel},
		{"POST /api/v1/admin/requests/{id}/retry", false, a.handleAdminRetry},
		{"GET /api/v1/admin/cdrs", false, a.handleAdminListCDRs},
		{"GET /api/v1/admin/cdrs.csv", false, a.handleAdminExportCDRs},
		{"GET /api/v1/admin/reports", false, a.handleAdminReport},
		{"GET /api/v1/admin/audit", false, a.handleAdminAudit},
		{"GET /api/v1/admin/operators", false, a.handleAdminListOperators},
		{"POST /api/v1/admin/operators", false, a.handleAdminCreateOperator},
		{"PATCH /api/v1/admin/operators/{name}", false, a.handleAdminUpdateOperator},
		{"POST /api/v1/admin/operators/{name}/tokens", false, a.handleAdminNewToken},
		{"GET /api/v1/admin/tariffs", false, a.handleAdminListTariffs},
		{"GET /api/v1/admin/tariffs/{tariff}/rates", false, a.handleAdminListRates},
		{"GET /api/v1/admin/tariffs/{tariff}/rates.csv", false, a.handleAdminExportRates},
		{"POST /api/v1/admin/tariffs/{tariff}/rates.csv", false, a.handleAdminImportRates},
		{"GET /api/v1/admin/calls", false, a.handleAdminLiveCalls},
		{"POST /api/v1/admin/calls/{id}/hangup", false, a.handleAdminHangUp},
		{"GET /api/v1/admin/currencies", false, a.handleAdminListCurrencies},
		{"PUT /api/v1/admin/currencies/{code}", false, a.handleAdminPutCurrency},
	}, a.adminWebhookRoutes()...)
}

// adminActor authenticates the operator of r by the Bearer token and
// returns them as the actor of the request's change, with its
// Idempotency-Key and a hash of what it asks (method, path, body).
func (a *api) adminActor(r *http.Request, body []byte) (admin.Actor, error) {
	if a.admin == nil {
		return admin.Actor{}, newError(http.StatusNotFound, CodeNotFound, "the admin API is not enabled")
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return admin.Actor{}, newError(http.StatusUnauthorized, CodeUnauthenticated, "credentials required: Bearer with an operator's API token")
	}
	src := clientAddrOf(r)
	if !a.tokenFailures.Peek(r.Context(), src).Token {
		return admin.Actor{}, &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
			Message: "too many failed attempts; try again later", RetryAfter: a.tokenFailures.Limit().Every}
	}
	op, err := a.admin.ByToken(r.Context(), strings.TrimSpace(tok))
	if errors.Is(err, admin.ErrBadCredentials) {
		a.tokenFailures.TakeContext(r.Context(), src)
		a.log.Warn("operator token refused", "source", src)
		return admin.Actor{}, newError(http.StatusUnauthorized, CodeUnauthenticated, badCredentials)
	}
	if err != nil {
		return admin.Actor{}, err
	}
	infoOf(r).account = "operator:" + op.Name
	act := admin.Actor{Name: op.Name, Role: op.Role}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if !validKey(key) {
			return act, invalid("Idempotency-Key", fmt.Sprintf("1 to %d printable ASCII characters", maxKeyLen))
		}
		h := sha256.New()
		fmt.Fprintf(h, "%s %s\x00", r.Method, r.URL.Path)
		h.Write(body)
		act.IdempotencyKey, act.RequestHash = key, hex.EncodeToString(h.Sum(nil))
	}
	return act, nil
}

// adminReader authenticates the operator of a read and checks they may
// read; on failure it has answered and ok is false.
func (a *api) adminReader(w http.ResponseWriter, r *http.Request) (act admin.Actor, ok bool) {
	act, err := a.adminActor(r, nil)
	if err == nil {
		err = act.Check(admin.PermRead)
	}
	if err != nil {
		a.writeError(w, r, err)
		return admin.Actor{}, false
	}
	return act, true
}

// adminPage reads what an admin list begins with: its reading operator,
// the query (keys, which must include "limit") and the page size; on a
// failure it has answered and ok is false.
func (a *api) adminPage(w http.ResponseWriter, r *http.Request, keys ...string) (act admin.Actor, q map[string]string, limit int, ok bool) {
	act, ok = a.adminReader(w, r)
	if !ok {
		return admin.Actor{}, nil, 0, false
	}
	q, err := adminQuery(r, keys...)
	if err == nil {
		limit, err = pageSize(q)
	}
	if err != nil {
		a.writeError(w, r, err)
		return admin.Actor{}, nil, 0, false
	}
	return act, q, limit, true
}

// adminRequest reads the JSON body of a change and authenticates its
// operator; on failure it has answered and ok is false.
func (a *api) adminRequest(w http.ResponseWriter, r *http.Request) (body []byte, act admin.Actor, ok bool) {
	body, err := a.adminBody(w, r)
	if err == nil {
		act, err = a.adminActor(r, body)
	}
	if err != nil {
		a.writeError(w, r, err)
		return nil, admin.Actor{}, false
	}
	return body, act, true
}

// adminUpdate is adminRequest for a change that names the version it
// changes: it also reads If-Match (428 without).
func (a *api) adminUpdate(w http.ResponseWriter, r *http.Request) (body []byte, act admin.Actor, match string, ok bool) {
	if body, act, ok = a.adminRequest(w, r); !ok {
		return nil, admin.Actor{}, "", false
	}
	match, err := ifMatch(r)
	if err != nil {
		a.writeError(w, r, err)
		return nil, admin.Actor{}, "", false
	}
	return body, act, match, true
}

// adminDelete authenticates the operator of a DELETE and reads its
// If-Match (428 without); on failure it has answered and ok is false.
func (a *api) adminDelete(w http.ResponseWriter, r *http.Request) (act admin.Actor, match string, ok bool) {
	act, err := a.adminActor(r, nil)
	if err == nil {
		match, err = ifMatch(r)
	}
	if err != nil {
		a.writeError(w, r, err)
		return admin.Actor{}, "", false
	}
	return act, match, true
}

// adminBody reads a JSON body (any content type but JSON is refused).
func (a *api) adminBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if !isMediaType(r.Header.Get("Content-Type"), "application/json") {
		return nil, newError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "send application/json")
	}
	return a.readBody(w, r)
}

// adminFail answers err, naming thing when it is missing or exists.
func (a *api) adminFail(w http.ResponseWriter, r *http.Request, err error, thing string) {
	switch {
	case errors.Is(err, admin.ErrKeyReused):
		err = &Error{Status: http.StatusConflict, Code: CodeConflict, Field: "Idempotency-Key",
			Message: "this idempotency key was used for a different request", cause: err}
	case errors.Is(err, callback.ErrNotFound):
		err = &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such " + thing, cause: err}
	case errors.Is(err, callback.ErrConflict):
		err = &Error{Status: http.StatusConflict, Code: CodeConflict, Message: thing + " exists already", cause: err}
	}
	a.writeError(w, r, err)
}

// ifMatch returns the If-Match header an update needs: 428 without one.
func ifMatch(r *http.Request) (string, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" {
		return "", &Error{Status: http.StatusPreconditionRequired, Code: CodePreconditionRequired,
			Message: "send If-Match with the ETag of the object as read, so a change made in between is not overwritten"}
	}
	return v, nil
}

// createdStatus is 201 for a new object, 200 for an idempotent replay.
func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// adminQuery parses the query string, refusing parameters not in allowed
// and repeated ones.
func adminQuery(r *http.Request, allowed ...string) (map[string]string, error) {
	q, err := urlQuery(r)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for name, vals := range q {
		ok := false
		for _, n := range allowed {
			ok = ok || n == name
		}
		if !ok {
			return nil, invalid(truncate(name, 64), "unknown query parameter")
		}
		if len(vals) != 1 {
			return nil, invalid(name, "given more than once")
		}
		out[name] = vals[0]
	}
	return out, nil
}

// pageSize reads limit: 1 to maxPageSize, defaultPageSize when absent.
func pageSize(q map[string]string) (int, error) {
	s, ok := q["limit"]
	if !ok {
		return defaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > maxPageSize {
		return 0, invalid("limit", fmt.Sprintf("want 1 to %d", maxPageSize))
	}
	return n, nil
}

func parseBoolParam(q map[string]string, name string) (*bool, error) {
	s, ok := q[name]
	if !ok {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, invalid(name, "want true or false")
	}
	return &b, nil
}

func parseIDParam(q map[string]string, name string) (int64, error) {
	s, ok := q[name]
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, invalid(name, "not a cursor: pass the next of the previous page")
	}
	return n, nil
}

// Operators and the audit log.

type operatorInput struct {
	Name     string     `json:"name"`
	Role     admin.Role `json:"role"`
	Password string     `json:"password,omitempty"`
}

func (a *api) handleAdminListOperators(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ops, err := a.admin.ListOperators(r.Context(), act)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		Operators []admin.OperatorView `json:"operators"`
	}{Operators: []admin.OperatorView{}}
	for _, op := range ops {
		out.Operators = append(out.Operators, admin.ViewOperator(op))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) handleAdminCreateOperator(w http.ResponseWriter, r *http.Request) {
	body, act, ok := a.adminRequest(w, r)
	if !ok {
		return
	}
	var in operatorInput
	if err := decodeStrict(body, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	op, err := a.admin.CreateOperator(r.Context(), act, in.Name, in.Role, in.Password)
	if err != nil {
		a.adminFail(w, r, err, "operator")
		return
	}
	w.Header().Set("ETag", admin.OperatorETag(op))
	w.Header().Set("Location", "/api/v1/admin/operators/"+op.Name)
	writeJSON(w, http.StatusCreated, admin.ViewOperator(op))
}

type operatorPatch struct {
	Role     *admin.Role `json:"role,omitempty"`
	Password *string     `json:"password,omitempty"`
	Disabled *bool       `json:"disabled,omitempty"`
}

func (a *api) handleAdminUpdateOperator(w http.ResponseWriter, r *http.Request) {
	body, act, match, ok := a.adminUpdate(w, r)
	if !ok {
		return
	}
	var in operatorPatch
	if err := decodeStrict(body, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	op, err := a.admin.SetOperator(r.Context(), act, r.PathValue("name"), match, in.Role, in.Password, in.Disabled)
	if err != nil {
		a.adminFail(w, r, err, "operator")
		return
	}
	w.Header().Set("ETag", admin.OperatorETag(op))
	writeJSON(w, http.StatusOK, admin.ViewOperator(op))
}

func (a *api) handleAdminNewToken(w http.ResponseWriter, r *http.Request) {
	body, act, ok := a.adminRequest(w, r)
	if !ok {
		return
	}
	var in struct {
		Label string `json:"label"`
	}
	if err := decodeStrict(body, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	tok, err := a.admin.NewToken(r.Context(), act, r.PathValue("name"), in.Label)
	if err != nil {
		a.adminFail(w, r, err, "operator")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"operator": r.PathValue("name"), "token": tok})
}

// AuditView is an audit entry.
type AuditView struct {
	ID       int64          `json:"id"`
	Time     string         `json:"time"`
	Operator string         `json:"operator"`
	Action   string         `json:"action"`
	Object   string         `json:"object"`
	Before   map[string]any `json:"before,omitempty"`
	After    map[string]any `json:"after,omitempty"`
}

func (a *api) handleAdminAudit(w http.ResponseWriter, r *http.Request) {
	act, q, limit, ok := a.adminPage(w, r, "operator", "object", "before", "limit")
	if !ok {
		return
	}
	before, err := parseIDParam(q, "before")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	es, err := a.admin.ListAudit(r.Context(), act, admin.AuditFilter{Operator: q["operator"], Object: q["object"], BeforeID: before, Limit: limit + 1})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		Entries []AuditView `json:"entries"`
		Next    string      `json:"next,omitempty"`
	}{Entries: []AuditView{}}
	for i, e := range es {
		if i == limit {
			out.Next = strconv.FormatInt(es[i-1].ID, 10)
			break
		}
		v := AuditView{ID: e.ID, Time: e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), Operator: e.Operator, Action: e.Action, Object: e.Object}
		v.Before, v.After = jsonObject(e.Before), jsonObject(e.After)
		out.Entries = append(out.Entries, v)
	}
	writeJSON(w, http.StatusOK, out)
}
