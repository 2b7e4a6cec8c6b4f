// Package callingcard is the calling-card sub-application (E5) that the
// ARI controller in package ari runs once the user answered the callback:
// it asks for a PIN when the request says so (T3), announces the balance,
// asks for the destination, checks it against the payer's tariff, blocked
// prefixes, money and daily cap, announces the talk time, dials the
// destination into the call's bridge, and cuts the call when the money or
// credit_time runs out, with a warning a minute before. A busy or failed
// destination gets the busy or failed prompt before the user is hung up on
// (E7).
//
// It drives the call through ari.Session and the money through
// billing.Call: money is reserved before the destination is dialled and
// both legs are settled, one CDR each, when the call ends, whichever way
// it ends.
package callingcard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
)

// PINChecker checks a PIN typed in the IVR and returns its account;
// *auth.Authenticator implements it, limiting failures per source.
type PINChecker interface {
	PIN(ctx context.Context, pin, source string) (*callback.Account, error)
}

// AccountPINChecker is a PINChecker that also checks that a PIN is one
// given account's, counting a PIN of another account as a failed PIN
// (*auth.Authenticator and *auth.Surface implement it).
type AccountPINChecker interface {
	PINOf(ctx context.Context, pin, username, source string) (*callback.Account, error)
}

// pinAccount is the account whose PIN a request that asks for one must be
// given, "" for any account's: a request that names the caller's account
// (Mizu ivrauthentication 4, A number and PIN: the username, or the payer
// recorded beside the default account) asks the PIN as a second factor,
// not as a login to another account.
func pinAccount(r *callback.Request) string {
	switch {
	case r.Payer != "":
		return r.Payer
	case !r.DefaultUserUsed:
		return r.Username
	}
	return ""
}

// checkPIN checks a PIN typed in the IVR: any account's, or only want's.
func (c *call) checkPIN(ctx context.Context, pin, want, source string) (*callback.Account, error) {
	if want == "" {
		return c.app.o.PINs.PIN(ctx, pin, source)
	}
	if ac, ok := c.app.o.PINs.(AccountPINChecker); ok {
		return ac.PINOf(ctx, pin, want, source)
	}
	// A checker that cannot check an account's PIN: refused unless it is
	// want's, though the failure is not counted against want.
	acct, err := c.app.o.PINs.PIN(ctx, pin, source)
	if err == nil && acct.Username != want {
		return nil, fmt.Errorf("the PIN is not account %s's", want)
	}
	return acct, err
}

// Options configures the App. Zero durations and counts take the defaults
// written next to them.
type Options struct {
	Biller *billing.Biller // required
	PINs   PINChecker      // required when requests ask for a PIN

	PINTries         int           // PIN entries before too-many-attempts: 3
	DestinationTries int           // destinations tried before goodbye: 3
	InterDigit       time.Duration // longest wait for each key: 5 s
	PINTotal         time.Duration // longest PIN entry: 20 s
	DestinationTotal time.Duration // longest destination entry: 30 s
	// Warning is how long before the end one-minute-left is played: 60 s.
	// A call granted no more than this gets no warning: the talk time
	// announced before dialling already said so.
	Warning time.Duration
	// DialTimeout is how long the destination may ring; zero takes the
	// seed's Timeout (the request's answer timeout).
	DialTimeout time.Duration
	// SettleTimeout bounds the settlement at the end of a call, which runs
	// even when the call's context is canceled: 10 s.
	SettleTimeout time.Duration
	// LegBCLI is what the destination sees as caller ID, per trigger; the
	// zero value presents the caller's number (original_cli).
	LegBCLI LegBCLI
	// OnPINLogin, when set, is called once a caller has logged in with a
	// PIN, with the request and the PIN's account (Mizu anumberhandling
	// "add": the trigger engine's PINLogin).
	OnPINLogin func(ctx context.Context, r *callback.Request, acct *callback.Account)
	// Sounds reports whether a language has a recording of a prompt
	// ("callbackd/enter-pin"); nil is the shipped catalogue, [sounds.Has].
	// Used only when Prompts is nil.
	Sounds func(lang, name string) bool
	// Prompts chooses each prompt's language, and logs the missing ones
	// once; share it with the 2-way sub-application (ari.TwoWay.Prompts).
	// nil: one of the App's own, over Sounds.
	Prompts *ari.Prompts
}

// App is the calling card; register it with
// ari.WithApp(callback.SubAppCallingCard, app).
type App struct {
	o Options
}

var _ ari.Admitter = (*App)(nil)

// Admit implements ari.Admitter: leg A's number passes billing's check
// (a rate that is not blocked in its payer's tariff, the daily cap, the
// money for its first increment) before it is placed, whatever the
// request's source; a refused request finishes Invalid request with the
// reason and nobody is rung. The destination is checked once entered.
func (a *App) Admit(ctx context.Context, s *ari.Session) *callback.Outcome {
	r := s.Request()
	_, err := a.o.Biller.Check(ctx, &r)
	return ari.AdmitOutcome(ctx, s, err, "check the call")
}

// Unadmit implements ari.Admitter: Admit holds nothing.
func (a *App) Unadmit(context.Context, *ari.Session) {}

// New checks the options and fills the defaults.
func New(o Options) (*App, error) {
	if o.Biller == nil {
		return nil, fmt.Errorf("calling card: no biller: %w", callback.ErrInvalid)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.PINTries <= 0 {
		o.PINTries = 3
	}
	if o.DestinationTries <= 0 {
		o.DestinationTries = 3
	}
	def(&o.InterDigit, 5*time.Second)
	def(&o.PINTotal, 20*time.Second)
	def(&o.DestinationTotal, 30*time.Second)
	def(&o.Warning, time.Minute)
	def(&o.SettleTimeout, 10*time.Second)
	if o.Prompts == nil {
		o.Prompts = &ari.Prompts{Has: o.Sounds}
	}
	return &App{o: o}, nil
}

// call is one run of the App.
type call struct {
	app   *App
	s     *ari.Session
	log   *slog.Logger
	req   callback.Request
	lang  string   // the language of the call's words (currency names)
	langs []string // the languages asked for, in order of preference
	money *billing.Bill
	acct  *callback.Account // the paying account, once read

	b       string    // leg B's channel once DialB returned
	aGone   time.Time // when leg A was seen gone
	bGone   time.Time
	bFailed *ari.LegFailedError
}

// Run implements ari.App.
func (a *App) Run(ctx context.Context, s *ari.Session) callback.Outcome {
	r := s.Request()
	c := &call{app: a, s: s, log: s.Logger(), req: r, langs: ari.PromptLanguages(&r)}
	c.lang = c.choose(sound("enter-destination"))
	s.SetLanguage(c.lang)
	c.money = a.o.Biller.Open(ctx, r, s.LegA(), c.log)
	out := c.run(ctx)
	c.finish(ctx)
	return out
}

// choose returns the language media (a "sound:" prompt) is played in:
// the first of the call's languages that has it, then English
// (ari.Prompts.Choose, which logs each prompt missing in a language once).
func (c *call) choose(media string) string {
	lang, _ := c.app.o.Prompts.Choose(c.log, c.langs, media)
	return lang
}

// errAborted: leg A hung up (or the call's context ended) during the IVR.
var errAborted = errors.New("first leg gone")

func (c *call) note() {
	now := time.Now()
	if gone, _ := c.s.Gone(c.s.LegA()); gone && c.aGone.IsZero() {
		c.aGone = now
	}
	if c.b != "" {
		if gone, _ := c.s.Gone(c.b); gone && c.bGone.IsZero() {
			c.bGone = now
		}
	}
}

// play plays prompts to leg A. A prompt that cannot be played (a missing
// recording) is logged and skipped: the call goes on without it.
func (c *call) play(ctx context.Context, media ...string) error {
	// Runs of media in one language play together; "digits:" and
	// "number:" items go with the prompt before them.
	for len(media) > 0 {
		lang := c.lang
		if strings.HasPrefix(media[0], "sound:") {
			lang = c.choose(media[0])
		}
		n := 1
		for n < len(media) && (!strings.HasPrefix(media[n], "sound:") || c.choose(media[n]) == lang) {
			n++
		}
		if err := c.playIn(ctx, lang, media[:n]...); err != nil {
			return err
		}
		media = media[n:]
	}
	return nil
}

// playIn plays media to leg A in lang.
func (c *call) playIn(ctx context.Context, lang string, media ...string) error {
	c.s.SetLanguage(lang)
	err := c.s.Play(ctx, media...)
	c.note()
	var pe *ari.PlaybackError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		c.log.Warn("prompt could not be played", "media", strings.Join(media, ","), "err", err)
		return nil
	case errors.Is(err, ari.ErrFirstLegGone), ctx.Err() != nil:
		return errAborted
	}
	return fmt.Errorf("play %s: %w", strings.Join(media, ","), err)
}

// ask plays the prompt that asks for an entry (PIN, destination) unless
// the caller already typed the whole entry during earlier prompts: those
// digits are kept, and the prompt asking for them is skipped.
func (c *call) ask(ctx context.Context, prompt string) error {
	if c.s.TypedAhead(ari.DigitOptions{Max: 32, Terminators: "#"}) {
		c.log.Debug("prompt skipped: its answer was typed ahead", "prompt", prompt)
		return nil
	}
	return c.play(ctx, sound(prompt))
}

func sound(name string) string { return "sound:callbackd/" + name }

// digits collects keys ended by #; "" with a nil error means nothing was
// entered.
func (c *call) digits(ctx context.Context, max int, total time.Duration) (string, error) {
	d, err := c.s.CollectDigits(ctx, ari.DigitOptions{Max: max, Terminators: "#", InterDigit: c.app.o.InterDigit, Total: total})
	c.note()
	switch {
	case err == nil, errors.Is(err, ari.ErrNoInput):
		return d, nil
	case errors.Is(err, ari.ErrFirstLegGone), ctx.Err() != nil:
		return "", errAborted
	}
	return "", fmt.Errorf("collect digits: %w", err)
}

func (c *call) aborted(where string) callback.Outcome {
	_, cause := c.s.Gone(c.s.LegA())
	c.log.Info("first leg hung up before the second leg connected", "during", where, "cause", cause)
	return callback.Outcome{Result: callback.ResultFirstLegAborted, Cause: callback.Cause(cause),
		Reason: "first leg hung up during " + where}
}

// end says goodbye with the prompts given, hangs leg A up and returns out.
func (c *call) end(ctx context.Context, out callback.Outcome, prompts ...string) callback.Outcome {
	media := make([]string, 0, len(prompts))
	for _, p := range prompts {
		media = append(media, sound(p))
	}
	if err := c.play(ctx, media...); err != nil && !errors.Is(err, errAborted) {
		c.log.Warn("could not play the last prompts", "err", err)
	}
	c.hangupA(ctx)
	return out
}

func (c *call) hangupA(ctx context.Context) {
	if err := c.s.Hangup(ctx, c.s.LegA(), "normal"); err != nil {
		c.log.Warn("could not hang up the first leg", "err", err)
	}
}

func (c *call) failed(err error) callback.Outcome {
	c.log.Error("calling card failed", "err", err)
	return callback.Outcome{Result: callback.ResultSecondLegFailed, Reason: err.Error()}
}

func (c *call) run(ctx context.Context) callback.Outcome {
	if c.req.AskPIN {
		if out, ok := c.login(ctx); !ok {
			return out
		}
	}
	acct, err := c.money.Account(ctx)
	if err != nil {
		return c.end(ctx, c.failed(err), "failed")
	}
	c.acct = acct
	if acct.Blocked {
		c.log.Warn("the paying account is blocked", "account", acct.Username)
		return c.end(ctx, callback.Outcome{Result: callback.ResultSecondLegFailed, Cause: callback.CauseCallRejected,
			Reason: "account " + acct.Username + " is blocked"}, "account-blocked", "goodbye")
	}
	if err := c.play(ctx, c.balance(acct)...); err != nil {
		if errors.Is(err, errAborted) {
			return c.aborted("the balance announcement")
		}
		return c.end(ctx, c.failed(err), "failed")
	}
	q, out, ok := c.destination(ctx)
	if !ok {
		return out
	}
	return c.connect(ctx, q)
}

// login asks for the PIN (T3). ok is false when the call ends here.
func (c *call) login(ctx context.Context) (callback.Outcome, bool) {
	if c.app.o.PINs == nil {
		return c.end(ctx, c.failed(errors.New("the request asks for a PIN and no PIN checker is configured")), "failed"), false
	}
	source := "cli:" + c.req.OriginalCLI
	want := pinAccount(&c.req)
	for try := 1; try <= c.app.o.PINTries; try++ {
		if err := c.ask(ctx, "enter-pin"); err != nil {
			return c.abortedOr(ctx, err, "PIN entry"), false
		}
		pin, err := c.digits(ctx, 32, c.app.o.PINTotal)
		if err != nil {
			return c.abortedOr(ctx, err, "PIN entry"), false
		}
		if pin != "" {
			acct, err := c.checkPIN(ctx, pin, want, source)
			if err == nil {
				c.money.Login(ctx, acct.Username)
				if c.app.o.OnPINLogin != nil {
					c.app.o.OnPINLogin(ctx, &c.req, acct)
				}
				return callback.Outcome{}, true
			}
			// The PIN itself is never logged.
			c.log.Info("PIN refused", "try", try, "account", want, "reason", err)
			if ctx.Err() != nil {
				return callback.Outcome{Reason: err.Error()}, false
			}
		} else {
			c.log.Info("no PIN entered", "try", try)
		}
		if try < c.app.o.PINTries {
			if err := c.play(ctx, sound("invalid-pin")); err != nil {
				return c.abortedOr(ctx, err, "PIN entry"), false
			}
		}
	}
	c.log.Info("PIN not accepted: hanging up", "tries", c.app.o.PINTries)
	return c.end(ctx, callback.Outcome{Result: callback.ResultFirstLegAborted,
		Reason: fmt.Sprintf("PIN not accepted after %d tries", c.app.o.PINTries)}, "too-many-attempts"), false
}

func (c *call) abortedOr(ctx context.Context, err error, where string) callback.Outcome {
	if errors.Is(err, errAborted) {
		return c.aborted(where)
	}
	return c.end(ctx, c.failed(err), "failed")
}

// balance is the balance announcement in the account's currency (PortaSIP,
// seed 002): "Your balance is 12 dollars and 34 cents". The currency words
// fall back through the call's languages like every prompt; they are left
// out for a currency that no language has recordings of.
func (c *call) balance(a *callback.Account) []string {
	media := []string{sound("your-balance-is")}
	m := a.Balance
	if m < 0 {
		media = append(media, sound("minus"))
		m = -m
	}
	whole, cents := m.Units()
	cur := "currency-" + strings.ToUpper(a.Currency)
	named := false
	if a.Currency != "" {
		_, major := c.app.o.Prompts.Choose(c.log, c.langs, "callbackd/"+cur)
		_, minor := c.app.o.Prompts.Choose(c.log, c.langs, "callbackd/"+cur+"-minor")
		named = major && minor
	}
	media = append(media, "number:"+strconv.FormatInt(whole, 10))
	if named {
		media = append(media, sound(cur))
	}
	if cents > 0 {
		media = append(media, sound("and"), "number:"+strconv.FormatInt(cents, 10))
		if named {
			media = append(media, sound(cur+"-minor"))
		}
	}
	return media
}

// refusal maps a refused destination to its prompt and the outcome the
// call ends with if it is the last try.
func refusal(err error) (prompt string, cause callback.Cause, final bool) {
	switch {
	case errors.Is(err, billing.ErrDestinationBlocked):
		return "destination-blocked", callback.CauseCallRejected, false
	case errors.Is(err, billing.ErrDestinationUnknown):
		return "destination-unknown", callback.CauseNoRouteDest, false
	case errors.Is(err, billing.ErrDailyCapReached):
		return "daily-limit-reached", callback.CauseCallRejected, true
	case errors.Is(err, billing.ErrInsufficientFunds):
		return "insufficient-funds", callback.CauseCallRejected, false
	}
	return "", 0, false
}

// destination asks for the number to call until one is accepted and its
// money reserved, for at most DestinationTries entries. A destination
// given with the request (web, email, API) is tried first.
func (c *call) destination(ctx context.Context) (*billing.Quote, callback.Outcome, bool) {
	given := c.req.Destination
	var last callback.Outcome
	for try := 1; try <= c.app.o.DestinationTries; try++ {
		number := given
		given = ""
		if number == "" {
			if err := c.ask(ctx, "enter-destination"); err != nil {
				return nil, c.abortedOr(ctx, err, "destination entry"), false
			}
			d, err := c.digits(ctx, 32, c.app.o.DestinationTotal)
			if err != nil {
				return nil, c.abortedOr(ctx, err, "destination entry"), false
			}
			number = d
		}
		if number == "" || !callback.ValidDestination(number) {
			c.log.Info("no destination entered", "try", try)
			last = callback.Outcome{Result: callback.ResultFirstLegAborted, Reason: "no destination entered"}
			if err := c.play(ctx, sound("no-destination")); err != nil {
				return nil, c.abortedOr(ctx, err, "destination entry"), false
			}
			continue
		}
		q, err := c.money.Quote(ctx, number)
		if err == nil {
			err = c.money.Reserve(ctx, q, c.legB())
		}
		if err == nil {
			return q, callback.Outcome{}, true
		}
		prompt, cause, final := refusal(err)
		if prompt == "" {
			return nil, c.end(ctx, c.failed(err), "failed"), false
		}
		c.log.Info("destination refused", "number", number, "try", try, "reason", err)
		last = callback.Outcome{Result: callback.ResultSecondLegFailed, Cause: cause, Reason: err.Error()}
		if final {
			return nil, c.end(ctx, last, prompt, "goodbye"), false
		}
		if err := c.play(ctx, sound(prompt)); err != nil {
			return nil, c.abortedOr(ctx, err, "destination entry"), false
		}
	}
	return nil, c.end(ctx, last, "goodbye"), false
}

// legB is leg B's channel id, fixed before the dial so that the money
// reserved for it carries the id its CDR will have: leg A's id with -b
// for -a, as the controller derives it; on an inbound call (leg A has
// Asterisk's uniqueid) the controller's own id for the second leg.
// twoway_call_id is the 2-way callback's parameter (seed 001) and is not
// used here.
func (c *call) legB() string {
	a := c.s.LegA()
	if base, ok := strings.CutSuffix(a, "-a"); ok {
		return base + "-b"
	}
	if c.req.Inbound() {
		return c.s.SecondLegID()
	}
	return a + "-b"
}

// talkTime is the talk-time announcement: "You have 12 minutes of talk
// time", or the seconds when less than a minute is left.
func talkTime(d time.Duration) []string {
	if m := int(d / time.Minute); m > 0 {
		return []string{sound("you-have"), "number:" + strconv.Itoa(m), sound("minutes-of-talk-time")}
	}
	return []string{sound("you-have"), "number:" + strconv.Itoa(int(d/time.Second)), sound("seconds")}
}

// connect announces the talk time, dials the destination into the bridge
// and lets the legs talk until one hangs up or the money runs out.
func (c *call) connect(ctx context.Context, q *billing.Quote) callback.Outcome {
	if err := c.play(ctx, append(talkTime(q.TalkTime), sound("connecting"))...); err != nil {
		return c.abortedOr(ctx, err, "the talk time announcement")
	}
	r := c.req
	spec := ari.DialSpec{Number: q.Number, CallerID: c.app.o.LegBCLI.callerID(&r, c.acct), ChannelID: c.money.LegBChannel(), Timeout: c.app.o.DialTimeout,
		Bridged: true, Identity: ari.Identity{Authname: r.Identity(), MD5Secret: r.MD5Secret}}
	c.log.Info("dialling the destination", "number", q.Number, "talk_time", q.TalkTime)
	b, err := c.s.DialB(ctx, spec)
	// The session knows leg B only from here on; before, Gone would call
	// it gone.
	c.b = spec.ChannelID
	c.note()
	var failed *ari.LegFailedError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return callback.Outcome{Reason: err.Error()}
	case errors.Is(err, ari.ErrFirstLegGone):
		return c.aborted("the dial of the second leg")
	case errors.As(err, &failed):
		c.bFailed = failed
		prompt := "failed"
		if callback.Cause(failed.Cause) == callback.CauseUserBusy {
			prompt = "busy" // MOR's Busy IVR; everything else gets the Failed IVR
		}
		c.log.Info("second leg failed", "cause", failed.Cause, "sip_code", failed.SIPCode, "reason", failed.Reason)
		return c.end(ctx, callback.Outcome{Result: callback.ResultSecondLegFailed, Cause: callback.Cause(failed.Cause),
			SIPCode: failed.SIPCode, Reason: failed.Reason}, prompt)
	default:
		return c.end(ctx, c.failed(fmt.Errorf("dial %s: %w", q.Number, err)), "failed")
	}
	c.b = b
	c.money.Answered(ctx, time.Now())
	return c.talk(ctx)
}

// talk waits for a hangup while the money lasts, reserving it slice by
// slice (ari.Talk), plays one-minute-left Warning before the money runs
// out, and at the end cuts leg B and says time-is-up.
func (c *call) talk(ctx context.Context) callback.Outcome {
	first, cut, err := ari.Talk(ctx, c.s, c.money, c.b, c.app.o.Warning, func(ctx context.Context) {
		if err := c.play(ctx, sound("one-minute-left")); err != nil && !errors.Is(err, errAborted) {
			c.log.Warn("could not play the warning", "err", err)
		}
	})
	c.note()
	switch {
	case cut:
		if err := c.s.Hangup(ctx, c.b, "normal"); err != nil {
			c.log.Warn("could not hang up the second leg", "err", err)
		}
		c.note()
		c.bGone = time.Now()
		return c.end(ctx, callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.CauseNormalClearing,
			Reason: "talk time used up"}, "time-is-up")
	case err != nil:
		return callback.Outcome{Reason: err.Error()}
	}
	other := c.b
	if first == c.b {
		other = c.s.LegA()
	}
	_, cause := c.s.Gone(first)
	c.log.Info("conversation ended", "hung_up_first", first, "cause", cause)
	if err := c.s.Hangup(ctx, other, "normal"); err != nil {
		c.log.Warn("could not hang up the other leg", "leg_channel", other, "err", err)
	}
	return callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.Cause(cause)}
}

// finish hangs up what is left, waits (briefly) to see the legs go, and
// settles the money. It runs on a context of its own: the call's may be
// canceled already, and a call that took place must be charged.
func (c *call) finish(parent context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), c.app.o.SettleTimeout)
	defer cancel()
	a := c.s.LegA()
	for _, ch := range []string{c.b, a} {
		if ch == "" {
			continue
		}
		if gone, _ := c.s.Gone(ch); !gone {
			if err := c.s.Hangup(ctx, ch, "normal"); err != nil {
				c.log.Warn("could not hang up a leg at the end of the call", "leg_channel", ch, "err", err)
			}
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, c.app.o.SettleTimeout/2)
	for _, ch := range []string{a, c.b} {
		if ch == "" {
			continue
		}
		if _, err := c.s.WaitHangup(wctx, ch); err != nil {
			break
		}
		c.note()
	}
	wcancel()
	now := time.Now()
	e := billing.End{A: c.aGone}
	if e.A.IsZero() {
		e.A = now
	}
	_, e.ACause = c.s.Gone(a)
	c.money.SetTrunk(callback.LegA, c.s.TrunkOf(a))
	if c.b != "" {
		c.money.SetTrunk(callback.LegB, c.s.TrunkOf(c.b))
	}
	if c.money.Dialled() {
		e.B = c.bGone
		if e.B.IsZero() {
			e.B = now
		}
		if c.b != "" {
			_, e.BCause = c.s.Gone(c.b)
		}
		if c.bFailed != nil {
			e.BCause, e.BSIPCode = c.bFailed.Cause, c.bFailed.SIPCode
		}
	}
	if _, err := c.money.Settle(ctx, e); err != nil {
		c.log.Error("could not settle the call; its reservations stay held until recovered", "err", err)
	}
}
