package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
)

// maxFormBytes bounds a form submission: four short fields and a token.
const maxFormBytes = 8 << 10

// The form fields. Their names are the page's interface for operators who
// build their own form and post to these paths.
const (
	fieldAccount     = "account"
	fieldPassword    = "password"
	fieldPIN         = "pin"
	fieldNumber      = "number"
	fieldDestination = "destination"
	fieldToken       = "csrf_token"
)

// field is one input of a form as the template renders it.
type field struct {
	Name         string
	Label        string
	Hint         string
	Type         string
	InputMode    string
	Autocomplete string
	MaxLen       int
	Value        string
	Error        string
	secret       bool // never echoed back
	number       bool // normalised as a phone number
}

func (f *field) ID() string { return "f-" + f.Name }

// DescribedBy lists the ids of the hint and error, for aria-describedby.
func (f *field) DescribedBy() string {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.ID()+"-hint")
	}
	if f.Error != "" {
		ids = append(ids, f.ID()+"-error")
	}
	return strings.Join(ids, " ")
}

type modeDescription struct {
	heading  string
	intro    string
	button   string
	link     string
	linkText string
}

var modeText = map[string]modeDescription{
	ModeSimple: {
		heading:  "Call me back",
		intro:    "Enter your details and the number we should call. When you answer, we connect you to our helpdesk.",
		button:   "Call me back",
		link:     "Call me back and connect me to the helpdesk",
		linkText: "For customers: we call you and put you through to the helpdesk.",
	},
	ModeExtended: {
		heading:  "Call me back and connect me",
		intro:    "We call you first. When you answer, you hear your balance and how long you can talk, and we call the other party.",
		button:   "Call me back",
		link:     "Call me back and connect me to any number",
		linkText: "For customers: we call you, then the number you want to reach.",
	},
	ModeHosted: {
		heading:  "Free callback",
		intro:    "Enter your phone number. We call you, free of charge, and connect you to our helpdesk.",
		button:   "Call me for free",
		link:     "Free callback from our helpdesk",
		linkText: "No account needed: we call you at our expense.",
	},
}

func numberHint(region string) string {
	if region == "" {
		return "In international format, e.g. +44 20 7946 0958."
	}
	return "Spaces and dashes are fine. Start with + for a number abroad."
}

// fields returns the empty form of mode.
func (p *page) fields(mode string) []*field {
	own := &field{Name: fieldNumber, Label: "Your phone number", Hint: numberHint(p.o.Region),
		Type: "tel", InputMode: "tel", Autocomplete: "tel", MaxLen: 40, number: true}
	account := &field{Name: fieldAccount, Label: "Account number", Type: "text", InputMode: "text",
		Autocomplete: "username", MaxLen: 64}
	password := &field{Name: fieldPassword, Label: "Password", Type: "password", InputMode: "text",
		Autocomplete: "current-password", MaxLen: 72, secret: true}
	switch mode {
	case ModeSimple:
		if p.o.Simple.Auth == "password" {
			return []*field{account, password, own}
		}
		pin := &field{Name: fieldPIN, Label: "PIN", Hint: "The PIN of your account.", Type: "password",
			InputMode: "numeric", Autocomplete: "current-password", MaxLen: 32, secret: true}
		return []*field{pin, own}
	case ModeExtended:
		dest := &field{Name: fieldDestination, Label: "Number to call", Hint: "The person you want to talk to. " + numberHint(p.o.Region),
			Type: "tel", InputMode: "tel", Autocomplete: "off", MaxLen: 40, number: true}
		return []*field{account, password, own, dest}
	default:
		if len(p.prefixes) > 0 {
			own.Hint = allowedHint(p.prefixes) + " " + own.Hint
		}
		return []*field{own}
	}
}

func allowedHint(prefixes []string) string {
	shown := make([]string, len(prefixes))
	for i, pr := range prefixes {
		shown[i] = "+" + pr
	}
	return "Only numbers starting with " + strings.Join(shown, " or ") + "."
}

// formPage is the data of the form template.
type formPage struct {
	base
	Mode     string
	Heading  string
	Intro    string
	Button   string
	Action   string
	Token    string
	Fields   []*field
	Error    string // about the whole form, shown above it
	Invalid  bool   // some field has an error
	OtherURL string
}

// cookie returns the browser's CSRF binding, setting a new one when the
// browser has none.
func (p *page) cookie(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validCookieValue(c.Value) {
		return c.Value
	}
	v := newCookieValue()
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: v, Path: "/callback/", HttpOnly: true,
		Secure: p.o.SecureCookies || r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	return v
}

func (p *page) showForm(w http.ResponseWriter, r *http.Request, code int, mode string, fields []*field, formErr string) {
	d := modeText[mode]
	data := formPage{
		base: p.base(d.heading), Mode: mode, Heading: d.heading, Intro: d.intro, Button: d.button,
		Action: "/callback/" + mode, Token: p.csrf.issue(mode, p.cookie(w, r)), Fields: fields, Error: formErr,
	}
	for _, f := range fields {
		if f.secret {
			f.Value = ""
		}
		if f.Error != "" {
			data.Invalid = true
		}
	}
	if len(p.modes) > 1 {
		data.OtherURL = "/callback/"
	}
	if data.Invalid || formErr != "" {
		data.PageTitle = "Error: " + data.PageTitle
	}
	p.render(w, code, "form", data)
}

func (p *page) form(mode string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.showForm(w, r, http.StatusOK, mode, p.fields(mode), "")
	}
}

// submission is a form that passed its checks.
type submission struct {
	mode    string
	source  string
	fields  []*field
	values  map[string]string // normalised
	account *callback.Account
}

func (s *submission) field(name string) *field {
	for _, f := range s.fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// fail records a field error; the field must exist in the form.
func (s *submission) fail(name, msg string) {
	if f := s.field(name); f != nil {
		f.Error = msg
	}
}

func (p *page) submit(mode string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		source := p.clientAddr(r)
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			p.message(w, http.StatusBadRequest, "The form could not be read",
				"Your browser sent a form this page cannot read. Open the form again and send it from there.", "/callback/"+mode, "Open the form")
			return
		}
		s := &submission{mode: mode, source: source, fields: p.fields(mode), values: map[string]string{}}
		// The form comes back with what the user typed, whatever happens
		// below; passwords and PINs are dropped by showForm.
		for _, f := range s.fields {
			f.Value = r.PostForm.Get(f.Name)
		}
		if !p.perSource.Allow(source) {
			p.refuse(s, "rate limit per source", "")
			w.Header().Set("Retry-After", "60")
			p.showForm(w, r, http.StatusTooManyRequests, mode, s.fields,
				"Too many requests from your network. Please wait a few minutes and try again.")
			return
		}
		cookie := ""
		if c, err := r.Cookie(csrfCookie); err == nil {
			cookie = c.Value
		}
		if err := p.csrf.spend(mode, cookie, r.PostForm.Get(fieldToken)); err != nil {
			p.refuse(s, "csrf: "+err.Error(), "")
			p.message(w, http.StatusForbidden, "This form cannot be sent again",
				"The form has expired, was already sent, or your browser blocks cookies for this site. "+
					"Nothing was requested. Open the form again and send it once.", "/callback/"+mode, "Open the form again")
			return
		}
		if !p.check(s) {
			p.refuse(s, "invalid fields", "")
			p.showForm(w, r, http.StatusUnprocessableEntity, mode, s.fields, "")
			return
		}
		res := p.place(r, s)
		if res.location != "" {
			http.Redirect(w, r, res.location, http.StatusSeeOther)
			return
		}
		switch res.status {
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "60")
		case http.StatusServiceUnavailable:
			// The store is down or frozen, or the page's account is
			// missing: nothing was requested, and trying again soon may work.
			w.Header().Set("Retry-After", "5")
		}
		p.showForm(w, r, res.status, mode, s.fields, res.formErr)
	}
}

// check validates and normalises the fields; false when any is wrong.
func (p *page) check(s *submission) bool {
	ok := true
	for _, f := range s.fields {
		v := f.Value
		if !f.secret {
			v = strings.TrimSpace(v)
		}
		switch {
		case v == "":
			f.Error = "Enter " + article(f.Label) + "."
		case !utf8.ValidString(v) || strings.ContainsFunc(v, isControl):
			f.Error = "This contains characters that cannot be used here."
		case utf8.RuneCountInString(v) > f.MaxLen || (f.secret && len(v) > f.MaxLen):
			f.Error = fmt.Sprintf("This is too long: at most %d characters.", f.MaxLen)
		case f.number:
			n, err := normalizeNumber(v, p.o.Region)
			if err != nil {
				f.Error = "This is not a phone number we can call. " + numberHint(p.o.Region)
				break
			}
			s.values[f.Name] = n
		default:
			s.values[f.Name] = v
		}
		if f.Error != "" {
			ok = false
		}
	}
	if n, has := s.values[fieldNumber]; has && s.mode == ModeHosted && len(p.prefixes) > 0 &&
		!slices.ContainsFunc(p.prefixes, func(pr string) bool { return strings.HasPrefix(n, pr) }) {
		s.fail(fieldNumber, "We cannot call this number for free. Check the number, or use another way to request a callback.")
		ok = false
	}
	return ok
}

func article(label string) string {
	l := strings.ToLower(label[:1]) + label[1:]
	if strings.HasPrefix(l, "your") {
		return l
	}
	if strings.ContainsRune("aeiou", rune(l[0])) {
		return "an " + l
	}
	return "a " + l
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// placed is what became of a checked form: a request to show at location,
// or the form again with status and a form-level error (field errors are
// set on the submission).
type placed struct {
	location string
	status   int
	formErr  string
}

// place authenticates, checks the rules and creates the request.
func (p *page) place(r *http.Request, s *submission) placed {
	ctx := r.Context()
	unavailable := "The service is not available just now. Nothing was requested; please try again in a few minutes."
	var err error
	var credField string
	switch {
	case s.mode == ModeSimple && p.o.Simple.Auth != "password":
		credField = fieldPIN
		s.account, err = p.auth.PIN(ctx, s.values[fieldPIN], s.source)
	case s.mode == ModeSimple, s.mode == ModeExtended:
		credField = fieldPassword
		s.account, err = p.auth.Password(ctx, s.values[fieldAccount], s.values[fieldPassword], s.source)
	default:
		s.account, err = p.store.GetAccount(ctx, p.o.Hosted.Account)
		if errors.Is(err, callback.ErrNotFound) {
			p.log.Error("hosted callback: the internal account does not exist", "account", p.o.Hosted.Account)
			return placed{status: http.StatusServiceUnavailable, formErr: unavailable}
		}
	}
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		p.refuse(s, "bad credentials", s.values[fieldAccount])
		if credField == fieldPIN {
			s.fail(fieldPIN, "This PIN is not correct.")
		} else {
			s.fail(fieldPassword, "The account number or the password is not correct.")
		}
		return placed{status: http.StatusUnprocessableEntity}
	case errors.Is(err, auth.ErrTooManyAttempts):
		p.refuse(s, "too many failed attempts", s.values[fieldAccount])
		return placed{status: http.StatusTooManyRequests, formErr: "Too many failed attempts. Please wait a few minutes and try again."}
	case err != nil:
		p.log.Error("web callback: account check failed", "mode", s.mode, "source", s.source, "err", err)
		return placed{status: http.StatusServiceUnavailable, formErr: unavailable}
	}

	cli := s.values[fieldNumber]
	dest := s.values[fieldDestination]
	switch s.mode {
	case ModeSimple:
		dest = p.simple
	case ModeHosted:
		dest = p.hosted
	}
	cld := callback.CLD{App: callback.SubAppTwoWay, Destination: dest}.String()
	if s.mode == ModeExtended {
		// PortaSIP's extended web callback (seed 002): "when the user
		// answers, he hears the current balance and maximum allowed call
		// duration" before the second number is dialled. That is the
		// calling card with the destination given: it announces the
		// balance, checks and prices the destination, announces the talk
		// time and dials it, asking for nothing.
		cld = string(callback.SubAppCallingCard)
	}

	pending, err := p.store.PendingForCLI(ctx, cli)
	switch {
	case err == nil && pending.Username == s.account.Username && pending.OriginalCLD == cld && pending.Destination == dest:
		p.log.Info("web callback request already pending", "mode", s.mode, "request_id", pending.ID,
			"account", pending.Username, "cli", cli, "source", s.source)
		return placed{location: "/callback/status/" + p.keys.statusToken(pending.ID)}
	case err == nil:
		p.refuse(s, "another callback to the number is pending", s.account.Username)
		s.fail(fieldNumber, "A callback to this number is already in progress. Please wait until it has finished.")
		return placed{status: http.StatusConflict}
	case !errors.Is(err, callback.ErrNotFound):
		p.log.Error("web callback: pending request lookup failed", "mode", s.mode, "cli", cli, "err", err)
		return placed{status: http.StatusServiceUnavailable, formErr: unavailable}
	}
	if s.account.Available() <= 0 {
		p.refuse(s, "no credit", s.account.Username)
		if s.mode == ModeHosted {
			p.log.Error("hosted callback: the internal account has no credit left", "account", s.account.Username)
			return placed{status: http.StatusServiceUnavailable, formErr: unavailable}
		}
		return placed{status: http.StatusPaymentRequired, formErr: "Your account has no credit left. Top it up and try again."}
	}
	if !p.perNumber.Allow(cli) {
		p.refuse(s, "rate limit per number", s.account.Username)
		return placed{status: http.StatusTooManyRequests, formErr: "We have called this number several times recently. Please wait a few minutes and try again."}
	}
	if s.mode != ModeHosted && !p.perAccount.Allow(s.account.Username) {
		p.refuse(s, "rate limit per account", s.account.Username)
		return placed{status: http.StatusTooManyRequests, formErr: "Too many callbacks for this account just now. Please wait a few minutes and try again."}
	}

	req := callback.NewRequest(callback.SourceWeb)
	req.Username = s.account.Username
	req.OriginalCLI = cli
	req.OriginalCLD = cld
	req.Destination = dest
	req.Language = s.account.Language
	if s.mode == ModeHosted {
		// Nobody is identified: the internal account pays both legs.
		req.DefaultUserUsed = true
		req.AnonAcctEnabled = false
	}
	if err := p.svc.Create(ctx, req); err != nil {
		var ve *callback.ValidationError
		if errors.As(err, &ve) {
			p.log.Error("web callback: request refused by the service", "mode", s.mode, "field", ve.Field, "reason", ve.Reason)
		} else {
			p.log.Error("web callback: create request failed", "mode", s.mode, "err", err)
		}
		return placed{status: http.StatusServiceUnavailable, formErr: unavailable}
	}
	p.log.Info("web callback request queued", "mode", s.mode, "request_id", req.ID, "account", req.Username,
		"cli", cli, "cld", cld, "source", s.source)
	return placed{location: "/callback/status/" + p.keys.statusToken(req.ID)}
}

// refuse logs a refused submission: one line per decision, never a secret.
func (p *page) refuse(s *submission, reason, account string) {
	p.log.Info("web callback refused", "mode", s.mode, "reason", reason, "account", account, "source", s.source)
}

// normalizeNumber returns the digits of a number as callbackd stores them:
// international, without + or 00.
func normalizeNumber(s, region string) (string, error) {
	n, err := callback.NormalizeCLI(s, "", region, "")
	if err != nil {
		var ce *callback.CLIError
		if errors.As(err, &ce) {
			return "", errors.New(ce.Reason)
		}
		return "", err
	}
	if !callback.ValidDestination(n) {
		return "", errors.New("not a number that can be called")
	}
	return n, nil
}
