package ari

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// Run keeps the events WebSocket of every server connected until ctx is
// done: for each it connects, reconciles the live channels with the calls
// of this process, reads and routes events, and reconnects with
// exponential backoff and full jitter when the connection drops or
// Asterisk restarts.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("ARI controller: Run called twice")
	}
	c.running = true
	c.life = ctx
	c.mu.Unlock()
	defer func() {
		// What events started ends with ctx; wait for it.
		c.tasks.Wait()
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()

	var runs sync.WaitGroup
	for _, sv := range c.servers {
		runs.Go(func() { c.runServer(ctx, sv) })
	}
	runs.Wait()
	c.log.Info("ARI controller stopped")
	return nil
}

// runServer keeps one server's events WebSocket connected until ctx is
// done.
func (c *Controller) runServer(ctx context.Context, sv *server) {
	log := c.log.With(c.serverLog(sv)...)
	wsClient := &http.Client{Transport: &http.Transport{
		Proxy:       nil,
		DialContext: (&net.Dialer{Timeout: c.timeout, KeepAlive: 30 * time.Second}).DialContext,
	}}
	failures := 0
	var downSince time.Time
	for ctx.Err() == nil {
		up, err := c.connect(ctx, sv, wsClient, downSince)
		if ctx.Err() != nil {
			break
		}
		if up {
			failures = 0
			downSince = time.Now()
			log.Warn("events WebSocket lost; reconnecting", "err", err)
		} else {
			if failures == 0 && downSince.IsZero() {
				downSince = time.Now()
			}
			if failures == 0 {
				log.Warn("cannot connect to Asterisk ARI; retrying", "url", sv.wsURL, "err", err)
			} else {
				log.Debug("ARI connect failed", "attempt", failures+1, "err", err)
			}
			failures++
		}
		d := c.backoff(failures)
		if !downSince.IsZero() && len(c.servers) > 1 {
			// Another server can take the requests: past serverDownAfter
			// this one's calls are ended, without waiting for a reconnect.
			if left := serverDownAfter - time.Since(downSince); left <= 0 {
				c.loseCalls(sv)
			} else {
				d = min(d, left)
			}
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	c.setReady(sv, false)
}

// backoff is full jitter: uniform between 0 and min(cap, base·2ⁿ).
func (c *Controller) backoff(failures int) time.Duration {
	ceil := c.backoffCap
	if failures < 20 {
		ceil = min(c.backoffCap, c.backoffBase<<failures)
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil)
}

// connect runs one connection. up reports whether it got as far as
// serving (so the backoff starts over).
func (c *Controller) connect(ctx context.Context, sv *server, client *http.Client, downSince time.Time) (up bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	ws, resp, err := websocket.Dial(dctx, sv.wsURL, &websocket.DialOptions{
		HTTPClient: client,
		HTTPHeader: http.Header{"Authorization": {sv.wsAuth}},
	})
	cancel()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return false, fmt.Errorf("connect events WebSocket: %w", err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(16 << 20)

	// A request that cannot connect to the server ends the connection
	// (refused).
	cctx, drop := context.WithCancelCause(ctx)
	defer drop(nil)
	c.mu.Lock()
	sv.drop = drop
	c.mu.Unlock()

	// Read from the first moment, so that no event is lost or left to fill
	// Asterisk's queue while the reconciliation runs.
	rctx, stopRead := context.WithCancel(cctx)
	defer stopRead()
	readErr := make(chan error, 1)
	go func() { readErr <- c.read(rctx, sv, ws) }()

	if err := c.reconcile(ctx, sv); err != nil {
		ws.CloseNow()
		<-readErr
		return false, fmt.Errorf("reconcile after connect: %w", err)
	}
	c.checkIdentityTrunks(cctx, sv)
	c.setReady(sv, true)
	if downSince.IsZero() {
		c.log.Info("connected to Asterisk ARI", append([]any{"url", sv.wsURL, "app", c.app}, c.serverLog(sv)...)...)
	} else {
		c.log.Info("reconnected to Asterisk ARI", append([]any{"down_for", time.Since(downSince).Round(time.Millisecond)}, c.serverLog(sv)...)...)
	}
	defer c.setReady(sv, false)

	ping := time.NewTicker(c.ping)
	defer ping.Stop()
	for {
		select {
		case err := <-readErr:
			return true, err
		case <-cctx.Done():
			if ctx.Err() == nil {
				ws.CloseNow()
				<-readErr
				return true, context.Cause(cctx)
			}
			ws.Close(websocket.StatusNormalClosure, "callbackd stopping")
			<-readErr
			return true, nil
		case <-ping.C:
			// A half-open TCP connection reads nothing forever; a ping
			// that gets no pong ends it.
			pctx, cancel := context.WithTimeout(ctx, c.timeout)
			err := ws.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				ws.CloseNow()
				<-readErr
				return true, fmt.Errorf("ping: %w", err)
			}
		}
	}
}

// read decodes and routes events until the connection ends.
func (c *Controller) read(ctx context.Context, sv *server, ws *websocket.Conn) error {
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		ev, err := decodeEvent(data, time.Now())
		if err != nil {
			c.log.Debug("ignoring an event callbackd does not decode", "err", err)
			continue
		}
		c.route(sv, ev)
	}
}

// route hands ev to the call that owns its channel. It never blocks: a
// call whose buffer is full loses the event and is told to resynchronise,
// rather than every other call stalling behind it.
func (c *Controller) route(sv *server, ev Event) {
	key := ev.routeKey()
	if key == "" {
		if ev.Type == "ApplicationReplaced" {
			c.log.Error("another client registered the Stasis application; this process gets no events until it reconnects",
				append([]any{"app", c.app}, c.serverLog(sv)...)...)
		}
		return
	}
	r := c.lookup(key)
	if r == nil || r.srv != sv {
		// (An id of another server's channel: Asterisk's own ids of
		// inbound calls are unique to one server only.)
		c.unowned(sv, ev)
		return
	}
	select {
	case r.inbox <- &ev:
		if !ev.Time.IsZero() {
			c.obs.EventRouted(ev.Type, ev.Received.Sub(ev.Time))
		}
	default:
		c.obs.EventDropped(ev.Type)
		c.log.Warn("call's event buffer full: event dropped, the call resynchronises", "channel", key, "event", ev.Type)
		select {
		case r.resync <- struct{}{}:
		default:
		}
	}
}

// unowned handles an event no call wants. A channel of ours entering
// Stasis without an owner was placed by a process that died, or answered
// just as its call ended: hang it up so that nobody talks to a controller
// that will never act.
func (c *Controller) unowned(sv *server, ev Event) {
	if ev.Type == EventStasisStart && len(ev.Args) > 0 && ev.Args[0] == appMarker {
		c.log.Warn("channel of a callback no call owns entered Stasis: hanging it up", "channel", ev.Channel)
		c.spawn(func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			if err := sv.rest.hangup(ctx, ev.Channel, "normal"); err != nil {
				c.log.Warn("could not hang up unowned channel", "channel", ev.Channel, "err", err)
			}
		})
		return
	}
	if ev.Type == EventStasisStart && len(ev.Args) > 0 && ev.Args[0] == inboundIVRMarker {
		c.park(sv, ev)
		return
	}
	c.log.Debug("event for a channel no call owns", "channel", ev.routeKey(), "event", ev.Type)
}

// deliver hands a made-up event to a call without blocking; if the call's
// buffer is full it resynchronises from the REST interface instead.
func deliver(r *route, ev Event) {
	select {
	case r.inbox <- &ev:
	default:
		select {
		case r.resync <- struct{}{}:
		default:
		}
	}
}

// reconcile compares sv's live channels with the calls of this process
// on it: a call whose channel is gone is told so, and a channel of ours
// that no call owns is hung up. It runs after every (re)connect, before
// WaitReady releases the dispatcher.
func (c *Controller) reconcile(ctx context.Context, sv *server) error {
	// Only calls that owned their channel before the list was taken can
	// be told it is gone: a channel that appeared since (an inbound caller
	// whose StasisStart was read meanwhile) is simply not in the list.
	c.mu.RLock()
	before := make(map[string]*route, len(c.routes))
	for id, r := range c.routes {
		if r.srv == sv {
			before[id] = r
		}
	}
	c.mu.RUnlock()
	chans, err := sv.rest.listChannels(ctx)
	if err != nil {
		return fmt.Errorf("list channels: %w", err)
	}
	bridges, err := sv.rest.listBridges(ctx)
	if err != nil {
		return fmt.Errorf("list bridges: %w", err)
	}
	live := make(map[string]channel, len(chans))
	for _, ch := range chans {
		live[ch.ID] = ch
	}

	c.mu.Lock()
	clear(sv.trunkCache)
	type owned struct {
		id string
		r  *route
	}
	var gone, alive []owned
	for id, r := range c.routes {
		if !r.channel || r.srv != sv {
			continue
		}
		if _, ok := live[id]; ok {
			alive = append(alive, owned{id, r})
		} else if before[id] == r {
			gone = append(gone, owned{id, r})
		}
	}
	var orphans, inbound []string
	for _, ch := range chans {
		if r, mine := c.routes[ch.ID]; mine && r.srv == sv {
			continue
		}
		switch {
		case c.ours(ch):
			orphans = append(orphans, ch.ID)
		case c.inboundOrphan(ch):
			inbound = append(inbound, ch.ID)
		}
	}
	var orphanBridges []string
	for _, b := range bridges {
		if r, mine := c.routes[b.ID]; (!mine || r.srv != sv) && strings.HasPrefix(b.ID, c.prefix+"-") {
			orphanBridges = append(orphanBridges, b.ID)
		}
	}
	c.mu.Unlock()

	now := time.Now()
	for _, g := range gone {
		deliver(g.r, Event{Type: EventChannelGone, Channel: g.id, Received: now, Reason: "channel not listed by Asterisk after reconnect (Asterisk restarted?)"})
	}
	for _, a := range alive {
		ch := live[a.id]
		deliver(a.r, Event{Type: EventChannelReconciled, Channel: a.id, ChannelName: ch.Name, Received: now, State: ch.State, InStasis: ch.Dialplan.AppName == "Stasis"})
	}
	for _, id := range orphans {
		c.log.Warn("hanging up a channel no call owns (left by a previous callbackd process)", "channel", id)
		if err := sv.rest.hangup(ctx, id, "normal"); err != nil {
			c.log.Warn("could not hang up orphaned channel", "channel", id, "err", err)
		}
	}
	for _, id := range orphanBridges {
		c.log.Info("destroying a bridge no call owns", "bridge", id)
		if err := sv.rest.destroyBridge(ctx, id); err != nil {
			c.log.Warn("could not destroy orphaned bridge", "bridge", id, "err", err)
		}
	}
	if len(inbound) > 0 {
		c.spawn(func(ctx context.Context) { c.releaseInboundOrphans(ctx, sv, inbound) })
	}
	if len(gone) > 0 || len(orphans) > 0 {
		c.log.Info("reconciled channels after connect", append([]any{"live_channels", len(chans), "calls_told_gone", len(gone), "orphans_hung_up", len(orphans)}, c.serverLog(sv)...)...)
	}
	return nil
}

// inboundSettle is how long an inbound caller listed in Stasis by the
// reconciliation is given to show up through its StasisStart: a caller
// whose Stasis() ran just after the events WebSocket connected is listed
// by GET /channels before its StasisStart has been read, and is no orphan.
const inboundSettle = time.Second

// releaseInboundOrphans hangs up the inbound IVR callers of ids that no
// StasisStart claimed within inboundSettle: they entered Stasis under a
// previous connection, and nobody will serve them.
func (c *Controller) releaseInboundOrphans(ctx context.Context, sv *server, ids []string) {
	t := time.NewTimer(inboundSettle)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	for _, id := range ids {
		if r := c.lookup(id); r != nil && r.srv == sv {
			continue // its StasisStart arrived: parked or served
		}
		c.log.Warn("hanging up an inbound caller no call owns (left by a previous callbackd process)", "channel", id)
		hctx, cancel := context.WithTimeout(ctx, c.timeout)
		if err := sv.rest.hangup(hctx, id, "normal"); err != nil {
			c.log.Warn("could not hang up orphaned inbound caller", "channel", id, "err", err)
		}
		cancel()
	}
}
