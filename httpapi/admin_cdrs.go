package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// Callback requests, CDRs and reports of the admin API.

// operatorPrincipal is the principal of the shared request handlers for
// an operator: every account's requests.
var operatorPrincipal = principal{operator: true}

func (a *api) handleAdminListRequests(w http.ResponseWriter, r *http.Request) {
	_, ok := a.adminReader(w, r)
	if !ok {
		return
	}
	in, err := parseListQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	page, err := a.list(r.Context(), operatorPrincipal, in)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *api) handleAdminGetRequest(w http.ResponseWriter, r *http.Request) {
	_, ok := a.adminReader(w, r)
	if !ok {
		return
	}
	id, err := pathID(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	v, err := a.get(r.Context(), operatorPrincipal, id)
	if err != nil {
		a.adminFail(w, r, err, "request")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *api) handleAdminCancel(w http.ResponseWriter, r *http.Request) {
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
	req, err := a.admin.CancelRequest(r.Context(), act, id)
	if err != nil {
		a.adminFail(w, r, err, "request")
		return
	}
	switch {
	case req.Finished && req.Result != callback.ResultCanceled:
		a.writeError(w, r, &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: fmt.Sprintf("the request already finished: %s", req.Result)})
	case !req.Finished:
		// A node holds the call and hangs it up; the request finishes then.
		writeJSON(w, http.StatusAccepted, viewOf(req, nil))
	default:
		writeJSON(w, http.StatusOK, viewOf(req, nil))
	}
}

func (a *api) handleAdminRetry(w http.ResponseWriter, r *http.Request) {
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
	req, err := a.admin.RetryRequest(r.Context(), act, id)
	if err != nil {
		a.adminFail(w, r, err, "request")
		return
	}
	writeJSON(w, http.StatusOK, viewOf(req, nil))
}

// parseTimeParam reads an RFC 3339 time or a date (YYYY-MM-DD, midnight
// UTC).
func parseTimeParam(q map[string]string, name string) (time.Time, error) {
	s, ok := q[name]
	if !ok {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, invalid(name, "want an RFC 3339 time or a date such as 2030-01-02")
}

func parseLeg(q map[string]string) (callback.Leg, error) {
	switch l := callback.Leg(q["leg"]); l {
	case "", callback.LegA, callback.LegB:
		return l, nil
	}
	return "", invalid("leg", "want A or B")
}

// cdrFilter reads from, to, account and leg.
func cdrFilter(q map[string]string) (admin.CDRFilter, error) {
	var f admin.CDRFilter
	var err error
	if f.From, err = parseTimeParam(q, "from"); err != nil {
		return f, err
	}
	if f.To, err = parseTimeParam(q, "to"); err != nil {
		return f, err
	}
	if f.Leg, err = parseLeg(q); err != nil {
		return f, err
	}
	f.Account = q["account"]
	return f, nil
}

// CDRView is a CDR as the API shows it.
type CDRView struct {
	ID          int64      `json:"id"`
	RequestID   int64      `json:"request_id"`
	Leg         string     `json:"leg"`
	Account     string     `json:"account"`
	Number      string     `json:"number,omitempty"`
	CallerID    string     `json:"caller_id,omitempty"`
	ChannelID   string     `json:"channel_id,omitempty"`
	Start       *time.Time `json:"start,omitempty"`
	Answer      *time.Time `json:"answer,omitempty"`
	End         *time.Time `json:"end,omitempty"`
	BillSec     int        `json:"billsec"`
	Disposition string     `json:"disposition,omitempty"`
	Cause       int        `json:"cause,omitempty"`
	SIPCode     int        `json:"sip_code,omitempty"`
	Prefix      string     `json:"prefix,omitempty"`
	Charge      string     `json:"charge"`
	Currency    string     `json:"currency,omitempty"`
}

func cdrView(c *callback.CDR) CDRView {
	return CDRView{ID: c.ID, RequestID: c.RequestID, Leg: string(c.Leg), Account: c.Account, Number: c.Number, CallerID: c.CallerID,
		ChannelID: c.ChannelID, Start: timePtr(c.Start), Answer: timePtr(c.Answer), End: timePtr(c.End), BillSec: c.BillSec,
		Disposition: c.Disposition, Cause: c.Cause, SIPCode: c.SIPCode, Prefix: c.Prefix, Charge: c.Charge.String(), Currency: c.Currency}
}

func (a *api) handleAdminListCDRs(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	q, err := adminQuery(r, "from", "to", "account", "leg", "before", "limit")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	f, err := cdrFilter(q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	limit, err := pageSize(q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if f.BeforeID, err = parseIDParam(q, "before"); err != nil {
		a.writeError(w, r, err)
		return
	}
	f.Limit = limit + 1
	cdrs, err := a.admin.ListCDRs(r.Context(), act, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		CDRs []CDRView `json:"cdrs"`
		Next string    `json:"next,omitempty"`
	}{CDRs: []CDRView{}}
	for i, c := range cdrs {
		if i == limit {
			out.Next = strconv.FormatInt(cdrs[i-1].ID, 10)
			break
		}
		out.CDRs = append(out.CDRs, cdrView(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// exportWriteGrace is how long the export may take to send each batch of
// rows: the server's write timeout is pushed back by it at every flush,
// so an export of any length runs while the client keeps reading.
const exportWriteGrace = 30 * time.Second

func (a *api) handleAdminExportCDRs(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	q, err := adminQuery(r, "from", "to", "account", "leg")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	f, err := cdrFilter(q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := act.Check(admin.PermRead); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := admin.CheckRange(f.From, f.To); err != nil {
		a.writeError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(exportWriteGrace))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="cdrs-%s-%s.csv"`,
		f.From.UTC().Format("20060102T150405Z"), f.To.UTC().Format("20060102T150405Z")))
	w.WriteHeader(http.StatusOK)
	n, err := a.admin.ExportCDRs(r.Context(), act, f, w, func() {
		_ = rc.Flush()
		_ = rc.SetWriteDeadline(time.Now().Add(exportWriteGrace))
	})
	if err != nil {
		// The status is sent: the client learns of the failure from the
		// connection cut before the end of the body.
		a.log.Error("CDR export failed", "http_request_id", infoOf(r).id, "rows", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	a.log.Info("CDR export", "http_request_id", infoOf(r).id, "operator", act.Name, "rows", n,
		"from", f.From.UTC(), "to", f.To.UTC(), "account", f.Account)
}

// ReportRowView is a report row; asr is a percentage with two decimals.
type ReportRowView struct {
	Day      string `json:"day"`
	Key      string `json:"key"`
	Currency string `json:"currency"`
	Attempts int64  `json:"attempts"`
	Answered int64  `json:"answered"`
	ASR      string `json:"asr"`
	ACD      int64  `json:"acd"`
	BillSec  int64  `json:"billsec"`
	Minutes  string `json:"minutes"`
	Revenue  string `json:"revenue"`
}

func (a *api) handleAdminReport(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	q, err := adminQuery(r, "from", "to", "account", "leg", "by")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	f, err := cdrFilter(q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	by := admin.ReportBy(q["by"])
	if by == "" {
		by = admin.ByAccount
	}
	rows, err := a.admin.Report(r.Context(), act, admin.ReportFilter{From: f.From, To: f.To, By: by, Account: f.Account, Leg: f.Leg})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		By   admin.ReportBy  `json:"by"`
		Rows []ReportRowView `json:"rows"`
	}{By: by, Rows: []ReportRowView{}}
	for _, row := range rows {
		asr := row.ASR()
		out.Rows = append(out.Rows, ReportRowView{Day: row.Day, Key: row.Key, Currency: row.Currency, Attempts: row.Attempts,
			Answered: row.Answered, ASR: fmt.Sprintf("%d.%02d", asr/100, asr%100), ACD: row.ACD(), BillSec: row.BillSec,
			Minutes: fmt.Sprintf("%d.%02d", row.BillSec/60, (row.BillSec%60)*100/60), Revenue: row.Revenue.String()})
	}
	writeJSON(w, http.StatusOK, out)
}
