// Package trigger decides what happens to a call that reaches an access
// number: whom it identifies (ANI, DNIS, PIN, CLD rule), whether a callback
// is queued, which SIP code rejects the call, or whether the call goes on to
// the IVR. It holds the rules of seed 000 (Sippy ANI Callback options),
// seed 002 (PortaSIP triggers) and seed 003 (Mizu iscallback and
// anumberhandling); the agi package only speaks the protocol, and the
// AGI handler in this package joins the two.
package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
	"github.com/callbackd/callbackd/tariff"
)

// InboundCall is an inbound call to an access number as the trigger sees it.
type InboundCall struct {
	Kind        callback.Trigger // ani, dnis or pin; "" takes the access number's
	CLI         string           // caller ID as received (agi_callerid)
	CallingPres string           // agi_callingpres
	Number      string           // the dialled access number (agi_dnid or agi_extension)
	CLDRule     string           // "ani_<options>_<string>" when the call carries one
	Source      string           // where the call came from, for per-source limits
	Channel     string           // for logs
}

// Action is what the dialplan does next.
type Action string

// The actions.
const (
	ActionCallback Action = "callback" // reject without answer; a callback is (or already was) queued
	ActionReject   Action = "reject"   // reject without answer; no callback
	ActionIVR      Action = "ivr"      // continue to the Stasis IVR on this inbound call
)

// Decision is the outcome of a trigger.
type Decision struct {
	Action       Action
	Reason       string // why, for the log line and the CALLBACKD_REASON variable
	SIPCode      int    // the Hangup SIP Response Code to reject with
	RingbackTime time.Duration
	RingbackType string
	Request      *callback.Request // the queued request, or the pending one for a duplicate
	Duplicate    bool              // a request for this CLI was already pending
	Account      string            // identified account, "" if none
	Language     string
}

// Engine applies the trigger rules.
type Engine struct {
	Store   callback.Store
	Service *callback.Service
	Rates   *tariff.Cache
	Log     *slog.Logger
	// Fallback is used for calls whose dialled number is not a configured
	// access number but which carry a CLD rule (Sippy's vendor connection
	// with a CLD translation rule): the seed's defaults otherwise.
	Fallback callback.AccessNumber
	// AccessNumberTTL is how long an access number read from the store
	// (or found missing) is used before it is read again; zero or less
	// reads it on every call. NewEngine sets DefaultAccessNumberTTL.
	// Changes written through the store given to NewEngine are seen at
	// once, those of other processes within the TTL.
	AccessNumberTTL time.Duration
	// AccountTTL is how long an account the Engine has read counts as
	// existing when a request is queued for it (Service.Create's check);
	// zero or less checks with the store every time. NewEngine sets
	// DefaultAccountTTL. Everything else about an account (blocked,
	// balance) is read afresh on every call.
	AccountTTL time.Duration
	// PendingLookupFailed, when set, is called when the "already pending"
	// check failed: that one call was refused (CALLBACKD_REASON "pending
	// request lookup failed"), and the operator counts it.
	PendingLookupFailed func(err error)

	perCLI, perAccount, perSource *limiter.Keyed
	access                        *accessCache  // nil: no cache
	seen                          *seenAccounts // nil: none remembered
}

// NewEngine builds an Engine with the given abuse limits.
func NewEngine(st callback.Store, svc *callback.Service, rates *tariff.Cache, limits Limits, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.Default()
	}
	fb := callback.AccessNumber{Number: "0", AnonymousAccounting: true, ANumberHandling: callback.DefaultANumberHandling}
	fb.ApplyDefaults()
	return &Engine{
		Store: st, Service: svc, Rates: rates, Log: log, Fallback: fb,
		AccessNumberTTL: DefaultAccessNumberTTL,
		AccountTTL:      DefaultAccountTTL,
		perCLI:          limiter.New(limits.PerCLI, 0, nil),
		perAccount:      limiter.New(limits.PerAccount, 0, nil),
		perSource:       limiter.New(limits.PerSource, 0, nil),
		access:          newAccessCache(st),
		seen:            newSeenAccounts(),
	}
}

// reject builds a reject decision with the number's code.
func reject(n *callback.AccessNumber, why string) Decision {
	return Decision{Action: ActionReject, Reason: why, SIPCode: n.HangupSIPCode, Language: n.Language,
		RingbackTime: time.Duration(n.RingbackTime) * time.Second, RingbackType: n.RingbackType}
}

// Handle decides on c and, when the decision is a callback, queues it.
// Errors are store failures: the caller rejects the call with the number's
// code (nothing was queued half-way: the insert is one statement).
func (e *Engine) Handle(ctx context.Context, c InboundCall) (Decision, error) {
	n, rule, err := e.accessNumber(ctx, c)
	var ve *callback.ValidationError
	switch {
	case errors.As(err, &ve):
		return Decision{Action: ActionReject, Reason: "bad CLD rule: " + ve.Error(), SIPCode: callback.DefaultHangupSIPCode}, nil
	case err != nil && n != nil:
		return storeDown(reject(n, "access number lookup failed"), err), err
	case err != nil:
		return storeDown(Decision{Action: ActionReject, Reason: "access number lookup failed", SIPCode: callback.DefaultHangupSIPCode}, err), err
	case n == nil:
		return Decision{Action: ActionReject, Reason: fmt.Sprintf("%q is not an access number", c.Number), SIPCode: 404}, nil
	}
	kind := c.Kind
	if kind == "" {
		kind = n.Trigger
	}
	if !e.perSource.Allow(c.Source) {
		return reject(n, "rate limit per source exceeded"), nil
	}
	var d Decision
	switch kind {
	case callback.TriggerDNIS:
		d, err = e.dnis(ctx, c, n)
	case callback.TriggerPIN:
		d, err = e.pin(ctx, c, n, rule)
	default:
		d, err = e.ani(ctx, c, n, rule)
	}
	d.Language = n.Language
	d.RingbackTime = time.Duration(n.RingbackTime) * time.Second
	d.RingbackType = n.RingbackType
	if d.SIPCode == 0 {
		d.SIPCode = n.HangupSIPCode
	}
	return storeDown(d, err), err
}

// ReasonStoreUnavailable starts CALLBACKD_REASON when a call was refused
// because the store was down or did not answer in time: nothing was
// queued, and the caller may ring again later.
const ReasonStoreUnavailable = "store unavailable"

// storeDown turns d into the reject of a call whose decision the store
// could not complete (err is callback.ErrUnavailable): the number's code,
// and a reason that says so.
func storeDown(d Decision, err error) Decision {
	if !errors.Is(err, callback.ErrUnavailable) {
		return d
	}
	d.Action, d.Request, d.Duplicate = ActionReject, nil, false
	if d.Reason == "" {
		d.Reason = ReasonStoreUnavailable
	} else {
		d.Reason = ReasonStoreUnavailable + ": " + d.Reason
	}
	return d
}

// accessNumber finds the access number and the CLD rule of the call. With
// the store unavailable it returns the error and, when the number was read
// before, its options as last read.
func (e *Engine) accessNumber(ctx context.Context, c InboundCall) (*callback.AccessNumber, *callback.CLDRule, error) {
	var rule *callback.CLDRule
	ruleText := c.CLDRule
	if ruleText == "" && strings.HasPrefix(c.Number, "ani_") {
		ruleText = c.Number // Sippy: the CLD translation rule rewrote the dialled number
	}
	if ruleText != "" {
		r, err := callback.ParseCLDRule(ruleText)
		if err != nil {
			return nil, nil, err
		}
		rule = &r
	}
	var n *callback.AccessNumber
	var err error
	if e.access != nil {
		n, err = e.access.get(ctx, c.Number, e.AccessNumberTTL)
	} else if n, err = e.Store.GetAccessNumber(ctx, c.Number); err == nil {
		n.ApplyDefaults()
	}
	switch {
	case errors.Is(err, callback.ErrNotFound) && rule != nil:
		fb := e.Fallback
		return &fb, rule, nil
	case errors.Is(err, callback.ErrNotFound):
		return nil, nil, nil
	case err != nil:
		// n is the options as last read when the store is unavailable,
		// else nil.
		return n, rule, fmt.Errorf("look up access number %q: %w", c.Number, err)
	}
	return n, rule, nil
}

// callbackCLI normalises the caller ID and checks it against the callback
// tariff (MOR: "this tariff decides from which destinations you allow users
// to initiate callback") and the per-CLI limit.
func (e *Engine) callbackCLI(ctx context.Context, c InboundCall, n *callback.AccessNumber) (string, string, error) {
	cli, err := callback.NormalizeCLI(c.CLI, c.CallingPres, n.Region, n.AreaCode)
	if err != nil {
		return "", err.Error(), nil
	}
	if n.CallbackTariff != "" {
		r, ok, err := e.Rates.Lookup(ctx, n.CallbackTariff, cli)
		if err != nil {
			return "", "", err
		}
		if !ok {
			return "", fmt.Sprintf("caller ID %s: no rate in callback tariff %q", cli, n.CallbackTariff), nil
		}
		if r.Blocked {
			return "", fmt.Sprintf("caller ID %s: prefix %s is blocked in callback tariff %q", cli, r.Prefix, n.CallbackTariff), nil
		}
	}
	if !e.perCLI.Allow(cli) {
		return "", fmt.Sprintf("caller ID %s: rate limit per CLI exceeded", cli), nil
	}
	return cli, "", nil
}

// ani is the missed-call trigger (T1) with Mizu's modes (T4).
func (e *Engine) ani(ctx context.Context, c InboundCall, n *callback.AccessNumber, rule *callback.CLDRule) (Decision, error) {
	cli, why, err := e.callbackCLI(ctx, c, n)
	if err != nil || why != "" {
		return reject(n, why), err
	}
	if d, done, err := e.newCaller(ctx, n, rule, cli); done {
		return d, err
	}
	// Who is calling? Seed 000: accounts, then the CLI map. The store
	// answers the "already pending" check in the same round trip.
	known, lowBalance, pending, why, err := e.identifyCaller(ctx, n, cli)
	if err != nil || why != "" {
		return reject(n, why), err
	}
	d, r, err := e.aniRequest(ctx, n, rule, cli, known, lowBalance)
	if r == nil {
		return d, err
	}
	return e.queue(ctx, n, r, knownName(known), pending)
}

// aniRequest is what the ANI trigger makes of a caller: the request to
// queue, or, when r is nil, the decision that queues none.
func (e *Engine) aniRequest(ctx context.Context, n *callback.AccessNumber, rule *callback.CLDRule, cli string, known *callback.Account, lowBalance bool) (d Decision, r *callback.Request, err error) {
	authenticated := known != nil && !lowBalance

	// Mizu iscallback: IVR, drop or callback by whether the caller
	// authenticated.
	switch mode := n.IsCallback; {
	case mode == 7, mode == 2 && !authenticated, mode == 1 && !authenticated, mode == 3 && authenticated:
		d := Decision{Action: ActionIVR, Reason: fmt.Sprintf("iscallback %d: IVR (authenticated=%v)", mode, authenticated)}
		if known != nil {
			d.Account = known.Username
		}
		return d, nil, nil
	case mode == 4 && !authenticated, mode == 5 && authenticated:
		return reject(n, fmt.Sprintf("iscallback %d: drop (authenticated=%v)", mode, authenticated)), nil, nil
	}

	if n.ForceCLIAuthentication && known == nil {
		return reject(n, fmt.Sprintf("caller ID %s is not a known account (Force CLI Authentication)", cli)), nil, nil
	}
	// Mizu ivrauthentication: 4 (A number and PIN) calls back only a
	// caller the A number identifies, and asks that caller the account's
	// PIN; 3 (only PIN) asks every caller a PIN (the A number identifies
	// nobody there).
	askPIN := false
	switch n.IVRAuthentication {
	case callback.IVRAuthANumberAndPIN:
		if !authenticated {
			return reject(n, fmt.Sprintf("ivrauthentication 4 (A number and PIN): caller ID %s does not identify an account above the Minimum Balance", cli)), nil, nil
		}
		askPIN = true
	case callback.IVRAuthPINOnly:
		askPIN = true
	}
	owner, payer, defaultUsed := "", "", false
	switch {
	case n.ForceDefaultAccount && n.DefaultAccountUsername != "":
		owner, defaultUsed = n.DefaultAccountUsername, true
		if known != nil && !lowBalance {
			payer = known.Username
		}
	case authenticated:
		owner = known.Username
	case n.DefaultAccountUsername != "":
		owner, defaultUsed = n.DefaultAccountUsername, true
		if lowBalance {
			e.Log.Info("balance below Minimum Balance: using the default account", "account", known.Username, "minimum", n.MinimumBalance)
		}
	case lowBalance:
		return reject(n, fmt.Sprintf("account %s is below Minimum Balance %s and there is no Default Account Username", known.Username, n.MinimumBalance)), nil, nil
	default:
		return reject(n, fmt.Sprintf("caller ID %s is not a known account and there is no Default Account Username", cli)), nil, nil
	}

	cld, why, err := e.subApp(ctx, n)
	if err != nil || why != "" {
		return reject(n, why), nil, err
	}
	anon := n.AnonymousAccounting
	if rule != nil {
		cld = rule.CLD.String()
		anon = anon && !rule.NoAnonAcct
	}
	r = callback.NewRequest(callback.SourceANI)
	if rule != nil {
		r.Source = callback.SourceCLD
	}
	r.Username, r.OriginalCLI, r.OriginalCLD = owner, cli, cld
	r.OriginalSetCLI = n.FixedCLI
	r.AnonAcctEnabled = anon
	r.DefaultUserUsed = defaultUsed
	r.Payer = payer
	r.AccessNumber = n.Number
	r.Language = n.Language
	if askPIN {
		if c, err := callback.ParseCLD(cld); err != nil || c.App != callback.SubAppCallingCard {
			return reject(n, fmt.Sprintf("ivrauthentication %d asks a PIN, which only the calling card does, and the sub-application is %q", n.IVRAuthentication.Seed(), cld)), nil, nil
		}
		// With the caller identified (4), only that account's PIN is
		// accepted: the request names it (username, or payer with Force
		// Default Account).
		r.AskPIN = true
	}
	return Decision{}, r, nil
}

func knownName(a *callback.Account) string {
	if a == nil {
		return ""
	}
	return a.Username
}

// dnis is the DNIS trigger (T2): the dialled number is the account, the
// callback goes to its associated number whatever the caller ID.
func (e *Engine) dnis(ctx context.Context, c InboundCall, n *callback.AccessNumber) (Decision, error) {
	username := n.DefaultAccountUsername
	if username == "" {
		username = n.Number // PortaSIP: the account ID equals the access number
	}
	a, err := e.Store.GetAccount(ctx, username)
	switch {
	case errors.Is(err, callback.ErrNotFound):
		return reject(n, fmt.Sprintf("DNIS %s: no account %q", n.Number, username)), nil
	case err != nil:
		return reject(n, "account lookup failed"), fmt.Errorf("DNIS account %s: %w", username, err)
	case a.Blocked:
		return reject(n, fmt.Sprintf("account %s is blocked", a.Username)), nil
	case a.AssociatedNumber == "":
		return reject(n, fmt.Sprintf("account %s has no associated number", a.Username)), nil
	}
	e.seen.put(a)
	if ok, err := e.aboveMinimum(ctx, a, n.MinimumBalance); err != nil || !ok {
		return reject(n, fmt.Sprintf("account %s is below Minimum Balance %s", a.Username, n.MinimumBalance)), err
	}
	target := strings.TrimPrefix(a.AssociatedNumber, "+")
	if !e.perCLI.Allow(target) {
		return reject(n, fmt.Sprintf("number %s: rate limit per CLI exceeded", target)), nil
	}
	cld, why, err := e.subApp(ctx, n)
	if err != nil || why != "" {
		return reject(n, why), err
	}
	r := callback.NewRequest(callback.SourceDNIS)
	r.Username, r.OriginalCLI, r.OriginalCLD = a.Username, target, cld
	r.OriginalSetCLI = n.FixedCLI
	r.AnonAcctEnabled = n.AnonymousAccounting
	r.AccessNumber = n.Number
	r.Language = n.Language
	return e.queue(ctx, n, r, a.Username, nil)
}

// pin is the PIN trigger (T3): the internal account pays leg A; the IVR
// asks for a PIN after answer and the PIN's account pays from then on.
func (e *Engine) pin(ctx context.Context, c InboundCall, n *callback.AccessNumber, rule *callback.CLDRule) (Decision, error) {
	cli, why, err := e.callbackCLI(ctx, c, n)
	if err != nil || why != "" {
		return reject(n, why), err
	}
	internal := n.InternalAccount
	if internal == "" {
		internal = n.DefaultAccountUsername
	}
	if internal == "" {
		return reject(n, "PIN trigger without an internal account"), nil
	}
	cld, why, err := e.subApp(ctx, n)
	if err != nil || why != "" {
		return reject(n, why), err
	}
	r := callback.NewRequest(callback.SourcePIN)
	r.Username, r.OriginalCLI = internal, cli
	r.OriginalCLD = cld
	if rule != nil {
		r.OriginalCLD = rule.CLD.String()
	}
	if cld, err := callback.ParseCLD(r.OriginalCLD); err != nil || cld.App != callback.SubAppCallingCard {
		r.OriginalCLD = string(callback.SubAppCallingCard)
	}
	r.OriginalSetCLI = n.FixedCLI
	r.AskPIN = true
	r.DefaultUserUsed = true
	r.AnonAcctEnabled = false // nobody is identified until the PIN is entered
	r.AccessNumber = n.Number
	r.Language = n.Language
	return e.queue(ctx, n, r, "", nil)
}

// queue suppresses duplicates, applies the per-account limit, and inserts.
// checked is the pending check for r.OriginalCLI already made, or nil.
func (e *Engine) queue(ctx context.Context, n *callback.AccessNumber, r *callback.Request, identified string, checked *pendingCheck) (Decision, error) {
	// Passes over requests too old to be dialled and rows that will never
	// call back.
	var pending *callback.Request
	var err error
	switch {
	case checked == nil:
		pending, err = e.Service.Pending(ctx, r.OriginalCLI)
	case checked.req == nil:
		err = callback.ErrNotFound
	default:
		pending = checked.req
	}
	switch {
	case err == nil:
		return Decision{Action: ActionCallback, Duplicate: true, Request: pending, Account: identified,
			Reason: fmt.Sprintf("callback to %s already pending as request %d", r.OriginalCLI, pending.ID)}, nil
	case !errors.Is(err, callback.ErrNotFound):
		if e.PendingLookupFailed != nil {
			e.PendingLookupFailed(err)
		}
		return reject(n, "pending request lookup failed"), fmt.Errorf("pending request for %s: %w", r.OriginalCLI, err)
	}
	if !e.perAccount.Allow(r.Username) {
		return reject(n, fmt.Sprintf("account %s: rate limit per account exceeded", r.Username)), nil
	}
	return e.create(ctx, n, r, identified, e.service())
}

// create sets r's first call and queues it through svc.
func (e *Engine) create(ctx context.Context, n *callback.AccessNumber, r *callback.Request, identified string, svc *callback.Service) (Decision, error) {
	// The caller hears ringback before the reject: the delay counts from
	// the end of it, or the callback would find the caller's line busy.
	delay := e.Service.Policy.DelayBeforeCallback
	if n.DelayBeforeCallback > 0 {
		delay = time.Duration(n.DelayBeforeCallback) * time.Second
	}
	now := time.Now()
	if e.Service.Now != nil {
		now = e.Service.Now()
	}
	r.NextCall = now.Add(time.Duration(n.RingbackTime)*time.Second + delay)
	if err := svc.Create(ctx, r); err != nil {
		var ve *callback.ValidationError
		if errors.As(err, &ve) {
			return reject(n, "request refused: "+ve.Error()), nil
		}
		return reject(n, "queueing the callback failed"), err
	}
	return Decision{Action: ActionCallback, Request: r, Account: identified,
		Reason: "callback " + strconv.FormatInt(r.ID, 10) + " queued for " + r.OriginalCLI + " on behalf of " + r.Username}, nil
}

// aboveMinimum applies the seed's Minimum Balance: the balance compared
// with the threshold converted into the account's currency.
func (e *Engine) aboveMinimum(ctx context.Context, a *callback.Account, minimum string) (bool, error) {
	if minimum == "" {
		return true, nil
	}
	amt, err := callback.ParseAmount(minimum)
	if err != nil {
		return false, fmt.Errorf("Minimum Balance %q: %w", minimum, err)
	}
	threshold := amt.Value
	if amt.Currency != "" && amt.Currency != a.Currency {
		from, err := e.Store.GetCurrency(ctx, amt.Currency)
		if err != nil {
			return false, fmt.Errorf("Minimum Balance currency %s: %w", amt.Currency, err)
		}
		to, err := e.Store.GetCurrency(ctx, a.Currency)
		if err != nil {
			return false, fmt.Errorf("account %s currency %s: %w", a.Username, a.Currency, err)
		}
		if threshold, err = callback.Convert(amt.Value, from.Rate, to.Rate); err != nil {
			return false, err
		}
	}
	return a.Balance >= threshold, nil
}
