package console

import (
	"net/http"
	"strings"

	"github.com/callbackd/callbackd/admin"
)

// Operators (admin only): the list, a new operator, a role change or
// disabling, and a new API token shown once; through admin.Service, which
// audits each change as it does for `callbackd operator` and the API.

type operatorsPage struct {
	Operators []*admin.Operator
	Roles     []admin.Role
	// Token is a new API token, shown on this one page only.
	Token, TokenOf string
}

func (c *console) operators(w http.ResponseWriter, r *http.Request, s *session) {
	c.operatorsWith(w, r, s, http.StatusOK, operatorsPage{}, nil, nil)
}

func (c *console) operatorsWith(w http.ResponseWriter, r *http.Request, s *session, code int, p operatorsPage, form, errs map[string]string) {
	if err := s.actor().Check(admin.PermWrite); err != nil {
		c.fail(w, r, s, err)
		return
	}
	list, err := c.svc.ListOperators(r.Context(), s.actor())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	p.Operators, p.Roles = list, admin.Roles
	if form == nil {
		form = map[string]string{"role": string(admin.RoleSupport)}
	}
	d := pageData{Title: "Operators", Nav: "operators", Data: p, Form: form, Errors: errs}
	if p.Token != "" {
		d.Message = "New API token of " + p.TokenOf + ". Copy it now: it is not shown again."
	}
	c.render(w, r, code, "operators", s, d)
}

func (c *console) createOperator(w http.ResponseWriter, r *http.Request, s *session) {
	form := formValues(r, "name", "role")
	_, err := c.svc.CreateOperator(r.Context(), s.actor(), form["name"], admin.Role(form["role"]), r.PostForm.Get("password"))
	errs, answered := c.created(w, r, s, err, Prefix+"operators", "name", "an operator with this name exists already")
	if answered {
		return
	}
	c.operatorsWith(w, r, s, http.StatusUnprocessableEntity, operatorsPage{}, form, errs)
}

// updateOperator sets the role and the disabled flag the row's form
// sends.
func (c *console) updateOperator(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	role := admin.Role(strings.TrimSpace(r.PostForm.Get("role")))
	disabled := r.PostForm.Get("disabled") == "on"
	if _, err := c.svc.SetOperator(r.Context(), s.actor(), name, "", &role, nil, &disabled); err != nil {
		c.fail(w, r, s, err)
		return
	}
	done(w, r, Prefix+"operators", "operator")
}

// newToken makes an API token and shows it on the answer itself, never in
// a URL or a later page.
func (c *console) newToken(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	tok, err := c.svc.NewToken(r.Context(), s.actor(), name, strings.TrimSpace(r.PostForm.Get("label")))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.Info("console: operator token issued", "operator", s.op.Name, "for", name)
	c.operatorsWith(w, r, s, http.StatusOK, operatorsPage{Token: tok, TokenOf: name}, nil, nil)
}
