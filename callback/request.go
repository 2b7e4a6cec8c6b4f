package callback

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Source says which trigger created a request. Requests inserted by a plain
// SQL client have SourceSQL (the column's default).
type Source string

// The triggers.
const (
	SourceSQL   Source = "sql"
	SourceANI   Source = "ani"
	SourceDNIS  Source = "dnis"
	SourcePIN   Source = "pin"
	SourceCLD   Source = "cld"
	SourceAPI   Source = "api"
	SourceWeb   Source = "web"
	SourceEmail Source = "email"
	SourceSMS   Source = "sms"
	SourceAdmin Source = "admin"
	// SourceIVR is an inbound call served on the line by the IVR (an
	// access number's Mizu mode, Stasis(callbackd,ivr,...)): leg A is the
	// caller's own call, CallID its channel, and nobody is ever called back.
	SourceIVR Source = "ivr"
)

// Request is one row of callback_requests. The first block of fields is the
// seed's table (Sippy "ANI Callback" and "2 Way Callback") with the seed's
// names; the second block is callbackd's own engine columns.
//
// Empty strings and zero times stand for SQL NULL.
type Request struct {
	ID              int64     // i_callback_request
	Username        string    // the callback is originated on behalf of this user
	Authname        string    // identity for the callback leg; defaults to Username
	MD5Secret       string    // HA1 hex: MD5("<username>:<realm>:<password>")
	OriginalCLI     string    // the number to call back
	OriginalSetCLI  string    // caller ID to present on the callback leg
	OriginalCLD     string    // sub-application: "2way_<CLD>" or "callingcard[_<lang>...]"
	TwowayCLI       string    // 2-way: caller ID override for the second leg
	TwowayAuthname  string    // 2-way: identity override for the second leg
	TwowayMD5Secret string    // 2-way: HA1 override for the second leg
	CallID          string    // preset or generated channel id of the first leg
	TwowayCallID    string    // preset or derived channel id of the second leg
	NextCall        time.Time // when the next attempt is due
	CallCount       int       // attempts dialled so far
	Canceled        bool      // set from outside to cancel
	CreditTime      int       // seconds after which leg A is cut; 0 is NULL (no cap)
	AnonAcctEnabled bool      // charge the real account for leg A too (X-2Way-Need-Bind)
	DefaultUserUsed bool      // the default callback account was chosen
	Finished        bool      // true: statistics row; false: schedule row
	Status          Status
	Result          Result
	CreationTime    time.Time
	SetupTime       time.Time // start of the latest attempt
	ConnectTime     time.Time // leg A answered; zero for failed calls
	DisconnectTime  time.Time // end of the callback call

	Attempt      int       // claims so far: the fencing token of guarded updates
	LeaseOwner   string    // node/boot that holds the lease, "" when free
	LeaseExpires time.Time // the lease is void after this
	LastCause    int       // Q.850 cause of the latest failed leg
	LastSIPCode  int       // SIP code of the latest failed leg
	LastError    string    // why the request failed or was refused, for operators
	Source       Source    // which trigger created it
	AccessNumber string    // the access number that was called, if any
	Payer        string    // account that pays leg A when it differs from Username
	Language     string    // IVR language, e.g. "en"
	AskPIN       bool      // PIN trigger: the IVR asks for a PIN after answer
	RequestKey   string    // client idempotency key, unique when set
	Destination  string    // leg B number when known at creation (web, email, API)
	// DueSince is the NextCall the request had when it was first put back
	// without being dialled (Max Sessions reached, the leg not placed);
	// zero when it was not. Its age counts from it (see Age).
	DueSince time.Time
}

// Age is how long the request has waited to be dialled at now: from the
// latest of its creation and its due time, where the due time is DueSince
// when the request was put back undialled (each deferral moves NextCall,
// never DueSince), else NextCall. A callback scheduled far ahead is not
// old because of its own schedule.
func (r *Request) Age(now time.Time) time.Duration {
	due := r.NextCall
	if !r.DueSince.IsZero() {
		due = r.DueSince
	}
	if r.CreationTime.After(due) {
		due = r.CreationTime
	}
	return now.Sub(due)
}

// Inbound reports whether leg A is the caller's own inbound call rather
// than a leg callbackd originates: such a request is never dialled or
// retried.
func (r *Request) Inbound() bool { return r.Source == SourceIVR }

// Identity returns the authname to originate with: Authname, or Username
// when Authname is empty, as the seed says.
func (r *Request) Identity() string {
	if r.Authname != "" {
		return r.Authname
	}
	return r.Username
}

// SubApp is the application run after leg A answers.
type SubApp string

// The sub-applications of the seed.
const (
	SubAppTwoWay      SubApp = "2way"
	SubAppCallingCard SubApp = "callingcard"
)

// CLD is a parsed original_cld.
type CLD struct {
	App         SubApp
	Destination string   // 2way: the number to connect to
	Languages   []string // callingcard: languages in order of preference
}

func (c CLD) String() string {
	switch c.App {
	case SubAppTwoWay:
		return "2way_" + c.Destination
	case SubAppCallingCard:
		return strings.Join(append([]string{"callingcard"}, c.Languages...), "_")
	}
	return ""
}

var (
	destPattern = regexp.MustCompile(`^\+?[0-9*#]{1,32}$`)
	langPattern = regexp.MustCompile(`^[a-z]{2,3}$`)
)

// ValidDestination reports whether s can be dialled as a destination: digits
// with an optional leading + and the DTMF symbols * and #, at most 32.
func ValidDestination(s string) bool { return destPattern.MatchString(s) }

// ParseCLD parses original_cld: "2way_<CLD>" (seed 001) or
// "callingcard[_<lang>...]" (seed 000, e.g. "callingcard_en_th"). An empty
// CLD means the calling card, the seed's default sub-application.
func ParseCLD(s string) (CLD, error) {
	if s == "" {
		return CLD{App: SubAppCallingCard}, nil
	}
	parts := strings.Split(s, "_")
	switch strings.ToLower(parts[0]) {
	case "2way":
		dest := strings.Join(parts[1:], "_")
		if len(parts) < 2 || !ValidDestination(dest) {
			return CLD{}, &ValidationError{Field: "original_cld", Reason: fmt.Sprintf("%q: want 2way_<number>", s)}
		}
		return CLD{App: SubAppTwoWay, Destination: dest}, nil
	case "callingcard":
		c := CLD{App: SubAppCallingCard}
		for _, l := range parts[1:] {
			l = strings.ToLower(l)
			if !langPattern.MatchString(l) {
				return CLD{}, &ValidationError{Field: "original_cld", Reason: fmt.Sprintf("%q: %q is not a language code", s, l)}
			}
			c.Languages = append(c.Languages, l)
		}
		return c, nil
	}
	return CLD{}, &ValidationError{Field: "original_cld", Reason: fmt.Sprintf("%q: want 2way_<number> or callingcard[_<lang>...]", s)}
}

// CLDRule is a parsed Sippy CLD translation rule, "ani_<options>_<string>":
// "ani_callingcard_en_th", "ani_2way_12345", "ani_noanonacct_2way_12345".
type CLDRule struct {
	NoAnonAcct bool // option noanonacct: do not charge the real account for leg A
	CLD        CLD
}

// ParseCLDRule parses a CLD translation rule. Options come before the
// sub-application name; the only option the seed defines is noanonacct.
func ParseCLDRule(s string) (CLDRule, error) {
	rest, ok := strings.CutPrefix(s, "ani_")
	if !ok {
		return CLDRule{}, &ValidationError{Field: "cld", Reason: fmt.Sprintf("%q: want ani_<options>_<string>", s)}
	}
	var rule CLDRule
	for {
		opt, tail, found := strings.Cut(rest, "_")
		if !found || opt != "noanonacct" {
			break
		}
		rule.NoAnonAcct = true
		rest = tail
	}
	cld, err := ParseCLD(rest)
	if err != nil {
		return CLDRule{}, err
	}
	if rest == "" {
		return CLDRule{}, &ValidationError{Field: "cld", Reason: fmt.Sprintf("%q: no sub-application", s)}
	}
	rule.CLD = cld
	return rule, nil
}

// Validate checks the fields a new request must have. It is used on insert
// through the API and CLI, and by the dispatcher on rows inserted raw by SQL.
func (r *Request) Validate() error {
	if strings.TrimSpace(r.Username) == "" {
		return &ValidationError{Field: "username", Reason: "empty"}
	}
	if !ValidDestination(r.OriginalCLI) {
		if r.OriginalCLI == "" {
			return &ValidationError{Field: "original_cli", Reason: "empty"}
		}
		return &ValidationError{Field: "original_cli", Reason: fmt.Sprintf("%q is not a number that can be called", r.OriginalCLI)}
	}
	if _, err := ParseCLD(r.OriginalCLD); err != nil {
		return err
	}
	if r.CreditTime < 0 {
		return &ValidationError{Field: "credit_time", Reason: fmt.Sprintf("%d is negative", r.CreditTime)}
	}
	return nil
}

// CheckCreditTime refuses a credit_time above p.MaxCreditTime: a value no
// call can use (1e10 s, 2^63-1) is a mistake, not a wish to talk for ever.
func (p Policy) CheckCreditTime(r *Request) error {
	if p.MaxCreditTime > 0 && time.Duration(r.CreditTime) > p.MaxCreditTime/time.Second {
		return &ValidationError{Field: "credit_time", Reason: fmt.Sprintf("%d s is above callback.max_credit_time (%d s)",
			r.CreditTime, int64(p.MaxCreditTime/time.Second))}
	}
	return nil
}

// CheckNew applies the policy's bounds to a request about to be created at
// now: credit_time (CheckCreditTime), and a next_call more than
// callback.max_age in the past, which the dispatcher would only expire.
func (p Policy) CheckNew(r *Request, now time.Time) error {
	if err := p.CheckCreditTime(r); err != nil {
		return err
	}
	if p.MaxAge > 0 && !r.NextCall.IsZero() && now.Sub(r.NextCall) > p.MaxAge {
		return &ValidationError{Field: "next_call", Reason: fmt.Sprintf("%s is more than callback.max_age (%s) in the past",
			r.NextCall.UTC().Format(time.RFC3339), p.MaxAge)}
	}
	return nil
}

// validateNew checks a request about to be created by callbackd itself:
// it starts as Request received (an empty status is set to it), can be
// dialled, and carries real HA1 values.
func (r *Request) validateNew() error {
	if r.Status == "" {
		r.Status = StatusRequestReceived
	}
	if r.Status != StatusRequestReceived || r.Finished || r.Result != ResultNone {
		return &ValidationError{Field: "status", Reason: "a new request starts as " + string(StatusRequestReceived)}
	}
	if err := r.Validate(); err != nil {
		return err
	}
	return r.ValidateSecrets()
}

// ValidateSecrets checks that md5secret fields hold HA1 values. Requests
// created through callbackd's own surfaces must pass it; rows inserted raw by
// SQL are not held to it, because the seed's own example carries a
// placeholder there and the secret only matters to the far end.
func (r *Request) ValidateSecrets() error {
	if r.MD5Secret != "" && !IsHA1(r.MD5Secret) {
		return &ValidationError{Field: "md5secret", Reason: "not an HA1 (32 hex digits)"}
	}
	if r.TwowayMD5Secret != "" && !IsHA1(r.TwowayMD5Secret) {
		return &ValidationError{Field: "twoway_md5secret", Reason: "not an HA1 (32 hex digits)"}
	}
	return nil
}

// IsHA1 reports whether s has the form of an HA1 digest, 32 hex digits:
// what md5secret holds and what Asterisk accepts as md5_cred.
func IsHA1(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Event is one line of a request's status history.
type Event struct {
	RequestID int64
	Time      time.Time
	Attempt   int
	Status    Status
	Result    Result
	Cause     int
	SIPCode   int
	Note      string
}
