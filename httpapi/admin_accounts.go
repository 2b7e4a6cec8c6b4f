package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// jsonObject decodes a stored snapshot for a response; nil for none.
func jsonObject(b json.RawMessage) map[string]any {
	if len(b) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]any{"unreadable": string(b)}
	}
	return m
}

// AdminAccountView is an account with its caller IDs.
type AdminAccountView struct {
	admin.AccountView
	CLIs []string `json:"clis,omitempty"`
}

func (a *api) writeAccount(w http.ResponseWriter, status int, acct *callback.Account, clis []callback.AccountCLI) {
	v := AdminAccountView{AccountView: admin.ViewAccount(acct)}
	for _, c := range clis {
		v.CLIs = append(v.CLIs, c.CLI)
	}
	w.Header().Set("ETag", admin.AccountETag(acct))
	writeJSON(w, status, v)
}

func (a *api) handleAdminListAccounts(w http.ResponseWriter, r *http.Request) {
	act, q, limit, ok := a.adminPage(w, r, "prefix", "blocked", "tariff", "currency", "after", "limit")
	if !ok {
		return
	}
	blocked, err := parseBoolParam(q, "blocked")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	f := admin.AccountFilter{UsernamePrefix: q["prefix"], Blocked: blocked, Tariff: q["tariff"],
		Currency: strings.ToUpper(q["currency"]), After: q["after"], Limit: limit + 1}
	accts, err := a.admin.ListAccounts(r.Context(), act, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		Accounts []admin.AccountView `json:"accounts"`
		Next     string              `json:"next,omitempty"`
	}{Accounts: []admin.AccountView{}}
	for i, acct := range accts {
		if i == limit {
			out.Next = accts[i-1].Username
			break
		}
		out.Accounts = append(out.Accounts, admin.ViewAccount(acct))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) handleAdminCreateAccount(w http.ResponseWriter, r *http.Request) {
	body, act, ok := a.adminRequest(w, r)
	if !ok {
		return
	}
	st := admin.NewAccountSettings()
	if err := decodeStrict(body, &st); err != nil {
		a.writeError(w, r, err)
		return
	}
	acct, created, err := a.admin.CreateAccount(r.Context(), act, st)
	if err != nil {
		a.adminFail(w, r, err, "account")
		return
	}
	w.Header().Set("Location", "/api/v1/admin/accounts/"+acct.Username)
	a.writeAccount(w, createdStatus(created), acct, nil)
}

func (a *api) handleAdminGetAccount(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	acct, clis, err := a.admin.GetAccount(r.Context(), act, r.PathValue("username"))
	if err != nil {
		a.adminFail(w, r, err, "account")
		return
	}
	a.writeAccount(w, http.StatusOK, acct, clis)
}

func (a *api) handleAdminUpdateAccount(w http.ResponseWriter, r *http.Request) {
	body, act, match, ok := a.adminUpdate(w, r)
	if !ok {
		return
	}
	// The body is checked before the row is locked, then merged onto the
	// current settings: the fields it leaves out keep their values.
	var probe admin.AccountSettings
	if err := decodeStrict(body, &probe); err != nil {
		a.writeError(w, r, err)
		return
	}
	acct, err := a.admin.UpdateAccount(r.Context(), act, r.PathValue("username"), match, func(st *admin.AccountSettings) error {
		return decodeStrict(body, st)
	})
	if err != nil {
		a.adminFail(w, r, err, "account")
		return
	}
	a.writeAccount(w, http.StatusOK, acct, nil)
}

func (a *api) handleAdminBlock(blocked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		act, err := a.adminActor(r, nil)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		// Blocking twice blocks: If-Match is optional here.
		acct, err := a.admin.SetBlocked(r.Context(), act, r.PathValue("username"), strings.TrimSpace(r.Header.Get("If-Match")), blocked)
		if err != nil {
			a.adminFail(w, r, err, "account")
			return
		}
		a.writeAccount(w, http.StatusOK, acct, nil)
	}
}

// ledgerInput is a top-up or an adjustment.
type ledgerInput struct {
	Kind   admin.LedgerKind `json:"kind"`
	Amount string           `json:"amount"`
	Reason string           `json:"reason"`
}

func (a *api) handleAdminPostLedger(w http.ResponseWriter, r *http.Request) {
	body, act, ok := a.adminRequest(w, r)
	if !ok {
		return
	}
	var in ledgerInput
	if err := decodeStrict(body, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	amount, err := callback.ParseMoney(in.Amount)
	if err != nil {
		a.writeError(w, r, invalid("amount", "a decimal such as 10.50 with at most 4 decimals"))
		return
	}
	e := &admin.LedgerEntry{Username: r.PathValue("username"), Kind: in.Kind, Amount: amount, Reason: in.Reason}
	acct, created, err := a.admin.PostLedger(r.Context(), act, e)
	if err != nil {
		a.adminFail(w, r, err, "account")
		return
	}
	out := struct {
		Entry   *admin.LedgerView `json:"entry,omitempty"`
		Account admin.AccountView `json:"account"`
	}{Account: admin.ViewAccount(acct)}
	if created {
		v := admin.ViewLedger(e)
		out.Entry = &v
	}
	w.Header().Set("ETag", admin.AccountETag(acct))
	writeJSON(w, createdStatus(created), out)
}

func (a *api) handleAdminListLedger(w http.ResponseWriter, r *http.Request) {
	act, q, limit, ok := a.adminPage(w, r, "before", "limit")
	if !ok {
		return
	}
	before, err := parseIDParam(q, "before")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	es, err := a.admin.ListLedger(r.Context(), act, r.PathValue("username"), before, limit+1)
	if err != nil {
		a.adminFail(w, r, err, "account")
		return
	}
	out := struct {
		Entries []admin.LedgerView `json:"entries"`
		Next    string             `json:"next,omitempty"`
	}{Entries: []admin.LedgerView{}}
	for i, e := range es {
		if i == limit {
			out.Next = strconv.FormatInt(es[i-1].ID, 10)
			break
		}
		out.Entries = append(out.Entries, admin.ViewLedger(e))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) handleAdminListCLIs(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	_, clis, err := a.admin.GetAccount(r.Context(), act, r.PathValue("username"))
	if err != nil {
		a.adminFail(w, r, err, "account")
		return
	}
	out := struct {
		CLIs []string `json:"clis"`
	}{CLIs: []string{}}
	for _, c := range clis {
		out.CLIs = append(out.CLIs, c.CLI)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) handleAdminAddCLI(w http.ResponseWriter, r *http.Request) {
	body, act, ok := a.adminRequest(w, r)
	if !ok {
		return
	}
	var in struct {
		CLI string `json:"cli"`
	}
	if err := decodeStrict(body, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.admin.AddCLI(r.Context(), act, r.PathValue("username"), in.CLI)
	if err != nil {
		a.adminFail(w, r, err, "account or caller ID")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"cli": c.CLI, "username": c.Username})
}

func (a *api) handleAdminRemoveCLI(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.admin.RemoveCLI(r.Context(), act, r.PathValue("username"), r.PathValue("cli")); err != nil {
		a.adminFail(w, r, err, "caller ID of this account")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Access numbers.

func (a *api) writeAccessNumber(w http.ResponseWriter, status int, n *callback.AccessNumber) {
	w.Header().Set("ETag", admin.AccessNumberETag(n))
	writeJSON(w, status, admin.ViewAccessNumber(n))
}

func (a *api) handleAdminListAccessNumbers(w http.ResponseWriter, r *http.Request) {
	_, ok := a.adminReader(w, r)
	if !ok {
		return
	}
	if _, err := adminQuery(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	nums, err := a.store.ListAccessNumbers(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		AccessNumbers []admin.AccessNumberView `json:"access_numbers"`
	}{AccessNumbers: []admin.AccessNumberView{}}
	for _, n := range nums {
		out.AccessNumbers = append(out.AccessNumbers, admin.ViewAccessNumber(n))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) handleAdminGetAccessNumber(w http.ResponseWriter, r *http.Request) {
	_, ok := a.adminReader(w, r)
	if !ok {
		return
	}
	n, err := a.store.GetAccessNumber(r.Context(), r.PathValue("number"))
	if err != nil {
		a.adminFail(w, r, err, "access number")
		return
	}
	a.writeAccessNumber(w, http.StatusOK, n)
}

func (a *api) handleAdminCreateAccessNumber(w http.ResponseWriter, r *http.Request) {
	body, act, ok := a.adminRequest(w, r)
	if !ok {
		return
	}
	var probe admin.AccessNumberView
	if err := decodeStrict(body, &probe); err != nil {
		a.writeError(w, r, err)
		return
	}
	n, created, err := a.admin.PutAccessNumber(r.Context(), act, probe.Number, true, "", func(v *admin.AccessNumberView) error {
		return decodeStrict(body, v)
	})
	if err != nil {
		a.adminFail(w, r, err, "access number")
		return
	}
	w.Header().Set("Location", "/api/v1/admin/access-numbers/"+n.Number)
	a.writeAccessNumber(w, createdStatus(created), n)
}

func (a *api) handleAdminUpdateAccessNumber(w http.ResponseWriter, r *http.Request) {
	body, act, match, ok := a.adminUpdate(w, r)
	if !ok {
		return
	}
	var probe admin.AccessNumberView
	if err := decodeStrict(body, &probe); err != nil {
		a.writeError(w, r, err)
		return
	}
	n, _, err := a.admin.PutAccessNumber(r.Context(), act, r.PathValue("number"), false, match, func(v *admin.AccessNumberView) error {
		return decodeStrict(body, v)
	})
	if err != nil {
		a.adminFail(w, r, err, "access number")
		return
	}
	a.writeAccessNumber(w, http.StatusOK, n)
}

func (a *api) handleAdminDeleteAccessNumber(w http.ResponseWriter, r *http.Request) {
	act, match, ok := a.adminDelete(w, r)
	if !ok {
		return
	}
	if err := a.admin.DeleteAccessNumber(r.Context(), act, r.PathValue("number"), match); err != nil {
		a.adminFail(w, r, err, "access number")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) handleAdminDeleteAccount(w http.ResponseWriter, r *http.Request) {
	act, match, ok := a.adminDelete(w, r)
	if !ok {
		return
	}
	if err := a.admin.DeleteAccount(r.Context(), act, r.PathValue("username"), match); err != nil {
		a.adminFail(w, r, err, "account")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
