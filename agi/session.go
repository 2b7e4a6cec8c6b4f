package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxUsageLines bounds a 520 reply so a peer cannot keep one open forever.
const maxUsageLines = 256

// Session is one FastAGI connection: the environment Asterisk sent and the
// commands a Handler sends back. Commands are serialised; a Session may be
// used from several goroutines but the protocol is strictly one command, one
// reply.
type Session struct {
	Env        Env
	RemoteAddr net.Addr

	conn     net.Conn
	deadline time.Time       // end of the whole session
	done     <-chan struct{} // the session context's Done
	debug    bool            // the logger logs at Debug

	// logger carries channel, uniqueid, script and remote; it is made on
	// first use from base, since most sessions log nothing.
	base    *slog.Logger
	logOnce sync.Once
	logger  *slog.Logger

	// Until the reader goroutine starts (startReader), a command reads
	// its reply itself from r, under mu: a session that only sends
	// commands and reads their replies under its own context (the ANI
	// trigger's) needs no second goroutine, no hand-off per reply and no
	// read after the last one. The reader starts when the handler asks
	// about a hangup (HungUp, HangupReceived), so that one is seen while
	// no command is waiting, or sends a command under a context of its
	// own, which a blocked read could not heed.
	r       *bufio.Reader
	maxLine int
	work    *workers
	// wantReader: HungUp or HangupReceived was called; the command that
	// holds mu at that moment starts the reader when it is done.
	wantReader atomic.Bool
	rmu        sync.Mutex // guards readerOn (also written under mu) and closed
	readerOn   bool
	closed     bool

	// lines carries replies from the reader goroutine; HANGUP never goes
	// through it.
	lines    chan lineMsg
	closing  chan struct{}
	readDone chan struct{}

	hangupOnce sync.Once
	hangup     chan struct{}

	mu     sync.Mutex // one command at a time
	broken error      // set once the reply stream is out of step
	line   []byte     // the command being sent, newline included
	// writeAtEnd: the connection's write deadline is the session's.
	writeAtEnd bool

	errMu  sync.Mutex
	failed error // the first error worth reporting to the Observer
}

type lineMsg struct {
	line string
	err  error
}

func newSession(ctx context.Context, conn net.Conn, r *bufio.Reader, maxLine int, deadline time.Time, env Env, logger *slog.Logger, work *workers) *Session {
	s := &Session{
		Env:        env,
		RemoteAddr: conn.RemoteAddr(),
		conn:       conn,
		deadline:   deadline,
		done:       ctx.Done(),
		debug:      logger.Enabled(ctx, slog.LevelDebug),
		base:       logger,
		r:          r,
		maxLine:    maxLine,
		work:       work,
		hangup:     make(chan struct{}),
		writeAtEnd: true,
	}
	return s
}

// startReader starts the reader goroutine, once; mu is held, so no command
// is reading a reply.
func (s *Session) startReader() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.readerOn || s.closed {
		return
	}
	s.readerOn = true
	s.lines = make(chan lineMsg, 4)
	s.closing = make(chan struct{})
	s.readDone = make(chan struct{})
	s.work.run(func() { s.readLoop(s.r, s.maxLine) })
}

// wantsReader asks for the reader goroutine: at once when no command is
// running, else from the running command when it ends (unlock).
func (s *Session) wantsReader() {
	if s.wantReader.Load() {
		return
	}
	s.wantReader.Store(true)
	if s.mu.TryLock() {
		s.startReader()
		s.mu.Unlock()
	}
}

// unlock releases mu after a command, starting the reader first if it was
// asked for meanwhile (wantsReader found mu held).
func (s *Session) unlock() {
	if s.wantReader.Load() {
		s.startReader()
	}
	s.mu.Unlock()
	// wantsReader may have found mu held after the check above: then it
	// is started here, unless another command holds mu by now (that one
	// starts it when it unlocks).
	if s.wantReader.Load() && s.mu.TryLock() {
		s.startReader()
		s.mu.Unlock()
	}
}

// readLoop owns the read side of the connection once started
// (startReader), for the rest of the session, so that a HANGUP is seen at
// once, even while the handler is busy elsewhere and no command is waiting
// for a reply.
func (s *Session) readLoop(r *bufio.Reader, maxLine int) {
	defer close(s.readDone)
	for {
		line, err := readLine(r, maxLine)
		if err == nil && line == "HANGUP" {
			s.markHangup()
			continue
		}
		select {
		case s.lines <- lineMsg{line: line, err: err}:
		case <-s.closing:
			return
		}
		if err != nil {
			return
		}
	}
}

// close ends the session: it stops the reader and closes the connection,
// which is what tells Asterisk the AGI is over.
func (s *Session) close() {
	s.rmu.Lock()
	s.closed = true
	reader := s.readerOn
	s.rmu.Unlock()
	if !reader {
		s.conn.Close()
		return
	}
	close(s.closing)
	s.conn.Close()
	<-s.readDone
}

func (s *Session) markHangup() {
	s.hangupOnce.Do(func() {
		close(s.hangup)
		if s.debug {
			s.Logger().Debug("agi channel hung up")
		}
	})
}

// HungUp reports whether Asterisk has said the channel is gone (a HANGUP line
// or a 511 reply). From the first call on, a HANGUP is read as soon as it
// arrives, commands waiting or not.
func (s *Session) HungUp() bool {
	s.wantsReader()
	select {
	case <-s.hangup:
		return true
	default:
		return false
	}
}

// HangupReceived returns a channel closed when the channel hangs up, for
// handlers that wait on something else in the meantime. From the first
// call on, a HANGUP is read as soon as it arrives, commands waiting or not.
func (s *Session) HangupReceived() <-chan struct{} {
	s.wantsReader()
	return s.hangup
}

// Logger returns the session's logger, carrying channel, uniqueid, script
// and remote.
func (s *Session) Logger() *slog.Logger {
	s.logOnce.Do(func() {
		remote := ""
		if s.RemoteAddr != nil {
			remote = s.RemoteAddr.String()
		}
		s.logger = s.base.With("remote", remote).With("channel", s.Env.Channel, "uniqueid", s.Env.UniqueID, "script", s.Env.Script)
	})
	return s.logger
}

func (s *Session) recordError(err error) {
	s.errMu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.errMu.Unlock()
}

func (s *Session) err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.failed
}

// Command sends one command, its words quoted for Asterisk's parser, and
// returns the reply. Non-200 replies come back as a *CommandError together
// with the Reply.
func (s *Session) Command(ctx context.Context, words ...string) (Reply, error) {
	s.mu.Lock()
	defer s.unlock()
	line, err := appendCommand(s.line[:0], words...)
	if err != nil {
		name := ""
		if len(words) > 0 {
			name = sanitize(words[0])
		}
		return Reply{}, fmt.Errorf("agi %s: %w", name, err)
	}
	s.line = append(line, '\n')
	return s.send(ctx)
}

// name is the command being sent, for errors and logs.
func (s *Session) name() string {
	return sanitize(string(s.line[:len(s.line)-1]))
}

// send sends s.line (s.mu held) and reads the reply.
func (s *Session) send(ctx context.Context) (Reply, error) {
	if s.broken != nil {
		return Reply{}, fmt.Errorf("agi %s: session unusable: %w", s.name(), s.broken)
	}
	if ctx.Err() != nil {
		return Reply{}, fmt.Errorf("agi %s: %w", s.name(), context.Cause(ctx))
	}
	reply, err := s.roundTrip(ctx)
	if err != nil {
		// Whatever happened, the next line on the wire may be this command's
		// late reply: no later command can trust what it reads.
		s.broken = err
		if !errors.Is(err, ErrHangup) {
			s.recordError(err)
		}
		return reply, fmt.Errorf("agi %s: %w", s.name(), err)
	}
	if s.debug {
		s.Logger().Debug("agi command", "command", s.name(), "reply", sanitize(reply.Lines[0]))
	}
	return reply, s.replyError(reply)
}

func (s *Session) roundTrip(ctx context.Context) (Reply, error) {
	// Reads keep the session deadline (the reader goroutine outlives any
	// command); the write gets the earlier of the command's and the
	// session's, and is cut short if the command's context ends first.
	// Under the session's own context (what the handler is given) both
	// are already so: the connection has the session's deadline and is
	// cut off when the session's context ends.
	if ctx.Done() == s.done {
		if !s.writeAtEnd {
			s.conn.SetWriteDeadline(s.deadline)
			s.writeAtEnd = true
		}
		if _, err := s.conn.Write(s.line); err != nil {
			if ctx.Err() != nil {
				return Reply{}, fmt.Errorf("write: %w (%w)", context.Cause(ctx), err)
			}
			return Reply{}, fmt.Errorf("write: %w", err)
		}
	} else {
		// A read blocked in the conn could not heed ctx: the reader
		// goroutine reads, and the reply is awaited under ctx (next).
		s.startReader()
		d := s.deadline
		if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
			d = cd
		}
		s.conn.SetWriteDeadline(d)
		s.writeAtEnd = false
		stop := context.AfterFunc(ctx, func() { s.conn.SetWriteDeadline(time.Unix(1, 0)) })
		_, err := s.conn.Write(s.line)
		stop()
		if err != nil {
			if ctx.Err() != nil {
				return Reply{}, fmt.Errorf("write: %w (%w)", context.Cause(ctx), err)
			}
			return Reply{}, fmt.Errorf("write: %w", err)
		}
	}
	first, err := s.next(ctx)
	if err != nil {
		return Reply{}, err
	}
	reply, err := ParseReply(first)
	if err != nil {
		return reply, err
	}
	if !continues(first) {
		return reply, nil
	}
	end := first[:3] + " "
	for range maxUsageLines {
		l, err := s.next(ctx)
		if err != nil {
			return reply, fmt.Errorf("read usage: %w", err)
		}
		reply.Lines = append(reply.Lines, l)
		if strings.HasPrefix(l, end) {
			return reply, nil
		}
	}
	return reply, &ProtocolError{Reason: fmt.Sprintf("usage reply longer than %d lines", maxUsageLines)}
}

// next returns the next line of the reply (mu held): from the reader
// goroutine when it runs, else read here. Without the reader, ctx is the
// session's own, whose end cuts the connection off (serveConn), so the
// read returns when it ends.
func (s *Session) next(ctx context.Context) (string, error) {
	if !s.readerOn {
		for {
			line, err := readLine(s.r, s.maxLine)
			switch {
			case err == nil && line == "HANGUP":
				s.markHangup()
				continue
			case err == nil:
				return line, nil
			case ctx.Err() != nil:
				return "", fmt.Errorf("wait for reply: %w", context.Cause(ctx))
			}
			return "", readError(err)
		}
	}
	select {
	case m := <-s.lines:
		if m.err == nil {
			return m.line, nil
		}
		return "", readError(m.err)
	case <-ctx.Done():
		return "", fmt.Errorf("wait for reply: %w", context.Cause(ctx))
	}
}

// readError is the error of a reply that could not be read.
func readError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		// Asterisk closes the socket only when the AGI is over on its
		// side: the channel is gone.
		return fmt.Errorf("read reply: connection closed: %w (%w)", ErrHangup, err)
	}
	return fmt.Errorf("read reply: %w", err)
}

func (s *Session) replyError(r Reply) error {
	if r.Code == CodeSuccess {
		return nil
	}
	name := s.name()
	switch r.Code {
	case CodeInvalidCommand:
		return &CommandError{Command: name, Reply: r, errs: []error{ErrInvalidCommand}}
	case CodeDeadChannel:
		s.markHangup()
		return &CommandError{Command: name, Reply: r, errs: []error{ErrDeadChannel, ErrHangup}}
	case CodeUsage:
		return &CommandError{Command: name, Reply: r, errs: []error{ErrUsage}}
	default:
		return &CommandError{Command: name, Reply: r, errs: []error{&ProtocolError{Reason: "unexpected reply code", Line: sanitize(r.Lines[0])}}}
	}
}

// failure wraps a 200 reply whose result reports failure.
func (s *Session) failure(name string, r Reply, sentinel error) error {
	errs := []error{sentinel}
	if s.HungUp() {
		errs = append(errs, ErrHangup)
	}
	return &CommandError{Command: sanitize(name), Reply: r, errs: errs}
}

// Exec runs a dialplan application (EXEC). Its arguments are joined with
// ',' into the one options word Asterisk passes to the application. The
// Reply's Result is the application's return value: Hangup and PJSIPHangup
// return -1 by design, so -1 is not an error here. An application that is
// not loaded (result=-2) returns ErrNoApplication.
func (s *Session) Exec(ctx context.Context, app string, args ...string) (Reply, error) {
	r, err := s.exec(ctx, app, args)
	if err != nil {
		return r, err
	}
	if r.Result == -2 {
		return r, s.failure("EXEC "+app, r, ErrNoApplication)
	}
	return r, nil
}

// exec is Command("EXEC", app, strings.Join(args, ",")) without the
// joined string: the options word is quoted as it is written.
func (s *Session) exec(ctx context.Context, app string, args []string) (Reply, error) {
	s.mu.Lock()
	defer s.unlock()
	line, err := appendExec(s.line[:0], app, args)
	if err != nil {
		return Reply{}, fmt.Errorf("agi %s: %w", sanitize("EXEC"), err)
	}
	s.line = append(line, '\n')
	return s.send(ctx)
}

// Answer answers the channel (ANSWER).
func (s *Session) Answer(ctx context.Context) error {
	r, err := s.Command(ctx, "ANSWER")
	if err != nil {
		return err
	}
	if r.Result < 0 {
		return s.failure("ANSWER", r, ErrFailure)
	}
	return nil
}

// Hangup hangs up a channel (HANGUP); channel "" means this session's own.
// Asterisk then writes HANGUP and treats the session as dead.
func (s *Session) Hangup(ctx context.Context, channel string) error {
	words := []string{"HANGUP"}
	if channel != "" {
		words = append(words, channel)
	}
	r, err := s.Command(ctx, words...)
	if err != nil {
		return err
	}
	if r.Result != 1 {
		return s.failure("HANGUP "+channel, r, ErrFailure)
	}
	return nil
}

// GetVariable reads a channel variable or a dialplan function such as
// CALLERID(num) (GET VARIABLE). ok is false when it is not set.
func (s *Session) GetVariable(ctx context.Context, name string) (value string, ok bool, err error) {
	r, err := s.Command(ctx, "GET", "VARIABLE", name)
	if err != nil {
		return "", false, err
	}
	return r.Data, r.Result == 1, nil
}

// GetFullVariable evaluates an expression such as "${CALLERID(num)}" (GET
// FULL VARIABLE) on this channel, or on another one when channel is not "".
// ok is false when that channel does not exist.
func (s *Session) GetFullVariable(ctx context.Context, expr, channel string) (value string, ok bool, err error) {
	words := []string{"GET", "FULL", "VARIABLE", expr}
	if channel != "" {
		words = append(words, channel)
	}
	r, err := s.Command(ctx, words...)
	if err != nil {
		return "", false, err
	}
	return r.Data, r.Result == 1, nil
}

// SetVariable sets a channel variable (SET VARIABLE).
func (s *Session) SetVariable(ctx context.Context, name, value string) error {
	_, err := s.Command(ctx, "SET", "VARIABLE", name, value)
	return err
}

// Verbose writes msg to the Asterisk console at the given verbosity level
// (VERBOSE).
func (s *Session) Verbose(ctx context.Context, msg string, level int) error {
	_, err := s.Command(ctx, "VERBOSE", msg, strconv.Itoa(level))
	return err
}

// StreamFile plays a sound file, stopping early on one of escapeDigits
// (STREAM FILE). digit is the key pressed, 0 if none; endpos is the sample
// offset where playback stopped. A missing file or a hangup during playback
// returns ErrFailure.
func (s *Session) StreamFile(ctx context.Context, file, escapeDigits string) (digit rune, endpos int64, err error) {
	r, err := s.Command(ctx, "STREAM", "FILE", file, escapeDigits)
	if err != nil {
		return 0, 0, err
	}
	if r.Result < 0 {
		return 0, r.Endpos, s.failure("STREAM FILE "+file, r, ErrFailure)
	}
	return rune(r.Result), r.Endpos, nil
}

// WaitForDigit waits for one DTMF digit (WAIT FOR DIGIT); a negative timeout
// waits for ever. digit is 0 when the timeout ran out.
func (s *Session) WaitForDigit(ctx context.Context, timeout time.Duration) (digit rune, err error) {
	ms := int64(-1)
	if timeout >= 0 {
		ms = timeout.Milliseconds()
	}
	r, err := s.Command(ctx, "WAIT", "FOR", "DIGIT", strconv.FormatInt(ms, 10))
	if err != nil {
		return 0, err
	}
	if r.Result < 0 {
		return 0, s.failure("WAIT FOR DIGIT", r, ErrFailure)
	}
	return rune(r.Result), nil
}

// GetData plays a prompt and collects up to maxDigits DTMF digits (GET
// DATA). timedOut is true when the caller stopped typing before '#' or
// maxDigits; the digits typed so far are still returned.
func (s *Session) GetData(ctx context.Context, file string, timeout time.Duration, maxDigits int) (digits string, timedOut bool, err error) {
	r, err := s.Command(ctx, "GET", "DATA", file, strconv.FormatInt(timeout.Milliseconds(), 10), strconv.Itoa(maxDigits))
	if err != nil {
		return "", false, err
	}
	if r.ResultText == "-1" {
		return "", false, s.failure("GET DATA "+file, r, ErrFailure)
	}
	return r.ResultText, r.Data == "timeout", nil
}

// ChannelState is Asterisk's enum ast_channel_state, as CHANNEL STATUS
// reports it.
type ChannelState int

// Channel states (include/asterisk/channelstate.h).
const (
	StateDown ChannelState = iota
	StateReserved
	StateOffHook
	StateDialing
	StateRing
	StateRinging
	StateUp
	StateBusy
	StateDialingOffHook
	StatePreRing
)

var stateNames = [...]string{"down", "reserved", "offhook", "dialing", "ring", "ringing", "up", "busy", "dialing_offhook", "prering"}

func (c ChannelState) String() string {
	if c >= 0 && int(c) < len(stateNames) {
		return stateNames[c]
	}
	return "state(" + strconv.Itoa(int(c)) + ")"
}

// ChannelStatus returns this channel's state (CHANNEL STATUS).
func (s *Session) ChannelStatus(ctx context.Context) (ChannelState, error) {
	r, err := s.Command(ctx, "CHANNEL", "STATUS")
	if err != nil {
		return 0, err
	}
	if r.Result < 0 {
		return 0, s.failure("CHANNEL STATUS", r, ErrFailure)
	}
	return ChannelState(r.Result), nil
}

// readLine reads one '\n'-terminated line of at most maxLine bytes, newline
// included, and strips the newline (and a '\r' before it).
func readLine(r *bufio.Reader, maxLine int) (string, error) {
	b, err := readLineBytes(r, maxLine)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// readLineBytes is readLine returning the line in r's buffer, valid until
// the next read.
func readLineBytes(r *bufio.Reader, maxLine int) ([]byte, error) {
	b, err := r.ReadSlice('\n')
	switch {
	case err == nil:
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, protocolError(fmt.Sprintf("line longer than %d bytes", maxLine), b)
	case errors.Is(err, io.EOF) && len(b) > 0:
		return nil, protocolError("connection closed in the middle of a line", b)
	case err != nil:
		return nil, err
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b, nil
}
