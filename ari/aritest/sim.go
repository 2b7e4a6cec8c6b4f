package aritest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Option configures a Sim.
type Option func(*config)

type config struct {
	user, pass       string
	asteriskID       string
	addr             string
	defaultPhone     Behaviour
	sounds           map[string]bool
	playbackDuration time.Duration
	endpoints        map[string]bool
	restartDowntime  time.Duration
	legacyTimeout    bool
	readOnlyConfig   bool
	logger           *slog.Logger
	maxQueue         int
	sessionLimit     int
	stasisDelay      time.Duration
}

// WithCredentials sets the ARI user (ari.conf); the default is asterisk/asterisk.
func WithCredentials(user, pass string) Option {
	return func(c *config) { c.user, c.pass = user, pass }
}

// WithAsteriskID sets the entity id sent as asterisk_id.
func WithAsteriskID(id string) Option {
	return func(c *config) { c.asteriskID = id }
}

// WithAddr listens on a fixed 127.0.0.1 port instead of a free one.
func WithAddr(port int) Option {
	return func(c *config) { c.addr = fmt.Sprintf("127.0.0.1:%d", port) }
}

// WithStasisEntryDelay makes a channel made by POST /channels/create enter
// Stasis d after the request has been answered. Asterisk answers the
// create and then starts the channel's own thread, which runs Stasis():
// until its StasisStart the channel has no Stasis control, and
// addChannel answers it 422, dial 409. The default, 0, still enters
// Stasis only after the answer.
func WithStasisEntryDelay(d time.Duration) Option {
	return func(c *config) { c.stasisDelay = d }
}

// WithDefaultPhone sets the behaviour of numbers without their own; the
// default rings and answers after 20 ms.
func WithDefaultPhone(b Behaviour) Option {
	return func(c *config) { c.defaultPhone = b }
}

// WithSounds makes only these sound names (as in sound:name, without the
// scheme) exist; other sound and recording playbacks fail. Without it every
// sound exists.
func WithSounds(names ...string) Option {
	return func(c *config) {
		c.sounds = make(map[string]bool, len(names))
		for _, n := range names {
			c.sounds[n] = true
		}
	}
}

// WithPlaybackDuration sets how long each media item plays (default 20 ms).
func WithPlaybackDuration(d time.Duration) Option {
	return func(c *config) { c.playbackDuration = d }
}

// WithEndpoints makes only these PJSIP endpoints exist (plus any created
// through dynamic configuration); dialling another fails as chan_pjsip does.
// Without it every PJSIP endpoint exists.
func WithEndpoints(names ...string) Option {
	return func(c *config) {
		c.endpoints = make(map[string]bool, len(names))
		for _, n := range names {
			c.endpoints[n] = true
		}
	}
}

// WithRestartDowntime sets how long Restart refuses connections (default 50 ms).
func WithRestartDowntime(d time.Duration) Option {
	return func(c *config) { c.restartDowntime = d }
}

// WithLegacyTimeoutCause reports cause 0 instead of 19 when an originate
// rings out, as releases before 22.8 sometimes did.
func WithLegacyTimeoutCause() Option {
	return func(c *config) { c.legacyTimeout = true }
}

// WithReadOnlyConfig makes dynamic configuration writes fail with 403, as a
// sorcery object type backed only by a configuration file does.
func WithReadOnlyConfig() Option {
	return func(c *config) { c.readOnlyConfig = true }
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// Request is one HTTP request the simulator received.
type Request struct {
	Method   string
	Path     string
	Query    url.Values
	Body     []byte
	Received time.Time
}

// Event is one event the simulator emitted about a channel, whether or not an
// application was connected to receive it.
type Event struct {
	Type string
	JSON []byte
	Time time.Time
}

// ChannelInfo is a snapshot of a live channel for assertions.
type ChannelInfo struct {
	ID        string
	Name      string
	State     string
	Number    string
	Endpoint  string
	App       string
	InStasis  bool
	BridgeID  string
	Variables map[string]string
	Created   time.Time
}

// Sim is a simulated Asterisk 22 ARI server.
type Sim struct {
	cfg config
	log *slog.Logger

	mu       sync.Mutex
	addr     string
	srv      *http.Server
	ln       net.Listener
	running  bool
	gen      uint64
	started  time.Time
	reloaded time.Time

	channels    map[string]*channel
	bridges     map[string]*bridge
	playbacks   map[string]*playback
	conns       map[*wsConn]struct{}
	owners      map[string]*wsConn
	phones      map[string]Behaviour
	trunkPhones map[string]Behaviour // by "endpoint/number"
	objects     map[string]map[string]map[string][]configField
	seq         uint64

	history    map[string][]Event
	histNotify chan struct{}

	requests  []Request
	reqNotify chan struct{}

	sessions sessions
	faults   []fault

	invites   []Invite
	invNotify chan struct{}
}

// New builds a simulator; call Start to serve.
func New(opts ...Option) *Sim {
	cfg := config{
		user:             "asterisk",
		pass:             "asterisk",
		asteriskID:       "02:42:ac:11:00:02",
		addr:             "127.0.0.1:0",
		defaultPhone:     Answer(20 * time.Millisecond),
		playbackDuration: 20 * time.Millisecond,
		restartDowntime:  50 * time.Millisecond,
		maxQueue:         1 << 16,
		sessionLimit:     DefaultSessionLimit,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sim := &Sim{
		cfg:         cfg,
		log:         cfg.logger,
		addr:        cfg.addr,
		channels:    make(map[string]*channel),
		bridges:     make(map[string]*bridge),
		playbacks:   make(map[string]*playback),
		conns:       make(map[*wsConn]struct{}),
		owners:      make(map[string]*wsConn),
		phones:      make(map[string]Behaviour),
		trunkPhones: make(map[string]Behaviour),
		objects:     make(map[string]map[string]map[string][]configField),
		history:     make(map[string][]Event),
		histNotify:  make(chan struct{}),
		reqNotify:   make(chan struct{}),
		invNotify:   make(chan struct{}),
	}
	sim.sessions.limit = cfg.sessionLimit
	return sim
}

// TB is the part of testing.TB that NewT uses. Naming it here rather than
// importing testing keeps the testing package (and its flags) out of the
// callbackd binary, whose demo runs this simulator.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// NewT starts a simulator for a test and stops it when the test ends.
func NewT(t TB, opts ...Option) *Sim {
	t.Helper()
	s := New(opts...)
	if _, err := s.Start(context.Background()); err != nil {
		t.Fatalf("start simulated Asterisk: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start listens on 127.0.0.1 (on the same port as before after a Stop) and
// returns the base URL, e.g. http://127.0.0.1:41234. The simulator stops when
// ctx is done.
func (s *Sim) Start(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return "", errors.New("aritest: already running")
	}
	host, _, err := net.SplitHostPort(s.addr)
	if err != nil || host != "127.0.0.1" {
		return "", fmt.Errorf("aritest: address %q must be on 127.0.0.1", s.addr)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return "", fmt.Errorf("aritest: listen on %s: %w", s.addr, err)
	}
	s.addr = ln.Addr().String()
	ln = &sessionListener{Listener: ln, s: s}
	s.ln = ln
	// IdleTimeout is session_keep_alive's default: a kept-alive connection
	// that sends no request for 15 s is closed.
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 15 * time.Second,
		ConnContext: withHTTPWorker, ConnState: sessionState}
	s.running = true
	s.started = time.Now()
	s.reloaded = s.started
	srv := s.srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("aritest: serve", "err", err)
		}
	}()
	gen := s.gen
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		same := s.running && s.gen == gen
		s.mu.Unlock()
		if same {
			s.Stop()
		}
	})
	s.log.Info("aritest: started", "addr", s.addr)
	return "http://" + s.addr, nil
}

// Stop shuts Asterisk down: the listener closes, every WebSocket drops, and
// channels, bridges and playbacks vanish without events, as in a real stop.
// Dynamic configuration survives, as it does in the sorcery database.
func (s *Sim) Stop() {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	s.running = false
	s.gen++
	srv := s.srv
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.conns = make(map[*wsConn]struct{})
	s.owners = make(map[string]*wsConn)
	for _, ch := range s.channels {
		ch.stopTimers()
	}
	for _, pb := range s.playbacks {
		pb.stopTimer()
	}
	s.channels = make(map[string]*channel)
	s.bridges = make(map[string]*bridge)
	s.playbacks = make(map[string]*playback)
	s.mu.Unlock()

	for _, c := range conns {
		c.drop()
	}
	if err := srv.Close(); err != nil {
		s.log.Warn("aritest: close server", "err", err)
	}
	s.log.Info("aritest: stopped")
}

// Restart simulates an Asterisk restart: Stop, refuse connections for the
// restart downtime, then Start again on the same address.
func (s *Sim) Restart(ctx context.Context) error {
	s.Stop()
	t := time.NewTimer(s.cfg.restartDowntime)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("aritest: restart: %w", ctx.Err())
	case <-t.C:
	}
	if _, err := s.Start(ctx); err != nil {
		return fmt.Errorf("aritest: restart: %w", err)
	}
	return nil
}

// URL is the base URL (http://127.0.0.1:port).
func (s *Sim) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr
}

// ARIURL is the REST root, http://127.0.0.1:port/ari.
func (s *Sim) ARIURL() string { return s.URL() + "/ari" }

// EventsURL is the WebSocket URL without query.
func (s *Sim) EventsURL() string {
	return "ws://" + strings.TrimPrefix(s.URL(), "http://") + "/ari/events"
}

// Credentials returns the configured ARI user and password.
func (s *Sim) Credentials() (user, pass string) { return s.cfg.user, s.cfg.pass }

// Phone sets the behaviour of a number for calls placed from now on.
func (s *Sim) Phone(number string, b Behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phones[number] = b
}

// PhoneVia sets how number behaves when called through the PJSIP
// endpoint (trunk) endpoint, over Phone's behaviour: a carrier that
// answers 503 for a number another carrier connects.
func (s *Sim) PhoneVia(endpoint, number string, b Behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trunkPhones[endpoint+"/"+number] = b
}

// Requests returns every request received so far, oldest first.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// WaitRequest returns the first received request, past or future, for which
// match is true.
func (s *Sim) WaitRequest(ctx context.Context, match func(Request) bool) (Request, error) {
	seen := 0
	for {
		s.mu.Lock()
		reqs := s.requests[seen:]
		notify := s.reqNotify
		seen = len(s.requests)
		for _, r := range reqs {
			if match(r) {
				s.mu.Unlock()
				return r, nil
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Request{}, fmt.Errorf("aritest: wait for request: %w", ctx.Err())
		case <-notify:
		}
	}
}

// History returns the events emitted about a channel, live or gone.
func (s *Sim) History(channelID string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.history[channelID]...)
}

// WaitEvent waits until the channel's history holds an event of the given
// type and returns it.
func (s *Sim) WaitEvent(ctx context.Context, channelID, eventType string) (Event, error) {
	for {
		s.mu.Lock()
		for _, e := range s.history[channelID] {
			if e.Type == eventType {
				s.mu.Unlock()
				return e, nil
			}
		}
		notify := s.histNotify
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Event{}, fmt.Errorf("aritest: wait for %s on %s: %w", eventType, channelID, ctx.Err())
		case <-notify:
		}
	}
}

// Channels returns the live channels, oldest first; a Local channel counts
// as its two halves.
func (s *Sim) Channels() []ChannelInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChannelInfo, 0, len(s.channels))
	for _, ch := range s.channels {
		info := ChannelInfo{
			ID: ch.id, Name: ch.name, State: ch.state, Number: ch.target.number,
			Endpoint: ch.target.endpoint, App: ch.app, InStasis: ch.inStasis,
			Variables: make(map[string]string, len(ch.vars)), Created: ch.created,
		}
		if ch.bridge != nil {
			info.BridgeID = ch.bridge.id
		}
		for k, v := range ch.vars {
			info.Variables[k] = v
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool {
		return s.channels[out[i].ID].seq < s.channels[out[j].ID].seq
	})
	return out
}

// Hangup hangs a channel up from the far end (BYE, or a final error response
// before the answer) with a Q.850 cause.
func (s *Sim) Hangup(channelID string, cause int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[channelID]
	if !ok {
		return fmt.Errorf("aritest: hangup %s: no such channel", channelID)
	}
	s.remoteHangup(ch, cause)
	return nil
}

// SendDTMF presses digits on the far end of an answered channel; each becomes
// a ChannelDtmfReceived of 100 ms.
func (s *Sim) SendDTMF(channelID, digits string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[channelID]
	if !ok {
		return fmt.Errorf("aritest: send DTMF to %s: no such channel", channelID)
	}
	if ch.state != "Up" {
		return fmt.Errorf("aritest: send DTMF to %s: channel is %s", channelID, ch.state)
	}
	for _, r := range digits {
		s.emitDTMF(ch, string(r), 100*time.Millisecond)
	}
	return nil
}

// SetConfigObject defines a configuration object as a configuration file
// (pjsip.conf) would: GET /asterisk/config/dynamic then returns its
// fields, booleans printed as sorcery prints them ("true", "false").
func (s *Sim) SetConfigObject(class, objType, id string, fields map[string]string) {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]configField, 0, len(names))
	for _, k := range names {
		out = append(out, configField{Attribute: k, Value: fields[k]})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects[class] == nil {
		s.objects[class] = map[string]map[string][]configField{}
	}
	if s.objects[class][objType] == nil {
		s.objects[class][objType] = map[string][]configField{}
	}
	s.objects[class][objType][id] = out
}

// ConfigObject returns the fields of a dynamic configuration object.
func (s *Sim) ConfigObject(class, objType, id string) (map[string]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fields, ok := s.objects[class][objType][id]
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(fields))
	for _, f := range fields {
		out[f.Attribute] = f.Value
	}
	return out, true
}

// recordRequest keeps a request for Requests and wakes WaitRequest.
func (s *Sim) recordRequest(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
	close(s.reqNotify)
	s.reqNotify = make(chan struct{})
}
