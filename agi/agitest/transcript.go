package agitest

import (
	"strings"
	"time"
)

// Transcript is everything one call saw.
type Transcript struct {
	Call Call // the call as dialled, defaults filled in
	// Wire is every line of the dialogue in both directions, in order, up
	// to the server closing the connection.
	Wire []WireLine
	// AfterClose is what Asterisk still wrote after the server closed the
	// connection: run_agi's closing HANGUP (none with AGISIGHUP=no).
	AfterClose []string

	Commands []Command // commands received, in order
	Started  time.Time // connection established
	Duration time.Duration

	Answered bool
	HungUp   bool
	// HangupBy is "caller" (scripted hangup), "agi" (the HANGUP command) or
	// the application that hung up: "Hangup", "PJSIPHangup".
	HangupBy string
	// HangupCause is the Q.850 cause the channel ended with, 16 for a normal
	// clearing.
	HangupCause int
	// SIPCode is the final response the caller received on an unanswered
	// channel (603 Decline, 486 Busy Here...); 0 when the call was answered
	// or the caller left first.
	SIPCode int
	// Indications are the early-media signals sent to the caller, in order:
	// "ringing", "progress", "playtones:ring".
	Indications []string
	// Variables are the channel variables at the end; Set lists SET VARIABLE
	// and Set() assignments in order.
	Variables map[string]string
	Set       []Assignment
	// ClosedByServer is true when the server closed the connection (the
	// normal end); false when the fake gave up or, with ExitOnHangup,
	// closed it first.
	ClosedByServer bool
}

// WireLine is one protocol line. From is "asterisk" or "server".
type WireLine struct {
	From string
	Text string
}

// Command is one command the server sent and what the fake answered.
type Command struct {
	Line  string   // as received
	Args  []string // as Asterisk's parser splits it
	Reply []string // reply lines; none when the call ended while it ran
	// Dead is true when the command ran after the channel hung up.
	Dead bool
	At   time.Duration // since Started
}

// Assignment is one variable set by the server.
type Assignment struct {
	Name, Value string
}

// CommandLines returns the command lines in order, handy for comparisons.
func (t *Transcript) CommandLines() []string {
	out := make([]string, len(t.Commands))
	for i, c := range t.Commands {
		out[i] = c.Line
	}
	return out
}

// Exec returns the EXEC commands' application names and options as
// "App options", for asserting what the server asked the dialplan to do.
func (t *Transcript) Exec() []string {
	var out []string
	for _, c := range t.Commands {
		if len(c.Args) >= 2 && strings.EqualFold(c.Args[0], "EXEC") {
			out = append(out, strings.Join(c.Args[1:], " "))
		}
	}
	return out
}

// Format renders the wire lines in the testdata transcript format: "< " for
// what Asterisk sent, "> " for what the server sent, one line each.
func (t *Transcript) Format() string {
	var b strings.Builder
	for _, l := range t.Wire {
		if l.From == "asterisk" {
			b.WriteString("<")
		} else {
			b.WriteString(">")
		}
		if l.Text != "" {
			b.WriteString(" ")
			b.WriteString(l.Text)
		}
		b.WriteString("\n")
	}
	return b.String()
}
