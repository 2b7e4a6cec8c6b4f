package ari

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// Server is one Asterisk a controller drives through ARI (WithServer).
// Each has its own events WebSocket, REST client, bound on requests in
// flight (WithMaxRequests applies to each), reconnect backoff and
// reconciliation.
type Server struct {
	// Name names the server in logs and in the ids of the channels,
	// bridges and PJSIP objects placed on it
	// (<prefix>-<name>-<request>-<attempt>-a): it starts with a letter and
	// holds letters, digits and '_' only.
	Name string
	// URL is Asterisk's HTTP server, e.g. http://10.0.0.11:8088.
	URL string
	// User and Password are the ARI user of its ari.conf.
	User, Password string
	// MaxChannels caps the live channels this controller keeps on the
	// server, two reserved per callback; a full server is passed over.
	// 0: no cap.
	MaxChannels int
	// Trunks are the names of the trunks (WithTrunk) this Asterisk's
	// pjsip.conf has; empty: all of them.
	Trunks []string
}

// WithServer adds an Asterisk server. With one or more, WithURL and
// WithCredentials are not used; without any, they describe the only
// server, whose ids carry no server name.
func WithServer(s Server) Option {
	return func(o *options) error {
		if !validServerName(s.Name) {
			return fmt.Errorf("server name %q: want a letter, then letters, digits or _: %w", s.Name, callback.ErrInvalid)
		}
		for _, have := range o.servers {
			if have.Name == s.Name {
				return fmt.Errorf("server %q configured twice: %w", s.Name, callback.ErrInvalid)
			}
		}
		if s.MaxChannels < 0 || s.MaxChannels == 1 {
			return fmt.Errorf("server %s: max channels %d: %w", s.Name, s.MaxChannels, callback.ErrInvalid)
		}
		o.servers = append(o.servers, s)
		return nil
	}
}

func validServerName(n string) bool {
	if n == "" || len(n) > 32 || !(n[0] >= 'a' && n[0] <= 'z' || n[0] >= 'A' && n[0] <= 'Z') {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// serverDownAfter is how long a server of several may stay unreachable
// before the calls on it are ended: a WebSocket that drops and comes
// back at once (a blip) keeps its calls; a server that does not answer
// for this long is taken for dead, and its calls are settled so that the
// requests can be placed again on the others.
const serverDownAfter = time.Second

// server is one Asterisk: its connection, its place in the placement and
// the calls it holds.
type server struct {
	name        string // in logs
	tag         string // in ids: "" for the only server of ari.url
	url         string
	rest        *rest
	wsURL       string
	wsAuth      string
	maxChannels int
	trunks      map[string]bool // nil: every trunk

	// Guarded by the controller's mu.
	drop       context.CancelCauseFunc // ends the current events connection
	ready      bool
	lostCalls  bool // the calls on it were ended in this outage
	trunkCache map[string][]configField

	// Guarded by the controller's placeMu.
	channels int // channels reserved by calls placed here, two per call
}

func (sv *server) carries(t *trunk) bool { return sv.trunks == nil || sv.trunks[t.Name] }

// carriesAny reports whether the server has a trunk of route.
func (sv *server) carriesAny(route []*trunk) bool {
	for _, t := range route {
		if sv.carries(t) {
			return true
		}
	}
	return false
}

// onServer is route without the trunks sv lacks.
func onServer(sv *server, route []*trunk) []*trunk {
	if sv.trunks == nil {
		return route
	}
	out := make([]*trunk, 0, len(route))
	for _, t := range route {
		if sv.carries(t) {
			out = append(out, t)
		}
	}
	return out
}

// idPrefix is what every id of request reqID on sv begins with.
func (c *Controller) idPrefix(sv *server, reqID int64) string {
	p := c.prefix + "-"
	if sv.tag != "" {
		p += sv.tag + "-"
	}
	return p + strconv.FormatInt(reqID, 10) + "-"
}

// serverOf is the server whose id of request reqID id is; nil when id is
// not one this controller's servers make (a preset call_id).
func (c *Controller) serverOf(id string, reqID int64) *server {
	for _, sv := range c.servers {
		if strings.HasPrefix(id, c.idPrefix(sv, reqID)) {
			return sv
		}
	}
	return nil
}

// errServersFull: every server that could place the call is at its
// channel cap. errNoServer: none is connected that has the call's trunk.
var (
	errServersFull = errors.New("every Asterisk server is at its channel cap")
	errNoServer    = errors.New("no connected Asterisk server has a trunk for the call")
)

// place picks the server of a new call: of the connected servers that
// have a trunk of route, the one with the fewest channels reserved that
// has room for two more (ties: the first configured). The call's two
// channels are reserved on it until unplace.
func (c *Controller) place(route []*trunk) (*server, error) {
	c.placeMu.Lock()
	defer c.placeMu.Unlock()
	var best *server
	full := false
	for _, sv := range c.servers {
		if !c.serverReady(sv) || !sv.carriesAny(route) {
			continue
		}
		if sv.maxChannels > 0 && sv.channels+channelsPerCall > sv.maxChannels {
			full = true
			continue
		}
		if best == nil || sv.channels < best.channels {
			best = sv
		}
	}
	if best == nil {
		if full {
			return nil, errServersFull
		}
		return nil, errNoServer
	}
	best.channels += channelsPerCall
	return best, nil
}

// reserveOn reserves a call's channels on sv (an inbound caller already
// there); false when sv is at its cap.
func (c *Controller) reserveOn(sv *server) bool {
	c.placeMu.Lock()
	defer c.placeMu.Unlock()
	if sv.maxChannels > 0 && sv.channels+channelsPerCall > sv.maxChannels {
		return false
	}
	sv.channels += channelsPerCall
	return true
}

func (c *Controller) unplace(sv *server) {
	c.placeMu.Lock()
	sv.channels -= channelsPerCall
	c.placeMu.Unlock()
}

// serverLost reports whether sv's calls were ended for an outage that
// goes on: requests to it would only fail, and what they would clean up
// is cleaned up by the reconciliation when it is back.
func (c *Controller) serverLost(sv *server) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return sv.lostCalls && !sv.ready
}

func (c *Controller) serverReady(sv *server) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return sv.ready
}

// ServerState is what ServerStates reports of one server.
type ServerState struct {
	Name     string
	URL      string
	Ready    bool // connected and reconciled: new calls may be placed on it
	Channels int  // channels reserved by the calls placed on it (two per call)
	Max      int  // its channel cap; 0: none
}

// ServerStates reports each server, in the order configured.
func (c *Controller) ServerStates() []ServerState {
	c.placeMu.Lock()
	defer c.placeMu.Unlock()
	out := make([]ServerState, 0, len(c.servers))
	for _, sv := range c.servers {
		out = append(out, ServerState{Name: sv.name, URL: sv.url, Ready: c.serverReady(sv), Channels: sv.channels, Max: sv.maxChannels})
	}
	return out
}

// loseCalls ends the calls on a server that has been unreachable for
// serverDownAfter, when there are others to place their requests on:
// every channel of it is told gone, as the reconciliation does after an
// Asterisk restart, and each call settles as it would then. Inbound
// callers parked there are forgotten. Once per outage.
func (c *Controller) loseCalls(sv *server) {
	if len(c.servers) < 2 {
		return
	}
	c.mu.Lock()
	if sv.lostCalls || sv.ready {
		c.mu.Unlock()
		return
	}
	sv.lostCalls = true
	type owned struct {
		id string
		r  *route
	}
	var gone []owned
	for id, r := range c.routes {
		if r.srv == sv && r.channel {
			gone = append(gone, owned{id, r})
		}
	}
	var parked []string
	for id, p := range c.parked {
		if p.srv == sv {
			parked = append(parked, id)
		}
	}
	c.mu.Unlock()
	for _, id := range parked {
		c.unpark(id)
	}
	now := time.Now()
	for _, g := range gone {
		deliver(g.r, Event{Type: EventChannelGone, Channel: g.id, Received: now, Reason: "Asterisk server " + sv.name + " unreachable"})
	}
	c.log.Warn("Asterisk server unreachable: its calls are ended; new calls go to the others",
		"server", sv.name, "calls_told_gone", len(gone), "inbound_released", len(parked))
}

// errPreviousUnreachable: the server of the request's previous attempt
// cannot be reached, and that attempt's first leg may still ring there.
var errPreviousUnreachable = errors.New("the Asterisk server of the previous attempt is unreachable and its first leg may still ring")

// previousServers are the servers the channels of the request's earlier
// attempts may live on: the one named in the previous attempt's channel
// id, or, for a preset call_id, every server. unknown is true when that
// id names no configured server.
func (c *Controller) previousServers(r *callback.Request) (servers []*server, unknown bool) {
	if len(c.servers) == 1 {
		return c.servers, false
	}
	if sv := c.serverOf(r.CallID, r.ID); sv != nil {
		return []*server{sv}, false
	}
	if r.CallID == "" || generatedAny(c.prefix, r.CallID, r.ID) {
		// Generated by a configuration with other servers (or by the
		// one-server one): where it lives cannot be told.
		return c.servers, r.CallID != ""
	}
	return c.servers, false // preset: the same id on whichever server
}

// generatedAny reports whether id has the form of an id callbackd with
// prefix generates for the request, on any server, configured or not.
func generatedAny(prefix, id string, reqID int64) bool {
	rest, ok := strings.CutPrefix(id, prefix+"-")
	if !ok {
		return false
	}
	req := strconv.FormatInt(reqID, 10) + "-"
	if strings.HasPrefix(rest, req) {
		return true
	}
	if i := strings.IndexByte(rest, '-'); i > 0 && validServerName(rest[:i]) {
		return strings.HasPrefix(rest[i+1:], req)
	}
	return false
}

// mayStillRing reports whether the first leg of the request's previous
// attempt may still be ringing: Asterisk ends an unanswered originate at
// its timeout, so after the attempt's setup time plus that timeout (and
// the request timeout the originate may have taken) it cannot.
func (s *Session) mayStillRing() bool {
	r := &s.call.Request
	if r.SetupTime.IsZero() {
		return false
	}
	timeout := s.call.AnswerTimeout
	if timeout <= 0 {
		timeout = callback.DefaultPolicy().Timeout
	}
	return time.Since(r.SetupTime) < timeout+s.c.timeout
}

// serverLog names the server in a call's log lines when there are several.
func (c *Controller) serverLog(sv *server) []any {
	if len(c.servers) < 2 {
		return nil
	}
	return []any{"server", sv.name}
}

// Server names the Asterisk server that holds the session's channels:
// every channel of a call is on one server.
func (s *Session) Server() string {
	if s.srv == nil {
		return ""
	}
	return s.srv.name
}

// addServers builds the servers of o: those of WithServer, else the one
// of WithURL.
func (c *Controller) addServers(o *options) error {
	list := o.servers
	legacy := len(list) == 0
	if legacy {
		if o.url == "" {
			return fmt.Errorf("no ARI URL: %w", callback.ErrInvalid)
		}
		list = []Server{{URL: o.url, User: o.user, Password: o.pass}}
	}
	for _, s := range list {
		base, err := ariBase(s.URL)
		if err != nil {
			return fmt.Errorf("server %s: %w: %w", s.Name, err, callback.ErrInvalid)
		}
		user := s.User
		if user == "" {
			user = o.user
		}
		sv := &server{name: s.Name, tag: s.Name, url: base, rest: newREST(base, user, s.Password, o.requestTimeout, o.maxRequests),
			wsURL: eventsURL(base, o.app), wsAuth: basicAuth(user, s.Password), maxChannels: s.MaxChannels,
			trunkCache: make(map[string][]configField)}
		if legacy {
			sv.name, sv.tag = hostOf(base), ""
		}
		if len(s.Trunks) > 0 {
			sv.trunks = make(map[string]bool, len(s.Trunks))
			for _, name := range s.Trunks {
				if _, ok := c.trunks[name]; !ok {
					return fmt.Errorf("server %s: trunk %q is not configured: %w", s.Name, name, callback.ErrInvalid)
				}
				sv.trunks[name] = true
			}
		}
		c.servers = append(c.servers, sv)
	}
	if len(c.servers) > 1 {
		for _, sv := range c.servers {
			sv.rest.unreachable = func(err error) { c.refused(sv, err) }
		}
	}
	return nil
}

// refused takes sv out of the placement when a request cannot connect to
// it: its events WebSocket may not have noticed yet (a reader behind on
// a backlog of events reads on to the end before it sees the close). The
// connection is dropped, so that it is made again, and reconciled, before
// sv takes calls again.
func (c *Controller) refused(sv *server, err error) {
	c.mu.RLock()
	ready, drop := sv.ready, sv.drop
	c.mu.RUnlock()
	if !ready {
		return
	}
	c.log.Warn("Asterisk server refused a request: no new calls on it until its events WebSocket is connected again",
		"server", sv.name, "err", err)
	c.setReady(sv, false)
	if drop != nil {
		drop(err)
	}
}

func hostOf(base string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
	if i := strings.IndexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	return h
}
