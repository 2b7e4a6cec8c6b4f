package agi

import (
	"context"
	"fmt"
	"sync"
)

// Handler drives one FastAGI session. When ServeAGI returns, the server
// closes the connection and Asterisk continues the dialplan after AGI().
type Handler interface {
	ServeAGI(ctx context.Context, s *Session)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, s *Session)

// ServeAGI calls f(ctx, s).
func (f HandlerFunc) ServeAGI(ctx context.Context, s *Session) { f(ctx, s) }

// Mux routes sessions by script name: agi://host:4573/ani?x=y reaches the
// handler registered for "ani" (Env.Script).
type Mux struct {
	mu       sync.RWMutex
	routes   map[string]Handler
	notFound Handler
}

// NewMux returns an empty Mux whose NotFound handler logs and ends the
// session.
func NewMux() *Mux {
	return &Mux{routes: map[string]Handler{}}
}

// Handle registers h for script. Registering a script twice or a nil handler
// is a programming error and panics, as net/http's ServeMux does.
func (m *Mux) Handle(script string, h Handler) {
	if h == nil {
		panic("agi: nil handler for script " + script)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.routes[script]; dup {
		panic(fmt.Sprintf("agi: script %q registered twice", script))
	}
	m.routes[script] = h
}

// HandleFunc registers f for script.
func (m *Mux) HandleFunc(script string, f func(ctx context.Context, s *Session)) {
	m.Handle(script, HandlerFunc(f))
}

// NotFound sets the handler for scripts nobody registered.
func (m *Mux) NotFound(h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notFound = h
}

// ServeAGI dispatches to the handler registered for s.Env.Script.
func (m *Mux) ServeAGI(ctx context.Context, s *Session) {
	m.mu.RLock()
	h, ok := m.routes[s.Env.Script]
	nf := m.notFound
	m.mu.RUnlock()
	switch {
	case ok:
		h.ServeAGI(ctx, s)
	case nf != nil:
		nf.ServeAGI(ctx, s)
	default:
		// Ending the session is the clean answer: AGI() returns and the
		// dialplan carries on with its own fallback.
		s.Logger().Warn("agi script not found", "request", s.Env.Request)
	}
}
