package ari

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbackd/callbackd/callback"
	"golang.org/x/sync/semaphore"
)

// AccessNumbers looks up the options of the access number a request came
// through (Fixed CLI, The Reason For Diversion). The store implements it.
type AccessNumbers interface {
	GetAccessNumber(ctx context.Context, number string) (*callback.AccessNumber, error)
}

// Option configures a Controller.
type Option func(*options) error

type options struct {
	url            string
	user, pass     string
	servers        []Server
	app            string
	trunks         map[string]Trunk
	trunkOrder     []string
	defaultTrunk   string
	selectTrunk    func(r *callback.Request, leg callback.Leg) string
	maxChannels    int
	maxRequests    int
	requestTimeout time.Duration
	pingInterval   time.Duration
	backoffBase    time.Duration
	backoffCap     time.Duration
	prefix         string
	inbox          int
	accessNumbers  AccessNumbers
	apps           map[callback.SubApp]App
	inbound        InboundFunc
	inboundWait    time.Duration
	log            *slog.Logger
	obs            Observer
	legACLI        LegACLI
}

// WithURL sets Asterisk's HTTP server, e.g. http://127.0.0.1:8088 (a
// trailing /ari is accepted).
func WithURL(u string) Option {
	return func(o *options) error { o.url = u; return nil }
}

// WithCredentials sets the ARI user of ari.conf.
func WithCredentials(user, pass string) Option {
	return func(o *options) error { o.user, o.pass = user, pass; return nil }
}

// WithAppName sets the Stasis application name (default callbackd).
func WithAppName(name string) Option {
	return func(o *options) error {
		if name == "" || strings.ContainsAny(name, ", /?&") {
			return fmt.Errorf("app name %q: %w", name, callback.ErrInvalid)
		}
		o.app = name
		return nil
	}
}

// WithTrunk adds a trunk; the first one added is the default unless
// WithDefaultTrunk says otherwise. Without any, the controller uses the
// trunk "trunk" with the template PJSIP/{number}@{trunk}.
func WithTrunk(t Trunk) Option {
	return func(o *options) error {
		if _, dup := o.trunks[t.Name]; dup {
			return fmt.Errorf("trunk %q configured twice: %w", t.Name, callback.ErrInvalid)
		}
		o.trunks[t.Name] = t
		o.trunkOrder = append(o.trunkOrder, t.Name)
		return nil
	}
}

// WithDefaultTrunk names the trunk legs use unless a selector picks another.
func WithDefaultTrunk(name string) Option {
	return func(o *options) error { o.defaultTrunk = name; return nil }
}

// WithTrunkSelector picks the trunk of each leg by name; "" means the
// default trunk.
func WithTrunkSelector(f func(r *callback.Request, leg callback.Leg) string) Option {
	return func(o *options) error { o.selectTrunk = f; return nil }
}

// WithMaxChannels caps the channels this controller keeps up at once
// (default 1000; 0: no cap). A callback reserves two, for both legs, before
// leg A is placed, so that no call ever waits for a second-leg slot held by
// another call's first leg; a call over the cap waits for one to end.
func WithMaxChannels(n int) Option {
	return func(o *options) error {
		if n < 0 || n == 1 {
			return fmt.Errorf("max channels %d: %w", n, callback.ErrInvalid)
		}
		o.maxChannels = n
		return nil
	}
}

// WithMaxRequests bounds the ARI requests in flight at once, and the
// HTTP connections open to Asterisk, to n (default DefaultMaxRequests, 50);
// more wait their turn. Asterisk closes, unanswered, every HTTP connection
// beyond http.conf's sessionlimit (default 100), so n must stay below it,
// with room for the events WebSocket and other clients of that Asterisk.
func WithMaxRequests(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("max requests %d: %w", n, callback.ErrInvalid)
		}
		o.maxRequests = n
		return nil
	}
}

// WithRequestTimeout bounds every REST request and the WebSocket handshake
// (default 10 s).
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("request timeout %s: %w", d, callback.ErrInvalid)
		}
		o.requestTimeout = d
		return nil
	}
}

// WithReconnect sets the reconnect backoff: full jitter between 0 and
// base·2ⁿ, at most capDelay (defaults 100 ms and 1 s, so the controller is
// back within about a second of Asterisk).
func WithReconnect(base, capDelay time.Duration) Option {
	return func(o *options) error {
		if base <= 0 || capDelay < base {
			return fmt.Errorf("reconnect backoff %s..%s: %w", base, capDelay, callback.ErrInvalid)
		}
		o.backoffBase, o.backoffCap = base, capDelay
		return nil
	}
}

// WithChannelPrefix sets the prefix of the ids of channels, bridges and
// configuration objects this controller makes (default "cbd"). Nodes that
// share one Asterisk need distinct prefixes and application names, because
// channels with the prefix that no call owns are hung up on reconnect.
func WithChannelPrefix(p string) Option {
	return func(o *options) error {
		if p == "" || !validChannelID(p) || strings.ContainsAny(p, "/") {
			return fmt.Errorf("channel prefix %q: %w", p, callback.ErrInvalid)
		}
		o.prefix = p
		return nil
	}
}

// WithAccessNumbers gives the lookup of access-number options (Fixed CLI,
// The Reason For Diversion). Without it the seed's defaults apply.
func WithAccessNumbers(a AccessNumbers) Option {
	return func(o *options) error { o.accessNumbers = a; return nil }
}

// WithApp registers the sub-application run after leg A answers for
// requests whose original_cld selects name. The 2-way callback is
// registered by default.
func WithApp(name callback.SubApp, app App) Option {
	return func(o *options) error {
		if app == nil {
			delete(o.apps, name)
			return nil
		}
		o.apps[name] = app
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.log = l; return nil }
}

// WithObserver sets the metrics observer.
func WithObserver(obs Observer) Option {
	return func(o *options) error { o.obs = obs; return nil }
}

// Controller is the ARI controller: it places the legs of callbacks
// through Asterisk and runs the sub-application once leg A answers. It
// implements callback.Dialer; Run keeps its events WebSocket connected.
type Controller struct {
	app         string
	servers     []*server
	trunks      map[string]*trunk
	trunkList   []*trunk // in the order configured
	routed      bool     // some trunk has prefixes: legs are routed by number
	defTrunk    *trunk
	selectTrunk func(r *callback.Request, leg callback.Leg) string
	apps        map[callback.SubApp]App
	access      AccessNumbers
	inbound     InboundFunc
	inboundWait time.Duration
	prefix      string
	inboxSize   int
	timeout     time.Duration
	ping        time.Duration
	backoffBase time.Duration
	backoffCap  time.Duration
	slots       *semaphore.Weighted // channels, two per call; nil: no cap
	maxChannels int
	log         *slog.Logger
	obs         Observer
	legACLI     LegACLI

	liveCalls atomic.Int64

	// mu guards the routing map, the readiness signals and the servers'
	// caches of trunk endpoint fields; nothing of a call's own state
	// lives here.
	mu      sync.RWMutex
	routes  map[string]*route
	parked  map[string]*parked // inbound IVR channels waiting for their Dial
	ready   chan struct{}      // closed while a server is connected and reconciled
	isReady bool
	running bool
	// placeMu guards the servers' channel counts.
	placeMu sync.Mutex
	// life is Run's context: the work started from events (an inbound
	// caller's admission or release, hanging up a channel nobody owns)
	// ends with it, and Run waits for that work before it returns.
	life  context.Context
	tasks sync.WaitGroup
}

// route is where the WebSocket reader hands a call's events.
type route struct {
	inbox   chan *Event   // pointers: a call's buffer costs 8 bytes a slot while idle
	resync  chan struct{} // signalled when an event for this call was dropped
	channel bool          // a channel (checked on reconnect), not a bridge
	srv     *server       // the Asterisk server the channel or bridge is on
}

var _ callback.Dialer = (*Controller)(nil)

// New builds a Controller; call Run to connect it.
func New(opts ...Option) (*Controller, error) {
	o := options{
		app:            "callbackd",
		user:           "asterisk",
		trunks:         map[string]Trunk{},
		maxChannels:    1000,
		maxRequests:    DefaultMaxRequests,
		requestTimeout: 10 * time.Second,
		pingInterval:   15 * time.Second,
		backoffBase:    100 * time.Millisecond,
		backoffCap:     time.Second,
		prefix:         "cbd",
		inbox:          64,
		apps:           map[callback.SubApp]App{callback.SubAppTwoWay: TwoWay{}},
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("new ARI controller: %w", err)
		}
	}
	if len(o.trunks) == 0 {
		o.trunks["trunk"] = Trunk{Name: "trunk", Dial: "PJSIP/{number}@{trunk}"}
		o.trunkOrder = []string{"trunk"}
	}
	if o.defaultTrunk == "" {
		o.defaultTrunk = o.trunkOrder[0]
	}
	c := &Controller{
		app:         o.app,
		trunks:      make(map[string]*trunk, len(o.trunks)),
		selectTrunk: o.selectTrunk,
		apps:        o.apps,
		access:      o.accessNumbers,
		inbound:     o.inbound,
		inboundWait: o.inboundWait,
		prefix:      o.prefix,
		inboxSize:   o.inbox,
		timeout:     o.requestTimeout,
		ping:        o.pingInterval,
		backoffBase: o.backoffBase,
		backoffCap:  o.backoffCap,
		log:         o.log,
		obs:         o.obs,
		legACLI:     o.legACLI,
		routes:      make(map[string]*route),
		parked:      make(map[string]*parked),
		ready:       make(chan struct{}),
	}
	for _, name := range o.trunkOrder {
		rt, err := compileTrunk(o.trunks[name])
		if err != nil {
			return nil, fmt.Errorf("new ARI controller: %w", err)
		}
		c.trunks[name] = rt
		c.trunkList = append(c.trunkList, rt)
		c.routed = c.routed || len(rt.Prefixes) > 0
	}
	def, ok := c.trunks[o.defaultTrunk]
	if !ok {
		return nil, fmt.Errorf("new ARI controller: default trunk %q is not configured: %w", o.defaultTrunk, callback.ErrInvalid)
	}
	c.defTrunk = def
	if err := c.addServers(&o); err != nil {
		return nil, fmt.Errorf("new ARI controller: %w", err)
	}
	if o.maxChannels > 0 {
		c.slots = semaphore.NewWeighted(int64(o.maxChannels))
		c.maxChannels = o.maxChannels
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c.log = c.log.With("component", "ari")
	if c.obs == nil {
		c.obs = nopObserver{}
	}
	return c, nil
}

// WaitReady blocks until the events WebSocket is connected and the live
// channels were reconciled, or ctx is done.
func (c *Controller) WaitReady(ctx context.Context) error {
	c.mu.RLock()
	ready := c.ready
	c.mu.RUnlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Ready reports whether calls can be placed now: some server is
// connected and reconciled.
func (c *Controller) Ready() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.isReady
}

// LiveCalls is the number of calls the controller owns now.
func (c *Controller) LiveCalls() int { return int(c.liveCalls.Load()) }

// setReady marks sv up or down; the controller is ready while any server
// is.
func (c *Controller) setReady(sv *server, up bool) {
	c.mu.Lock()
	sv.ready = up
	if up {
		sv.lostCalls = false
	}
	any := false
	for _, s := range c.servers {
		any = any || s.ready
	}
	changed := c.isReady != any
	if changed {
		c.isReady = any
		if any {
			close(c.ready)
		} else {
			c.ready = make(chan struct{})
		}
	}
	c.mu.Unlock()
	if changed {
		c.obs.Connected(any)
	}
}

// register routes the events of key (a channel or bridge id) to r. It
// refuses a key another call owns (two requests preset with one call_id).
func (c *Controller) register(key string, r *route) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, taken := c.routes[key]; taken {
		return false
	}
	c.routes[key] = r
	return true
}

func (c *Controller) unregister(keys []string) {
	c.mu.Lock()
	for _, k := range keys {
		delete(c.routes, k)
	}
	c.mu.Unlock()
}

func (c *Controller) lookup(key string) *route {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.routes[key]
}

// serverContext is Run's context; before Run, one that is already done,
// so that nothing outlives a server that never ran.
func (c *Controller) serverContext() context.Context {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.life == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	return c.life
}

// spawn runs fn in a goroutine on Run's context; Run returns only once fn
// has. It is called only while Run is reading events.
func (c *Controller) spawn(fn func(ctx context.Context)) {
	ctx := c.serverContext()
	c.tasks.Add(1)
	go func() {
		defer c.tasks.Done()
		fn(ctx)
	}()
}

// trunksFor are the trunks a leg to number is tried on, in order: the
// one the selector names; else, when trunks have prefixes, the route of
// the number (see Trunk.Prefixes); else the default trunk.
func (c *Controller) trunksFor(r *callback.Request, leg callback.Leg, number string) []*trunk {
	if c.selectTrunk != nil {
		if name := c.selectTrunk(r, leg); name != "" {
			if t, ok := c.trunks[name]; ok {
				return []*trunk{t}
			}
			c.log.Error("trunk selector named an unknown trunk; using the default", "trunk", name, "request_id", r.ID)
		}
	}
	if c.routed {
		if ts := routeTrunks(c.trunkList, number, rand.Float64); len(ts) > 0 {
			return ts
		}
		c.log.Warn("no trunk's prefix matches the number: using the default trunk", "number", number, "leg", string(leg), "request_id", r.ID)
	}
	return []*trunk{c.defTrunk}
}

// TrunkLegs is the number of legs each trunk carries now, by name.
func (c *Controller) TrunkLegs() map[string]int {
	out := make(map[string]int, len(c.trunkList))
	for _, t := range c.trunkList {
		out[t.Name] = t.liveLegs()
	}
	return out
}

// key is the deterministic id of what attempt n of a request makes on
// sv: "a" and "b" for the legs, "br" for the bridge.
func (c *Controller) key(sv *server, reqID int64, n int, what string) string {
	return c.idPrefix(sv, reqID) + strconv.Itoa(n) + "-" + what
}

// generated reports whether id is one this controller made for the
// request on some server, as opposed to a call_id preset by whoever
// inserted the row.
func (c *Controller) generated(id string, reqID int64) bool {
	return c.serverOf(id, reqID) != nil
}

// ours reports whether a channel was made by a callbackd process with this
// prefix or application, living or dead.
func (c *Controller) ours(ch channel) bool {
	if strings.Contains(ch.ID, ";") {
		// The second half of a Local channel ("<id>;2") lives and dies
		// with the half that carries our id; it is never an orphan itself.
		return false
	}
	if strings.HasPrefix(ch.ID, c.prefix+"-") {
		return true
	}
	return ch.Dialplan.AppName == "Stasis" && strings.HasPrefix(ch.Dialplan.AppData, c.app+","+appMarker+",")
}

// appMarker is the first application argument of every channel callbackd
// places, so that a channel left by a dead process can be told from others.
const appMarker = "callbackd"

// channelsPerCall is what a callback reserves against the channel cap.
const channelsPerCall = 2

func (c *Controller) acquireCall(ctx context.Context) error {
	if c.slots == nil {
		return nil
	}
	if c.slots.TryAcquire(channelsPerCall) {
		return nil
	}
	c.log.Debug("channel cap reached: the call waits for another to end", "max_channels", c.maxChannels)
	if err := c.slots.Acquire(ctx, channelsPerCall); err != nil {
		return context.Cause(ctx)
	}
	return nil
}

// tryAcquireCall takes a call's channels without waiting.
func (c *Controller) tryAcquireCall() bool {
	return c.slots == nil || c.slots.TryAcquire(channelsPerCall)
}

func (c *Controller) releaseCall() {
	if c.slots != nil {
		c.slots.Release(channelsPerCall)
	}
}

// checkIdentityTrunks warns, at each connection to sv, about every trunk
// on it that adds a P-Asserted-Identity (IdentityPAI) through a PJSIP
// endpoint with send_pai=yes: Asterisk 22 then sends its own
// P-Asserted-Identity before callbackd's, two in each INVITE (seen over
// SIP), which RFC 3325 does not allow.
func (c *Controller) checkIdentityTrunks(ctx context.Context, sv *server) {
	for _, t := range c.trunks {
		if t.IdentityHeader != IdentityPAI || !strings.HasPrefix(t.Dial, "PJSIP/") || !sv.carries(t) {
			continue
		}
		for _, f := range c.cachedTrunkFields(ctx, sv, t) {
			if f.Attribute == "send_pai" && sorceryTrue(f.Value) {
				c.log.Warn("the trunk adds a P-Asserted-Identity and its PJSIP endpoint has send_pai=yes: Asterisk sends its own before it, two in each INVITE; set send_pai=no on the endpoint",
					append([]any{"trunk", t.Name, "endpoint", t.Endpoint}, c.serverLog(sv)...)...)
			}
		}
	}
}

// sorceryTrue reports whether a configuration value is true as Asterisk's
// ast_true reads it.
func sorceryTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "true", "y", "t", "1", "on":
		return true
	}
	return false
}

// cachedTrunkFields reads the trunk endpoint's configuration on sv once
// per connection: a reload of pjsip.conf while connected is picked up at
// the next reconnect.
func (c *Controller) cachedTrunkFields(ctx context.Context, sv *server, t *trunk) []configField {
	c.mu.RLock()
	f, ok := sv.trunkCache[t.Name]
	c.mu.RUnlock()
	if ok {
		return f
	}
	f, err := sv.rest.getObject(ctx, "endpoint", t.Endpoint)
	if err != nil {
		c.log.Warn("cannot read the trunk's PJSIP endpoint through ARI; per-identity endpoints get only the trunk's identity fields",
			append([]any{"trunk", t.Name, "endpoint", t.Endpoint, "err", err}, c.serverLog(sv)...)...)
		f = nil
	}
	c.mu.Lock()
	sv.trunkCache[t.Name] = f
	c.mu.Unlock()
	return f
}
