package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// The views are the objects as the admin API shows them and the audit log
// records them: money as exact decimal strings in the account's currency,
// secrets left out (only whether one is set).

// AccountView is an account without its secrets.
type AccountView struct {
	Username         string    `json:"username"`
	Balance          string    `json:"balance"`
	Currency         string    `json:"currency"`
	CreditLimit      string    `json:"credit_limit"`
	Available        string    `json:"available"`
	DailyCap         string    `json:"daily_cap"`
	MaxSessions      int       `json:"max_sessions"`
	AssociatedNumber string    `json:"associated_number"`
	Language         string    `json:"language"`
	Tariff           string    `json:"tariff"`
	Blocked          bool      `json:"blocked"`
	HasPassword      bool      `json:"has_password"`
	HasPIN           bool      `json:"has_pin"`
	HasSIP           bool      `json:"has_sip"`
	Created          time.Time `json:"created"`
}

// ViewAccount is a's view.
func ViewAccount(a *callback.Account) AccountView {
	return AccountView{
		Username: a.Username, Balance: a.Balance.String(), Currency: a.Currency, CreditLimit: a.CreditLimit.String(),
		Available: a.Available().String(), DailyCap: a.DailyCap.String(), MaxSessions: a.MaxSessions,
		AssociatedNumber: a.AssociatedNumber, Language: a.Language, Tariff: a.Tariff, Blocked: a.Blocked,
		HasPassword: a.PasswordHash != "", HasPIN: a.PINHash != "" || a.PIN != "", HasSIP: a.HA1 != "",
		Created: a.Created.UTC(),
	}
}

// AccessNumberView is an access number with every option under its seed
// name in snake case.
type AccessNumberView struct {
	Number                   string `json:"number"`
	Trigger                  string `json:"trigger"`
	SubApp                   string `json:"sub_app"`
	Language                 string `json:"language"`
	Region                   string `json:"region"`
	AreaCode                 string `json:"area_code"`
	DefaultAccountUsername   string `json:"default_account_username"`
	DisableCLIAuthentication bool   `json:"disable_cli_authentication"`
	ForceCLIAuthentication   bool   `json:"force_cli_authentication"`
	ForceDefaultAccount      bool   `json:"force_default_account"`
	MinimumBalance           string `json:"minimum_balance"`
	FixedCLI                 string `json:"fixed_cli"`
	HangupSIPCode            int    `json:"hangup_sip_code"`
	RingbackTime             int    `json:"ringback_time"`
	RingbackType             string `json:"ringback_type"`
	DiversionReason          string `json:"diversion_reason"`
	AnonymousAccounting      bool   `json:"anonymous_accounting"`
	DelayBeforeCallback      int    `json:"delay_before_callback"`
	IsCallback               int    `json:"iscallback"`
	ANumberHandling          int    `json:"anumberhandling"`
	InternalAccount          string `json:"internal_account"`
	CallbackTariff           string `json:"callback_tariff"`
	IVRAuthentication        int    `json:"ivrauthentication"`
}

// ViewAccessNumber is n's view.
func ViewAccessNumber(n *callback.AccessNumber) AccessNumberView {
	return AccessNumberView{
		Number: n.Number, Trigger: string(n.Trigger), SubApp: n.SubApp, Language: n.Language, Region: n.Region,
		AreaCode: n.AreaCode, DefaultAccountUsername: n.DefaultAccountUsername,
		DisableCLIAuthentication: n.DisableCLIAuthentication, ForceCLIAuthentication: n.ForceCLIAuthentication,
		ForceDefaultAccount: n.ForceDefaultAccount, MinimumBalance: n.MinimumBalance, FixedCLI: n.FixedCLI,
		HangupSIPCode: n.HangupSIPCode, RingbackTime: n.RingbackTime, RingbackType: n.RingbackType,
		DiversionReason: n.DiversionReason, AnonymousAccounting: n.AnonymousAccounting,
		DelayBeforeCallback: n.DelayBeforeCallback, IsCallback: n.IsCallback, ANumberHandling: n.ANumberHandling,
		InternalAccount: n.InternalAccount, CallbackTariff: n.CallbackTariff, IVRAuthentication: n.IVRAuthentication.Seed(),
	}
}

// AccessNumber is the access number v describes.
func (v AccessNumberView) AccessNumber() *callback.AccessNumber {
	return &callback.AccessNumber{
		Number: v.Number, Trigger: callback.Trigger(v.Trigger), SubApp: v.SubApp, Language: v.Language, Region: v.Region,
		AreaCode: v.AreaCode, DefaultAccountUsername: v.DefaultAccountUsername,
		DisableCLIAuthentication: v.DisableCLIAuthentication, ForceCLIAuthentication: v.ForceCLIAuthentication,
		ForceDefaultAccount: v.ForceDefaultAccount, MinimumBalance: v.MinimumBalance, FixedCLI: v.FixedCLI,
		HangupSIPCode: v.HangupSIPCode, RingbackTime: v.RingbackTime, RingbackType: v.RingbackType,
		DiversionReason: v.DiversionReason, AnonymousAccounting: v.AnonymousAccounting,
		DelayBeforeCallback: v.DelayBeforeCallback, IsCallback: v.IsCallback, ANumberHandling: v.ANumberHandling,
		InternalAccount: v.InternalAccount, CallbackTariff: v.CallbackTariff, IVRAuthentication: ivrAuth(v.IVRAuthentication),
	}
}

// ivrAuth is the IVRAuth of a seed value; one out of range stays out of
// range, so that Validate names it.
func ivrAuth(seed int) callback.IVRAuth {
	a, err := callback.ParseIVRAuth(seed)
	if err != nil {
		return -1
	}
	return a
}

// NewAccessNumberView is the view a new access number starts from: the
// seed's defaults, which the input then overrides.
func NewAccessNumberView() AccessNumberView {
	n := &callback.AccessNumber{AnonymousAccounting: true, ANumberHandling: callback.DefaultANumberHandling, Language: "en"}
	n.ApplyDefaults()
	return ViewAccessNumber(n)
}

// OperatorView is an operator without the password hash.
type OperatorView struct {
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	Disabled    bool      `json:"disabled"`
	HasPassword bool      `json:"has_password"`
	Created     time.Time `json:"created"`
}

// ViewOperator is op's view.
func ViewOperator(op *Operator) OperatorView {
	return OperatorView{Name: op.Name, Role: op.Role, Disabled: op.Disabled, HasPassword: op.PasswordHash != "", Created: op.Created.UTC()}
}

// LedgerView is a ledger entry.
type LedgerView struct {
	ID           int64     `json:"id"`
	Time         time.Time `json:"time"`
	Username     string    `json:"username"`
	Kind         string    `json:"kind"`
	Amount       string    `json:"amount"`
	BalanceAfter string    `json:"balance_after"`
	Currency     string    `json:"currency"`
	Reason       string    `json:"reason"`
	Operator     string    `json:"operator"`
}

// ViewLedger is e's view.
func ViewLedger(e *LedgerEntry) LedgerView {
	return LedgerView{ID: e.ID, Time: e.Time.UTC(), Username: e.Username, Kind: string(e.Kind), Amount: e.Amount.String(),
		BalanceAfter: e.BalanceAfter.String(), Currency: e.Currency, Reason: e.Reason, Operator: e.Operator}
}

// Snapshot is the JSON the audit log keeps of v: the view of an account,
// access number, operator, token, CLI, request, webhook notification or
// account webhook (without its secret); nil for nil.
func Snapshot(v any) json.RawMessage {
	var x any
	switch o := v.(type) {
	case nil:
		return nil
	case *callback.Account:
		if o == nil {
			return nil
		}
		x = ViewAccount(o)
	case *callback.AccessNumber:
		if o == nil {
			return nil
		}
		x = ViewAccessNumber(o)
	case *Operator:
		if o == nil {
			return nil
		}
		x = ViewOperator(o)
	case *Token:
		x = map[string]any{"id": o.ID, "operator": o.Operator, "label": o.Label}
	case *webhook.Delivery:
		if o == nil {
			return nil
		}
		x = map[string]any{"id": o.ID, "request_id": o.RequestID, "account": o.Account, "channel": o.Channel, "state": o.State,
			"attempts": o.Attempts, "queued": o.Queued.UTC(), "next_attempt": o.NextAttempt.UTC(), "last_code": o.LastCode,
			"last_error": o.LastError}
	case *webhook.AccountWebhook:
		if o == nil {
			return nil
		}
		x = ViewAccountWebhook(o.Username, o)
	case *callback.Request:
		if o == nil {
			return nil
		}
		x = map[string]any{"id": o.ID, "username": o.Username, "status": o.Status, "result": o.Result,
			"canceled": o.Canceled, "finished": o.Finished, "next_call": o.NextCall.UTC(), "call_count": o.CallCount}
	default:
		x = v
	}
	b, err := json.Marshal(x)
	if err != nil {
		// Every view marshals; a failure is a programming error and the
		// entry records it rather than failing the change.
		b, _ = json.Marshal(map[string]string{"snapshot_error": err.Error()})
	}
	return b
}

// etag is a strong entity tag over the parts.
func etag(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%v\x00", p)
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:12]) + `"`
}

// AccountETag is the version of an account's settings, for If-Match. The
// balance is left out: calls move it all the time, and it changes only
// through ledger entries and CDRs, never through an update.
func AccountETag(a *callback.Account) string {
	return etag(a.Username, a.PasswordHash, a.HA1, a.PINHash, a.PINKeyID, a.Currency, int64(a.CreditLimit), a.MaxSessions,
		a.AssociatedNumber, a.Language, a.Blocked, a.Tariff, int64(a.DailyCap))
}

// AccessNumberETag is the version of an access number's options.
func AccessNumberETag(n *callback.AccessNumber) string {
	return etag(fmt.Sprintf("%+v", *n))
}

// OperatorETag is the version of an operator.
func OperatorETag(op *Operator) string {
	return etag(op.Name, op.Role, op.PasswordHash, op.Disabled)
}
