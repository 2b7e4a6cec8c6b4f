package trigger

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/agi"
	"github.com/callbackd/callbackd/callback"
)

// The channel variables the handler sets before it hangs up or returns, so
// the dialplan (and the CDR) can see what happened. This is the contract
// with dialplan/extensions.conf: after AGI() returns, CALLBACKD_ACTION is
// "ivr" only when the call must go on to Stasis(callbackd,ivr,...); for
// "callback" and "reject" the channel has already been hung up, unless the
// AGI() call asked for reject=dialplan: then the handler hangs nothing up
// and sets CALLBACKD_SIP_CODE and CALLBACKD_HANGUP_CAUSE for the dialplan's
// PJSIPHangup (or Hangup, on other channel types).
const (
	VarAction      = "CALLBACKD_ACTION"
	VarReason      = "CALLBACKD_REASON"
	VarRequestID   = "CALLBACKD_REQUEST_ID"
	VarAccount     = "CALLBACKD_ACCOUNT"
	VarLanguage    = "CALLBACKD_LANGUAGE"
	VarSIPCode     = "CALLBACKD_SIP_CODE"
	VarHangupCause = "CALLBACKD_HANGUP_CAUSE"
)

// RejectInDialplan is the value of the AGI parameter reject (reject=dialplan,
// as a query or an AGI() argument) with which the handler leaves the
// unanswered call's hang-up to the dialplan: it sets the SIP code and the
// Q.850 cause with the other variables, in the same EXEC MSet, and ends the
// session, one command and its reply fewer than hanging up itself.
const RejectInDialplan = "dialplan"

// AGIHandler serves the FastAGI scripts of the access numbers:
//
//	agi://host:4573/ani    ANI (missed-call) trigger
//	agi://host:4573/dnis   DNIS trigger
//	agi://host:4573/pin    PIN trigger
//	agi://host:4573/callback  the trigger configured on the access number
//
// Parameters, as query or AGI() arguments: number=<access number> (default
// agi_dnid, then agi_extension), cld=ani_<options>_<string> (or an argument
// starting with ani_).
type AGIHandler struct {
	Engine *Engine
	Log    *slog.Logger
}

// Register routes the handler's scripts on m.
func (h *AGIHandler) Register(m *agi.Mux) {
	for _, script := range []string{"ani", "dnis", "pin", "callback", "cld"} {
		m.Handle(script, h)
	}
}

// ServeAGI handles one trigger call.
func (h *AGIHandler) ServeAGI(ctx context.Context, s *agi.Session) {
	log := sessionLog{h.Log, [...]slog.Attr{slog.String("channel", s.Env.Channel), slog.String("uniqueid", s.Env.UniqueID),
		slog.String("script", s.Env.Script), slog.String("cli", s.Env.CallerID)}}
	call, reject := callFromEnv(&s.Env)
	dialplanReject := reject == RejectInDialplan
	if reject != "" && !dialplanReject {
		log.log(ctx, slog.LevelWarn, "unknown value of the AGI parameter reject (the one value is dialplan); callbackd hangs the call up itself",
			slog.String("reject", reject))
	}
	if s.Env.Type == "PJSIP" && h.Engine.perSource.Enabled() {
		// The SIP peer, so one abusive source is limited as a whole. The
		// source serves that limit only: without it the round trip to
		// Asterisk is saved.
		if v, ok, err := s.GetVariable(ctx, "CHANNEL(pjsip,remote_addr)"); err == nil && ok {
			call.Source = v
		}
	}
	if call.Source == "" && s.RemoteAddr != nil {
		call.Source = s.RemoteAddr.String()
	}
	d, err := h.Engine.Handle(ctx, call)
	if err != nil {
		log.log(ctx, slog.LevelError, "trigger failed; rejecting the call", slog.String("number", call.Number), slog.Any("err", err))
	}
	if log.Enabled(ctx, slog.LevelInfo) {
		attrs := append(make([]slog.Attr, 0, 11), log.attrs[:]...)
		attrs = append(attrs, slog.String("number", call.Number), slog.Any("action", d.Action), slog.String("reason", d.Reason), slog.Int("sip_code", d.SIPCode))
		if d.Request != nil {
			attrs = append(attrs, slog.Int64("request_id", d.Request.ID), slog.Bool("duplicate", d.Duplicate))
		}
		if d.Account != "" {
			attrs = append(attrs, slog.String("account", d.Account))
		}
		log.LogAttrs(ctx, slog.LevelInfo, "trigger decided", attrs...)
	}

	if err := h.setVars(ctx, s, d, dialplanReject); err != nil {
		h.ended(ctx, log, err)
		return
	}
	if d.Action == ActionIVR {
		return // the dialplan continues to Stasis(callbackd,ivr)
	}
	if err := h.ringback(ctx, s, d); err != nil {
		h.ended(ctx, log, err)
		return
	}
	if dialplanReject {
		return // the dialplan hangs up with CALLBACKD_SIP_CODE
	}
	h.ended(ctx, log, h.reject(ctx, s, d.SIPCode))
}

// sessionLog logs with the attributes of one session (channel, uniqueid,
// script, cli) first, as a logger made With them would, without making
// that logger on every call: its attributes would be formatted each time
// whether anything is logged or not.
type sessionLog struct {
	*slog.Logger
	attrs [4]slog.Attr
}

func (l sessionLog) log(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if !l.Enabled(ctx, level) {
		return
	}
	l.LogAttrs(ctx, level, msg, append(l.attrs[:len(l.attrs):len(l.attrs)], attrs...)...)
}

// callFromEnv reads the call from the AGI environment, and the reject
// parameter (see RejectInDialplan).
func callFromEnv(env *agi.Env) (c InboundCall, reject string) {
	c = InboundCall{CLI: env.CallerID, CallingPres: strconv.Itoa(env.CallingPres), Channel: env.Channel}
	switch env.Script {
	case "ani":
		c.Kind = callback.TriggerANI
	case "dnis":
		c.Kind = callback.TriggerDNIS
	case "pin":
		c.Kind = callback.TriggerPIN
	}
	c.Number = env.Params.Get("number")
	c.CLDRule = env.Params.Get("cld")
	reject = env.Params.Get("reject")
	for _, a := range env.Args {
		switch {
		case strings.HasPrefix(a, "ani_") && c.CLDRule == "":
			c.CLDRule = a
		case strings.HasPrefix(a, "number=") && c.Number == "":
			c.Number = strings.TrimPrefix(a, "number=")
		case strings.HasPrefix(a, "reject=") && reject == "":
			reject = strings.TrimPrefix(a, "reject=")
		}
	}
	if c.Number == "" && env.DNID != "" && env.DNID != "unknown" {
		c.Number = env.DNID
	}
	if c.Number == "" {
		c.Number = env.Extension
	}
	return c, reject
}

// setVars sets the decision's channel variables; with dialplanReject, and
// a call to be hung up, the SIP code and the cause the dialplan hangs up
// with too.
func (h *AGIHandler) setVars(ctx context.Context, s *agi.Session, d Decision, dialplanReject bool) error {
	var varsBuf [7][2]string
	vars := append(varsBuf[:0], [2]string{VarAction, string(d.Action)}, [2]string{VarReason, d.Reason})
	if d.Request != nil {
		vars = append(vars, [2]string{VarRequestID, strconv.FormatInt(d.Request.ID, 10)})
	}
	if d.Account != "" {
		vars = append(vars, [2]string{VarAccount, d.Account})
	}
	if d.Language != "" {
		vars = append(vars, [2]string{VarLanguage, d.Language})
	}
	if dialplanReject && d.Action != ActionIVR {
		code, cause := rejectWith(d.SIPCode)
		vars = append(vars, [2]string{VarSIPCode, strconv.Itoa(code)}, [2]string{VarHangupCause, strconv.Itoa(int(cause))})
	}
	if len(vars) > 1 && msetSafe(vars) {
		var argsBuf [len(varsBuf)]string
		args := argsBuf[:len(vars)]
		for i, v := range vars {
			args[i] = v[0] + "=" + msetEscape(v[1])
		}
		_, err := s.Exec(ctx, "MSet", args...)
		if !errors.Is(err, agi.ErrNoApplication) {
			return err
		}
		// No MSet in this Asterisk: one SET VARIABLE each.
	}
	for _, v := range vars {
		if err := s.SetVariable(ctx, v[0], v[1]); err != nil {
			return err
		}
	}
	return nil
}

// MSet sets every variable in one round trip where SET VARIABLE takes one
// each. Asterisk 22's res_agi hands EXEC's options word to the application
// as it is (handle_exec), unless the channel sets AGIEXECFULL, which
// substitutes ${...} first: a value with a '$' goes by SET VARIABLE, which
// never substitutes. MSet (pbx_builtin_setvar_multiple in
// main/pbx_variables.c) splits its data on ',' outside quotes, parentheses
// and brackets, dropping quotes and making the character after a
// backslash literal (__ast_app_separate_args), then each pair on its first
// '=', leaving the value after it untouched: escaping every character that
// split treats specially keeps any value exact.
func msetSafe(vars [][2]string) bool {
	for _, v := range vars {
		if strings.ContainsRune(v[1], '$') {
			return false
		}
	}
	return true
}

// msetEscape escapes value for MSet's split (see msetSafe).
func msetEscape(value string) string {
	if !strings.ContainsAny(value, msetSpecial) {
		return value
	}
	var b strings.Builder
	b.Grow(len(value) + 8)
	for i := 0; i < len(value); i++ {
		if strings.IndexByte(msetSpecial, value[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(value[i])
	}
	return b.String()
}

// msetSpecial are the characters __ast_app_separate_args acts on.
const msetSpecial = `\",()[]`

// ringback indicates ringing without answering, for the seed's Ringback
// Time: "indicate" sends 180 Ringing, "earlymedia" 183 with a ring tone.
func (h *AGIHandler) ringback(ctx context.Context, s *agi.Session, d Decision) error {
	if d.RingbackTime <= 0 {
		return nil
	}
	var steps [][]string
	if d.RingbackType == callback.RingbackEarlyMedia {
		steps = [][]string{{"Progress"}, {"Playtones", "ring"}}
	} else {
		steps = [][]string{{"Ringing"}}
	}
	secs := strconv.FormatFloat(d.RingbackTime.Seconds(), 'f', -1, 64)
	steps = append(steps, []string{"Wait", secs})
	for _, st := range steps {
		if s.HungUp() {
			// The caller gave up: on a dead channel Asterisk would still
			// sleep the whole Wait before the reject.
			return nil
		}
		if _, err := s.Exec(ctx, st[0], st[1:]...); err != nil {
			return err
		}
	}
	if d.RingbackType == callback.RingbackEarlyMedia && !s.HungUp() {
		if _, err := s.Exec(ctx, "StopPlaytones"); err != nil {
			return err
		}
	}
	return nil
}

// reject hangs the call up unanswered with the SIP code: PJSIPHangup on
// PJSIP channels (Asterisk 22 has it), the mapped Q.850 cause elsewhere.
func (h *AGIHandler) reject(ctx context.Context, s *agi.Session, code int) error {
	code, cause := rejectWith(code)
	if s.Env.Type == "PJSIP" {
		_, err := s.Exec(ctx, "PJSIPHangup", strconv.Itoa(code))
		return err
	}
	_, err := s.Exec(ctx, "Hangup", strconv.Itoa(int(cause)))
	return err
}

// rejectWith returns the SIP code a call is rejected with (the default for
// none) and the Q.850 cause that stands for it on other channel types.
func rejectWith(code int) (int, callback.Cause) {
	if code == 0 {
		code = callback.DefaultHangupSIPCode
	}
	cause, err := callback.RejectCause(code)
	if err != nil {
		cause = callback.CauseNormalClearing
	}
	return code, cause
}

// ended logs how the session ended; a caller hanging up first is normal.
func (h *AGIHandler) ended(ctx context.Context, log sessionLog, err error) {
	switch {
	case err == nil:
	case errors.Is(err, agi.ErrHangup), errors.Is(err, agi.ErrDeadChannel):
		log.log(ctx, slog.LevelDebug, "caller hung up before the reject")
	case errors.Is(err, context.DeadlineExceeded):
		log.log(ctx, slog.LevelWarn, "AGI session timed out", slog.Any("err", err))
	default:
		log.log(ctx, slog.LevelWarn, "AGI session ended with an error", slog.Any("err", err))
	}
}

var _ agi.Handler = (*AGIHandler)(nil)
