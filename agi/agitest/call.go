package agitest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Call describes the channel that runs AGI(). Empty fields take the values a
// PJSIP call from a trunk would have; Asterisk's "unknown" stands for an
// absent caller ID, DNID or RDNIS.
type Call struct {
	// URL is the AGI() URL, e.g. "agi://127.0.0.1:4573/ani?x=y"; empty means
	// "agi://<addr>/". agi_network_script is the part after host[:port]/.
	URL  string
	Args []string // AGI() arguments after the URL: agi_arg_1...

	Channel      string // default "PJSIP/trunk-00000001"
	Type         string // default "PJSIP"
	Language     string // default "en"
	UniqueID     string // default "1700000000.1"
	Version      string // default "22.10.0"
	CallerID     string // default "unknown"
	CallerIDName string // default "unknown"
	CallingPres  int
	CallingANI2  int
	CallingTON   int
	CallingTNS   int
	DNID         string // default "unknown"
	RDNIS        string // default "unknown"
	Context      string // default "from-trunk"
	Extension    string // default DNID, or "s" without one
	Priority     int    // default 1
	AccountCode  string
	ThreadID     int64 // default 140245862868672
	Enhanced     bool  // EAGI

	// Answered starts the channel up instead of ringing.
	Answered bool
	// Variables are the channel variables GET VARIABLE sees. AGISIGHUP=no
	// stops every HANGUP line, as in run_agi; AGIEXITONHANGUP=yes acts as
	// ExitOnHangup.
	Variables map[string]string
	// Apps adds dialplan applications (or overrides the built-in ones) with
	// the value EXEC reports; the application has no other effect.
	Apps map[string]int
	// DTMF is what the caller types, consumed by WAIT FOR DIGIT, GET DATA
	// and STREAM FILE.
	DTMF string
	// MissingSounds are sound files STREAM FILE and GET DATA cannot open.
	MissingSounds []string
	// Hangup scripts the caller hanging up.
	Hangup CallerHangup
	// ExitOnHangup ends AGI as soon as the hangup is noticed, as Asterisk
	// does with AGIEXITONHANGUP=yes: HANGUP, the closing HANGUP run_agi
	// sends whenever its loop ends, then the close. Without it Asterisk
	// waits for the server to close, answering 511 or running dead-channel
	// commands, and writes the closing HANGUP after the server's close.
	ExitOnHangup bool

	// Timeout bounds the whole call; default 30 s.
	Timeout time.Duration
	// MaxCommands bounds the commands answered; default 1000.
	MaxCommands int
}

// CallerHangup scripts when the caller hangs up. Zero fields are unused; the
// first point reached wins.
type CallerHangup struct {
	// BeforeReply hangs up when command N (1-based) arrives, before Asterisk
	// runs it: HANGUP is written between the command and its reply, and the
	// command runs on a dead channel (usually 511).
	BeforeReply int
	// AfterReply hangs up right after command N's reply.
	AfterReply int
	// After hangs up this long after the environment was sent, whatever the
	// server is doing.
	After time.Duration
}

const (
	defaultTimeout     = 30 * time.Second
	defaultMaxCommands = 1000
	// maxArgs mirrors res_agi.c's MAX_ARGS, counting the URL.
	maxArgs = 128
)

func (c Call) withDefaults(addr string) Call {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.URL, "agi://"+addr+"/")
	def(&c.Channel, "PJSIP/trunk-00000001")
	def(&c.Type, "PJSIP")
	def(&c.Language, "en")
	def(&c.UniqueID, "1700000000.1")
	def(&c.Version, "22.10.0")
	def(&c.CallerID, "unknown")
	def(&c.CallerIDName, "unknown")
	def(&c.DNID, "unknown")
	def(&c.RDNIS, "unknown")
	def(&c.Context, "from-trunk")
	if c.Extension == "" {
		c.Extension = "s"
		if c.DNID != "unknown" {
			c.Extension = c.DNID
		}
	}
	if c.Priority == 0 {
		c.Priority = 1
	}
	if c.ThreadID == 0 {
		c.ThreadID = 140245862868672
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.MaxCommands <= 0 {
		c.MaxCommands = defaultMaxCommands
	}
	return c
}

func (c Call) validate() error {
	if !strings.HasPrefix(c.URL, "agi://") {
		return fmt.Errorf("url %q: not agi://", c.URL)
	}
	if len(c.Args) >= maxArgs-1 {
		return fmt.Errorf("%d args: AGI() takes at most %d", len(c.Args), maxArgs-2)
	}
	fields := append([]string{c.URL, c.Channel, c.Type, c.Language, c.UniqueID, c.Version, c.CallerID,
		c.CallerIDName, c.DNID, c.RDNIS, c.Context, c.Extension, c.AccountCode}, c.Args...)
	for _, f := range fields {
		if strings.ContainsAny(f, "\r\n") {
			return fmt.Errorf("field %q contains a line break", f)
		}
	}
	return nil
}

// networkScript is what launch_netscript relays: everything after the first
// '/' that follows "agi://", or nothing.
func networkScript(url string) string {
	_, script, _ := strings.Cut(strings.TrimPrefix(url, "agi://"), "/")
	return script
}

// env renders the environment block: agi_network and agi_network_script from
// launch_netscript, then setup_env's lines in its order, then a blank line.
func (c Call) env() []string {
	lines := []string{"agi_network: yes"}
	if s := networkScript(c.URL); s != "" {
		lines = append(lines, "agi_network_script: "+s)
	}
	enhanced := "0.0"
	if c.Enhanced {
		enhanced = "1.0"
	}
	lines = append(lines,
		"agi_request: "+c.URL,
		"agi_channel: "+c.Channel,
		"agi_language: "+c.Language,
		"agi_type: "+c.Type,
		"agi_uniqueid: "+c.UniqueID,
		"agi_version: "+c.Version,
		"agi_callerid: "+c.CallerID,
		"agi_calleridname: "+c.CallerIDName,
		"agi_callingpres: "+strconv.Itoa(c.CallingPres),
		"agi_callingani2: "+strconv.Itoa(c.CallingANI2),
		"agi_callington: "+strconv.Itoa(c.CallingTON),
		"agi_callingtns: "+strconv.Itoa(c.CallingTNS),
		"agi_dnid: "+c.DNID,
		"agi_rdnis: "+c.RDNIS,
		"agi_context: "+c.Context,
		"agi_extension: "+c.Extension,
		"agi_priority: "+strconv.Itoa(c.Priority),
		"agi_enhanced: "+enhanced,
		"agi_accountcode: "+c.AccountCode,
		"agi_threadid: "+strconv.FormatInt(c.ThreadID, 10),
	)
	for i, a := range c.Args {
		lines = append(lines, "agi_arg_"+strconv.Itoa(i+1)+": "+a)
	}
	return append(lines, "")
}

var errNotLoopback = errors.New("agitest only dials loopback addresses such as 127.0.0.1")

// checkLoopback keeps the fake (and above all Load) pointed at this host.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q: %w", addr, errNotLoopback)
	}
	return nil
}
