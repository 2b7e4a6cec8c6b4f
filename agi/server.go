package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultAddr is where Asterisk looks for a FastAGI server when the agi://
// URL names no port (res_agi.c's AGI_PORT).
const DefaultAddr = ":4573"

// Defaults for the Server's limits.
const (
	// DefaultMaxLineLength matches res_agi.c's AGI_BUF_LEN.
	DefaultMaxLineLength = 8 << 10
	// DefaultMaxEnvLines leaves room for the 22 standard variables and the
	// 127 agi_arg_N Asterisk can send.
	DefaultMaxEnvLines     = 200
	DefaultSessionTimeout  = 30 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
)

// ErrSessionTimeout is the cause of a session context that ran out of time
// (WithSessionTimeout).
var ErrSessionTimeout = errors.New("agi: session timeout")

// Observer hears about every accepted connection, for metrics. Both methods
// are called from the session's goroutine and must not block. script is ""
// when the environment could not be read.
type Observer interface {
	SessionStarted(script string)
	// SessionEnded reports the session's duration and the first error that
	// was the server's or the peer's fault (bad environment, protocol
	// error, timeout, handler panic); a caller hanging up is not an error.
	SessionEnded(script string, d time.Duration, err error)
}

// Server accepts FastAGI connections and runs a Handler for each.
type Server struct {
	handler         Handler
	logger          *slog.Logger
	observer        Observer
	maxLine         int
	maxEnvLines     int
	sessionTimeout  time.Duration
	shutdownTimeout time.Duration

	active sessions

	// readers keeps the connections' read buffers (maxLine bytes each)
	// from one session to the next.
	readers sync.Pool
}

// sessions counts running sessions without a helper goroutine, so that once
// Serve has returned nothing of the server is left running.
type sessions struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n == 0
}

func (a *sessions) add() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 0 {
		a.idle = make(chan struct{})
	}
	a.n++
}

func (a *sessions) done() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n--
	if a.n == 0 {
		close(a.idle)
	}
}

func (a *sessions) wait() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return a.idle
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// WithObserver sets the metrics observer.
func WithObserver(o Observer) Option { return func(s *Server) { s.observer = o } }

// WithMaxLineLength bounds every line read, newline included.
func WithMaxLineLength(n int) Option { return func(s *Server) { s.maxLine = n } }

// WithMaxEnvLines bounds the number of lines in the environment block.
func WithMaxEnvLines(n int) Option { return func(s *Server) { s.maxEnvLines = n } }

// WithSessionTimeout bounds a whole session, environment to last reply.
func WithSessionTimeout(d time.Duration) Option { return func(s *Server) { s.sessionTimeout = d } }

// WithShutdownTimeout bounds how long Serve waits for sessions after its
// context is cancelled before cutting them off.
func WithShutdownTimeout(d time.Duration) Option { return func(s *Server) { s.shutdownTimeout = d } }

// NewServer returns a Server running h for every session.
func NewServer(h Handler, opts ...Option) *Server {
	s := &Server{
		handler:         h,
		logger:          slog.New(slog.DiscardHandler),
		maxLine:         DefaultMaxLineLength,
		maxEnvLines:     DefaultMaxEnvLines,
		sessionTimeout:  DefaultSessionTimeout,
		shutdownTimeout: DefaultShutdownTimeout,
	}
	for _, o := range opts {
		o(s)
	}
	// bufio refuses buffers under 16 bytes; no AGI line is that short anyway.
	s.maxLine = max(s.maxLine, 16)
	s.maxEnvLines = max(s.maxEnvLines, 1)
	return s
}

// ListenAndServe listens on addr (DefaultAddr when empty) and serves until
// ctx is cancelled.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = DefaultAddr
	}
	lc := ListenConfig()
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("agi listen %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// ListenConfig is the configuration FastAGI listeners are made with: TCP
// keep-alive off on the connections they accept. Every session is bounded
// by its timeout (WithSessionTimeout; agi.session_timeout in callbackd's
// configuration, 30 s by default), which also ends a session whose
// Asterisk went away; Go's keep-alive would find that only after 150 s
// (15 s idle, then nine probes 15 s apart). Turning it on costs four
// setsockopt calls on every connection accepted, about one system call in
// six of a trigger session.
func ListenConfig() net.ListenConfig {
	return net.ListenConfig{KeepAlive: -1}
}

// Serve accepts connections on ln until ctx is cancelled, then closes ln and
// waits for running sessions: up to the shutdown timeout on their own, then
// their contexts are cancelled and their connections cut, and Serve waits
// once more as long. It returns nil after a clean stop.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stopAccept := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopAccept()
	// Sessions outlive ctx so that calls in progress finish during a
	// graceful stop; they are cancelled explicitly below.
	sessCtx, cancelSessions := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSessions()

	work := newWorkers()
	var acceptErr error
	backoff := time.Duration(0)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if transient(err) {
				// Out of file descriptors and the like: wait and retry,
				// as net/http does, instead of dropping every future call.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger.Warn("agi accept", "err", err, "retry_in", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
				continue
			}
			acceptErr = fmt.Errorf("agi accept: %w", err)
			ln.Close()
			break
		}
		backoff = 0
		s.active.add()
		work.run(func() { s.serveConn(sessCtx, conn, work) })
	}

	if s.wait(s.shutdownTimeout) {
		work.stop(true)
		return acceptErr
	}
	s.logger.Warn("agi shutdown: cutting off sessions still running", "timeout", s.shutdownTimeout)
	cancelSessions()
	if s.wait(s.shutdownTimeout) {
		work.stop(true)
		return acceptErr
	}
	// The goroutines of the sessions still running end with them.
	work.stop(false)
	return errors.Join(acceptErr, fmt.Errorf("agi shutdown: handlers still running %s after their context was cancelled", s.shutdownTimeout))
}

// workerIdle is how long a goroutine that ran a session waits for the next
// one before it ends.
const workerIdle = 10 * time.Second

// workers runs each session, and each session's reader, on a goroutine
// kept from an earlier one where one is free. A new goroutine starts with
// a small stack and grows it, copying it each time, during every session
// (the database driver's calls are deep); a kept one has grown it already.
// In a profile of the ANI trigger server that copying was 7 % of its CPU.
type workers struct {
	handoff chan func()
	quit    chan struct{}
	wg      sync.WaitGroup
}

func newWorkers() *workers {
	return &workers{handoff: make(chan func()), quit: make(chan struct{})}
}

// run runs f on an idle worker, or on a new one when none is idle.
func (w *workers) run(f func()) {
	select {
	case w.handoff <- f:
	default:
		w.wg.Add(1)
		go w.loop(f)
	}
}

func (w *workers) loop(f func()) {
	defer w.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		f()
		f = nil
		idle.Reset(workerIdle)
		select {
		case f = <-w.handoff:
		case <-idle.C:
			return
		case <-w.quit:
			return
		}
	}
}

// stop ends the idle workers, and with wait waits for every worker to end
// (the caller knows that no function is running any more).
func (w *workers) stop(wait bool) {
	close(w.quit)
	if wait {
		w.wg.Wait()
	}
}

// transient reports accept errors that pass once load or limits ease.
func transient(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

func (s *Server) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.active.wait():
		return true
	case <-t.C:
		return false
	}
}

func (s *Server) serveConn(ctx context.Context, conn net.Conn, work *workers) {
	defer s.active.done()
	start := time.Now()
	ctx, cancel := context.WithTimeoutCause(ctx, s.sessionTimeout, ErrSessionTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	// Cancellation (shutdown, timeout) unblocks any read or write at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	r := s.reader(conn)
	lines, err := readEnvBlock(r, s.maxLine, s.maxEnvLines)
	var env Env
	if err == nil {
		env, err = ParseEnv(lines)
	}
	if err != nil {
		s.badEnv(ctx, conn, lines, err, start)
		s.putReader(r)
		return
	}

	s.started(env.Script)
	sess := newSession(ctx, conn, r, s.maxLine, deadline, env, s.logger, work)
	debug := s.logger.Enabled(ctx, slog.LevelDebug)
	if debug {
		sess.Logger().Debug("agi session started")
	}

	err = s.runHandler(ctx, sess)
	sess.close()
	s.putReader(r)
	if err == nil {
		err = sess.err()
	}
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	d := time.Since(start)
	switch {
	case err != nil:
		sess.Logger().Warn("agi session ended with error", "err", err, "duration", d, "hung_up", sess.HungUp())
	case debug:
		sess.Logger().Debug("agi session ended", "duration", d, "hung_up", sess.HungUp())
	}
	s.ended(env.Script, d, err)
}

// reader returns a read buffer of maxLine bytes on conn, one an earlier
// session used where there is one.
func (s *Server) reader(conn net.Conn) *bufio.Reader {
	if r, ok := s.readers.Get().(*bufio.Reader); ok {
		r.Reset(conn)
		return r
	}
	return bufio.NewReaderSize(conn, s.maxLine)
}

// putReader keeps r for the next session; nothing reads from it any more.
func (s *Server) putReader(r *bufio.Reader) {
	r.Reset(nil)
	s.readers.Put(r)
}

func (s *Server) badEnv(ctx context.Context, conn net.Conn, lines []string, err error, start time.Time) {
	conn.Close()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
	}
	// Whatever part of the block did arrive names the call for the log.
	partial := partialEnv(lines)
	logger := s.logger.With("remote", conn.RemoteAddr().String()).
		With("channel", partial["agi_channel"], "uniqueid", partial["agi_uniqueid"], "script", partial["agi_network_script"])
	s.started("")
	if len(lines) == 0 && errors.Is(err, io.EOF) {
		// A TCP health check connects and leaves without a word.
		logger.Debug("agi connection closed before the environment")
	} else {
		logger.Warn("agi bad environment", "err", err, "lines", len(lines))
	}
	s.ended("", time.Since(start), err)
}

func partialEnv(lines []string) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = sanitizeValue(strings.TrimPrefix(v, " "))
		}
	}
	return m
}

// sanitizeValue bounds a peer-provided value for a log attribute; slog
// already escapes it, so only the length matters.
func sanitizeValue(v string) string {
	if len(v) > maxLoggedLine {
		return v[:maxLoggedLine] + "..."
	}
	return v
}

func (s *Server) runHandler(ctx context.Context, sess *Session) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("agi handler panic: %v", v)
			sess.Logger().Error("agi handler panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	s.handler.ServeAGI(ctx, sess)
	return nil
}

func (s *Server) started(script string) {
	if s.observer != nil {
		s.observer.SessionStarted(script)
	}
}

func (s *Server) ended(script string, d time.Duration, err error) {
	if s.observer != nil {
		s.observer.SessionEnded(script, d, err)
	}
}

// readEnvBlock reads "name: value" lines up to the blank line that ends the
// environment. It returns the lines read so far with any error. The lines
// share one string: the block costs two allocations, not one a line.
func readEnvBlock(r *bufio.Reader, maxLine, maxLines int) ([]string, error) {
	var (
		textBuf [2048]byte
		endsBuf [32]int
		text    = textBuf[:0]
		ends    = endsBuf[:0]
	)
	lines := func() []string {
		if len(ends) == 0 {
			return nil
		}
		all := string(text)
		out := make([]string, len(ends))
		from := 0
		for i, end := range ends {
			out[i] = all[from:end]
			from = end
		}
		return out
	}
	for n := 1; ; n++ {
		line, err := readLineBytes(r, maxLine)
		if err != nil {
			if errors.Is(err, io.EOF) && n > 1 {
				err = fmt.Errorf("%w (%w)", &ProtocolError{Reason: "environment cut off before its blank line"}, err)
			}
			return lines(), fmt.Errorf("read agi env line %d: %w", n, err)
		}
		if len(line) == 0 {
			return lines(), nil
		}
		if n > maxLines {
			return lines(), fmt.Errorf("read agi env line %d: %w", n, &ProtocolError{Reason: fmt.Sprintf("environment longer than %d lines", maxLines)})
		}
		text = append(text, line...)
		ends = append(ends, len(text))
	}
}
