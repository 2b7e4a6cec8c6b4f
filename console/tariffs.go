package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// Tariffs: the list, a tariff's rates a page at a time, the CSV export,
// and the CSV import (admin), all through admin.Service, as the admin
// API's tariff routes.

// importPath is where the import form posts: the only form that may carry
// a file, so the only one given admin.MaxRatesCSV.
const importPath = Prefix + "tariffs/import"

type tariffsPage struct {
	Tariffs []admin.TariffSummary
	Back    string // the import form's way back: "" this page
}

func (c *console) tariffs(w http.ResponseWriter, r *http.Request, s *session) {
	c.tariffsWith(w, r, s, http.StatusOK, nil, nil)
}

func (c *console) tariffsWith(w http.ResponseWriter, r *http.Request, s *session, code int, form, errs map[string]string) {
	list, err := c.svc.ListTariffs(r.Context(), s.actor())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, code, "tariffs", s, pageData{Title: "Tariffs", Nav: "tariffs", Data: tariffsPage{Tariffs: list}, Form: form, Errors: errs})
}

type tariffPage struct {
	Back   string // the import form's way back: "tariff"
	Tariff string
	Rates  []callback.TariffRate
	Next   string
	Export string
}

func (c *console) tariff(w http.ResponseWriter, r *http.Request, s *session) {
	c.tariffWith(w, r, s, http.StatusOK, nil, nil)
}

func (c *console) tariffWith(w http.ResponseWriter, r *http.Request, s *session, code int, form, errs map[string]string) {
	name := r.PathValue("tariff")
	rates, err := c.svc.ListRatesPage(r.Context(), s.actor(), name, r.URL.Query().Get("after"), pageSize+1)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	p := tariffPage{Back: "tariff", Tariff: name, Rates: rates, Export: Prefix + "tariffs/" + url.PathEscape(name) + "/rates.csv"}
	if len(rates) > pageSize {
		p.Rates = rates[:pageSize]
		p.Next = "?" + url.Values{"after": {rates[pageSize-1].Prefix}}.Encode()
	}
	if form == nil {
		form = map[string]string{"tariff": name}
	}
	d := pageData{Title: "Tariff " + name, Nav: "tariffs", Data: p, Form: form, Errors: errs}
	if q := r.URL.Query(); q.Get("done") == "imported" {
		if n, err := strconv.Atoi(q.Get("n")); err == nil && n >= 0 {
			d.Message = fmt.Sprintf("%d rates imported.", n)
		}
	}
	c.render(w, r, code, "tariff", s, d)
}

func (c *console) exportRates(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("tariff")
	// Read before the first byte is sent, so a refusal is a page.
	if _, err := c.svc.ListRatesPage(r.Context(), s.actor(), name, "", 1); err != nil {
		c.fail(w, r, s, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="rates-%s.csv"`, name))
	if err := c.svc.ExportRates(r.Context(), s.actor(), name, w); err != nil {
		c.log.Error("console: rates export failed", "operator", s.op.Name, "tariff", name, "err", err)
		panic(http.ErrAbortHandler)
	}
	c.log.Info("console: rates export", "operator", s.op.Name, "tariff", name)
}

// importRates reads the import form (multipart: tariff, replace, the
// file csv) and imports it in one transaction: a bad line is named and
// nothing is imported. The form comes back from the page it was sent
// from (back=tariff: the tariff's page).
func (c *console) importRates(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.actor().Check(admin.PermWrite); err != nil {
		c.fail(w, r, s, err)
		return
	}
	form := formValues(r, "tariff", "replace", "back")
	again := func(errs map[string]string) {
		if form["back"] == "tariff" && form["tariff"] != "" {
			r.SetPathValue("tariff", form["tariff"])
			c.tariffWith(w, r, s, http.StatusUnprocessableEntity, form, errs)
			return
		}
		c.tariffsWith(w, r, s, http.StatusUnprocessableEntity, form, errs)
	}
	if form["tariff"] == "" {
		again(map[string]string{"tariff": "required"})
		return
	}
	f, _, err := r.FormFile("csv")
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
		again(map[string]string{"csv": "choose a CSV file of rates"})
		return
	}
	if err != nil {
		c.fail(w, r, s, fmt.Errorf("read the uploaded file: %w", err))
		return
	}
	defer f.Close()
	n, err := c.svc.ImportRates(r.Context(), s.actor(), form["tariff"], f, form["replace"] == "on")
	if errs := fieldErrors(err); errs != nil {
		again(errs)
		return
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.Info("console: rates imported", "operator", s.op.Name, "tariff", form["tariff"], "rates", n, "replace", form["replace"] == "on")
	http.Redirect(w, r, Prefix+"tariffs/"+url.PathEscape(form["tariff"])+"?"+url.Values{"done": {"imported"}, "n": {fmt.Sprint(n)}}.Encode(), http.StatusSeeOther)
}

// isMultipart reports whether r's body is a multipart form.
func isMultipart(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/form-data")
}
