package sqlstore

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// Time scans a timestamp column of either database into a UTC time.Time;
// NULL scans as the zero time. MySQL hands over time.Time (the DSN has
// parseTime); SQLite hands over the stored text, which a plain SQL client
// may have written with datetime('now') (no fraction) or with a "T".
type Time struct{ time.Time }

// timeLayouts are the text forms accepted from SQLite, tried in order.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	time.RFC3339Nano,
	"2006-01-02",
}

// Scan implements sql.Scanner.
func (t *Time) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		t.Time = time.Time{}
		return nil
	case time.Time:
		t.Time = x.UTC()
		return nil
	case string:
		return t.parse(x)
	case []byte:
		return t.parse(string(x))
	}
	return fmt.Errorf("scan timestamp: unsupported type %T", v)
}

func (t *Time) parse(s string) error {
	if p, ok := parseStoreTime(s); ok {
		t.Time = p
		return nil
	}
	for _, layout := range timeLayouts {
		if p, err := time.Parse(layout, s); err == nil {
			t.Time = p.UTC()
			return nil
		}
	}
	return fmt.Errorf("scan timestamp: %q is not a timestamp", s)
}

// parseStoreTime reads the form the store writes, "2006-01-02
// 15:04:05.000" (UTC), without time.Parse's general machinery: an export
// reads three a row. Any other form is not ok, for the layouts to try.
func parseStoreTime(s string) (time.Time, bool) {
	if len(s) != len("2006-01-02 15:04:05.000") || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' || s[19] != '.' {
		return time.Time{}, false
	}
	var v [7]int
	for i, f := range [7][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}, {20, 23}} {
		for _, c := range []byte(s[f[0]:f[1]]) {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			v[i] = v[i]*10 + int(c-'0')
		}
	}
	if v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 59 {
		return time.Time{}, false
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], v[6]*1e6, time.UTC)
	if t.Day() != v[2] {
		return time.Time{}, false // the 31st of a shorter month: time.Parse refuses it too
	}
	return t, true
}

// requestColumns lists callback_requests in schema order; requestRow scans
// exactly these.
const requestColumns = `i_callback_request, username, authname, md5secret, original_cli,
	original_set_cli, original_cld, twoway_cli, twoway_authname, twoway_md5secret, call_id,
	twoway_call_id, next_call, call_count, canceled, credit_time, anon_acct_enabled,
	default_user_used, finished, status, result, creation_time, setup_time, connect_time,
	disconnect_time, attempt, lease_owner, lease_expires, last_cause, last_sip_code,
	last_error, source, access_number, payer, language, ask_pin, request_key, destination,
	due_since`

// requestRow scans a callback_requests row whatever a SQL client wrote into
// it: every column into a nullable or raw type, so that reading a row never
// fails on its values (a flag of 7, a negative counter, a timestamp that is
// not one). request converts it leniently; problems says what is wrong
// with it, for the claim, which never dials such a row.
type requestRow struct {
	ID              int64          `db:"i_callback_request"`
	Username        sql.NullString `db:"username"`
	Authname        sql.NullString `db:"authname"`
	MD5Secret       sql.NullString `db:"md5secret"`
	OriginalCLI     sql.NullString `db:"original_cli"`
	OriginalSetCLI  sql.NullString `db:"original_set_cli"`
	OriginalCLD     sql.NullString `db:"original_cld"`
	TwowayCLI       sql.NullString `db:"twoway_cli"`
	TwowayAuthname  sql.NullString `db:"twoway_authname"`
	TwowayMD5Secret sql.NullString `db:"twoway_md5secret"`
	CallID          sql.NullString `db:"call_id"`
	TwowayCallID    sql.NullString `db:"twoway_call_id"`
	NextCall        rawTime        `db:"next_call"`
	CallCount       sql.NullInt64  `db:"call_count"`
	Canceled        sql.NullInt64  `db:"canceled"`
	CreditTime      sql.NullInt64  `db:"credit_time"`
	AnonAcctEnabled sql.NullInt64  `db:"anon_acct_enabled"`
	DefaultUserUsed sql.NullInt64  `db:"default_user_used"`
	Finished        sql.NullInt64  `db:"finished"`
	Status          sql.NullString `db:"status"`
	Result          sql.NullString `db:"result"`
	CreationTime    rawTime        `db:"creation_time"`
	SetupTime       rawTime        `db:"setup_time"`
	ConnectTime     rawTime        `db:"connect_time"`
	DisconnectTime  rawTime        `db:"disconnect_time"`
	Attempt         sql.NullInt64  `db:"attempt"`
	LeaseOwner      sql.NullString `db:"lease_owner"`
	LeaseExpires    rawTime        `db:"lease_expires"`
	LastCause       sql.NullInt64  `db:"last_cause"`
	LastSIPCode     sql.NullInt64  `db:"last_sip_code"`
	LastError       sql.NullString `db:"last_error"`
	Source          sql.NullString `db:"source"`
	AccessNumber    sql.NullString `db:"access_number"`
	Payer           sql.NullString `db:"payer"`
	Language        sql.NullString `db:"language"`
	AskPIN          sql.NullInt64  `db:"ask_pin"`
	RequestKey      sql.NullString `db:"request_key"`
	Destination     sql.NullString `db:"destination"`
	DueSince        rawTime        `db:"due_since"`
}

// requestRowColumns is how many columns requestColumns names.
const requestRowColumns = 39

// dest appends the addresses rows.Scan fills, in the order of
// requestColumns.
func (r *requestRow) dest(d []any) []any {
	return append(d, &r.ID, &r.Username, &r.Authname, &r.MD5Secret, &r.OriginalCLI, &r.OriginalSetCLI,
		&r.OriginalCLD, &r.TwowayCLI, &r.TwowayAuthname, &r.TwowayMD5Secret, &r.CallID, &r.TwowayCallID,
		&r.NextCall, &r.CallCount, &r.Canceled, &r.CreditTime, &r.AnonAcctEnabled, &r.DefaultUserUsed,
		&r.Finished, &r.Status, &r.Result, &r.CreationTime, &r.SetupTime, &r.ConnectTime, &r.DisconnectTime,
		&r.Attempt, &r.LeaseOwner, &r.LeaseExpires, &r.LastCause, &r.LastSIPCode, &r.LastError, &r.Source,
		&r.AccessNumber, &r.Payer, &r.Language, &r.AskPIN, &r.RequestKey, &r.Destination, &r.DueSince)
}

func (r *requestRow) request() *callback.Request {
	return &callback.Request{
		ID:              r.ID,
		Username:        r.Username.String,
		Authname:        r.Authname.String,
		MD5Secret:       r.MD5Secret.String,
		OriginalCLI:     r.OriginalCLI.String,
		OriginalSetCLI:  r.OriginalSetCLI.String,
		OriginalCLD:     r.OriginalCLD.String,
		TwowayCLI:       r.TwowayCLI.String,
		TwowayAuthname:  r.TwowayAuthname.String,
		TwowayMD5Secret: r.TwowayMD5Secret.String,
		CallID:          r.CallID.String,
		TwowayCallID:    r.TwowayCallID.String,
		NextCall:        r.NextCall.t,
		CallCount:       int(r.CallCount.Int64),
		Canceled:        r.Canceled.Int64 != 0,
		CreditTime:      int(r.CreditTime.Int64),
		AnonAcctEnabled: r.AnonAcctEnabled.Int64 != 0,
		DefaultUserUsed: r.DefaultUserUsed.Int64 != 0,
		Finished:        r.Finished.Int64 != 0,
		Status:          callback.Status(r.Status.String),
		Result:          callback.Result(r.Result.String),
		CreationTime:    r.CreationTime.t,
		SetupTime:       r.SetupTime.t,
		ConnectTime:     r.ConnectTime.t,
		DisconnectTime:  r.DisconnectTime.t,
		Attempt:         int(r.Attempt.Int64),
		LeaseOwner:      r.LeaseOwner.String,
		LeaseExpires:    r.LeaseExpires.t,
		LastCause:       int(r.LastCause.Int64),
		LastSIPCode:     int(r.LastSIPCode.Int64),
		LastError:       r.LastError.String,
		Source:          callback.Source(r.Source.String),
		AccessNumber:    r.AccessNumber.String,
		Payer:           r.Payer.String,
		Language:        r.Language.String,
		AskPIN:          r.AskPIN.Int64 != 0,
		RequestKey:      r.RequestKey.String,
		Destination:     r.Destination.String,
		DueSince:        r.DueSince.t,
	}
}

// rawTime scans a timestamp column without failing on what is stored
// there: NULL, a time, or (kept as text in bad) a value that is not a
// usable time: text that does not parse (SQLite keeps times as text), a
// zero date (MariaDB with an empty sql_mode; the driver hands it over as the
// zero time.Time), or a date before 1970.
type rawTime struct {
	t    time.Time
	null bool
	bad  string
}

// Scan implements sql.Scanner; it never fails.
func (t *rawTime) Scan(v any) error {
	*t = rawTime{}
	switch x := v.(type) {
	case nil:
		t.null = true
	case time.Time:
		switch {
		case x.IsZero():
			t.bad = "0000-00-00 00:00:00"
		case x.Before(minTime):
			t.bad = x.UTC().Format("2006-01-02 15:04:05.000")
		default:
			t.t = x.UTC()
		}
	case string:
		t.parse(x)
	case []byte:
		t.parse(string(x))
	default:
		t.bad = fmt.Sprint(v)
	}
	return nil
}

func (t *rawTime) parse(s string) {
	var p Time
	if err := p.parse(s); err != nil {
		t.bad = s
		return
	}
	t.set(p.Time, s)
}

// minTime is the earliest time a row may hold: the CHECK constraints of
// migration 00003 refuse earlier next_call and creation_time values.
var minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

func (t *rawTime) set(v time.Time, text string) {
	if v.Before(minTime) {
		t.bad = text
		return
	}
	t.t = v.UTC()
}

// problem is one thing wrong with a row: the column, its value as stored,
// and why the value is wrong.
type problem struct {
	col, value, why string
}

func (p problem) String() string { return fmt.Sprintf("%s = %s: %s", p.col, p.value, p.why) }

// describe joins problems into the text written to last_error.
func describe(ps []problem) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "unreadable row: " + strings.Join(s, "; ")
}

// quote shows a stored text value, cut to a length a log line and
// last_error can hold.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

// seedPlaceholderSecret is the md5secret of the seed's example INSERT,
// which works verbatim: it is read as no secret (the trunk's credentials).
const seedPlaceholderSecret = "<md5secret>"

// problems lists what makes the row unusable as a request: NULL where the
// request needs a value, a status or result that is not the seed's, a flag
// other than 0 or 1, a negative counter, a time that is not one, an
// md5secret that is not an HA1. A row without problems may still fail
// callback.Request.Validate (unknown sub-application, empty CLI), which the
// dispatcher applies.
func (r *requestRow) problems() []problem {
	var ps []problem
	add := func(col, value, why string) { ps = append(ps, problem{col, value, why}) }
	for _, c := range []struct {
		col string
		v   sql.NullString
	}{{"username", r.Username}, {"status", r.Status}, {"source", r.Source}} {
		if !c.v.Valid {
			add(c.col, "NULL", "a request needs a value")
		}
	}
	if r.Status.Valid && !callback.Status(r.Status.String).Valid() {
		add("status", quote(r.Status.String), "not one of the seed's statuses")
	}
	if r.Result.Valid && !callback.Result(r.Result.String).Valid() {
		add("result", quote(r.Result.String), "not one of the seed's results")
	}
	for _, c := range []struct {
		col string
		v   sql.NullInt64
	}{{"canceled", r.Canceled}, {"finished", r.Finished}, {"anon_acct_enabled", r.AnonAcctEnabled},
		{"default_user_used", r.DefaultUserUsed}, {"ask_pin", r.AskPIN}} {
		switch {
		case !c.v.Valid:
			add(c.col, "NULL", "not 0 or 1")
		case c.v.Int64 != 0 && c.v.Int64 != 1:
			add(c.col, strconv.FormatInt(c.v.Int64, 10), "not 0 or 1")
		}
	}
	for _, c := range []struct {
		col      string
		v        sql.NullInt64
		nullable bool
	}{{"call_count", r.CallCount, false}, {"attempt", r.Attempt, false}, {"credit_time", r.CreditTime, true}} {
		switch {
		case !c.v.Valid && !c.nullable:
			add(c.col, "NULL", "a request needs a value")
		case c.v.Int64 < 0:
			add(c.col, strconv.FormatInt(c.v.Int64, 10), "negative")
		}
	}
	for _, c := range r.times() {
		switch {
		case c.v.bad != "":
			add(c.col, quote(c.v.bad), "not a timestamp")
		case c.v.null && !c.nullable:
			add(c.col, "NULL", "a request needs a value")
		}
	}
	for _, c := range []struct {
		col string
		v   sql.NullString
	}{{"md5secret", r.MD5Secret}, {"twoway_md5secret", r.TwowayMD5Secret}} {
		if c.v.String != "" && c.v.String != seedPlaceholderSecret && !callback.IsHA1(c.v.String) {
			// The secret itself is never shown.
			add(c.col, fmt.Sprintf("(%d characters)", len(c.v.String)), "not an HA1 (32 hex digits)")
		}
	}
	return ps
}

type timeCol struct {
	col      string
	v        rawTime
	nullable bool
}

// times lists the row's time columns.
func (r *requestRow) times() []timeCol {
	return []timeCol{
		{"next_call", r.NextCall, false}, {"creation_time", r.CreationTime, false},
		{"setup_time", r.SetupTime, true}, {"connect_time", r.ConnectTime, true},
		{"disconnect_time", r.DisconnectTime, true}, {"lease_expires", r.LeaseExpires, true},
		{"due_since", r.DueSince, true},
	}
}

const eventColumns = `request_id, event_time, attempt, status, result, cause, sip_code, note`

type eventRow struct {
	RequestID int64          `db:"request_id"`
	Time      rawTime        `db:"event_time"`
	Attempt   int            `db:"attempt"`
	Status    string         `db:"status"`
	Result    sql.NullString `db:"result"`
	Cause     sql.NullInt64  `db:"cause"`
	SIPCode   sql.NullInt64  `db:"sip_code"`
	Note      sql.NullString `db:"note"`
}

func (e *eventRow) event() callback.Event {
	return callback.Event{
		RequestID: e.RequestID,
		Time:      e.Time.t,
		Attempt:   e.Attempt,
		Status:    callback.Status(e.Status),
		Result:    callback.Result(e.Result.String),
		Cause:     int(e.Cause.Int64),
		SIPCode:   int(e.SIPCode.Int64),
		Note:      e.Note.String,
	}
}

const accountColumns = `id, username, password_hash, ha1, pin_hash, pin_key_id, balance, currency, credit_limit,
	max_sessions, associated_number, language, blocked, tariff, daily_cap, created`

type accountRow struct {
	ID               int64          `db:"id"`
	Username         string         `db:"username"`
	PasswordHash     sql.NullString `db:"password_hash"`
	HA1              sql.NullString `db:"ha1"`
	PINHash          sql.NullString `db:"pin_hash"`
	PINKeyID         sql.NullString `db:"pin_key_id"`
	Balance          int64          `db:"balance"`
	Currency         sql.NullString `db:"currency"`
	CreditLimit      int64          `db:"credit_limit"`
	MaxSessions      int            `db:"max_sessions"`
	AssociatedNumber sql.NullString `db:"associated_number"`
	Language         sql.NullString `db:"language"`
	Blocked          bool           `db:"blocked"`
	Tariff           sql.NullString `db:"tariff"`
	DailyCap         int64          `db:"daily_cap"`
	Created          Time           `db:"created"`
}

func (a *accountRow) account() *callback.Account {
	return &callback.Account{
		ID:               a.ID,
		Username:         a.Username,
		PasswordHash:     a.PasswordHash.String,
		HA1:              a.HA1.String,
		PINHash:          a.PINHash.String,
		PINKeyID:         a.PINKeyID.String,
		Balance:          callback.Money(a.Balance),
		Currency:         a.Currency.String,
		CreditLimit:      callback.Money(a.CreditLimit),
		MaxSessions:      a.MaxSessions,
		AssociatedNumber: a.AssociatedNumber.String,
		Language:         a.Language.String,
		Blocked:          a.Blocked,
		Tariff:           a.Tariff.String,
		DailyCap:         callback.Money(a.DailyCap),
		Created:          a.Created.Time,
	}
}

const accessNumberColumns = `number, trigger_type, sub_app, language, region, area_code,
	default_account_username, disable_cli_authentication, force_cli_authentication,
	force_default_account, minimum_balance, fixed_cli, hangup_sip_code, ringback_time,
	ringback_type, diversion_reason, anonymous_accounting, delay_before_callback, iscallback,
	anumberhandling, internal_account, callback_tariff, ivrauthentication`

type accessNumberRow struct {
	Number                   string         `db:"number"`
	Trigger                  string         `db:"trigger_type"`
	SubApp                   sql.NullString `db:"sub_app"`
	Language                 sql.NullString `db:"language"`
	Region                   sql.NullString `db:"region"`
	AreaCode                 sql.NullString `db:"area_code"`
	DefaultAccountUsername   sql.NullString `db:"default_account_username"`
	DisableCLIAuthentication bool           `db:"disable_cli_authentication"`
	ForceCLIAuthentication   bool           `db:"force_cli_authentication"`
	ForceDefaultAccount      bool           `db:"force_default_account"`
	MinimumBalance           sql.NullString `db:"minimum_balance"`
	FixedCLI                 sql.NullString `db:"fixed_cli"`
	HangupSIPCode            int            `db:"hangup_sip_code"`
	RingbackTime             int            `db:"ringback_time"`
	RingbackType             sql.NullString `db:"ringback_type"`
	DiversionReason          sql.NullString `db:"diversion_reason"`
	AnonymousAccounting      bool           `db:"anonymous_accounting"`
	DelayBeforeCallback      int            `db:"delay_before_callback"`
	IsCallback               int            `db:"iscallback"`
	ANumberHandling          int            `db:"anumberhandling"`
	InternalAccount          sql.NullString `db:"internal_account"`
	CallbackTariff           sql.NullString `db:"callback_tariff"`
	IVRAuthentication        int            `db:"ivrauthentication"`
}

func (n *accessNumberRow) accessNumber() *callback.AccessNumber {
	return &callback.AccessNumber{
		Number:                   n.Number,
		Trigger:                  callback.Trigger(n.Trigger),
		SubApp:                   n.SubApp.String,
		Language:                 n.Language.String,
		Region:                   n.Region.String,
		AreaCode:                 n.AreaCode.String,
		DefaultAccountUsername:   n.DefaultAccountUsername.String,
		DisableCLIAuthentication: n.DisableCLIAuthentication,
		ForceCLIAuthentication:   n.ForceCLIAuthentication,
		ForceDefaultAccount:      n.ForceDefaultAccount,
		MinimumBalance:           n.MinimumBalance.String,
		FixedCLI:                 n.FixedCLI.String,
		HangupSIPCode:            n.HangupSIPCode,
		RingbackTime:             n.RingbackTime,
		RingbackType:             n.RingbackType.String,
		DiversionReason:          n.DiversionReason.String,
		AnonymousAccounting:      n.AnonymousAccounting,
		DelayBeforeCallback:      n.DelayBeforeCallback,
		IsCallback:               n.IsCallback,
		ANumberHandling:          n.ANumberHandling,
		InternalAccount:          n.InternalAccount.String,
		CallbackTariff:           n.CallbackTariff.String,
		IVRAuthentication:        ivrAuth(n.IVRAuthentication),
	}
}

// ivrAuth reads the ivrauthentication column; a value the schema's CHECK
// should have kept out (a server that ignores CHECK) reads as the default.
func ivrAuth(v int) callback.IVRAuth {
	a, err := callback.ParseIVRAuth(v)
	if err != nil {
		return callback.IVRAuthANumberOrPIN
	}
	return a
}

const rateColumns = `tariff, prefix, description, price_per_minute, connection_fee,
	first_increment, next_increment, blocked`

type rateRow struct {
	Tariff         string         `db:"tariff"`
	Prefix         string         `db:"prefix"`
	Description    sql.NullString `db:"description"`
	PricePerMinute int64          `db:"price_per_minute"`
	ConnectionFee  int64          `db:"connection_fee"`
	FirstIncrement int            `db:"first_increment"`
	NextIncrement  int            `db:"next_increment"`
	Blocked        bool           `db:"blocked"`
}

func (r *rateRow) rate() callback.TariffRate {
	return callback.TariffRate{
		Tariff:         r.Tariff,
		Prefix:         r.Prefix,
		Description:    r.Description.String,
		PricePerMinute: callback.Money(r.PricePerMinute),
		ConnectionFee:  callback.Money(r.ConnectionFee),
		FirstIncrement: r.FirstIncrement,
		NextIncrement:  r.NextIncrement,
		Blocked:        r.Blocked,
	}
}

const cdrColumns = `id, request_id, leg, account, number, caller_id, channel_id, trunk, start_time,
	answer_time, end_time, billsec, cause, sip_code, prefix, charge, currency, disposition`

type cdrRow struct {
	ID          int64          `db:"id"`
	RequestID   int64          `db:"request_id"`
	Leg         string         `db:"leg"`
	Account     string         `db:"account"`
	Number      sql.NullString `db:"number"`
	CallerID    sql.NullString `db:"caller_id"`
	ChannelID   string         `db:"channel_id"`
	Trunk       string         `db:"trunk"`
	Start       Time           `db:"start_time"`
	Answer      Time           `db:"answer_time"`
	End         Time           `db:"end_time"`
	BillSec     int            `db:"billsec"`
	Cause       sql.NullInt64  `db:"cause"`
	SIPCode     sql.NullInt64  `db:"sip_code"`
	Prefix      sql.NullString `db:"prefix"`
	Charge      int64          `db:"charge"`
	Currency    sql.NullString `db:"currency"`
	Disposition sql.NullString `db:"disposition"`
}

func (c *cdrRow) cdr() *callback.CDR {
	return &callback.CDR{
		ID:          c.ID,
		RequestID:   c.RequestID,
		Leg:         callback.Leg(c.Leg),
		Account:     c.Account,
		Number:      c.Number.String,
		CallerID:    c.CallerID.String,
		ChannelID:   c.ChannelID,
		Trunk:       c.Trunk,
		Start:       c.Start.Time,
		Answer:      c.Answer.Time,
		End:         c.End.Time,
		BillSec:     c.BillSec,
		Cause:       int(c.Cause.Int64),
		SIPCode:     int(c.SIPCode.Int64),
		Prefix:      c.Prefix.String,
		Charge:      callback.Money(c.Charge),
		Currency:    c.Currency.String,
		Disposition: c.Disposition.String,
	}
}
