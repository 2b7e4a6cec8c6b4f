package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// pageSize is the number of rows of a list page.
const pageSize = 50

// Dashboard.

type currencyDay struct {
	Currency string
	admin.ReportRow
}

type dashboard struct {
	Live  int
	Today []currencyDay // per currency: legs, answered, ASR, ACD, revenue
	Day   string
	// Results are today's requests by status and result, Total their sum.
	Results []resultRow
	Total   int64
	Chart   chart // first legs per hour, the last 24 hours
}

func (c *console) dashboard(w http.ResponseWriter, r *http.Request, s *session) {
	act := s.actor()
	live, err := c.svc.CountLiveCalls(r.Context(), act, admin.LiveFilter{})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	activity, err := c.svc.Activity(r.Context(), act, c.now())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	out := dashboard{Live: int(live), Day: activity.Day.Format("2006-01-02"), Chart: newChart(activity.Hours)}
	out.Results, out.Total = resultRows(activity.ByResult)
	for _, row := range activity.Today {
		out.Today = append(out.Today, currencyDay{Currency: row.Currency, ReportRow: row})
	}
	c.render(w, r, http.StatusOK, "dashboard", s, pageData{Title: "Dashboard", Nav: "dashboard", Data: out})
}

// Accounts.

type accountsPage struct {
	Accounts []*callback.Account
	Prefix   string
	Blocked  string
	Next     string
}

var accountFields = []string{"username", "currency", "credit_limit", "daily_cap", "max_sessions", "language", "tariff", "balance", "password"}

func (c *console) accounts(w http.ResponseWriter, r *http.Request, s *session) {
	c.accountsWith(w, r, s, http.StatusOK, nil, nil)
}

func (c *console) accountsWith(w http.ResponseWriter, r *http.Request, s *session, code int, form, errs map[string]string) {
	q := r.URL.Query()
	f := admin.AccountFilter{UsernamePrefix: strings.TrimSpace(q.Get("prefix")), After: q.Get("after"), Limit: pageSize + 1}
	switch q.Get("blocked") {
	case "true", "false":
		b := q.Get("blocked") == "true"
		f.Blocked = &b
	}
	list, err := c.svc.ListAccounts(r.Context(), s.actor(), f)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	p := accountsPage{Accounts: list, Prefix: f.UsernamePrefix, Blocked: q.Get("blocked")}
	if len(list) > pageSize {
		p.Accounts = list[:pageSize]
		p.Next = "?" + url.Values{"prefix": {p.Prefix}, "blocked": {p.Blocked}, "after": {list[pageSize-1].Username}}.Encode()
	}
	if form == nil {
		d := admin.NewAccountSettings()
		form = map[string]string{"currency": d.Currency, "credit_limit": d.CreditLimit, "daily_cap": d.DailyCap,
			"max_sessions": strconv.Itoa(d.MaxSessions), "language": d.Language, "tariff": d.Tariff, "balance": "0"}
	}
	c.render(w, r, code, "accounts", s, pageData{Title: "Accounts", Nav: "accounts", Data: p, Form: form, Errors: errs})
}

func (c *console) createAccount(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.actor().Check(admin.PermWrite); err != nil {
		c.fail(w, r, s, err)
		return
	}
	form := formValues(r, accountFields...)
	st := admin.NewAccountSettings()
	st.Username, st.Currency, st.CreditLimit, st.DailyCap = form["username"], form["currency"], form["credit_limit"], form["daily_cap"]
	st.Language, st.Tariff, st.Balance = form["language"], form["tariff"], form["balance"]
	if pw := r.PostForm.Get("password"); pw != "" {
		st.Password = &pw
	}
	form["password"] = ""
	var errs map[string]string
	if n, err := strconv.Atoi(form["max_sessions"]); err != nil {
		errs = map[string]string{"max_sessions": "a whole number"}
	} else {
		st.MaxSessions = n
	}
	if errs == nil {
		_, _, err := c.svc.CreateAccount(r.Context(), s.actor(), st)
		var answered bool
		if errs, answered = c.created(w, r, s, err, Prefix+"accounts/"+url.PathEscape(st.Username), "username", "an account with this username exists already"); answered {
			return
		}
	}
	c.accountsWith(w, r, s, http.StatusUnprocessableEntity, form, errs)
}

// created answers the outcome of a create form: on success it redirects
// to to; a refused value or an object that exists already comes back as
// the form's field errors (exists on field) for the caller to show again;
// any other failure is answered. answered tells the caller it is done.
func (c *console) created(w http.ResponseWriter, r *http.Request, s *session, err error, to, field, exists string) (errs map[string]string, answered bool) {
	switch {
	case err == nil:
		done(w, r, to, "created")
		return nil, true
	case fieldErrors(err) != nil:
		return fieldErrors(err), false
	case isConflict(err):
		return map[string]string{field: exists}, false
	default:
		c.fail(w, r, s, err)
		return nil, true
	}
}

type accountPage struct {
	Account *callback.Account
	CLIs    []callback.AccountCLI
	Ledger  []*admin.LedgerEntry
	Webhook accountWebhook
}

func (c *console) account(w http.ResponseWriter, r *http.Request, s *session) {
	c.accountWith(w, r, s, http.StatusOK, nil, nil)
}

func (c *console) accountWith(w http.ResponseWriter, r *http.Request, s *session, code int, form, errs map[string]string) {
	c.accountAlert(w, r, s, code, form, errs, "")
}

// accountAlert is the account's page with alert on top.
func (c *console) accountAlert(w http.ResponseWriter, r *http.Request, s *session, code int, form, errs map[string]string, alert string) {
	name := r.PathValue("username")
	acct, clis, err := c.svc.GetAccount(r.Context(), s.actor(), name)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	ledger, err := c.svc.ListLedger(r.Context(), s.actor(), name, 0, 20)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	hook, err := c.accountWebhookOf(r, s, name)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, code, "account", s, pageData{Title: "Account " + acct.Username, Nav: "accounts",
		Data: accountPage{Account: acct, CLIs: clis, Ledger: ledger, Webhook: hook}, Form: form, Errors: errs, Alert: alert})
}

func (c *console) topUp(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.actor().Check(admin.PermWrite); err != nil {
		c.fail(w, r, s, err)
		return
	}
	name := r.PathValue("username")
	form := formValues(r, "amount", "reason")
	amount, err := callback.ParseMoney(form["amount"])
	if err != nil {
		c.accountWith(w, r, s, http.StatusUnprocessableEntity, form, map[string]string{"amount": "a decimal amount, such as 10.50"})
		return
	}
	_, _, err = c.svc.PostLedger(r.Context(), s.actor(), &admin.LedgerEntry{Username: name, Kind: admin.LedgerTopUp, Amount: amount, Reason: form["reason"]})
	if errs := fieldErrors(err); errs != nil {
		c.accountWith(w, r, s, http.StatusUnprocessableEntity, form, errs)
		return
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	done(w, r, Prefix+"accounts/"+url.PathEscape(name), "topup")
}

func (c *console) block(blocked bool) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		name := r.PathValue("username")
		if _, err := c.svc.SetBlocked(r.Context(), s.actor(), name, "", blocked); err != nil {
			c.fail(w, r, s, err)
			return
		}
		what := "unblocked"
		if blocked {
			what = "blocked"
		}
		done(w, r, Prefix+"accounts/"+url.PathEscape(name), what)
	}
}

// deleteAccount deletes an account without history; one with history is
// kept and its page says so (409): block it instead.
func (c *console) deleteAccount(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("username")
	err := c.svc.DeleteAccount(r.Context(), s.actor(), name, "")
	var he *admin.HistoryError
	switch {
	case errors.As(err, &he):
		c.accountAlert(w, r, s, http.StatusConflict, nil, nil, he.Error())
	case err != nil:
		c.fail(w, r, s, err)
	default:
		done(w, r, Prefix+"accounts", "deleted")
	}
}

// Requests.

type requestsPage struct {
	Requests []*callback.Request
	Statuses []callback.Status
	Results  []callback.Result
	Status   string
	Result   string
	Username string
	Next     string
}

func (c *console) requests(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.actor().Check(admin.PermRead); err != nil {
		c.fail(w, r, s, err)
		return
	}
	q := r.URL.Query()
	f := callback.RequestFilter{Status: callback.Status(q.Get("status")), Result: callback.Result(q.Get("result")),
		Username: strings.TrimSpace(q.Get("username")), Limit: pageSize + 1}
	var errs map[string]string
	if f.Status != "" && !f.Status.Valid() {
		errs = map[string]string{"status": "not a status"}
		f.Status = ""
	}
	if f.Result != "" && !f.Result.Valid() {
		errs = map[string]string{"result": "not a result"}
		f.Result = ""
	}
	if a := q.Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			errs = map[string]string{"after": "not a cursor"}
		}
		f.AfterID = n
	}
	list, err := c.svc.Store.ListRequests(r.Context(), f)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	p := requestsPage{Requests: list, Statuses: callback.Statuses, Results: callback.Results, Status: string(f.Status),
		Result: string(f.Result), Username: f.Username}
	if len(list) > pageSize {
		p.Requests = list[:pageSize]
		p.Next = "?" + url.Values{"status": {p.Status}, "result": {p.Result}, "username": {p.Username}, "after": {strconv.FormatInt(list[pageSize-1].ID, 10)}}.Encode()
	}
	code := http.StatusOK
	if errs != nil {
		code = http.StatusUnprocessableEntity
	}
	c.render(w, r, code, "requests", s, pageData{Title: "Callback requests", Nav: "requests", Data: p, Errors: errs})
}

type requestPage struct {
	Request *callback.Request
	History []callback.Event
}

func pathID(r *http.Request) (int64, bool) {
	n, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return n, err == nil && n > 0
}

func (c *console) request(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.actor().Check(admin.PermRead); err != nil {
		c.fail(w, r, s, err)
		return
	}
	id, ok := pathID(r)
	if !ok {
		c.fail(w, r, s, callback.ErrNotFound)
		return
	}
	req, err := c.svc.Store.GetRequest(r.Context(), id)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	h, err := c.svc.Store.History(r.Context(), id)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "request", s, pageData{Title: fmt.Sprintf("Request %d", id), Nav: "requests", Data: requestPage{req, h}})
}

func (c *console) requestAction(w http.ResponseWriter, r *http.Request, s *session,
	do func(id int64) (*callback.Request, error), back, what string) {
	id, ok := pathID(r)
	if !ok {
		c.fail(w, r, s, callback.ErrNotFound)
		return
	}
	if _, err := do(id); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if back == "" {
		back = fmt.Sprintf("%srequests/%d", Prefix, id)
	}
	done(w, r, back, what)
}

func (c *console) cancel(w http.ResponseWriter, r *http.Request, s *session) {
	c.requestAction(w, r, s, func(id int64) (*callback.Request, error) { return c.svc.CancelRequest(r.Context(), s.actor(), id) }, "", "canceled")
}

func (c *console) retry(w http.ResponseWriter, r *http.Request, s *session) {
	c.requestAction(w, r, s, func(id int64) (*callback.Request, error) { return c.svc.RetryRequest(r.Context(), s.actor(), id) }, "", "retried")
}

// Live calls.

type callsPage struct {
	// Here is the page's own query (filters and cursor), which a hang-up
	// comes back to.
	Here     string
	Calls    []admin.LiveCall
	Total    int64 // every live call the filter selects, on every page
	Statuses []callback.Status
	Status   string
	Account  string
	Node     string
	Next     string
}

// calls is a page of the live calls, oldest request first, filtered by
// live status, account and node, with the count of all the filter selects.
func (c *console) calls(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f := admin.LiveFilter{Status: callback.Status(q.Get("status")), Account: strings.TrimSpace(q.Get("account")),
		Node: strings.TrimSpace(q.Get("node")), Limit: pageSize + 1}
	var errs map[string]string
	if f.Status != "" && !f.Status.Live() {
		errs = map[string]string{"status": "not a live status"}
		f.Status = ""
	}
	if a := q.Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			errs = map[string]string{"after": "not a cursor"}
			n = 0
		}
		f.AfterID = n
	}
	list, err := c.svc.LiveCalls(r.Context(), s.actor(), f)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	total, err := c.svc.CountLiveCalls(r.Context(), s.actor(), f)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	p := callsPage{Calls: list, Total: total, Statuses: admin.LiveStatuses(), Status: string(f.Status), Account: f.Account, Node: f.Node,
		Here: livePageQuery(q.Encode())}
	if len(list) > pageSize {
		p.Calls = list[:pageSize]
		p.Next = "?" + url.Values{"status": {p.Status}, "account": {p.Account}, "node": {p.Node},
			"after": {strconv.FormatInt(list[pageSize-1].Request.ID, 10)}}.Encode()
	}
	code := http.StatusOK
	if errs != nil {
		code = http.StatusUnprocessableEntity
	}
	c.render(w, r, code, "calls", s, pageData{Title: "Live calls", Nav: "calls", Data: p, Errors: errs})
}

func (c *console) hangUp(w http.ResponseWriter, r *http.Request, s *session) {
	back := Prefix + "calls"
	if q := livePageQuery(r.PostFormValue("back")); q != "" {
		back += "?" + q
	}
	c.requestAction(w, r, s, func(id int64) (*callback.Request, error) { return c.svc.HangUp(r.Context(), s.actor(), id) }, back, "hungup")
}

// livePageQuery returns raw, a live calls page's query, rebuilt from its
// filters and cursor alone (the notice of the last action left out), or ""
// when raw is anything else (a path, an unknown key, a status that is not
// live, a cursor that is not a number): a hang-up comes back to that page,
// and nowhere else.
func livePageQuery(raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return ""
	}
	out := url.Values{}
	for k, v := range q {
		if len(v) != 1 {
			return ""
		}
		switch k {
		case "status":
			if v[0] != "" && !callback.Status(v[0]).Live() {
				return ""
			}
		case "after":
			if n, err := strconv.ParseInt(v[0], 10, 64); err != nil || n < 0 {
				return ""
			}
		case "account", "node":
		case "done":
			continue // the notice of the last action, not part of the page
		default:
			return ""
		}
		if v[0] != "" {
			out.Set(k, v[0])
		}
	}
	return out.Encode()
}

// CDRs.

type cdrsPage struct {
	CDRs   []*callback.CDR
	Next   string
	Export string
}

// cdrFilter reads from and to (YYYY-MM-DD, UTC days, to inclusive) and
// account; the form's defaults are the last 7 days.
func (c *console) cdrFilter(q url.Values) (admin.CDRFilter, map[string]string, map[string]string) {
	today := c.now().UTC().Truncate(24 * time.Hour)
	form := map[string]string{"from": q.Get("from"), "to": q.Get("to"), "account": strings.TrimSpace(q.Get("account"))}
	if form["from"] == "" {
		form["from"] = today.AddDate(0, 0, -6).Format("2006-01-02")
	}
	if form["to"] == "" {
		form["to"] = today.Format("2006-01-02")
	}
	f := admin.CDRFilter{Account: form["account"]}
	errs := map[string]string{}
	from, err := time.Parse("2006-01-02", form["from"])
	if err != nil {
		errs["from"] = "a date, YYYY-MM-DD"
	}
	to, err := time.Parse("2006-01-02", form["to"])
	if err != nil {
		errs["to"] = "a date, YYYY-MM-DD"
	}
	f.From, f.To = from, to.Add(24*time.Hour)
	if len(errs) == 0 {
		if err := admin.CheckRange(f.From, f.To); err != nil {
			errs = fieldErrors(err)
		}
	}
	if len(errs) == 0 {
		errs = nil
	}
	return f, form, errs
}

func (c *console) cdrs(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f, form, errs := c.cdrFilter(q)
	p := cdrsPage{}
	code := http.StatusOK
	if errs != nil {
		code = http.StatusUnprocessableEntity
	} else {
		if b := q.Get("before"); b != "" {
			n, err := strconv.ParseInt(b, 10, 64)
			if err != nil || n <= 0 {
				c.fail(w, r, s, &callback.ValidationError{Field: "before", Reason: "not a cursor"})
				return
			}
			f.BeforeID = n
		}
		f.Limit = pageSize + 1
		list, err := c.svc.ListCDRs(r.Context(), s.actor(), f)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		p.CDRs = list
		base := url.Values{"from": {form["from"]}, "to": {form["to"]}, "account": {form["account"]}}
		p.Export = Prefix + "cdrs.csv?" + base.Encode()
		if len(list) > pageSize {
			p.CDRs = list[:pageSize]
			base.Set("before", strconv.FormatInt(list[pageSize-1].ID, 10))
			p.Next = "?" + base.Encode()
		}
	}
	c.render(w, r, code, "cdrs", s, pageData{Title: "CDRs", Nav: "cdrs", Data: p, Form: form, Errors: errs})
}

func (c *console) exportCDRs(w http.ResponseWriter, r *http.Request, s *session) {
	f, _, errs := c.cdrFilter(r.URL.Query())
	if errs != nil {
		for k, v := range errs {
			c.fail(w, r, s, &callback.ValidationError{Field: k, Reason: v})
			return
		}
	}
	if err := s.actor().Check(admin.PermRead); err != nil {
		c.fail(w, r, s, err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="cdrs-%s-%s.csv"`,
		f.From.Format("20060102"), f.To.Add(-time.Hour).Format("20060102")))
	w.WriteHeader(http.StatusOK)
	n, err := c.svc.ExportCDRs(r.Context(), s.actor(), f, w, func() { _ = rc.Flush() })
	if err != nil {
		c.log.Error("console: CDR export failed", "operator", s.op.Name, "rows", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	c.log.Info("console: CDR export", "operator", s.op.Name, "rows", n, "from", f.From, "to", f.To, "account", f.Account)
}

// Access numbers.

var accessFields = []string{"number", "trigger", "sub_app", "language", "default_account_username", "iscallback", "ivrauthentication"}

func (c *console) accessNumbers(w http.ResponseWriter, r *http.Request, s *session) {
	c.accessNumbersWith(w, r, s, http.StatusOK, nil, nil)
}

func (c *console) accessNumbersWith(w http.ResponseWriter, r *http.Request, s *session, code int, form, errs map[string]string) {
	if err := s.actor().Check(admin.PermRead); err != nil {
		c.fail(w, r, s, err)
		return
	}
	list, err := c.svc.Store.ListAccessNumbers(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if form == nil {
		v := admin.NewAccessNumberView()
		form = map[string]string{"trigger": v.Trigger, "sub_app": v.SubApp, "language": v.Language,
			"iscallback": strconv.Itoa(v.IsCallback), "ivrauthentication": strconv.Itoa(v.IVRAuthentication)}
	}
	c.render(w, r, code, "access_numbers", s, pageData{Title: "Access numbers", Nav: "access", Data: list, Form: form, Errors: errs})
}

func (c *console) createAccessNumber(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.actor().Check(admin.PermWrite); err != nil {
		c.fail(w, r, s, err)
		return
	}
	form := formValues(r, accessFields...)
	ints := map[string]int{}
	errs := map[string]string{}
	for _, k := range []string{"iscallback", "ivrauthentication"} {
		n, err := strconv.Atoi(form[k])
		if err != nil {
			errs[k] = "a whole number"
		}
		ints[k] = n
	}
	if form["number"] == "" {
		errs["number"] = "required"
	}
	if len(errs) == 0 {
		_, _, err := c.svc.PutAccessNumber(r.Context(), s.actor(), form["number"], true, "", func(v *admin.AccessNumberView) error {
			v.Number, v.Trigger, v.SubApp, v.Language = form["number"], form["trigger"], form["sub_app"], form["language"]
			v.DefaultAccountUsername, v.IsCallback, v.IVRAuthentication = form["default_account_username"], ints["iscallback"], ints["ivrauthentication"]
			return nil
		})
		var answered bool
		if errs, answered = c.created(w, r, s, err, Prefix+"access-numbers", "number", "this access number exists already"); answered {
			return
		}
	}
	c.accessNumbersWith(w, r, s, http.StatusUnprocessableEntity, form, errs)
}

// Audit log.

type auditPage struct {
	Entries  []*admin.AuditEntry
	Operator string
	Object   string
	Next     string
}

func (c *console) audit(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f := admin.AuditFilter{Operator: strings.TrimSpace(q.Get("operator")), Object: strings.TrimSpace(q.Get("object")), Limit: pageSize + 1}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			c.fail(w, r, s, &callback.ValidationError{Field: "before", Reason: "not a cursor"})
			return
		}
		f.BeforeID = n
	}
	list, err := c.svc.ListAudit(r.Context(), s.actor(), f)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	p := auditPage{Entries: list, Operator: f.Operator, Object: f.Object}
	if len(list) > pageSize {
		p.Entries = list[:pageSize]
		p.Next = "?" + url.Values{"operator": {f.Operator}, "object": {f.Object}, "before": {strconv.FormatInt(list[pageSize-1].ID, 10)}}.Encode()
	}
	c.render(w, r, http.StatusOK, "audit", s, pageData{Title: "Audit log", Nav: "audit", Data: p})
}

// Unanswered is the legs that were not answered.
func (d currencyDay) Unanswered() int64 { return d.Attempts - d.Answered }
