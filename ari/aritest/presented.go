package aritest

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"
)

// What a channel presents on the wire, as Asterisk 22 decides it:
//
//   - A channel's caller and connected line are parties. An originate's
//     callerId sets both, after the originate's variables
//     (pbx_outgoing_attempt); a created channel starts with its endpoint's
//     callerid as caller and no connected line (chan_pjsip_new). Writing the
//     dialplan functions CALLERID(...) and CONNECTEDLINE(...) as variables
//     (originate or create body, POST /variable) changes the parties and
//     raises no ChannelVarset.
//   - The From of the INVITE is the connected line at the moment chan_pjsip
//     builds the INVITE (res_pjsip_session.c set_from_header, and
//     res_pjsip_caller_id.c takes P-Asserted-Identity from the same party);
//     with no number and no name it is "Anonymous"
//     <sip:anonymous@anonymous.invalid>. An originate builds it at once; a
//     created channel when POST /dial calls it.
//   - POST /dial?caller=X copies X's caller to the channel's connected line
//     (ast_connected_line_copy_from_caller). The originator of
//     /channels/create copies nothing of the kind (ast_request only takes
//     its formats, callid and accountcodes).
//   - A bridge that has exactly two channels after one joins or leaves, and
//     is not a holding bridge, updates each one's connected line to the
//     other's caller (bridge.c bridge_reconfigured_connected_line_update).
//     So a created channel put in a mixing bridge with leg A before it is
//     dialled presents leg A's caller ID, whatever CONNECTEDLINE said.
//
// The simulator does not raise the ChannelCallerId and ChannelConnectedLine
// events Asterisk publishes for these changes; callbackd ignores both.

// Invite is the initial INVITE chan_pjsip sent for a PJSIP channel, as a SIP
// peer recording it sees it. Local channels send none.
type Invite struct {
	Channel  string            // the channel's id
	Endpoint string            // the PJSIP endpoint it went out through
	Number   string            // the number called (user part of the Request-URI)
	FromName string            // the From display name: "Anonymous" when restricted
	FromUser string            // the From user: "anonymous" when restricted
	Headers  map[string]string // headers added with PJSIP_HEADER(add,<name>)
	Sent     time.Time
}

// Anonymous reports whether the From was anonymised: the connected line had
// neither number nor name.
func (i Invite) Anonymous() bool { return i.FromUser == "anonymous" && i.FromName == "Anonymous" }

// writeFunction is pbx_builtin_setvar_helper on a name ending in ')': the
// dialplan function is written instead of a variable. It reports whether
// name is a function the simulator models (CALLERID, CONNECTEDLINE); the
// members it does not model (pres, ton, ani, ...) are accepted and ignored.
func writeFunction(ch *channel, name, value string) bool {
	if !strings.HasSuffix(name, ")") {
		return false
	}
	fn, args, ok := strings.Cut(strings.TrimSuffix(name, ")"), "(")
	if !ok {
		return false
	}
	var partyName, partyNum *string
	switch strings.ToUpper(strings.TrimSpace(fn)) {
	case "CALLERID":
		partyName, partyNum = &ch.callerName, &ch.callerNum
	case "CONNECTEDLINE":
		partyName, partyNum = &ch.connName, &ch.connNum
	default:
		return false
	}
	member, _, _ := strings.Cut(args, ",")
	// func_callerid.c compares the member's first letters (strncasecmp).
	switch m := strings.ToLower(strings.TrimSpace(member)); {
	case strings.HasPrefix(m, "all"):
		*partyName, *partyNum = parseCallerID(value)
	case strings.HasPrefix(m, "name"):
		*partyName = value
	case strings.HasPrefix(m, "num"):
		*partyNum = value
	}
	return true
}

// readFunction reads the party functions writeFunction writes.
func readFunction(ch *channel, name string) (string, bool) {
	switch strings.ToUpper(strings.ReplaceAll(name, " ", "")) {
	case "CALLERID(NUM)":
		return ch.callerNum, true
	case "CALLERID(NAME)":
		return ch.callerName, true
	case "CONNECTEDLINE(NUM)":
		return ch.connNum, true
	case "CONNECTEDLINE(NAME)":
		return ch.connName, true
	}
	return "", false
}

// setVariables is ast_set_variables: functions are written, the rest kept
// as channel variables.
func setVariables(ch *channel, vars map[string]string) {
	for k, v := range vars {
		if !writeFunction(ch, k, v) {
			ch.vars[k] = v
		}
	}
}

// connectedLineUpdate is bridge_reconfigured_connected_line_update: in a
// two-party bridge each channel's connected line becomes the other's
// caller. Asterisk queues the update to each channel's bridge thread; the
// simulator applies it at once.
func connectedLineUpdate(b *bridge) {
	if b == nil || b.holding || len(b.chans) != 2 {
		return
	}
	x, y := b.chans[0], b.chans[1]
	if x.dead || y.dead {
		return
	}
	x.connName, x.connNum, y.connName, y.connNum = y.callerName, y.callerNum, x.callerName, x.callerNum
}

// sendInvite records the INVITE chan_pjsip builds for ch when it is called.
func (s *Sim) sendInvite(ch *channel) {
	if ch.target.tech != "PJSIP" {
		return
	}
	inv := Invite{
		Channel: ch.id, Endpoint: ch.target.endpoint, Number: ch.target.number,
		FromName: ch.connName, FromUser: ch.connNum, Headers: map[string]string{}, Sent: time.Now(),
	}
	if ch.connName == "" && ch.connNum == "" {
		// set_from_header: a restricted (here: absent) identity is
		// anonymised unless the endpoint sets from_user/from_domain.
		inv.FromName, inv.FromUser = "Anonymous", "anonymous"
	}
	for k, v := range ch.vars {
		if h, ok := pjsipHeaderAdd(k); ok {
			inv.Headers[h] = v
		}
	}
	s.invites = append(s.invites, inv)
	close(s.invNotify)
	s.invNotify = make(chan struct{})
}

// pjsipHeaderAdd reads the header name of a PJSIP_HEADER(add,<name>)
// variable.
func pjsipHeaderAdd(v string) (string, bool) {
	rest, ok := strings.CutPrefix(v, "PJSIP_HEADER(")
	if !ok {
		return "", false
	}
	op, name, ok := strings.Cut(strings.TrimSuffix(rest, ")"), ",")
	if !ok || !strings.EqualFold(strings.TrimSpace(op), "add") {
		return "", false
	}
	return strings.TrimSpace(name), true
}

// Invites returns the INVITEs sent so far, oldest first.
func (s *Sim) Invites() []Invite {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Invite, len(s.invites))
	for i, inv := range s.invites {
		inv.Headers = maps.Clone(inv.Headers)
		out[i] = inv
	}
	return out
}

// WaitInvite waits until the INVITE of channelID was sent and returns it.
func (s *Sim) WaitInvite(ctx context.Context, channelID string) (Invite, error) {
	for {
		s.mu.Lock()
		for _, inv := range s.invites {
			if inv.Channel == channelID {
				inv.Headers = maps.Clone(inv.Headers)
				s.mu.Unlock()
				return inv, nil
			}
		}
		notify := s.invNotify
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Invite{}, fmt.Errorf("aritest: wait for the INVITE of %s: %w", channelID, ctx.Err())
		case <-notify:
		}
	}
}
