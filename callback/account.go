package callback

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Account is a customer who pays for callbacks (PortaSIP "account", Sippy
// "account", MOR "user"). Money fields are in the account's Currency.
type Account struct {
	ID               int64
	Username         string
	PasswordHash     string // bcrypt of the web/API/email password; never logged
	HA1              string // MD5(username:realm:password) for SIP digest, hex: as good as the password to SIP, so set only for a SIP identity
	PIN              string // a new calling-card / PIN-trigger PIN to store (unique); only ever written, reads leave it ""
	PINHash          string // the stored PIN: HMAC-SHA-256 under the PIN key (PINKey), hex; kept as is when PIN is ""
	PINKeyID         string // PINKey.ID of the key PINHash was made under
	Balance          Money
	Currency         string // ISO 4217 code
	CreditLimit      Money  // the lowest balance allowed: 0 prepaid, negative postpaid
	MaxSessions      int    // concurrent calls; a callback needs 2 (seed 000 note)
	AssociatedNumber string // DNIS trigger and web "simple" mode call this number back
	Language         string // IVR language
	Blocked          bool
	Tariff           string // tariff used to rate this account's legs
	DailyCap         Money  // per-day spend cap; 0 means none
	Created          time.Time
}

// MinMaxSessions is the Max Sessions one callback needs: it holds two
// sessions, its two legs (seed 000: "Max. Sessions parameter of the
// callback account should be equal to or greater than 2. Otherwise the
// second call leg won't go through").
const MinMaxSessions = 2

// CheckMaxSessions refuses a Max Sessions under which no callback can ever
// run: 1, or a negative number. 0 means no limit.
func (a *Account) CheckMaxSessions() error {
	if a.MaxSessions < 0 || a.MaxSessions > 0 && a.MaxSessions < MinMaxSessions {
		return &ValidationError{Field: "max_sessions", Reason: fmt.Sprintf(
			"%d is below the %d sessions a callback needs (its two legs); 0 means no limit", a.MaxSessions, MinMaxSessions)}
	}
	return nil
}

// Available is how much the account may still spend: balance above its
// credit limit, never negative.
func (a *Account) Available() Money {
	if v := a.Balance - a.CreditLimit; v > 0 {
		return v
	}
	return 0
}

// HA1 computes the SIP digest HA1, MD5("<username>:<realm>:<password>") in
// lower-case hex, as seed 001 defines md5secret.
func HA1(username, realm, password string) string {
	sum := md5.Sum([]byte(username + ":" + realm + ":" + password))
	return hex.EncodeToString(sum[:])
}

// AccountCLI maps a caller ID to an account (Sippy's calling_card_cli_map):
// an account may call from several numbers.
type AccountCLI struct {
	CLI      string // E.164 without the leading +, as normalised
	Username string
}

// Trigger is how an access number identifies who asked for the callback.
type Trigger string

// The trigger kinds of PortaSIP (seed 002).
const (
	TriggerANI  Trigger = "ani"  // the caller's CLI identifies the account
	TriggerDNIS Trigger = "dnis" // the dialled number identifies the account
	TriggerPIN  Trigger = "pin"  // an internal account pays leg A; PIN asked after answer
)

// Ringback types of the seed's "Ringback Type" option.
const (
	RingbackIndicate   = "indicate"   // 180 Ringing
	RingbackEarlyMedia = "earlymedia" // 183 Session Progress with ring tone
)

// AccessNumber is a number callers ring to ask for a callback, with the
// per-number options of Sippy's ANI Callback application (seed 000) under
// their seed names, and Mizu's iscallback/anumberhandling (seed 003).
type AccessNumber struct {
	Number   string  // the DID as it reaches Asterisk (agi_dnid / agi_extension)
	Trigger  Trigger // ani, dnis or pin
	SubApp   string  // original_cld for the queued request: "callingcard", "2way_12345"
	Language string  // IVR language for calls through this number
	Region   string  // ISO 3166 region for CLI normalisation, e.g. "DE"
	AreaCode string  // area code prefixed to local-format CLIs, e.g. "30"

	DefaultAccountUsername   string // "Default Account Username"
	DisableCLIAuthentication bool   // "Disable CLI Authentication" (default False)
	ForceCLIAuthentication   bool   // "Force CLI Authentication" (default False)
	ForceDefaultAccount      bool   // "Force Default Account" (default False)
	MinimumBalance           string // "Minimum Balance", e.g. "2 USD"; "" is Not set
	FixedCLI                 string // "Fixed CLI" for leg A
	HangupSIPCode            int    // "Hangup SIP Response Code" (default 603)
	RingbackTime             int    // "Ringback Time" in seconds (default 0)
	RingbackType             string // "Ringback Type": indicate or earlymedia (default indicate)
	DiversionReason          string // "The Reason For Diversion" (default unconditional)
	AnonymousAccounting      bool   // "Enable_Anonymous_Accounting" (default True)
	DelayBeforeCallback      int    // "Delay Before Callback" seconds; 0 uses the global (5)

	IsCallback      int    // Mizu iscallback 1..7 (default 6: callback immediately always); 8 or more: the IVR of that id, callback always
	ANumberHandling int    // Mizu anumberhandling 0..3 (default 3: add and accept)
	InternalAccount string // PIN trigger / hosted: the account that pays leg A
	CallbackTariff  string // tariff whose prefixes say where callbacks may go

	IVRAuthentication IVRAuth // Mizu ivrauthentication 0..4 (zero value: 1, A number or PIN)
}

// Defaults for access-number options, from seed 000.
const (
	DefaultHangupSIPCode   = 603
	DefaultRingbackType    = RingbackIndicate
	DefaultDiversionReason = "unconditional"
	DefaultIsCallback      = 6
	DefaultANumberHandling = 3
)

// ApplyDefaults fills the options an operator left empty with the seed's
// defaults.
func (n *AccessNumber) ApplyDefaults() {
	if n.Trigger == "" {
		n.Trigger = TriggerANI
	}
	if n.HangupSIPCode == 0 {
		n.HangupSIPCode = DefaultHangupSIPCode
	}
	if n.RingbackType == "" {
		n.RingbackType = DefaultRingbackType
	}
	if n.DiversionReason == "" {
		n.DiversionReason = DefaultDiversionReason
	}
	if n.IsCallback == 0 {
		n.IsCallback = DefaultIsCallback
	}
	if n.SubApp == "" {
		n.SubApp = string(SubAppCallingCard)
	}
}

// Currency is a currency with its exchange rate against the base currency.
type Currency struct {
	Code string       // ISO 4217
	Rate ExchangeRate // units of this currency per one unit of the base currency
}

// TariffRate is one prefix of a tariff (MOR "rate"): the longest matching
// prefix rates a destination.
type TariffRate struct {
	Tariff         string
	Prefix         string // digits, E.164 without +
	Description    string
	PricePerMinute Money
	ConnectionFee  Money
	FirstIncrement int  // seconds billed at least (e.g. 60)
	NextIncrement  int  // billing step after the first (e.g. 1 or 60)
	Blocked        bool // calls to this prefix are refused (premium, satellite)
}

// Leg names a call leg in CDRs.
type Leg string

// The two legs of a callback.
const (
	LegA Leg = "A" // callbackd calls the user back
	LegB Leg = "B" // callbackd calls the destination
)

// CDR is one call detail record: one row per leg.
type CDR struct {
	ID          int64
	RequestID   int64
	Leg         Leg
	Account     string // who pays this leg
	Number      string // the number called
	CallerID    string
	ChannelID   string
	Trunk       string // the trunk that carried the leg (ari.trunks); "" when not named
	Start       time.Time
	Answer      time.Time // zero when not answered
	End         time.Time
	BillSec     int // billed seconds after increments
	Cause       int // Q.850
	SIPCode     int
	Prefix      string // the tariff prefix that rated it
	Charge      Money
	Currency    string
	Disposition string // ANSWERED, BUSY, NO ANSWER, FAILED
}

// Validate checks the options of an access number, naming each option by
// its seed name so the operator knows what to fix.
func (n *AccessNumber) Validate() error {
	if n.Number == "" || strings.Trim(strings.TrimPrefix(n.Number, "+"), "0123456789*#") != "" {
		return &ValidationError{Field: "number", Reason: fmt.Sprintf("%q is not a dialled number", n.Number)}
	}
	switch n.Trigger {
	case "", TriggerANI, TriggerDNIS, TriggerPIN:
	default:
		return &ValidationError{Field: "trigger", Reason: fmt.Sprintf("%q: want ani, dnis or pin", n.Trigger)}
	}
	if n.SubApp != "" {
		if _, err := ParseCLD(n.SubApp); err != nil {
			return err
		}
	}
	if n.HangupSIPCode != 0 && !slices.Contains(HangupSIPCodes, n.HangupSIPCode) {
		return &ValidationError{Field: "Hangup SIP Response Code", Reason: fmt.Sprintf("%d is not one of %v", n.HangupSIPCode, HangupSIPCodes)}
	}
	switch n.RingbackType {
	case "", RingbackIndicate, RingbackEarlyMedia:
	default:
		return &ValidationError{Field: "Ringback Type", Reason: fmt.Sprintf("%q: want indicate or earlymedia", n.RingbackType)}
	}
	if n.RingbackTime < 0 || n.RingbackTime > 60 {
		return &ValidationError{Field: "Ringback Time", Reason: fmt.Sprintf("%d s: want 0 to 60", n.RingbackTime)}
	}
	if n.DelayBeforeCallback < 0 {
		return &ValidationError{Field: "Delay Before Callback", Reason: "negative"}
	}
	if n.MinimumBalance != "" {
		if _, err := ParseAmount(n.MinimumBalance); err != nil {
			return &ValidationError{Field: "Minimum Balance", Reason: err.Error()}
		}
	}
	if n.IsCallback < 0 {
		return &ValidationError{Field: "iscallback", Reason: fmt.Sprintf("%d: want a mode 1 to 7, or the id (8 or more) of an IVR in agi.ivrs", n.IsCallback)}
	}
	if n.IVRAuthentication.Seed() < 0 {
		return &ValidationError{Field: "ivrauthentication", Reason: fmt.Sprintf("%v: want 0 to 4", n.IVRAuthentication)}
	}
	if a := n.IVRAuthentication; a == IVRAuthPINOnly || a == IVRAuthANumberAndPIN {
		if cld, err := ParseCLD(n.SubApp); err == nil && cld.App != SubAppCallingCard {
			return &ValidationError{Field: "ivrauthentication", Reason: fmt.Sprintf("%d asks a PIN, which only the calling card does; the sub-application is %q", a.Seed(), n.SubApp)}
		}
	}
	if n.ANumberHandling < 0 || n.ANumberHandling > 3 {
		return &ValidationError{Field: "anumberhandling", Reason: fmt.Sprintf("%d: want 0 to 3", n.ANumberHandling)}
	}
	if n.Trigger == TriggerPIN && n.InternalAccount == "" && n.DefaultAccountUsername == "" {
		return &ValidationError{Field: "internal account", Reason: "the PIN trigger needs an internal account to pay leg A"}
	}
	return nil
}
