package trigger

import (
	"context"
	"errors"
	"fmt"

	"github.com/callbackd/callbackd/callback"
)

// ServeInbound decides on an inbound call sent to the IVR (see Inbound)
// and has start run it at once: the dispatcher's Start, on the node whose
// Stasis application holds the channel. Refusals are
// *callback.RejectError with the SIP code to release the caller with: the
// access number's Hangup SIP Response Code, 486 when the payer's Max
// Sessions are taken, 503 when this node is at callback.max_live_calls.
// Other errors are failures (the caller is released
// with 503).
func (e *Engine) ServeInbound(ctx context.Context, c InboundCall, start func(context.Context, *callback.Request) error) error {
	log := e.Log.With("channel", c.Channel, "access_number", c.Number, "cli", c.CLI)
	r, d, err := e.Inbound(ctx, c)
	if err != nil {
		log.Error("inbound IVR call: decision failed; refusing the caller", "reason", d.Reason, "err", err)
		return &callback.RejectError{SIPCode: d.SIPCode, Reason: d.Reason}
	}
	if r == nil {
		log.Info("inbound IVR call refused", "reason", d.Reason, "sip_code", d.SIPCode)
		return &callback.RejectError{SIPCode: d.SIPCode, Reason: d.Reason}
	}
	err = start(ctx, r)
	switch {
	case err == nil:
		log.Info("inbound IVR call started", "request_id", r.ID, "account", r.Username, "caller_account", d.Account, "ask_pin", r.AskPIN)
		return nil
	case errors.Is(err, callback.ErrMaxSessions):
		log.Info("inbound IVR call refused: Max Sessions reached", "account", r.Username, "err", err)
		return &callback.RejectError{SIPCode: 486, Reason: err.Error()}
	case errors.Is(err, callback.ErrNoCapacity):
		log.Warn("inbound IVR call refused: this node runs as many calls as callback.max_live_calls allows", "err", err)
		return &callback.RejectError{SIPCode: 503, Reason: err.Error()}
	case errors.Is(err, callback.ErrInvalid):
		log.Warn("inbound IVR call refused", "account", r.Username, "err", err)
		return &callback.RejectError{SIPCode: d.SIPCode, Reason: err.Error()}
	}
	log.Error("inbound IVR call could not be started", "account", r.Username, "err", err)
	return fmt.Errorf("start the inbound IVR call: %w", err)
}

// Inbound builds the request that serves an inbound call on the line,
// without a callback: an access number's Mizu mode (iscallback 1, 2, 3 or
// 7) sent the call to the IVR, Stasis(callbackd,ivr,<number>), or the
// dialplan sends a calling-card access number there directly. c.Channel
// is the inbound channel's id; it becomes the request's call_id.
//
// The caller is identified as the ANI trigger does it (accounts, then the
// CLI map; Disable CLI Authentication, anumberhandling 0 and 1, Minimum
// Balance). Who pays:
//
//   - an identified caller above Minimum Balance pays both legs and is not
//     asked for a PIN (with Force Default Account the default account pays
//     leg A and the caller leg B);
//   - anyone else is asked for a PIN: the access number's internal account
//     (PIN trigger numbers) or its Default Account Username pays leg A,
//     the PIN's account leg B (and leg A too with anonymous accounting);
//   - with neither account configured the call is refused.
//
// The access number's ivrauthentication (Mizu) changes that: 0 (no)
// identifies nobody and asks no PIN, the default account pays; 2 (only A
// number) refuses a caller not identified by the A number instead of
// asking a PIN; 3 (only PIN) asks every caller for a PIN; 4 (A number and
// PIN) refuses a caller not identified by the A number and asks the
// identified one for a PIN, which must be that account's (the calling
// card refuses another account's PIN as a failed PIN).
//
// The IVR is the calling card: the access number's sub-application (for
// an iscallback of 8 or more the IVR of that id) when it is one
// (with its languages), else plain "callingcard". A refusal is a
// reject Decision with the number's SIP code and a nil request; errors are
// store failures (the caller is refused too).
func (e *Engine) Inbound(ctx context.Context, c InboundCall) (*callback.Request, Decision, error) {
	n, _, err := e.accessNumber(ctx, InboundCall{Number: c.Number})
	switch {
	case err != nil && n != nil:
		return nil, storeDown(reject(n, "access number lookup failed"), err), err
	case err != nil:
		return nil, storeDown(Decision{Action: ActionReject, Reason: "access number lookup failed", SIPCode: callback.DefaultHangupSIPCode}, err), err
	case n == nil:
		return nil, Decision{Action: ActionReject, Reason: fmt.Sprintf("%q is not an access number", c.Number), SIPCode: 404}, nil
	}
	refuse := func(why string, err error) (*callback.Request, Decision, error) {
		return nil, storeDown(reject(n, why), err), err
	}
	if c.Channel == "" {
		return refuse("no channel id for the inbound call", nil)
	}
	cli, err := callback.NormalizeCLI(c.CLI, c.CallingPres, n.Region, n.AreaCode)
	if err != nil {
		return refuse(err.Error(), nil)
	}
	if !e.perCLI.Allow(cli) {
		return refuse(fmt.Sprintf("caller ID %s: rate limit per CLI exceeded", cli), nil)
	}
	known, lowBalance, why, err := e.identify(ctx, n, cli)
	if err != nil || why != "" {
		return refuse(why, err)
	}
	authenticated := known != nil && !lowBalance

	r := callback.NewRequest(callback.SourceIVR)
	r.CallID, r.OriginalCLI = c.Channel, cli
	r.AccessNumber, r.Language = n.Number, n.Language
	sub, why, err := e.subApp(ctx, n)
	if err != nil || why != "" {
		return refuse(why, err)
	}
	r.OriginalCLD = string(callback.SubAppCallingCard)
	if cld, err := callback.ParseCLD(sub); err == nil && cld.App == callback.SubAppCallingCard {
		r.OriginalCLD = sub
	}
	defaultAccount := n.DefaultAccountUsername
	if n.Trigger == callback.TriggerPIN && n.InternalAccount != "" {
		defaultAccount = n.InternalAccount
	}
	switch auth := n.IVRAuthentication; {
	case auth == callback.IVRAuthANumberAndPIN && !authenticated:
		return refuse(fmt.Sprintf("ivrauthentication 4 (A number and PIN): caller ID %s does not identify an account above the Minimum Balance", cli), nil)
	case auth == callback.IVRAuthANumberOnly && !authenticated:
		return refuse(fmt.Sprintf("ivrauthentication 2 (only A number): caller ID %s does not identify an account above the Minimum Balance", cli), nil)
	case auth == callback.IVRAuthNone && defaultAccount != "":
		// Nobody is identified and nobody asked: the access number's
		// account pays.
		r.Username, r.DefaultUserUsed = defaultAccount, true
	case authenticated && n.ForceDefaultAccount && n.DefaultAccountUsername != "":
		r.Username, r.Payer, r.DefaultUserUsed = n.DefaultAccountUsername, known.Username, true
		r.AnonAcctEnabled = n.AnonymousAccounting
		// ivrauthentication 4: the PIN typed must be the payer's.
		r.AskPIN = auth == callback.IVRAuthANumberAndPIN
	case authenticated:
		r.Username = known.Username
		// ivrauthentication 4: the PIN typed must be this account's.
		r.AskPIN = auth == callback.IVRAuthANumberAndPIN
	case auth == callback.IVRAuthNone:
		return refuse(fmt.Sprintf("ivrauthentication 0 (no): the access number has no Default Account Username to pay for caller ID %s", cli), nil)
	case defaultAccount != "":
		r.Username, r.DefaultUserUsed, r.AskPIN = defaultAccount, true, true
		r.AnonAcctEnabled = n.AnonymousAccounting
	case lowBalance:
		return refuse(fmt.Sprintf("account %s is below Minimum Balance %s and the access number has no account to pay for a PIN login", known.Username, n.MinimumBalance), nil)
	default:
		return refuse(fmt.Sprintf("caller ID %s is not a known account and the access number has no Default Account Username to pay for a PIN login", cli), nil)
	}
	if !e.perAccount.Allow(r.Username) {
		return refuse(fmt.Sprintf("account %s: rate limit per account exceeded", r.Username), nil)
	}
	d := Decision{Action: ActionIVR, Account: knownName(known), Language: n.Language, SIPCode: n.HangupSIPCode,
		Reason: fmt.Sprintf("IVR on the inbound call from %s on behalf of %s (PIN asked: %v)", cli, r.Username, r.AskPIN)}
	return r, d, nil
}

// identify finds the account of a caller ID as seed 000 orders it
// (accounts, then the CLI map). Mizu's anumberhandling 0 (disabled) and 1
// (only add), ivrauthentication 0 (no) and 3 (only PIN) and Disable CLI
// Authentication do not accept a known number as authentication: known is
// nil then. lowBalance says the account is
// below the number's Minimum Balance; why is set when the call must be
// refused (a blocked account).
func (e *Engine) identify(ctx context.Context, n *callback.AccessNumber, cli string) (known *callback.Account, lowBalance bool, why string, err error) {
	if !identifiesCallers(n) {
		return nil, false, "", nil
	}
	a, err := e.Store.AccountByCLI(ctx, cli)
	switch {
	case errors.Is(err, callback.ErrNotFound):
		return nil, false, "", nil
	case err != nil:
		return nil, false, "account lookup failed", fmt.Errorf("look up CLI %s: %w", cli, err)
	}
	return e.judge(ctx, n, a)
}

// identifiesCallers says whether n accepts a known caller ID as
// authentication (see identify).
func identifiesCallers(n *callback.AccessNumber) bool {
	return !(n.DisableCLIAuthentication || n.ANumberHandling == 0 || n.ANumberHandling == 1 || !n.IVRAuthentication.AcceptsANumber())
}

// judge is identify's verdict on the account a caller ID found.
func (e *Engine) judge(ctx context.Context, n *callback.AccessNumber, a *callback.Account) (known *callback.Account, lowBalance bool, why string, err error) {
	if a.Blocked {
		return nil, false, fmt.Sprintf("account %s is blocked", a.Username), nil
	}
	e.seen.put(a)
	ok, err := e.aboveMinimum(ctx, a, n.MinimumBalance)
	if err != nil {
		return nil, false, "minimum balance check failed", err
	}
	return a, !ok, "", nil
}
