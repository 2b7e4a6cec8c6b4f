package agitest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/callbackd/callbackd/agi"
)

// maxLine is res_agi.c's AGI_BUF_LEN: the longest command line it reads.
const maxLine = 8192

// Dial connects to the FastAGI server at addr (a loopback address), plays
// call and returns what happened. It returns when the server closes the
// connection (the normal end), the call times out, or ctx ends; the
// transcript is returned in every case, with an error in the last two.
func Dial(ctx context.Context, addr string, call Call) (*Transcript, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, fmt.Errorf("agitest dial: %w", err)
	}
	call = call.withDefaults(addr)
	if err := call.validate(); err != nil {
		return nil, fmt.Errorf("agitest dial: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, call.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agitest dial %s: %w", addr, err)
	}
	ch := newChannel(call, conn)
	err = ch.run(ctx)
	return ch.t, err
}

// channel is the fake's state for one call. One goroutine (run) owns it, as
// run_agi's loop owns a real channel; a second one only reads lines.
type channel struct {
	call Call
	conn net.Conn
	w    *bufio.Writer
	t    *Transcript

	// ctx bounds the call; applications that take time on the channel
	// stop when it ends.
	ctx context.Context

	up       bool
	dead     bool // AGI is in dead mode: the hangup was noticed
	ending   bool // hung up by a command; HANGUP goes out after the reply
	dtmf     []byte
	vars     map[string]string
	commands int

	// sighup and exitOnHangup are run_agi's AGISIGHUP and AGIEXITONHANGUP,
	// read from the channel once when AGI starts.
	sighup       bool
	exitOnHangup bool
}

func newChannel(call Call, conn net.Conn) *channel {
	vars := make(map[string]string, len(call.Variables))
	for k, v := range call.Variables {
		vars[k] = v
	}
	return &channel{
		call:         call,
		conn:         conn,
		w:            bufio.NewWriter(conn),
		up:           call.Answered,
		dtmf:         []byte(call.DTMF),
		vars:         vars,
		sighup:       !astFalse(vars["AGISIGHUP"]),
		exitOnHangup: call.ExitOnHangup || astTrue(vars["AGIEXITONHANGUP"]),
		t:            &Transcript{Call: call, Answered: call.Answered, Started: time.Now(), Variables: vars},
	}
}

// astTrue and astFalse are ast_true and ast_false: the words Asterisk
// reads as yes and no; anything else (or nothing) is neither.
func astTrue(s string) bool {
	switch strings.ToLower(s) {
	case "yes", "true", "y", "t", "1", "on":
		return true
	}
	return false
}

func astFalse(s string) bool {
	switch strings.ToLower(s) {
	case "no", "false", "n", "f", "0", "off":
		return true
	}
	return false
}

type readResult struct {
	line string
	err  error
}

func (c *channel) run(ctx context.Context) (err error) {
	defer func() { c.t.Duration = time.Since(c.t.Started) }()
	c.ctx = ctx
	if d, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	lines := make(chan readResult)
	quit := make(chan struct{}) // run is returning: stop delivering lines
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(lines)
		sc := bufio.NewScanner(c.conn)
		sc.Buffer(make([]byte, 0, 1024), maxLine)
		for sc.Scan() {
			select {
			case lines <- readResult{line: sc.Text()}:
			case <-quit:
				return
			}
		}
		if err := sc.Err(); err != nil && !peerClosed(err) {
			select {
			case lines <- readResult{err: err}:
			case <-quit:
			}
		}
	}()
	defer func() {
		close(quit)
		c.conn.Close()
		wg.Wait()
	}()

	for _, l := range c.call.env() {
		c.send(l)
	}
	if err := c.flush(); err != nil {
		return fmt.Errorf("agitest send environment: %w", err)
	}

	var after <-chan time.Time
	if c.call.Hangup.After > 0 {
		t := time.NewTimer(c.call.Hangup.After)
		defer t.Stop()
		after = t.C
	}
	for {
		select {
		case r, ok := <-lines:
			if !ok {
				// run_agi: an empty read means the script is done.
				c.t.ClosedByServer = true
				return c.finish()
			}
			if r.err != nil {
				return fmt.Errorf("agitest read command: %w", r.err)
			}
			if err := c.command(r.line); err != nil {
				return err
			}
			if c.dead && c.exitOnHangup {
				return c.finish()
			}
		case <-after:
			after = nil
			if !c.dead && !c.t.HungUp {
				c.callerHangup()
				c.sendHangup()
				if err := c.flush(); err != nil {
					return fmt.Errorf("agitest send HANGUP: %w", err)
				}
				if c.exitOnHangup {
					return c.finish()
				}
			}
		case <-ctx.Done():
			return fmt.Errorf("agitest call: %w", context.Cause(ctx))
		}
	}
}

// finish is what run_agi does once its loop ends, whether the server closed
// the connection or AGIEXITONHANGUP broke out after a hangup: with AGISIGHUP
// (the default) a FastAGI script is sent one more HANGUP, hung up or not.
// After the server's close the line lands in AfterClose, not Wire, since it
// follows the end of the dialogue; a server that only half-closed reads it.
func (c *channel) finish() error {
	if !c.sighup {
		return nil
	}
	if c.t.ClosedByServer {
		// Asterisk ignores a failed write here: the server may have
		// reset the connection already.
		c.t.AfterClose = append(c.t.AfterClose, "HANGUP")
		c.w.WriteString("HANGUP\n")
		c.flush()
		return nil
	}
	c.send("HANGUP")
	if err := c.flush(); err != nil {
		return fmt.Errorf("agitest send closing HANGUP: %w", err)
	}
	return nil
}

func (c *channel) command(line string) error {
	c.commands++
	n := c.commands
	c.t.Wire = append(c.t.Wire, WireLine{From: "server", Text: line})
	if n > c.call.MaxCommands {
		return fmt.Errorf("agitest: more than %d commands", c.call.MaxCommands)
	}
	if c.call.Hangup.BeforeReply == n && !c.t.HungUp {
		// run_agi notices the hangup first, sends HANGUP, then reads the
		// command and runs it in dead mode.
		c.callerHangup()
		c.sendHangup()
	}
	args := agi.ParseArgs(line)
	cmd := Command{Line: line, Args: args, Dead: c.dead, At: time.Since(c.t.Started)}
	reply, err := c.handle(args)
	if err != nil {
		// The call ended while the command ran: recorded, never answered.
		c.t.Commands = append(c.t.Commands, cmd)
		return err
	}
	cmd.Reply = reply
	for _, l := range cmd.Reply {
		c.send(l)
	}
	c.t.Commands = append(c.t.Commands, cmd)
	if c.call.Hangup.AfterReply == n && !c.t.HungUp {
		c.callerHangup()
	}
	if (c.ending || c.t.HungUp) && !c.dead {
		c.sendHangup()
	}
	if err := c.flush(); err != nil {
		return fmt.Errorf("agitest reply to %q: %w", line, err)
	}
	return nil
}

func (c *channel) send(line string) {
	c.t.Wire = append(c.t.Wire, WireLine{From: "asterisk", Text: line})
	c.w.WriteString(line)
	c.w.WriteByte('\n')
}

// flush writes what is buffered. Like ast_agi_send it ignores a peer that
// has gone: the read side then sees the end of the script.
func (c *channel) flush() error {
	if err := c.w.Flush(); err != nil && !peerClosed(err) {
		return err
	}
	return nil
}

// peerClosed reports errors meaning the server closed its end, possibly
// with unread data (a reset) rather than a clean FIN.
func peerClosed(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// sendHangup is run_agi noticing the hangup: dead mode from now on, and
// HANGUP on the socket unless AGISIGHUP is off.
func (c *channel) sendHangup() {
	c.dead = true
	if c.sighup {
		c.send("HANGUP")
	}
}

func (c *channel) callerHangup() {
	c.t.HungUp = true
	c.t.HangupBy = "caller"
	c.t.HangupCause = causeNormalClearing
}

// hangupBy ends the channel from the dialplan side with a Q.850 cause, as
// Hangup() and the HANGUP command do; chan_pjsip turns the cause into the
// final response of an unanswered call.
func (c *channel) hangupBy(who string, cause int) {
	if c.t.HungUp {
		return
	}
	c.t.HungUp = true
	c.t.HangupBy = who
	c.t.HangupCause = cause
	if !c.up {
		c.t.SIPCode = causeToSIP(cause)
	}
	c.ending = true
}

// Q.850 causes used here (include/asterisk/causes.h).
const causeNormalClearing = 16

// causeToSIP is chan_pjsip's hangup_cause2sip followed by
// ast_sip_session_terminate's fallback: a cause with no SIP mapping (16,
// normal clearing, among them) declines the unanswered call with 603.
func causeToSIP(cause int) int {
	switch cause {
	case 23:
		return 302
	case 1, 2, 3:
		return 404
	case 34, 42, 66:
		return 503
	case 18:
		return 408
	case 19, 20, 31:
		return 480
	case 21:
		return 403
	case 22:
		return 410
	case 28:
		return 484
	case 17:
		return 486
	case 38, 127:
		return 500
	case 29:
		return 501
	case 27:
		return 502
	case 58:
		return 488
	default:
		return 603
	}
}

// causeNames is the part of main/channel.c's causes table ast_str2cause
// needs for Hangup(NAME).
var causeNames = map[string]int{
	"UNALLOCATED": 1, "NO_ROUTE_TRANSIT_NET": 2, "NO_ROUTE_DESTINATION": 3,
	"NORMAL_CLEARING": 16, "USER_BUSY": 17, "NO_USER_RESPONSE": 18, "NO_ANSWER": 19,
	"SUBSCRIBER_ABSENT": 20, "CALL_REJECTED": 21, "NUMBER_CHANGED": 22,
	"DESTINATION_OUT_OF_ORDER": 27, "INVALID_NUMBER_FORMAT": 28, "FACILITY_REJECTED": 29,
	"NORMAL_UNSPECIFIED": 31, "NORMAL_CIRCUIT_CONGESTION": 34, "NETWORK_OUT_OF_ORDER": 38,
	"SWITCH_CONGESTION": 42, "INTERWORKING": 127,
}

// parseCause is pbx_builtin_hangup's reading of its argument: a cause name
// or a positive number; anything else (or nothing) means normal clearing.
func parseCause(data string) int {
	if data == "" {
		return causeNormalClearing
	}
	for name, cause := range causeNames {
		if len(data) >= len(name) && strings.EqualFold(data[:len(name)], name) {
			return cause
		}
	}
	if n, err := strconv.Atoi(strings.TrimSpace(data)); err == nil && n > 0 {
		return n
	}
	return causeNormalClearing
}

// sipCodes is the subset of ast_sip_str2rc names PJSIPHangup accepts.
var sipCodes = map[string]int{
	"BUSY_HERE": 486, "DECLINE": 603, "FORBIDDEN": 403, "NOT_FOUND": 404,
	"TEMPORARILY_UNAVAILABLE": 480, "SERVICE_UNAVAILABLE": 503, "REQUEST_TIMEOUT": 408,
	"BUSY_EVERYWHERE": 600, "NOT_ACCEPTABLE_HERE": 488, "REQUEST_TERMINATED": 487,
}

// pjsipCode is PJSIPHangup's response_code_validator: a number in 400-699
// or a name, anything else becomes 603 Decline.
func pjsipCode(data string) int {
	code, err := strconv.Atoi(data)
	if err != nil {
		c, ok := sipCodes[strings.ToUpper(data)]
		if !ok {
			return 603
		}
		code = c
	}
	if code < 400 || code > 699 {
		return 603
	}
	return code
}

var errUsage = errors.New("usage")

// command is one entry of res_agi.c's command table.
type command struct {
	words []string
	dead  bool // permitted on a dead channel
	run   func(c *channel, argv []string) ([]string, error)
	usage string
}

// commands lists every AGI command Asterisk 22 registers, in its order, so
// that find behaves like find_command. Commands the fake does not model
// answer "200 result=0".
var commands []command

func init() {
	commands = []command{
		{words: w("answer"), run: (*channel).answer},
		{words: w("asyncagi break"), dead: true},
		{words: w("channel status"), run: (*channel).channelStatus, usage: usageChannelStatus},
		{words: w("database del"), dead: true},
		{words: w("database deltree"), dead: true},
		{words: w("database get"), dead: true},
		{words: w("database put"), dead: true},
		{words: w("exec"), dead: true, run: (*channel).exec, usage: usageExec},
		{words: w("get data"), run: (*channel).getData, usage: usageGetData},
		{words: w("get full variable"), dead: true, run: (*channel).getFullVariable, usage: usageGetFullVariable},
		{words: w("get option")},
		{words: w("get variable"), dead: true, run: (*channel).getVariable, usage: usageGetVariable},
		{words: w("hangup"), run: (*channel).hangupCommand, usage: usageHangup},
		{words: w("noop"), dead: true},
		{words: w("receive char")},
		{words: w("receive text")},
		{words: w("record file")},
		{words: w("say alpha")},
		{words: w("say digits")},
		{words: w("say number")},
		{words: w("say phonetic")},
		{words: w("say date")},
		{words: w("say time")},
		{words: w("say datetime")},
		{words: w("send image")},
		{words: w("send text")},
		{words: w("set autohangup")},
		{words: w("set callerid")},
		{words: w("set context")},
		{words: w("set extension")},
		{words: w("set music")},
		{words: w("set priority")},
		{words: w("set variable"), dead: true, run: (*channel).setVariable, usage: usageSetVariable},
		{words: w("stream file"), run: (*channel).streamFile, usage: usageStreamFile},
		{words: w("control stream file")},
		{words: w("tdd mode")},
		{words: w("verbose"), dead: true, run: (*channel).verbose, usage: usageVerbose},
		{words: w("wait for digit"), run: (*channel).waitForDigit, usage: usageWaitForDigit},
		{words: w("speech create")},
		{words: w("speech set")},
		{words: w("speech destroy"), dead: true},
		{words: w("speech load grammar")},
		{words: w("speech unload grammar"), dead: true},
		{words: w("speech activate grammar")},
		{words: w("speech deactivate grammar")},
		{words: w("speech recognize")},
	}
}

func w(s string) []string { return strings.Fields(s) }

// find is find_command(argv, 0): the first command all of whose words start
// argv, case-insensitively.
func find(argv []string) *command {
	for i := range commands {
		cmd := &commands[i]
		if len(argv) < len(cmd.words) {
			continue
		}
		match := true
		for j, word := range cmd.words {
			if !strings.EqualFold(word, argv[j]) {
				match = false
				break
			}
		}
		if match {
			return cmd
		}
	}
	return nil
}

// handle is agi_handle_command. An error other than a usage error means
// the call ended while the command ran.
func (c *channel) handle(argv []string) ([]string, error) {
	cmd := find(argv)
	if cmd == nil {
		return []string{"510 Invalid or unknown command"}, nil
	}
	if c.dead && !cmd.dead {
		return []string{"511 Command Not Permitted on a dead channel or intercept routine"}, nil
	}
	if cmd.run == nil {
		return []string{"200 result=0"}, nil
	}
	reply, err := cmd.run(c, argv)
	if errors.Is(err, errUsage) {
		if cmd.usage == "" {
			return []string{"520 Invalid command syntax.  Proper usage not available."}, nil
		}
		out := []string{"520-Invalid command syntax.  Proper usage follows:"}
		out = append(out, strings.Split(cmd.usage, "\n")...)
		return append(out, "520 End of proper usage."), nil
	}
	return reply, err
}

func ok(format string, a ...any) ([]string, error) {
	return []string{"200 " + fmt.Sprintf(format, a...)}, nil
}

func (c *channel) answer(argv []string) ([]string, error) {
	if c.t.HungUp {
		return ok("result=-1")
	}
	c.up = true
	c.t.Answered = true
	return ok("result=0")
}

func (c *channel) channelStatus(argv []string) ([]string, error) {
	switch len(argv) {
	case 2:
		return ok("result=%d", c.state())
	case 3:
		if argv[2] == c.call.Channel {
			return ok("result=%d", c.state())
		}
		return ok("result=-1")
	}
	return nil, errUsage
}

// state is the channel's ast_channel_state: 4 (ring) for an incoming call
// not yet answered, 6 (up) once answered.
func (c *channel) state() int {
	if c.up {
		return int(agi.StateUp)
	}
	return int(agi.StateRing)
}

func (c *channel) exec(argv []string) ([]string, error) {
	if len(argv) < 2 {
		return nil, errUsage
	}
	data := ""
	if len(argv) > 2 {
		data = argv[2]
	}
	res, err := c.app(argv[1], data)
	if err != nil {
		return nil, err
	}
	return ok("result=%d", res)
}

// app runs a dialplan application and returns what pbx_exec would. The
// error is the end of the call while the application ran.
func (c *channel) app(name, data string) (int, error) {
	for n, res := range c.call.Apps {
		if strings.EqualFold(n, name) {
			return res, nil
		}
	}
	if strings.EqualFold(name, "wait") {
		return c.wait(data)
	}
	return c.builtin(name, data), nil
}

// builtin runs the applications that take no time in the fake.
func (c *channel) builtin(name, data string) int {
	gone := c.t.HungUp
	switch strings.ToLower(name) {
	case "ringing":
		c.indicate(gone, "ringing")
		return 0
	case "progress":
		c.indicate(gone, "progress")
		return 0
	case "playtones":
		c.indicate(gone, "playtones:"+data)
		return 0
	case "stopplaytones", "noop", "verbose", "log":
		return 0
	case "answer":
		if gone {
			return -1
		}
		c.up = true
		c.t.Answered = true
		return 0
	case "playback", "echo", "milliwatt":
		// These only read or write media, which fails once the channel is
		// gone. The fake spends no real time on them.
		if gone {
			return -1
		}
		return 0
	case "set":
		name, value, _ := strings.Cut(data, "=")
		c.setVar(name, value)
		return 0
	case "mset":
		c.mset(data)
		return 0
	case "hangup":
		c.hangupBy("Hangup", parseCause(data))
		return -1
	case "pjsiphangup":
		c.pjsipHangup(data)
		return -1
	}
	return -2
}

// wait is pbx_builtin_wait: ast_safe_sleep for the time Wait() was given.
// On a live channel the fake spends no real time on it and reports 0. On a
// hung-up channel run_agi has already read the channel's queue dry, so
// ast_waitfor finds nothing to read and times out: Asterisk really sleeps
// the whole time and reports 0, not -1. The fake sleeps too, until the
// call's deadline at most.
func (c *channel) wait(data string) (int, error) {
	d, ok := parseTimelen(data)
	if !ok || d <= 0 || !c.t.HungUp {
		return 0, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return 0, nil
	case <-c.ctx.Done():
		return 0, fmt.Errorf("agitest call: EXEC Wait on the hung-up channel outlasted the call: %w", context.Cause(c.ctx))
	}
}

// parseTimelen is ast_app_parse_timelen in seconds: a decimal number with an
// optional unit, h, m, s or ms (case-insensitive), truncated to whole
// milliseconds.
func parseTimelen(s string) (time.Duration, bool) {
	s = strings.TrimLeft(s, " \t")
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	digits := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9') {
		end++
		digits++
	}
	if end < len(s) && s[end] == '.' {
		end++
		for end < len(s) && (s[end] >= '0' && s[end] <= '9') {
			end++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if end < len(s) && (s[end] == 'e' || s[end] == 'E') {
		exp := end + 1
		if exp < len(s) && (s[exp] == '+' || s[exp] == '-') {
			exp++
		}
		if exp < len(s) && s[exp] >= '0' && s[exp] <= '9' {
			for exp < len(s) && s[exp] >= '0' && s[exp] <= '9' {
				exp++
			}
			end = exp
		}
	}
	amount, err := strconv.ParseFloat(s[:end], 64)
	if err != nil {
		return 0, false
	}
	unit := 1000.0 // seconds
	if fields := strings.Fields(s[end:]); len(fields) > 0 {
		switch strings.ToLower(fields[0]) {
		case "h":
			unit = 3600 * 1000
		case "m":
			unit = 60 * 1000
		case "s":
		case "ms":
			unit = 1
		default:
			return 0, false
		}
	}
	ms := min(amount*unit, math.MaxInt32)
	return time.Duration(int64(ms)) * time.Millisecond, true
}

func (c *channel) indicate(gone bool, what string) {
	if !gone {
		c.t.Indications = append(c.t.Indications, what)
	}
}

// pjsipHangup is pjsip_app_hangup: it only acts on an unanswered incoming
// PJSIP channel, answering the INVITE with the given final response.
func (c *channel) pjsipHangup(data string) {
	if data == "" || c.up || c.t.HungUp || c.call.Type != "PJSIP" {
		return
	}
	code := pjsipCode(data)
	c.hangupBy("PJSIPHangup", causeNormalClearing)
	c.t.SIPCode = code
}

func (c *channel) getVariable(argv []string) ([]string, error) {
	if len(argv) != 3 {
		return nil, errUsage
	}
	v, ok2 := c.lookup(argv[2])
	if !ok2 {
		return ok("result=0")
	}
	return ok("result=1 (%s)", v)
}

// lookup reads a channel variable, falling back to the built-in variables
// and functions a callback dialplan asks for.
func (c *channel) lookup(name string) (string, bool) {
	if v, ok := c.vars[name]; ok {
		return v, true
	}
	switch strings.ToUpper(name) {
	case "CALLERID(NUM)":
		return c.call.CallerID, c.call.CallerID != "unknown"
	case "CALLERID(NAME)":
		return c.call.CallerIDName, c.call.CallerIDName != "unknown"
	case "CHANNEL", "CHANNEL(NAME)":
		return c.call.Channel, true
	case "UNIQUEID":
		return c.call.UniqueID, true
	case "EXTEN":
		return c.call.Extension, true
	case "CONTEXT":
		return c.call.Context, true
	case "HANGUPCAUSE":
		if c.t.HungUp {
			return strconv.Itoa(c.t.HangupCause), true
		}
		return "0", true
	case "CHANNEL(STATE)":
		if c.up {
			return "Up", true
		}
		return "Ring", true
	}
	return "", false
}

func (c *channel) getFullVariable(argv []string) ([]string, error) {
	if len(argv) != 4 && len(argv) != 5 {
		return nil, errUsage
	}
	if len(argv) == 5 && argv[4] != c.call.Channel {
		return ok("result=0")
	}
	return ok("result=1 (%s)", c.substitute(argv[3]))
}

// substitute expands ${NAME} the way ast_str_substitute_variables does for
// plain names; unknown names expand to nothing.
func (c *channel) substitute(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		v, _ := c.lookup(s[i+2 : i+j])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

func (c *channel) setVariable(argv []string) ([]string, error) {
	if len(argv) != 4 {
		return nil, errUsage
	}
	c.setVar(argv[2], argv[3])
	return ok("result=1")
}

func (c *channel) setVar(name, value string) {
	c.t.Set = append(c.t.Set, Assignment{Name: name, Value: value})
	if value == "" {
		// pbx_builtin_setvar_helper deletes a variable set to nothing.
		delete(c.vars, name)
		return
	}
	c.vars[name] = value
}

func (c *channel) verbose(argv []string) ([]string, error) {
	if len(argv) < 2 {
		return nil, errUsage
	}
	return ok("result=1")
}

func (c *channel) hangupCommand(argv []string) ([]string, error) {
	switch len(argv) {
	case 1:
		c.hangupBy("agi", causeNormalClearing)
		return ok("result=1")
	case 2:
		if argv[1] != c.call.Channel {
			return ok("result=-1")
		}
		c.hangupBy("agi", causeNormalClearing)
		return ok("result=1")
	}
	return nil, errUsage
}

// samplesPerFile is the length the fake gives every sound file: one second
// at 8 kHz.
const samplesPerFile = 8000

func (c *channel) missing(file string) bool {
	return slices.Contains(c.call.MissingSounds, file)
}

func (c *channel) streamFile(argv []string) ([]string, error) {
	if len(argv) < 4 || len(argv) > 5 {
		return nil, errUsage
	}
	offset := int64(0)
	if len(argv) == 5 {
		n, err := strconv.ParseInt(argv[4], 10, 64)
		if err != nil {
			return nil, errUsage
		}
		offset = n
	}
	if c.missing(argv[2]) {
		return ok("result=-1 endpos=%d", offset)
	}
	if d, pressed := c.nextDigit(argv[3]); pressed {
		return ok("result=%d endpos=%d", d, offset+samplesPerFile/2)
	}
	c.vars["PLAYBACKSTATUS"] = "SUCCESS"
	return ok("result=0 endpos=%d", samplesPerFile)
}

// nextDigit consumes the caller's next DTMF digit if it is one of escape.
func (c *channel) nextDigit(escape string) (byte, bool) {
	if len(c.dtmf) == 0 || !strings.ContainsRune(escape, rune(c.dtmf[0])) {
		return 0, false
	}
	d := c.dtmf[0]
	c.dtmf = c.dtmf[1:]
	return d, true
}

func (c *channel) waitForDigit(argv []string) ([]string, error) {
	if len(argv) != 4 {
		return nil, errUsage
	}
	if _, err := strconv.Atoi(argv[3]); err != nil {
		return nil, errUsage
	}
	if len(c.dtmf) == 0 {
		return ok("result=0")
	}
	d := c.dtmf[0]
	c.dtmf = c.dtmf[1:]
	return ok("result=%d", d)
}

// getData is ast_app_getdata_full: digits until '#', max digits, or the
// caller stops typing (a timeout, reported with the digits so far).
func (c *channel) getData(argv []string) ([]string, error) {
	if len(argv) < 3 {
		return nil, errUsage
	}
	maxDigits := 1024
	if len(argv) >= 5 {
		maxDigits, _ = strconv.Atoi(argv[4])
	}
	if c.missing(argv[2]) {
		return ok("result=-1")
	}
	var got []byte
	for len(got) < maxDigits || maxDigits <= 0 {
		if len(c.dtmf) == 0 {
			return ok("result=%s (timeout)", got)
		}
		d := c.dtmf[0]
		c.dtmf = c.dtmf[1:]
		if d == '#' {
			break
		}
		got = append(got, d)
	}
	return ok("result=%s", got)
}
