package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/callbackd/callbackd/admin"
)

// RateView is a tariff rate.
type RateView struct {
	Prefix         string `json:"prefix"`
	Description    string `json:"description,omitempty"`
	PricePerMinute string `json:"price_per_minute"`
	ConnectionFee  string `json:"connection_fee"`
	FirstIncrement int    `json:"first_increment"`
	NextIncrement  int    `json:"next_increment"`
	Blocked        bool   `json:"blocked"`
}

// TariffView is a tariff in the list: its rates, and the accounts that
// use it with their currencies (the prices are in the currency of the
// account rated).
type TariffView struct {
	Name       string   `json:"name"`
	Rates      int64    `json:"rates"`
	Accounts   int64    `json:"accounts"`
	Currencies []string `json:"currencies"`
}

func (a *api) handleAdminListTariffs(w http.ResponseWriter, r *http.Request) {
	act, ok := a.adminReader(w, r)
	if !ok {
		return
	}
	if _, err := adminQuery(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	ts, err := a.admin.ListTariffs(r.Context(), act)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		Tariffs []TariffView `json:"tariffs"`
	}{Tariffs: []TariffView{}}
	for _, t := range ts {
		v := TariffView{Name: t.Name, Rates: t.Rates, Accounts: t.Accounts, Currencies: t.Currencies}
		if v.Currencies == nil {
			v.Currencies = []string{}
		}
		out.Tariffs = append(out.Tariffs, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) handleAdminListRates(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rates, err := a.admin.ListRates(r.Context(), act, r.PathValue("tariff"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		Tariff string     `json:"tariff"`
		Rates  []RateView `json:"rates"`
	}{Tariff: r.PathValue("tariff"), Rates: []RateView{}}
	for _, rt := range rates {
		out.Rates = append(out.Rates, RateView{Prefix: rt.Prefix, Description: rt.Description, PricePerMinute: rt.PricePerMinute.String(),
			ConnectionFee: rt.ConnectionFee.String(), FirstIncrement: rt.FirstIncrement, NextIncrement: rt.NextIncrement, Blocked: rt.Blocked})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) handleAdminExportRates(w http.ResponseWriter, r *http.Request) {
	act, ok := a.adminReader(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	if err := a.admin.ExportRates(r.Context(), act, r.PathValue("tariff"), w); err != nil {
		a.writeError(w, r, err)
	}
}

func (a *api) handleAdminImportRates(w http.ResponseWriter, r *http.Request) {
	// Authenticated before the body is read: an import is an upsert,
	// so it needs no idempotency key.
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := act.Check(admin.PermWrite); err != nil {
		a.writeError(w, r, err)
		return
	}
	if !isMediaType(r.Header.Get("Content-Type"), "text/csv") {
		a.writeError(w, r, newError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "send text/csv"))
		return
	}
	q, err := adminQuery(r, "replace")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	replace, err := parseBoolParam(q, "replace")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, admin.MaxRatesCSV))
	if err != nil {
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) {
			err = newError(http.StatusBadRequest, CodeMalformedRequest, "the body could not be read")
		}
		a.writeError(w, r, err)
		return
	}
	n, err := a.admin.ImportRates(r.Context(), act, r.PathValue("tariff"), bytes.NewReader(body), replace != nil && *replace)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tariff": r.PathValue("tariff"), "imported": n})
}

func (a *api) handleAdminListCurrencies(w http.ResponseWriter, r *http.Request) {
	act, err := a.adminActor(r, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	cs, err := a.admin.ListCurrencies(r.Context(), act)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	type cv struct {
		Code string `json:"code"`
		Rate string `json:"rate"`
	}
	out := struct {
		Currencies []cv `json:"currencies"`
	}{Currencies: []cv{}}
	for _, c := range cs {
		out.Currencies = append(out.Currencies, cv{c.Code, c.Rate.String()})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) handleAdminPutCurrency(w http.ResponseWriter, r *http.Request) {
	body, act, ok := a.adminRequest(w, r)
	if !ok {
		return
	}
	var in struct {
		Rate string `json:"rate"`
	}
	if err := decodeStrict(body, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.admin.PutCurrency(r.Context(), act, r.PathValue("code"), in.Rate)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"code": c.Code, "rate": c.Rate.String()})
}
