package ari

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// App is a sub-application: what runs once leg A answered (seed 000: "When
// the call has been answered, the ANI Callback starts specified
// sub-application and passes control to it"). It drives the call through
// the Session and returns how the callback ended. The controller hangs up
// whatever is left when Run returns.
type App interface {
	Run(ctx context.Context, s *Session) callback.Outcome
}

// Admitter is an App that must accept a call before its leg A is placed
// (money and fraud checks: see TwoWay).
type Admitter interface {
	App
	// Admit runs once leg A's channel id is known, before it is placed. A
	// non-nil outcome ends the attempt there: leg A is never placed. What
	// Run needs of the admission is kept with Session.Keep.
	Admit(ctx context.Context, s *Session) *callback.Outcome
	// Unadmit undoes an admission when Run never ran: leg A was not
	// answered, or the call ended before.
	Unadmit(ctx context.Context, s *Session)
}

// Identity is who a leg is placed as: the authname and HA1 (md5secret)
// the SIP proxy's digest challenge is answered with.
type Identity struct {
	Authname  string
	MD5Secret string // HA1 hex: MD5("<authname>:<realm>:<password>")
}

// DialSpec describes a second leg.
type DialSpec struct {
	Number   string   // the number to call
	CallerID string   // the caller ID presented to it
	Identity Identity // the identity the leg is placed with; zero: the trunk's own
	// ChannelID is the leg's channel id; empty takes the request's
	// twoway_call_id (or one derived from the first leg's id).
	ChannelID string
	// Timeout is how long it may ring; zero takes the seed's Timeout.
	Timeout time.Duration
	// Bridged puts leg A and the new leg into the session's bridge before
	// dialling, so that leg A hears the ringback and early media of the
	// far end (see the package documentation).
	Bridged bool
}

// DigitOptions bounds CollectDigits.
type DigitOptions struct {
	Max         int           // stop after this many digits (0: no limit)
	Terminators string        // keys that end the input and are not returned, e.g. "#"
	InterDigit  time.Duration // longest wait for the first and each next digit (default 5 s)
	Total       time.Duration // longest wait overall (0: no limit beyond InterDigit)
}

// leg is the session's view of one channel, updated only by the call's
// goroutine from the events it reads.
type leg struct {
	id         string
	name       callback.Leg
	placed     bool
	inStasis   bool
	answered   bool
	gone       bool
	cause      int
	techCause  int
	reason     string
	dialStatus string
	vanished   bool // gone without a ChannelDestroyed: no cause known
	inbound    bool // the caller's own call, answered by callbackd, not originated
	hungUp     bool // DELETE accepted; ChannelDestroyed is on its way
	// chanName is Asterisk's name of the channel placed under id: events
	// of an earlier channel that had the same id carry another name.
	chanName string
	// trunk carries the leg (nil for an inbound leg A); trunkGiven: its
	// place on the trunk was given back.
	trunk      *trunk
	trunkGiven bool
}

type object struct{ typ, id string }

type identityKey struct {
	trunk string
	id    Identity
}

// Session is one callback attempt as a sub-application sees it: the
// request, leg A, and the operations on the call. It belongs to the one
// goroutine that runs the call; its methods must not be called from others.
type Session struct {
	c       *Controller
	call    *callback.Attempt
	log     *slog.Logger
	attempt int
	inbox   chan *Event // pointers: a call's buffer costs 8 bytes a slot while idle
	resync  chan struct{}
	pending []Event

	legs      map[string]*leg
	a         *leg
	bridge    string
	objects   []object
	endpoints map[identityKey]string
	keys      []string
	digits    []string
	bCount    int
	pbSeq     int
	credit    *time.Timer
	creditC   <-chan time.Time
	aIdentity Identity
	holding   bool    // the call holds its channels against the cap
	srv       *server // the Asterisk server every channel of the call is on
	onServer  bool    // the call holds its channels against srv's cap
	lang      string
	admitted  Admitter // admitted the call and has not run it yet
	kept      any      // what the admission kept for Run
}

func (c *Controller) newSession(call *callback.Attempt, attempt int, log *slog.Logger) *Session {
	return &Session{
		c:         c,
		call:      call,
		log:       log,
		attempt:   attempt,
		inbox:     make(chan *Event, c.inboxSize),
		resync:    make(chan struct{}, 1),
		legs:      make(map[string]*leg, 2),
		endpoints: make(map[identityKey]string, 1),
	}
}

// Request returns the request as it stands now (status and statistics are
// kept current as the call advances).
func (s *Session) Request() callback.Request { return s.call.Request }

// Keep keeps v with the call for the sub-application (Admitter).
func (s *Session) Keep(v any) { s.kept = v }

// Kept returns what Keep kept; nil if nothing.
func (s *Session) Kept() any { return s.kept }

// admit runs the request's sub-application's Admit, if it has one; ok is
// false when it refused the call, with out saying how it ends.
func (s *Session) admit(ctx context.Context) (out callback.Outcome, ok bool) {
	cld, err := callback.ParseCLD(s.call.Request.OriginalCLD)
	if err != nil {
		return callback.Outcome{}, true
	}
	ad, isAdmitter := s.c.apps[cld.App].(Admitter)
	if !isAdmitter {
		return callback.Outcome{}, true
	}
	if refused := ad.Admit(ctx, s); refused != nil {
		return *refused, false
	}
	s.admitted = ad
	return callback.Outcome{}, true
}

// Call is the attempt as the dispatcher handed it over.
func (s *Session) Call() *callback.Attempt { return s.call }

// LegA is the channel id of the callback leg.
func (s *Session) LegA() string { return s.a.id }

// Logger returns the call's logger: request_id, attempt and channel (leg
// A); other channels are logged as leg_channel.
func (s *Session) Logger() *slog.Logger { return s.log }

// Attempt is the number of this attempt (call_count once it was placed).
func (s *Session) Attempt() int { return s.attempt }

// Gone reports whether a channel of the session has ended, and its cause.
func (s *Session) Gone(channel string) (bool, int) {
	l := s.legs[channel]
	if l == nil {
		return true, 0
	}
	return l.gone, l.cause
}

// errIDInUse: another live call of this process owns the id.
var errIDInUse = errors.New("id in use by another call of this process")

func (s *Session) route(key string, channel bool) error {
	if !s.c.register(key, &route{inbox: s.inbox, resync: s.resync, channel: channel, srv: s.srv}) {
		return fmt.Errorf("route events of %s: %w", key, errIDInUse)
	}
	s.keys = append(s.keys, key)
	return nil
}

func (s *Session) addLeg(id string, name callback.Leg) (*leg, error) {
	if err := s.route(id, true); err != nil {
		return nil, err
	}
	l := &leg{id: id, name: name}
	s.legs[id] = l
	return l, nil
}

// Next returns the next event of the call, after the session has applied
// it to its view of the legs. Sub-applications that wait for something of
// their own read events here; the session's methods read them the same
// way, so every event is seen exactly once. Digits pressed on leg A are
// also kept for CollectDigits.
func (s *Session) Next(ctx context.Context) (Event, error) {
	ev, _, err := s.next(ctx, true)
	return ev, err
}

// drain applies the events that are already queued for the call, without
// waiting for more: an event set aside (stale, or a ChannelGone that
// Asterisk contradicts) does not leave it waiting for one that may never
// come.
func (s *Session) drain(ctx context.Context) error {
	for {
		if _, ok, err := s.next(ctx, false); err != nil || !ok {
			return err
		}
	}
}

// next is Next; without block it returns ok false at once when no event
// is queued.
func (s *Session) next(ctx context.Context, block bool) (Event, bool, error) {
	for {
		if len(s.pending) > 0 {
			ev := s.pending[0]
			s.pending = s.pending[1:]
			s.apply(ev)
			return ev, true, nil
		}
		var ev *Event
		if block {
			select {
			case <-ctx.Done():
				return Event{}, false, context.Cause(ctx)
			case ev = <-s.inbox:
			case <-s.resync:
				s.resynchronise(ctx)
				continue
			case <-s.creditC:
				s.creditReached(ctx)
				continue
			}
		} else {
			if ctx.Err() != nil {
				return Event{}, false, context.Cause(ctx)
			}
			select {
			case ev = <-s.inbox:
			case <-s.resync:
				s.resynchronise(ctx)
				continue
			default:
				return Event{}, false, nil
			}
		}
		if s.stale(ev) {
			continue
		}
		if ev.Type == EventChannelGone && !s.confirmGone(ctx, ev.Channel) {
			continue
		}
		s.apply(*ev)
		return *ev, true, nil
	}
}

// creditReached hangs up leg A at credit_time.
func (s *Session) creditReached(ctx context.Context) {
	s.creditC = nil
	s.log.Info("credit_time reached: hanging up the first leg", "credit_time", s.call.Request.CreditTime)
	if err := s.Hangup(ctx, s.a.id, "normal"); err != nil {
		s.log.Warn("could not hang up at credit_time", "err", err)
	}
}

// stale reports an event about an earlier channel that had the id of one
// of ours: a preset call_id reused by the next attempt, or a channel hung
// up just before ours was placed.
func (s *Session) stale(ev *Event) bool {
	l := s.legs[ev.Channel]
	if l == nil || l.chanName == "" || ev.ChannelName == "" || ev.ChannelName == l.chanName {
		return false
	}
	s.log.Debug("ignoring an event of an earlier channel with the same id", "leg_channel", ev.Channel, "event", ev.Type, "name", ev.ChannelName)
	return true
}

// confirmGone checks a reconnect's verdict against Asterisk: the channel
// may have been created after the list was taken.
func (s *Session) confirmGone(ctx context.Context, id string) bool {
	l := s.legs[id]
	if l == nil || l.gone || !l.placed {
		return false
	}
	if s.c.serverLost(s.srv) {
		return true
	}
	_, err := s.srv.rest.getChannel(ctx, id)
	return err != nil
}

// resynchronise rebuilds the legs' state from the REST interface after
// events of this call were dropped.
func (s *Session) resynchronise(ctx context.Context) {
	for _, l := range s.legs {
		if !l.placed || l.gone {
			continue
		}
		ch, err := s.srv.rest.getChannel(ctx, l.id)
		switch {
		case errors.Is(err, ErrNotFound):
			s.pending = append(s.pending, Event{Type: EventChannelGone, Channel: l.id, Received: time.Now(), Reason: "events lost and channel gone"})
		case err != nil:
			s.log.Warn("resynchronise: cannot read channel", "leg_channel", l.id, "err", err)
		default:
			s.pending = append(s.pending, Event{Type: EventChannelReconciled, Channel: l.id, ChannelName: ch.Name, State: ch.State,
				InStasis: ch.Dialplan.AppName == "Stasis", Received: time.Now()})
		}
	}
}

func (s *Session) apply(ev Event) {
	l := s.legs[ev.Channel]
	if l == nil {
		return
	}
	switch ev.Type {
	case EventStasisStart:
		l.inStasis = true
		if l == s.a && !l.inbound {
			// An originated channel enters Stasis only once answered.
			l.answered = true
		}
	case EventStasisEnd:
		l.inStasis = false
		if l.inbound {
			// A channel that entered Stasis from the dialplan loses its
			// only subscription at StasisEnd (app_send_end_msg): no
			// ChannelDestroyed follows. callbackd never continues an
			// inbound call, so it is leaving: hung up (the cause of its
			// ChannelHangupRequest) or taken away by the dialplan.
			s.ended(l, l.cause, l.techCause, "left Stasis")
		}
	case EventDial:
		if ev.DialStatus != "" {
			l.dialStatus = ev.DialStatus
		}
		if ev.DialStatus == "ANSWER" {
			l.answered = true
		}
	case EventChannelStateChange:
		if ev.State == "Up" && (l != s.a || l.inbound) {
			l.answered = true
		}
	case EventChannelHangupRequest:
		// A soft hangup (ours) carries AST_SOFTHANGUP_EXPLICIT, not a cause.
		if !ev.Soft && ev.Cause != 0 {
			l.cause = ev.Cause
		}
		if ev.TechCause != 0 {
			l.techCause = ev.TechCause
		}
	case EventChannelDtmfReceived:
		if l == s.a && ev.Digit != "" {
			s.digits = append(s.digits, ev.Digit)
		}
	case EventChannelDestroyed:
		tech := ev.TechCause
		if tech == 0 {
			tech = l.techCause
		}
		s.ended(l, ev.Cause, tech, ev.CauseText)
	case EventChannelGone:
		l.vanished = true
		s.ended(l, 0, 0, ev.Reason)
	case EventChannelReconciled:
		if ev.InStasis && l != s.a {
			// A StasisStart lost with dropped events: the channel's
			// dialplan application says it is in Stasis.
			l.inStasis = true
		}
		if ev.State != "Up" || l.answered {
			return
		}
		if l == s.a {
			if ev.InStasis {
				s.log.Info("answer of the first leg learnt after a reconnect")
				l.answered, l.inStasis = true, true
			}
			return
		}
		s.log.Info("answer of the second leg learnt after a reconnect", "leg_channel", l.id)
		l.answered = true
	}
}

func (s *Session) ended(l *leg, cause, tech int, reason string) {
	if l.gone {
		return
	}
	l.gone, l.cause, l.techCause, l.reason = true, cause, tech, reason
	s.c.obs.LegEnded(l.name, callback.Cause(cause))
	s.log.Info("leg ended", "leg", string(l.name), "leg_channel", l.id, "cause", cause, "tech_cause", tech, "reason", reason, "answered", l.answered)
}

// waitGone reads events until l is gone, for at most the request timeout:
// used when a REST call said 404 so that the cause of ChannelDestroyed is
// kept. If the event never comes the channel is taken as gone.
func (s *Session) waitGone(ctx context.Context, l *leg) {
	wctx, cancel := context.WithTimeout(ctx, s.c.timeout)
	defer cancel()
	for !l.gone {
		if _, err := s.Next(wctx); err != nil {
			if ctx.Err() == nil {
				l.vanished = true
				s.ended(l, 0, 0, "channel not found")
			}
			return
		}
	}
}

// gone404 handles a REST error about a channel: 404 (and 400/422 from
// bridges, which is how they say a channel is missing or not in Stasis)
// means the leg is gone or going.
func (s *Session) gone404(ctx context.Context, l *leg, err error) bool {
	if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrUnprocessable) && !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrConflict) {
		return false
	}
	if _, gerr := s.srv.rest.getChannel(ctx, l.id); errors.Is(gerr, ErrNotFound) {
		s.waitGone(ctx, l)
		return true
	}
	return l.gone
}

// Hangup hangs a channel up with an ARI reason ("normal", "busy", ...; ""
// is normal). A channel already gone is not an error.
func (s *Session) Hangup(ctx context.Context, channel, reason string) error {
	l := s.legs[channel]
	if l != nil && (l.gone || !l.placed || l.hungUp) {
		return nil // gone, never placed, or its DELETE was accepted already
	}
	if err := s.srv.rest.hangup(ctx, channel, reason); err != nil {
		return fmt.Errorf("hang up %s: %w", channel, err)
	}
	if l != nil {
		l.hungUp = true
	}
	return nil
}

// Play plays media (sound:, digits:, number:, tone: URIs) to leg A and
// waits until Asterisk reports the playback finished. It returns
// ErrFirstLegGone if leg A hangs up, and a *PlaybackError if Asterisk could
// not play the media.
func (s *Session) Play(ctx context.Context, media ...string) error {
	if s.a.gone {
		return ErrFirstLegGone
	}
	if len(media) == 0 {
		return nil
	}
	s.pbSeq++
	id := s.a.id + "-pb" + strconv.Itoa(s.pbSeq)
	if err := s.srv.rest.play(ctx, s.a.id, id, media, s.lang); err != nil {
		if s.gone404(ctx, s.a, err) {
			return ErrFirstLegGone
		}
		return fmt.Errorf("play on %s: %w", s.a.id, err)
	}
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			return err
		}
		switch {
		case s.a.gone:
			return ErrFirstLegGone
		case ev.Type == EventPlaybackFinished && ev.Playback == id:
			if ev.PlaybackState == "failed" {
				return &PlaybackError{Channel: s.a.id, Playback: id, Media: media}
			}
			return nil
		case ev.Type == EventChannelReconciled && ev.Channel == s.a.id:
			// PlaybackFinished may have been lost with the connection.
			if err := s.srv.rest.getPlayback(ctx, id); errors.Is(err, ErrNotFound) {
				return nil
			}
		}
	}
}

// SetLanguage makes every later Play say its sounds, numbers and digits in
// lang (ARI's lang parameter) rather than in the channel's language: an
// inbound caller's channel speaks its endpoint's language, not the access
// number's, and a prompt may switch language mid-call. "" goes back to
// the channel's language.
func (s *Session) SetLanguage(lang string) { s.lang = lang }

// TypedAhead reports whether the digits pressed on leg A and not yet
// collected already make a whole entry for CollectDigits with options o:
// at least one digit then a terminator, or o.Max digits. A prompt asking
// for that entry need not be played. A terminator alone is no entry.
func (s *Session) TypedAhead(o DigitOptions) bool {
	for i, d := range s.digits {
		if strings.Contains(o.Terminators, d) {
			return i > 0
		}
		if o.Max > 0 && i+1 >= o.Max {
			return true
		}
	}
	return false
}

// ClearDigits forgets digits pressed on leg A that CollectDigits has not
// consumed.
func (s *Session) ClearDigits() { s.digits = nil }

// CollectDigits reads DTMF from leg A, starting with digits pressed before
// it was called (type-ahead), until Max digits, a terminator, or a timeout
// after at least one digit. It returns ErrNoInput when nothing was pressed
// in time and ErrFirstLegGone when leg A hangs up.
func (s *Session) CollectDigits(ctx context.Context, o DigitOptions) (string, error) {
	if o.InterDigit <= 0 {
		o.InterDigit = 5 * time.Second
	}
	var total time.Time
	if o.Total > 0 {
		total = time.Now().Add(o.Total)
	}
	var got strings.Builder
	n := 0
	for {
		for len(s.digits) > 0 {
			d := s.digits[0]
			s.digits = s.digits[1:]
			if strings.Contains(o.Terminators, d) {
				return got.String(), nil
			}
			got.WriteString(d)
			n++
			if o.Max > 0 && n >= o.Max {
				return got.String(), nil
			}
		}
		if s.a.gone {
			return got.String(), ErrFirstLegGone
		}
		deadline := time.Now().Add(o.InterDigit)
		if !total.IsZero() && total.Before(deadline) {
			deadline = total
		}
		wctx, cancel := context.WithDeadline(ctx, deadline)
		_, err := s.Next(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return got.String(), context.Cause(ctx)
			}
			if len(s.digits) > 0 {
				continue
			}
			if n == 0 {
				return "", ErrNoInput
			}
			return got.String(), nil
		}
	}
}

// Bridge adds channels to the session's mixing bridge, creating it on
// first use. It returns ErrFirstLegGone if leg A is gone.
func (s *Session) Bridge(ctx context.Context, channels ...string) error {
	if s.a.gone {
		return ErrFirstLegGone
	}
	if s.bridge == "" {
		id := s.c.key(s.srv, s.call.Request.ID, s.attempt, "br")
		if err := s.route(id, false); err != nil {
			return err
		}
		name := "callbackd-" + strconv.FormatInt(s.call.Request.ID, 10)
		if err := s.srv.rest.createBridge(ctx, id, "mixing", name); err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("create bridge %s: %w", id, err)
		}
		s.bridge = id
	}
	if err := s.srv.rest.addChannels(ctx, s.bridge, channels); err != nil {
		for _, id := range channels {
			if l := s.legs[id]; l != nil && s.gone404(ctx, l, err) && l == s.a {
				return ErrFirstLegGone
			}
		}
		return fmt.Errorf("add %v to bridge %s: %w", channels, s.bridge, err)
	}
	return nil
}

// WaitHangup reads events until one of channels is gone and returns it.
func (s *Session) WaitHangup(ctx context.Context, channels ...string) (string, error) {
	for {
		for _, id := range channels {
			if l := s.legs[id]; l == nil || l.gone {
				return id, nil
			}
		}
		if _, err := s.Next(ctx); err != nil {
			return "", err
		}
	}
}

// twowayID is the channel id of the first second leg: a preset
// twoway_call_id, else one derived from leg A's id (seed 001: "the default
// value is constructed based on call_id").
func (s *Session) twowayID() string {
	r := &s.call.Request
	if r.TwowayCallID != "" && !generatedAny(s.c.prefix, r.TwowayCallID, r.ID) && r.TwowayCallID != s.a.id+"-b" && validChannelID(r.TwowayCallID) {
		return r.TwowayCallID
	}
	if s.c.generated(s.a.id, r.ID) || s.a.inbound {
		// An inbound leg A has Asterisk's uniqueid; leg B gets one of
		// ours, so that a leg left by a dead process is recognised.
		return s.c.key(s.srv, r.ID, s.attempt, "b")
	}
	if id := s.a.id + "-b"; validChannelID(id) {
		return id
	}
	return s.c.key(s.srv, r.ID, s.attempt, "b")
}

// presentOnB makes leg A's caller the caller ID a second leg is to
// present. Asterisk builds a created leg's From (and P-Asserted-Identity)
// from its connected line when it is dialled, and a two-party bridge sets
// each leg's connected line to the other's caller
// (bridge_reconfigured_connected_line_update): a leg bridged with leg A
// before its dial presents leg A's caller, whatever CONNECTEDLINE said.
// Leg A's own INVITE went out long before, so its caller is free to carry
// leg B's number; the write runs on leg A's Stasis thread before the
// request returns, so it precedes the bridge.
func (s *Session) presentOnB(ctx context.Context, cli string, log *slog.Logger) {
	if err := s.srv.rest.setVariable(ctx, s.a.id, "CALLERID(num)", cli); err != nil {
		log.Warn("could not give leg A the second leg's caller ID; the second leg may present leg A's", "cli", cli, "err", err)
	}
}

// SecondLegID is the channel id the second leg gets when DialSpec leaves
// it empty: the request's twoway_call_id, else one derived from leg A's.
func (s *Session) SecondLegID() string { return s.twowayID() }

// DialB places a second leg and waits until it answers. It records Second
// leg initiated before the leg is created and Second leg connected when it
// answers, and returns the leg's channel id. If the leg fails it returns a
// *LegFailedError with the cause; if leg A hangs up first, it hangs the new
// leg up and returns ErrFirstLegGone.
func (s *Session) DialB(ctx context.Context, spec DialSpec) (string, error) {
	if s.a.gone {
		return "", ErrFirstLegGone
	}
	sl, err := s.prepareB(ctx, spec)
	if err != nil {
		return "", err
	}
	for try := 1; ; try++ {
		if sl.trunk.limiter != nil {
			if err := sl.trunk.limiter.Wait(ctx); err != nil {
				return "", context.Cause(ctx)
			}
		}
		if try == 1 {
			if err := s.call.SecondLegInitiated(ctx, sl.leg.id); err != nil {
				return "", fmt.Errorf("record second leg initiated: %w", err)
			}
		}
		bridged, err := s.tryB(ctx, sl)
		if err == nil {
			return s.connectedB(ctx, sl, bridged)
		}
		if !s.failoverB(ctx, sl, err, try) {
			return "", err
		}
	}
}

// tryB places the second leg on its trunk and waits for its answer.
func (s *Session) tryB(ctx context.Context, sl *secondLeg) (bridged bool, err error) {
	if err := s.createB(ctx, sl); err != nil {
		return false, err
	}
	if err := s.awaitStasisB(ctx, sl.leg); err != nil {
		return false, err
	}
	if bridged, err = s.bridgeBeforeDial(ctx, sl); err != nil {
		return false, err
	}
	if err := s.dialCreated(ctx, sl); err != nil {
		return false, err
	}
	if err := s.awaitAnswerB(ctx, sl); err != nil {
		return false, err
	}
	return bridged, nil
}

// failoverB readies the second leg for its next try, on the next trunk
// of its route, when try failed because the carrier could not take the
// call (failsOver); false when the leg's failure stands.
func (s *Session) failoverB(ctx context.Context, sl *secondLeg, err error, try int) bool {
	var lf *LegFailedError
	b := sl.leg
	if !errors.As(err, &lf) || ctx.Err() != nil || s.a.gone || !b.placed || !b.gone || b.vanished || !failsOver(lf.Cause, lf.SIPCode) {
		return false
	}
	nt, next := s.takeTrunk(sl.route, sl.next)
	if nt == nil {
		return false
	}
	ep, eerr := s.identityEndpoint(ctx, nt, sl.spec.Identity, "b", try+1)
	if eerr != nil {
		nt.give()
		sl.log.Error("cannot set up the identity of the second leg on the next trunk", "trunk", nt.Name, "err", eerr)
		return false
	}
	sl.log.Warn("second leg failed on its trunk: trying the next one", "trunk", sl.trunk.Name, "next_trunk", nt.Name,
		"cause", lf.Cause, "sip_code", lf.SIPCode)
	note := fmt.Sprintf("leg B via trunk %s failed (cause %d, SIP %d); trying trunk %s", sl.trunk.Name, lf.Cause, lf.SIPCode, nt.Name)
	if err := s.call.Note(ctx, lf.Cause, lf.SIPCode, note); err != nil {
		sl.log.Warn("could not record the trunk failover in the history", "err", err)
	}
	s.giveTrunk(b)
	*b = leg{id: b.id, name: b.name, trunk: nt}
	sl.trunk, sl.next, sl.endpoint = nt, next, ep
	return true
}

// secondLeg is a second leg on its way: what DialB's steps share.
type secondLeg struct {
	spec     DialSpec
	leg      *leg
	route    []*trunk // the trunks it may be tried on
	next     int      // where route goes on after trunk
	trunk    *trunk
	endpoint string // the PJSIP endpoint placing it; "": the trunk's own
	timeout  time.Duration
	log      *slog.Logger
}

// prepareB picks the second leg's channel id and first trunk, and routes
// its events to the session.
func (s *Session) prepareB(ctx context.Context, spec DialSpec) (*secondLeg, error) {
	r := &s.call.Request
	s.bCount++
	id := spec.ChannelID
	if id == "" {
		id = s.twowayID()
		if s.bCount > 1 {
			id += "-" + strconv.Itoa(s.bCount)
		}
	}
	sl := &secondLeg{spec: spec, timeout: spec.Timeout}
	if sl.timeout <= 0 {
		sl.timeout = s.call.AnswerTimeout
	}
	sl.route = onServer(s.srv, s.c.trunksFor(r, callback.LegB, spec.Number))
	sl.trunk, sl.next = s.takeTrunk(sl.route, 0)
	if sl.trunk == nil {
		return nil, &LegFailedError{Channel: id, Cause: int(callback.CauseCongestion),
			Reason: fmt.Sprintf("every trunk for %s is at its channel cap", spec.Number)}
	}
	ep, err := s.identityEndpoint(ctx, sl.trunk, spec.Identity, "b", 1)
	if err != nil {
		sl.trunk.give()
		return nil, err
	}
	sl.endpoint = ep
	if sl.leg, err = s.addLeg(id, callback.LegB); err != nil {
		sl.trunk.give()
		return nil, &LegFailedError{Channel: id, Reason: err.Error()}
	}
	sl.leg.trunk = sl.trunk
	sl.log = s.log.With("leg_channel", id, "leg", "B")
	return sl, nil
}

// variables are the channel variables of the second leg on its trunk.
func (s *Session) variablesB(sl *secondLeg) map[string]string {
	vars := map[string]string{}
	cli := sl.trunk.callerID(sl.spec.CallerID)
	if cli != "" {
		// A created channel takes no callerId; the INVITE's From is the
		// channel's connected line when it is dialled, set here without
		// an update being sent ("i"). That holds for a leg dialled on its
		// own; a leg bridged first takes leg A's caller instead (see
		// presentOnB). The caller is not passed to /dial, because
		// Asterisk would copy leg A's caller ID over it.
		vars["CALLERID(num)"] = cli
		vars["CONNECTEDLINE(num,i)"] = cli
	}
	if s.call.Request.AnonAcctEnabled && sl.trunk.pjsip() {
		vars[varNeedBind] = "yes"
	}
	sl.trunk.identityVariables(vars, cli)
	return vars
}

// createB creates the second leg's channel (POST /channels/create). A
// 409 for its own id, or a lost answer, attaches to the channel when it
// exists; otherwise the leg has failed.
func (s *Session) createB(ctx context.Context, sl *secondLeg) error {
	b, id, log := sl.leg, sl.leg.id, sl.log
	q := url.Values{
		"endpoint":   {sl.trunk.endpoint(sl.spec.Number, sl.endpoint)},
		"app":        {s.c.app},
		"appArgs":    {s.appArgs("b")},
		"channelId":  {id},
		"originator": {s.a.id},
	}
	log.Info("creating second leg", "number", sl.spec.Number, "cli", sl.spec.CallerID, "endpoint", q.Get("endpoint"), "trunk", sl.trunk.Name)
	made, err := s.srv.rest.createChannel(ctx, q, map[string]any{"variables": s.variablesB(sl)})
	if err != nil {
		var he *HTTPError
		if ctx.Err() == nil && !errors.Is(err, ErrUnreachable) && (!errors.As(err, &he) || he.Status == http.StatusConflict) {
			// A 409 for our own id, or a lost answer: the channel may
			// exist, made by this very request.
			if ch, gerr := s.srv.rest.getChannel(ctx, id); gerr == nil {
				log.Warn("second leg already exists: attaching to it", "err", err)
				b.placed, b.chanName = true, ch.Name
			}
		}
		if !b.placed {
			log.Error("second leg could not be created", "err", err)
			if !errors.Is(err, ErrUnreachable) && !errors.Is(err, ErrConflict) {
				// The request may have been carried out all the same.
				if herr := s.srv.rest.hangup(ctx, id, "normal"); herr != nil {
					log.Warn("could not hang up second leg after a failed create", "err", herr)
				}
			}
			s.ended(b, 0, 0, "not created: "+err.Error())
			return &LegFailedError{Channel: id, Reason: "not created: " + err.Error()}
		}
	} else {
		b.chanName = made.Name
	}
	b.placed = true
	return nil
}

// awaitStasisB waits for the created leg's StasisStart. A created channel
// enters Stasis asynchronously (its own thread runs Stasis() after
// /channels/create has answered); until then Asterisk refuses to bridge
// it (422) or dial it (409).
func (s *Session) awaitStasisB(ctx context.Context, b *leg) error {
	for !b.inStasis && !b.gone && !s.a.gone {
		if _, err := s.Next(ctx); err != nil {
			return err
		}
	}
	if s.a.gone {
		return s.abortB(ctx, b)
	}
	if b.gone {
		return b.failure()
	}
	return nil
}

// bridgeBeforeDial puts leg A and a Bridged second leg into the session's
// bridge before the dial, so that leg A hears the far end's ringback.
// Failing that the call goes on unbridged (bridged false).
func (s *Session) bridgeBeforeDial(ctx context.Context, sl *secondLeg) (bridged bool, err error) {
	if !sl.spec.Bridged {
		return false, nil
	}
	if cli := sl.trunk.callerID(sl.spec.CallerID); cli != "" {
		s.presentOnB(ctx, cli, sl.log)
	}
	switch err := s.Bridge(ctx, s.a.id, sl.leg.id); {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrFirstLegGone) || s.a.gone:
		return false, s.abortB(ctx, sl.leg)
	default:
		sl.log.Warn("could not bridge before dialling; leg A hears no ringback", "err", err)
		return false, nil
	}
}

// dialCreated dials the created second leg (POST /channels/{id}/dial).
func (s *Session) dialCreated(ctx context.Context, sl *secondLeg) error {
	b, id, log := sl.leg, sl.leg.id, sl.log
	err := s.srv.rest.dial(ctx, id, seconds(sl.timeout))
	var he *HTTPError
	switch {
	case err == nil:
	case resent(err) && errors.Is(err, ErrConflict):
		// Sent again after a connection error: the first dial went
		// through, so the channel is no longer one to dial.
		log.Info("dial sent again after a connection error: the first one was carried out", "err", err)
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case errors.Is(err, ErrUnreachable) || errors.As(err, &he):
		if !s.gone404(ctx, b, err) {
			log.Error("second leg could not be dialled", "err", err)
			if herr := s.Hangup(ctx, id, "normal"); herr != nil {
				log.Warn("could not hang up undialled second leg", "err", herr)
			}
			s.ended(b, 0, 0, "dial failed: "+err.Error())
		}
		if s.a.gone {
			return ErrFirstLegGone
		}
		return b.failure()
	default:
		// The answer was lost, not necessarily the request: the leg's
		// events (or the watchdog of awaitAnswerB) tell what became of it.
		log.Warn("answer to dial lost; waiting for the second leg's events", "err", err)
	}
	return nil
}

// awaitAnswerB waits until the dialled second leg answers; it fails when
// the leg ends first, and aborts it when leg A hangs up.
func (s *Session) awaitAnswerB(ctx context.Context, sl *secondLeg) error {
	b, log := sl.leg, sl.log
	// Asterisk ends the leg at the dial timeout; the watchdog only fires if
	// its word never arrives (a request or events lost with a connection).
	wctx, cancel := context.WithTimeout(ctx, sl.timeout+s.c.timeout)
	defer cancel()
	for !b.answered && !b.gone && !s.a.gone {
		if _, err := s.Next(wctx); err != nil {
			if ctx.Err() != nil {
				return err
			}
			log.Warn("no word from Asterisk on the second leg past its dial timeout: hanging it up")
			if herr := s.Hangup(ctx, b.id, "normal"); herr != nil {
				log.Warn("could not hang up the silent second leg", "err", herr)
			}
			s.ended(b, int(callback.CauseNoAnswer), 0, "no answer (no word from Asterisk)")
			return b.failure()
		}
	}
	switch {
	case s.a.gone:
		return s.abortB(ctx, b)
	case b.gone:
		return b.failure()
	}
	return nil
}

// connectedB records that the second leg answered and bridges it with
// leg A if that was not done before the dial.
func (s *Session) connectedB(ctx context.Context, sl *secondLeg, bridged bool) (string, error) {
	id := sl.leg.id
	sl.log.Info("second leg answered")
	if err := s.call.SecondLegConnected(ctx); err != nil {
		return "", fmt.Errorf("record second leg connected: %w", err)
	}
	s.c.obs.LegAnswered(callback.LegB)
	if sl.spec.Bridged && !bridged {
		if err := s.Bridge(ctx, s.a.id, id); err != nil {
			return "", err
		}
	}
	return id, nil
}

func (s *Session) abortB(ctx context.Context, b *leg) error {
	if err := s.Hangup(ctx, b.id, "normal"); err != nil {
		s.log.Warn("could not hang up second leg after first leg hung up", "leg_channel", b.id, "err", err)
	}
	return ErrFirstLegGone
}

// causeOfDialStatus is the cause a final Dial status stands for, for
// channels that end with cause 0 (a Local channel sent to Busy() reports
// Dial BUSY, then ChannelDestroyed with cause 0).
func causeOfDialStatus(status string) callback.Cause {
	switch status {
	case "BUSY":
		return callback.CauseUserBusy
	case "CONGESTION":
		return callback.CauseCongestion
	case "CHANUNAVAIL":
		return callback.CauseSubscriberAbsent
	case "NOANSWER":
		return callback.CauseNoAnswer
	}
	return callback.CauseUnknown
}

func (l *leg) failure() error {
	cause := l.cause
	if cause == 0 {
		cause = int(causeOfDialStatus(l.dialStatus))
	}
	reason := l.reason
	if reason == "" {
		reason = callback.Cause(cause).String()
	}
	return &LegFailedError{Channel: l.id, Cause: cause, SIPCode: l.techCause, Reason: reason}
}

// appArgs are the Stasis arguments of a leg: the marker, the request and
// the attempt, so that a StasisStart can always be tied to its request.
func (s *Session) appArgs(leg string) string {
	return appMarker + "," + strconv.FormatInt(s.call.Request.ID, 10) + "," + strconv.Itoa(s.attempt) + "," + leg
}

func seconds(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	return max(n, 1)
}

// identityEndpoint returns the PJSIP endpoint to place a leg with id on
// trunk t: "" (the trunk's own) without a usable identity, else a
// per-identity endpoint pushed through ARI dynamic configuration, with an
// auth object holding the authname and HA1. Leg B reuses leg A's endpoint
// when the identity is the same.
func (s *Session) identityEndpoint(ctx context.Context, t *trunk, id Identity, leg string, try int) (string, error) {
	if id.MD5Secret == "" || id.Authname == "" {
		return "", nil
	}
	if !callback.IsHA1(id.MD5Secret) {
		s.log.Warn("md5secret is not an HA1 (32 hex digits): placing the leg with the trunk's own credentials", "leg", leg, "authname", id.Authname)
		return "", nil
	}
	if !t.identities {
		s.log.Warn("the trunk's dial template does not name a PJSIP endpoint: placing the leg with the trunk's own credentials", "trunk", t.Name)
		return "", nil
	}
	k := identityKey{trunk: t.Name, id: id}
	if ep, ok := s.endpoints[k]; ok {
		return ep, nil
	}
	base := s.c.key(s.srv, s.call.Request.ID, s.attempt, leg) + trySuffix(try)
	authID, epID := base+"-auth", base+"-ep"
	s.objects = append(s.objects, object{"auth", authID})
	if err := s.srv.rest.putObject(ctx, "auth", authID, authFields(t, id)); err != nil {
		return "", identityError(authID, err)
	}
	fields := identityEndpointFields(s.c.cachedTrunkFields(ctx, s.srv, t), t.IdentityFields, authID)
	s.objects = append(s.objects, object{"endpoint", epID})
	if err := s.srv.rest.putObject(ctx, "endpoint", epID, fields); err != nil {
		return "", identityError(epID, err)
	}
	s.endpoints[k] = epID
	s.log.Debug("per-identity endpoint pushed", "endpoint", epID, "authname", id.Authname)
	return epID, nil
}

// trySuffix tells apart what the tries of one leg on successive trunks
// make: nothing for the first, "-t<n>" for try n.
func trySuffix(try int) string {
	if try <= 1 {
		return ""
	}
	return "-t" + strconv.Itoa(try)
}

// TrunkOf names the trunk that carries (or last carried) a channel of
// the session; "" for an inbound leg or an unknown channel.
func (s *Session) TrunkOf(channel string) string {
	if l := s.legs[channel]; l != nil && l.trunk != nil {
		return l.trunk.Name
	}
	return ""
}

func identityError(id string, err error) error {
	if errors.Is(err, ErrForbidden) {
		return fmt.Errorf("push PJSIP object %s: %w (sorcery.conf must map res_pjsip auth and endpoint to the memory wizard as well as the config wizard)", id, err)
	}
	return fmt.Errorf("push PJSIP object %s: %w", id, err)
}

// teardown hangs up what is left of the call, destroys its bridge and
// configuration objects and stops routing its events. It runs on a
// context of its own: the call's may be canceled already.
func (s *Session) teardown(parent context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 2*s.c.timeout)
	defer cancel()
	if s.credit != nil {
		s.credit.Stop()
	}
	if s.holding {
		s.holding = false
		defer s.c.releaseCall()
	}
	if s.onServer {
		s.onServer = false
		defer s.c.unplace(s.srv)
	}
	if s.admitted != nil {
		s.admitted.Unadmit(ctx, s)
		s.admitted = nil
	}
	// A server whose calls were ended for an outage is not asked: its
	// reconciliation hangs up what is left when it is back.
	lost := s.srv != nil && s.c.serverLost(s.srv)
	for _, l := range s.legs {
		s.giveTrunk(l)
		if l.placed && !l.gone && !l.hungUp && s.srv != nil && !lost {
			if err := s.srv.rest.hangup(ctx, l.id, "normal"); err != nil {
				s.log.Warn("could not hang up leg at the end of the call", "leg_channel", l.id, "err", err)
			}
		}
	}
	if s.bridge != "" && !lost {
		if err := s.srv.rest.destroyBridge(ctx, s.bridge); err != nil {
			s.log.Warn("could not destroy bridge", "bridge", s.bridge, "err", err)
		}
	}
	for i := len(s.objects) - 1; i >= 0; i-- {
		o := s.objects[i]
		if err := s.srv.rest.deleteObject(ctx, o.typ, o.id); err != nil {
			s.log.Warn("could not delete PJSIP object", "type", o.typ, "id", o.id, "err", err)
		}
	}
	s.c.unregister(s.keys)
}
