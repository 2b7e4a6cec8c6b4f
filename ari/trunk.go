package ari

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/callbackd/callbackd/callback"
	"golang.org/x/time/rate"
)

// Trunk is the seed's "SIP Proxy For Callback Calls": where legs are
// placed, and the options of that route.
type Trunk struct {
	// Name selects the trunk (WithDefaultTrunk, WithTrunkSelector).
	Name string
	// Dial is the ARI endpoint of a leg with two placeholders: {number},
	// the number called, and {trunk}, the PJSIP endpoint that places the
	// call (Endpoint, or the per-identity endpoint of a request with an
	// md5secret). Examples: "PJSIP/{number}@{trunk}" (the endpoint's AOR
	// gives the host), "PJSIP/{trunk}/sip:{number}@proxy.example.net".
	// A template naming the endpoint literally ("PJSIP/{number}@trunk") is
	// read as if it said {trunk}.
	Dial string
	// Endpoint is the trunk's PJSIP endpoint in pjsip.conf; default: the
	// name found in Dial, else Name.
	Endpoint string
	// CallsPerSecond caps new legs (A and B) on this trunk; a leg waits for
	// its turn, it is never dropped. 0: no cap.
	CallsPerSecond float64
	// Realm is the realm the proxy challenges with, which md5secret HA1s
	// were computed for; empty answers whatever realm the proxy sends.
	Realm string
	// AuthType is the auth_type of the per-identity auth objects:
	// "digest" (Asterisk 22.2 and later, the default) or "md5" (22.0, 22.1).
	AuthType string
	// DiversionHost is the host of the Diversion URI on leg A
	// (<sip:ACCESS@host>); empty sends a tel: URI.
	DiversionHost string
	// IdentityFields are set on each per-identity endpoint after the fields
	// copied from the trunk's endpoint, e.g. {"context", "callbackd-out"}.
	IdentityFields []Field

	// Prefixes are the numbers this trunk carries (digits, as dialled,
	// e.g. "49", "4930"). Once any trunk has prefixes, each leg goes to
	// the trunks whose longest prefix matching its number is longest,
	// then by Priority, then by Weight, and fails over to the next ones;
	// a trunk without prefixes then carries any number (a prefix of
	// length 0). While no trunk has prefixes every leg takes the default
	// trunk (or the selector's) alone.
	Prefixes []string
	// Priority orders trunks whose matching prefixes are equally long:
	// lower first (default 0).
	Priority int
	// Weight shares the legs among trunks of equal prefix length and
	// priority: a trunk is tried first with probability Weight/sum. 0
	// counts as 1.
	Weight int
	// MaxChannels caps this trunk's live legs; a trunk at its cap is passed
	// over for the next one of the route. 0: no cap.
	MaxChannels int
	// IdentityHeader adds an identity header naming the caller ID to each
	// leg's INVITE: IdentityPAI (P-Asserted-Identity) or IdentityDiversion
	// (Diversion, reason unknown); "" none. Leg A's Diversion naming an
	// access number takes precedence over an identity Diversion.
	IdentityHeader string
	// IdentityHost is the host of the identity header's URI; "" sends a
	// tel: URI.
	IdentityHost string
	// CallerIDPrefix is put before the caller ID this trunk presents (and
	// names in the identity header), e.g. "+" or a carrier's tech prefix.
	CallerIDPrefix string
}

// The identity headers a trunk can add (Trunk.IdentityHeader).
const (
	IdentityPAI       = "pai"
	IdentityDiversion = "diversion"
)

// Field is one attribute of a PJSIP sorcery object.
type Field struct {
	Attribute string
	Value     string
}

// trunk is a Trunk ready for use.
type trunk struct {
	Trunk
	identities bool // the template names the endpoint, so identities can replace it
	limiter    *rate.Limiter

	mu   sync.Mutex
	live int // legs placed on this trunk and not yet released
}

// take counts a leg against the trunk's channel cap; false when the trunk
// is full.
func (t *trunk) take() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.MaxChannels > 0 && t.live >= t.MaxChannels {
		return false
	}
	t.live++
	return true
}

// give releases a leg taken with take.
func (t *trunk) give() {
	t.mu.Lock()
	t.live--
	t.mu.Unlock()
}

// Live is the number of legs a trunk carries now.
func (t *trunk) liveLegs() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live
}

// pjsipTemplate finds the endpoint a PJSIP template names literally:
// "PJSIP/{number}@name" or "PJSIP/name/sip:...".
var pjsipTemplate = regexp.MustCompile(`^(?i:pjsip)/(?:\{number\}@([^/{}]+)$|([^/@{}]+)/)`)

func compileTrunk(t Trunk) (*trunk, error) {
	if t.Name == "" {
		return nil, fmt.Errorf("trunk: no name: %w", callback.ErrInvalid)
	}
	if !strings.Contains(t.Dial, "{number}") {
		return nil, fmt.Errorf("trunk %s: dial template %q has no {number}: %w", t.Name, t.Dial, callback.ErrInvalid)
	}
	if tech, _, ok := strings.Cut(t.Dial, "/"); !ok || tech == "" {
		return nil, fmt.Errorf("trunk %s: dial template %q is not <tech>/<resource>: %w", t.Name, t.Dial, callback.ErrInvalid)
	}
	if t.CallsPerSecond < 0 {
		return nil, fmt.Errorf("trunk %s: calls per second %v is negative: %w", t.Name, t.CallsPerSecond, callback.ErrInvalid)
	}
	if t.MaxChannels < 0 || t.Weight < 0 {
		return nil, fmt.Errorf("trunk %s: max channels %d, weight %d: want 0 or more: %w", t.Name, t.MaxChannels, t.Weight, callback.ErrInvalid)
	}
	for _, p := range t.Prefixes {
		if p == "" || strings.Trim(p, "0123456789*#") != "" {
			return nil, fmt.Errorf("trunk %s: prefix %q is not digits: %w", t.Name, p, callback.ErrInvalid)
		}
	}
	switch t.IdentityHeader {
	case "", IdentityPAI, IdentityDiversion:
	default:
		return nil, fmt.Errorf("trunk %s: identity header %q: want pai or diversion: %w", t.Name, t.IdentityHeader, callback.ErrInvalid)
	}
	switch t.AuthType {
	case "":
		t.AuthType = "digest"
	case "digest", "md5":
	default:
		return nil, fmt.Errorf("trunk %s: auth type %q: want digest or md5: %w", t.Name, t.AuthType, callback.ErrInvalid)
	}
	rt := &trunk{Trunk: t}
	switch {
	case strings.Contains(t.Dial, "{trunk}"):
		rt.identities = true
	default:
		if m := pjsipTemplate.FindStringSubmatchIndex(t.Dial); m != nil {
			start, end := m[2], m[3]
			if start < 0 {
				start, end = m[4], m[5]
			}
			if t.Endpoint == "" {
				rt.Endpoint = t.Dial[start:end]
			}
			rt.Dial = t.Dial[:start] + "{trunk}" + t.Dial[end:]
			rt.identities = true
		}
	}
	if rt.Endpoint == "" {
		rt.Endpoint = t.Name
	}
	if t.CallsPerSecond > 0 {
		// A burst of one spaces legs evenly: the far side counts calls per
		// second over any window, not per calendar second.
		rt.limiter = rate.NewLimiter(rate.Limit(t.CallsPerSecond), 1)
	}
	return rt, nil
}

// endpoint is the ARI endpoint for number placed through the PJSIP
// endpoint ep (the trunk's own when ep is "").
// pjsip reports whether the trunk dials PJSIP channels, the only ones on
// which SIP headers (PJSIP_HEADER) mean something: on others (a Local
// channel in a lab) Asterisk logs an error for every PJSIP_HEADER set.
func (t *trunk) pjsip() bool { return strings.HasPrefix(t.Dial, "PJSIP/") }

func (t *trunk) endpoint(number, ep string) string {
	if ep == "" {
		ep = t.Endpoint
	}
	return strings.NewReplacer("{number}", number, "{trunk}", ep).Replace(t.Dial)
}

// LegACLI says what leg A presents when neither the access number's Fixed
// CLI nor original_set_cli names a caller ID.
type LegACLI string

// The choices of ari.leg_a_cli.
const (
	// LegACLIOriginal presents original_cli, the user's own number (seed
	// 001: "original_cli as CLI"). The default.
	LegACLIOriginal LegACLI = "original"
	// LegACLIAccessNumber presents the access number the user called, so
	// the user recognises the callback; requests that came through no
	// access number (SQL, API, web) present original_cli.
	LegACLIAccessNumber LegACLI = "access_number"
)

// ParseLegACLI reads an ari.leg_a_cli value; empty is LegACLIOriginal.
func ParseLegACLI(s string) (LegACLI, error) {
	switch m := LegACLI(strings.TrimSpace(s)); m {
	case "":
		return LegACLIOriginal, nil
	case LegACLIOriginal, LegACLIAccessNumber:
		return m, nil
	}
	return "", fmt.Errorf("leg A caller ID %q: want original or access_number: %w", s, callback.ErrInvalid)
}

// WithLegACLI sets what leg A presents when neither Fixed CLI nor
// original_set_cli names a caller ID (default LegACLIOriginal).
func WithLegACLI(mode LegACLI) Option {
	return func(o *options) error {
		m, err := ParseLegACLI(string(mode))
		if err != nil {
			return err
		}
		o.legACLI = m
		return nil
	}
}

// legACallerID is the caller ID of the callback leg, in order: the access
// number's Fixed CLI, original_set_cli, then (mode access_number) the
// access number that was called, then original_cli (seed 001: "original_cli
// as CLI").
func legACallerID(r *callback.Request, an *callback.AccessNumber, mode LegACLI) string {
	switch {
	case an != nil && an.FixedCLI != "":
		return an.FixedCLI
	case r.OriginalSetCLI != "":
		return r.OriginalSetCLI
	case mode == LegACLIAccessNumber && r.AccessNumber != "":
		return r.AccessNumber
	default:
		return r.OriginalCLI
	}
}

// reasonToken is the syntax of a Diversion reason (RFC 5806 token).
var reasonToken = regexp.MustCompile(`^[A-Za-z0-9.!%*_+` + "`" + `'~-]{1,64}$`)

// diversion is the Diversion header value naming the access number.
func diversion(number, host, reason string) string {
	if !reasonToken.MatchString(reason) {
		reason = callback.DefaultDiversionReason
	}
	if host == "" {
		return fmt.Sprintf("<tel:%s>;reason=%s", number, reason)
	}
	return fmt.Sprintf("<sip:%s@%s>;reason=%s", number, host, reason)
}

// Variables carrying SIP headers on the INVITE of a leg (chan_pjsip's
// PJSIP_HEADER function, set through the originate's variables).
const (
	varDiversion = "PJSIP_HEADER(add,Diversion)"
	varNeedBind  = "PJSIP_HEADER(add,X-2Way-Need-Bind)"
)

// legAVariables are the channel variables of the callback leg's originate.
func legAVariables(r *callback.Request, an *callback.AccessNumber, t *trunk, cli string) map[string]string {
	vars := make(map[string]string, 2)
	pjsip := t.pjsip()
	if r.AccessNumber != "" && pjsip {
		reason := callback.DefaultDiversionReason
		if an != nil && an.DiversionReason != "" {
			reason = an.DiversionReason
		}
		vars[varDiversion] = diversion(r.AccessNumber, t.DiversionHost, reason)
	}
	if r.AnonAcctEnabled && pjsip {
		vars[varNeedBind] = "yes"
	}
	t.identityVariables(vars, cli)
	// The IVR's prompts play in the channel's language: the request's, or
	// the first of its CLD (callingcard_en_th).
	lang := r.Language
	if cld, err := callback.ParseCLD(r.OriginalCLD); lang == "" && err == nil && len(cld.Languages) > 0 {
		lang = cld.Languages[0]
	}
	if lang != "" {
		vars[varLanguage] = lang
	}
	return vars
}

// varLanguage sets the channel's language at originate, as
// pbx_builtin_setvar_helper writes dialplan functions.
const varLanguage = "CHANNEL(language)"

// validChannelID reports whether a preset call_id can be an ARI channelId:
// Asterisk's AST_MAX_PUBLIC_UNIQUEID (149), and no comma, which would split
// it in addChannel?channel=a,b, nor blanks or control characters.
func validChannelID(s string) bool {
	if s == "" || len(s) > 149 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == ',' || c == 0x7f {
			return false
		}
	}
	return true
}

// copiedEndpointFields are the trunk endpoint's fields a per-identity
// endpoint takes over: how to reach the proxy and how to talk to it. Inbound
// settings (auth, identify_by, context) are deliberately not copied.
var copiedEndpointFields = map[string]bool{
	"transport": true, "aors": true, "outbound_proxy": true, "from_domain": true,
	"allow": true, "dtmf_mode": true, "direct_media": true, "rtp_symmetric": true,
	"force_rport": true, "rewrite_contact": true, "send_pai": true, "send_rpid": true,
	"trust_id_outbound": true, "media_address": true, "100rel": true, "timers": true,
	"rtp_timeout": true, "rtp_timeout_hold": true, "inband_progress": true,
	"send_diversion": true, "media_encryption": true, "t38_udptl": true,
}

// identityEndpointFields builds the fields of a per-identity endpoint from
// the trunk endpoint's fields (as GET /asterisk/config/dynamic returns them),
// the operator's IdentityFields and the auth object to answer challenges
// with.
func identityEndpointFields(trunkFields []configField, extra []Field, authID string) []configField {
	out := make([]configField, 0, len(trunkFields)+len(extra)+3)
	for _, f := range trunkFields {
		if !copiedEndpointFields[f.Attribute] || f.Value == "" {
			continue
		}
		if f.Attribute == "allow" {
			// Sorcery prints codecs as "(ulaw|alaw)" but reads "ulaw,alaw".
			codecs := strings.Trim(f.Value, "()")
			if codecs == "" || codecs == "nothing" {
				continue
			}
			out = append(out, configField{"disallow", "all"}, configField{"allow", strings.ReplaceAll(codecs, "|", ",")})
			continue
		}
		out = append(out, f)
	}
	for _, f := range extra {
		out = append(out, configField{f.Attribute, f.Value})
	}
	// Never identified for inbound traffic: no identify object names it,
	// and identifying by username could match its guessable name.
	out = append(out, configField{"identify_by", "ip"}, configField{"outbound_auth", authID})
	return out
}

// authFields are the fields of a per-identity auth object.
func authFields(t *trunk, id Identity) []configField {
	f := []configField{
		{"auth_type", t.AuthType},
		{"username", id.Authname},
		{"md5_cred", strings.ToLower(id.MD5Secret)},
	}
	if t.Realm != "" {
		f = append(f, configField{"realm", t.Realm})
	}
	return f
}

// match is the length of the longest of t's prefixes that number starts
// with: 0 for a trunk without prefixes, -1 when none matches.
func (t *trunk) match(number string) int {
	if len(t.Prefixes) == 0 {
		return 0
	}
	best := -1
	number = strings.TrimPrefix(number, "+")
	for _, p := range t.Prefixes {
		if strings.HasPrefix(number, p) && len(p) > best {
			best = len(p)
		}
	}
	return best
}

// routeTrunks orders the trunks that carry number: longest matching
// prefix first, then lower Priority, then a weighted draw among equals
// (rnd returns a float in [0,1)). Trunks no prefix of which matches are
// left out.
func routeTrunks(trunks []*trunk, number string, rnd func() float64) []*trunk {
	type cand struct {
		t   *trunk
		n   int
		key float64
	}
	var cs []cand
	for _, t := range trunks {
		n := t.match(number)
		if n < 0 {
			continue
		}
		w := float64(max(t.Weight, 1))
		// Efraimidis-Spirakis: sorting by u^(1/w), largest first, draws
		// without replacement with probabilities proportional to w.
		cs = append(cs, cand{t, n, math.Pow(rnd(), 1/w)})
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		if c := cmp.Compare(a.t.Priority, b.t.Priority); c != 0 {
			return c
		}
		return cmp.Compare(b.key, a.key)
	})
	out := make([]*trunk, len(cs))
	for i, c := range cs {
		out[i] = c.t
	}
	return out
}

// failsOver reports whether a leg that ended unanswered with cause and
// SIP code tech is tried again on the next trunk: the carrier could not
// take the call (503 Service Unavailable, 408 Request Timeout, 480
// Temporarily Unavailable), or gave no SIP answer at all and the cause
// says so (18 no user responding, 34 congestion, 38 network out of
// order, 41 temporary failure, 42 switching equipment congestion). A
// busy destination (486, 17), an unknown number (404, 1) or any other
// final answer of the far end is not, nor a leg that rang out (19 with
// no SIP code: Asterisk's own dial timeout, the person did not answer).
func failsOver(cause, tech int) bool {
	switch tech {
	case 408, 480, 503:
		return true
	case 0:
		switch callback.Cause(cause) {
		case callback.CauseNoUserResponse, callback.CauseCongestion, 38, 41, 42:
			return true
		}
	}
	return false
}

// callerID is the caller ID a leg presents on this trunk.
func (t *trunk) callerID(cli string) string {
	if cli == "" || t.CallerIDPrefix == "" || strings.HasPrefix(cli, t.CallerIDPrefix) {
		return cli
	}
	return t.CallerIDPrefix + cli
}

// Variables adding identity headers (chan_pjsip's PJSIP_HEADER). On an
// endpoint with send_pai=yes, Asterisk 22 puts its own P-Asserted-Identity
// before the one added so: the INVITE carries both (checked over SIP).
const varPAI = "PJSIP_HEADER(add,P-Asserted-Identity)"

// identityVariables adds the trunk's identity header naming cli to vars.
func (t *trunk) identityVariables(vars map[string]string, cli string) {
	if cli == "" || t.IdentityHeader == "" || !t.pjsip() {
		return
	}
	uri := "<tel:" + cli + ">"
	if t.IdentityHost != "" {
		uri = "<sip:" + cli + "@" + t.IdentityHost + ">"
	}
	switch t.IdentityHeader {
	case IdentityPAI:
		vars[varPAI] = uri
	case IdentityDiversion:
		if _, set := vars[varDiversion]; !set {
			vars[varDiversion] = uri + ";reason=unknown"
		}
	}
}
