package aritest

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// DefaultSessionLimit is http.conf's sessionlimit when it is not set
// (DEFAULT_SESSION_LIMIT in main/http.c).
const DefaultSessionLimit = 100

// WithSessionLimit sets http.conf's sessionlimit: how many HTTP sessions
// (TCP connections, not requests) may be open at once. The default is
// Asterisk's, 100; 0 removes the limit.
func WithSessionLimit(n int) Option {
	return func(c *config) { c.sessionLimit = max(n, 0) }
}

// sessions counts HTTP sessions the way main/http.c does.
//
// Asterisk's TCP server (main/tcptls.c) accepts every connection and hands
// it to a thread of its own; httpd_helper_thread then adds it to
// session_count and, when the count was at sessionlimit already, logs
// "HTTP session count exceeded 100 sessions." and closes the connection
// without reading the request or answering it. A client sees its request
// end in EOF or a connection reset. A session counts from that moment
// until the connection closes, for as long as it is kept alive between
// requests (session_keep_alive), or until a WebSocket upgrade takes the
// connection over: the helper thread then ends and the WebSocket no longer
// counts.
type sessions struct {
	limit   int
	open    atomic.Int64
	peak    atomic.Int64
	refused atomic.Int64
}

// take counts a new connection; false means it is over the limit.
func (ss *sessions) take() bool {
	n := ss.open.Add(1)
	if ss.limit > 0 && n > int64(ss.limit) {
		ss.open.Add(-1)
		ss.refused.Add(1)
		return false
	}
	for {
		p := ss.peak.Load()
		if n <= p || ss.peak.CompareAndSwap(p, n) {
			return true
		}
	}
}

// sessionListener applies the session limit at accept.
type sessionListener struct {
	net.Listener
	s *Sim
}

func (l *sessionListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.s.sessions.take() {
			return &sessionConn{Conn: c, ss: &l.s.sessions}, nil
		}
		l.s.log.Warn(fmt.Sprintf("HTTP session count exceeded %d sessions.", l.s.sessions.limit))
		c.Close()
	}
}

// sessionConn is one counted session.
type sessionConn struct {
	net.Conn
	ss   *sessions
	once sync.Once
}

// release ends the session's count, once.
func (c *sessionConn) release() { c.once.Do(func() { c.ss.open.Add(-1) }) }

func (c *sessionConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// sessionState ends the count of a connection a WebSocket took over.
func sessionState(c net.Conn, st http.ConnState) {
	if sc, ok := c.(*sessionConn); ok && (st == http.StateHijacked || st == http.StateClosed) {
		sc.release()
	}
}

// SessionsRefused is how many connections were closed unanswered because
// the session limit was reached.
func (s *Sim) SessionsRefused() int { return int(s.sessions.refused.Load()) }

// PeakSessions is the most HTTP sessions that were open at once.
func (s *Sim) PeakSessions() int { return int(s.sessions.peak.Load()) }

// Fault is what becomes of a request a test picked with Fail.
type Fault int

const (
	// DropRequest closes the connection without handling the request, as
	// Asterisk does with a session over sessionlimit: the request had no
	// effect and the client sees EOF.
	DropRequest Fault = iota + 1
	// DropAnswer handles the request, then closes the connection instead
	// of answering: the request took effect and its answer is lost.
	DropAnswer
)

type fault struct {
	match func(Request) bool
	f     Fault
}

// Fail makes the next request for which match is true suffer f. Each call
// arms one fault; several armed faults for the same requests are used up
// one request at a time. The request is recorded all the same.
func (s *Sim) Fail(match func(Request) bool, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{match: match, f: f})
}

// takeFault returns and disarms the first fault that matches r.
func (s *Sim) takeFault(r Request) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ft := range s.faults {
		if ft.match(r) {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return ft.f
		}
	}
	return 0
}

// discardWriter takes the answer of a request whose answer is to be lost.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// applyFault carries out f on the request's connection.
func (s *Sim) applyFault(f Fault, w http.ResponseWriter, r *http.Request, next http.Handler) {
	if f == DropAnswer {
		next.ServeHTTP(discardWriter{h: http.Header{}}, r)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		s.log.Error("aritest: cannot take over the connection to fail a request")
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		s.log.Error("aritest: cannot take over the connection to fail a request", "err", err)
		return
	}
	conn.Close()
}
