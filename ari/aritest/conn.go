package aritest

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// wsConn is one events WebSocket. Events are queued under the simulator lock
// and written by the connection's own goroutine, so a slow reader never
// blocks the simulator.
type wsConn struct {
	ws           *websocket.Conn
	apps         []string
	subscribeAll bool
	maxQueue     int

	mu     sync.Mutex
	queue  [][]byte
	notify chan struct{}
	done   chan struct{}
	once   sync.Once
}

// route picks the application name an event is delivered under on this
// connection, or "" when the connection should not get it.
func (c *wsConn) route(apps []string, owners map[string]*wsConn) string {
	for _, a := range apps {
		if owners[a] == c {
			return a
		}
	}
	if c.subscribeAll {
		return c.apps[0]
	}
	return ""
}

func (c *wsConn) enqueue(b []byte) {
	c.mu.Lock()
	if len(c.queue) >= c.maxQueue {
		c.mu.Unlock()
		// Asterisk drops a session whose socket cannot keep up.
		c.drop()
		return
	}
	c.queue = append(c.queue, b)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *wsConn) drop() {
	c.once.Do(func() {
		close(c.done)
		// An error only means the peer closed first.
		_ = c.ws.CloseNow()
	})
}

// writeLoop runs until the connection or the simulator ends it.
func (c *wsConn) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-c.notify:
		}
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		c.mu.Unlock()
		for _, b := range batch {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.ws.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return
			}
		}
	}
}

func (s *Sim) handleEvents(w http.ResponseWriter, r *http.Request) {
	apps := splitList(r.URL.Query().Get("app"))
	if len(apps) == 0 {
		writeError(w, http.StatusBadRequest, "HTTP request is missing param: [app]")
		return
	}
	subAll := strings.EqualFold(r.URL.Query().Get("subscribeAll"), "true")
	// The application is registered before the client sees the handshake
	// complete, so an originate sent right after connecting finds it.
	s.mu.Lock()
	// Asterisk does not check Origin; the ARI client library sends
	// http://localhost/ whatever the server address is.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.mu.Unlock()
		s.log.Warn("aritest: websocket accept", "err", err)
		return
	}
	c := &wsConn{
		ws: ws, apps: apps, subscribeAll: subAll, maxQueue: s.cfg.maxQueue,
		notify: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if !s.running {
		s.mu.Unlock()
		c.drop()
		return
	}
	s.conns[c] = struct{}{}
	for _, a := range apps {
		// A second registration of the same name replaces the first
		// (res/stasis/app.c app_update sends ApplicationReplaced).
		if old := s.owners[a]; old != nil && old != c {
			s.emitTo(old, map[string]any{"type": "ApplicationReplaced", "application": a})
		}
		s.owners[a] = c
	}
	s.mu.Unlock()
	s.log.Info("aritest: websocket connected", "apps", apps)

	ctx := ws.CloseRead(r.Context())
	c.writeLoop(ctx)
	c.drop()

	s.mu.Lock()
	delete(s.conns, c)
	for _, a := range apps {
		if s.owners[a] == c {
			delete(s.owners, a)
		}
	}
	s.mu.Unlock()
	s.log.Info("aritest: websocket closed", "apps", apps)
}

// emitTo sends one event to one connection only.
func (s *Sim) emitTo(c *wsConn, ev map[string]any) {
	ev["timestamp"] = asteriskTime(time.Now())
	ev["asterisk_id"] = s.cfg.asteriskID
	b, err := jsonMarshal(ev)
	if err != nil {
		s.log.Error("aritest: encode event", "err", err)
		return
	}
	c.enqueue(b)
}

// appActive reports whether an application has a connected WebSocket.
func (s *Sim) appActive(app string) bool {
	return s.owners[app] != nil
}
