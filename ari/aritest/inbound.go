package aritest

import (
	"fmt"
	"strings"
)

// InboundCall is a call that reaches Asterisk from outside (a phone, the
// trunk) and that the dialplan hands to a Stasis application:
//
//	exten => _X.,1,Stasis(callbackd,ivr,${EXTEN})
type InboundCall struct {
	CallerID   string // the caller's number
	CallerName string
	Exten      string // the dialled number
	Endpoint   string // the PJSIP endpoint it arrives on (default "trunk")
	Context    string // the context whose extension runs Stasis (default "from-trunk")
	Priority   int    // the priority of the Stasis line (default 1)
	App        string // the Stasis application (default "callbackd")
	Args       []string
	Language   string // the channel's language (default "en")
	// Caller scripts the caller once the call is answered: its DTMF and
	// HangupAfter are played, as for a phone that answered.
	Caller Behaviour
}

// Inbound places c: a PJSIP channel in state Ring (an INVITE that nobody
// answered yet) runs Stasis() and its application hears StasisStart with
// the arguments, as the first event about the channel. It returns the
// channel's id, Asterisk's uniqueid. As in Asterisk, Stasis() fails when
// the application has no connected WebSocket: the dialplan then runs out
// and the caller is released with cause 16; Inbound returns an error.
//
// The channel answers POST /channels/{id}/answer (ChannelStateChange to
// Up, then the Caller script runs) and accepts /ring.
func (s *Sim) Inbound(c InboundCall) (string, error) {
	if c.Endpoint == "" {
		c.Endpoint = "trunk"
	}
	if c.Context == "" {
		c.Context = "from-trunk"
	}
	if c.Priority == 0 {
		c.Priority = 1
	}
	if c.App == "" {
		c.App = "callbackd"
	}
	if c.Language == "" {
		c.Language = "en"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.newChannel(dialTarget{tech: "PJSIP", endpoint: c.Endpoint, number: c.CallerID, resource: c.Endpoint}, "")
	ch.inbound = true
	ch.state = "Ring"
	ch.callerNum, ch.callerName = c.CallerID, c.CallerName
	ch.context, ch.exten, ch.priority = c.Context, c.Exten, c.Priority
	ch.language = c.Language
	ch.phone = c.Caller
	ch.appl = "Stasis"
	ch.data = strings.Join(append([]string{c.App}, c.Args...), ",")
	if !s.appActive(c.App) {
		// stasis_app_exec: "Stasis app '%s' not registered"; the
		// dialplan continues, runs out, and the PBX hangs up.
		s.log.Warn("aritest: Stasis app not registered", "app", c.App, "channel", ch.id)
		s.destroy(ch, CauseNormalClearing, 0)
		return "", fmt.Errorf("aritest: inbound call %s: Stasis app %q not registered", ch.id, c.App)
	}
	ch.app, ch.appArgs = c.App, append([]string(nil), c.Args...)
	s.enterStasis(ch)
	return ch.id, nil
}

// answerInbound is ast_raw_answer on an inbound channel in state Ring:
// 200 OK to the caller, the state goes Up, and the caller's script starts.
func (s *Sim) answerInbound(ch *channel) {
	if ch.answered || ch.state == "Up" {
		return
	}
	ch.answered = true
	s.setState(ch, "Up")
	s.after(ch, 0, func() { s.afterAnswer(ch) })
}
