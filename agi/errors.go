package agi

import (
	"errors"
	"fmt"
	"strings"
)

// Errors callers branch on with errors.Is. Command methods wrap them in a
// *CommandError (which carries the Reply) or a fmt.Errorf chain.
var (
	// ErrHangup means the channel is gone: Asterisk wrote HANGUP, answered
	// 511, or closed the connection.
	ErrHangup = errors.New("agi: channel hung up")
	// ErrInvalidCommand is Asterisk's 510 "Invalid or unknown command".
	ErrInvalidCommand = errors.New("agi: invalid or unknown command")
	// ErrUsage is Asterisk's 520 reply: the command exists but its arguments
	// are wrong. The usage text is in CommandError.Usage.
	ErrUsage = errors.New("agi: invalid command syntax")
	// ErrDeadChannel is Asterisk's 511 "Command Not Permitted on a dead
	// channel or intercept routine". Errors carrying it also match ErrHangup.
	ErrDeadChannel = errors.New("agi: command not permitted on a dead channel")
	// ErrNoApplication is EXEC's result=-2: the dialplan application is not
	// loaded (PJSIPHangup on Asterisk before 20.6, for example).
	ErrNoApplication = errors.New("agi: application not found")
	// ErrFailure is a 200 reply whose result reports failure (result=-1).
	ErrFailure = errors.New("agi: command failed")
)

// CommandError is returned when Asterisk answered a command with an error code
// or a failure result. It matches the sentinel errors above through Unwrap.
type CommandError struct {
	Command string // the command line as sent, sanitised and truncated
	Reply   Reply  // the full reply, including every line of a 520 usage
	errs    []error
}

func (e *CommandError) Error() string {
	first := ""
	if len(e.Reply.Lines) > 0 {
		first = e.Reply.Lines[0]
	}
	return fmt.Sprintf("agi %s: %s", e.Command, sanitize(first))
}

// Unwrap exposes the sentinels the reply maps to, for errors.Is.
func (e *CommandError) Unwrap() []error { return e.errs }

// Usage returns the usage text of a 520 reply, one line per usage line.
func (e *CommandError) Usage() string { return e.Reply.Usage() }

// ProtocolError reports input that does not follow the FastAGI protocol: a
// malformed environment or reply line, an over-long line, a line cut off by
// the end of the connection.
type ProtocolError struct {
	Reason string
	Line   string // the offending line, sanitised and truncated for logs
}

func (e *ProtocolError) Error() string {
	if e.Line == "" {
		return "agi protocol: " + e.Reason
	}
	return fmt.Sprintf("agi protocol: %s: %s", e.Reason, e.Line)
}

func protocolError(reason string, line []byte) *ProtocolError {
	return &ProtocolError{Reason: reason, Line: sanitize(string(line))}
}

// maxLoggedLine bounds what an error or log line repeats of hostile input.
const maxLoggedLine = 120

// sanitize makes a peer-controlled line safe to log: valid UTF-8, control
// characters escaped, and no longer than maxLoggedLine. A rune cut in half by
// the truncation becomes U+FFFD.
func sanitize(s string) string {
	truncated := false
	if len(s) > maxLoggedLine {
		s = s[:maxLoggedLine]
		truncated = true
	}
	q := fmt.Sprintf("%q", strings.ToValidUTF8(s, "\uFFFD"))
	if truncated {
		q += "..."
	}
	return q
}
