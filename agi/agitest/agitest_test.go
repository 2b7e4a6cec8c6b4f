package agitest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/agi"
	"github.com/callbackd/callbackd/agi/agitest"
)

const testWait = 10 * time.Second

// serve runs h on a FastAGI server on 127.0.0.1 for the test's duration.
func serve(t *testing.T, h agi.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agi.NewServer(h).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(testWait):
			t.Error("Serve did not return")
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string, call agitest.Call) *agitest.Transcript {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	defer cancel()
	tr, err := agitest.Dial(ctx, addr, call)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestEnvironmentOrderAndDefaults(t *testing.T) {
	addr := serve(t, func(context.Context, *agi.Session) {})
	tr := dial(t, addr, agitest.Call{URL: "agi://" + addr + "/ani?x=y", Args: []string{"801", "two words"}, CallerID: "801", DNID: "1234"})
	var env []string
	for _, l := range tr.Wire {
		if l.From != "asterisk" || l.Text == "" {
			break
		}
		env = append(env, l.Text)
	}
	want := []string{
		"agi_network: yes",
		"agi_network_script: ani?x=y",
		"agi_request: agi://" + addr + "/ani?x=y",
		"agi_channel: PJSIP/trunk-00000001",
		"agi_language: en",
		"agi_type: PJSIP",
		"agi_uniqueid: 1700000000.1",
		"agi_version: 22.10.0",
		"agi_callerid: 801",
		"agi_calleridname: unknown",
		"agi_callingpres: 0",
		"agi_callingani2: 0",
		"agi_callington: 0",
		"agi_callingtns: 0",
		"agi_dnid: 1234",
		"agi_rdnis: unknown",
		"agi_context: from-trunk",
		"agi_extension: 1234",
		"agi_priority: 1",
		"agi_enhanced: 0.0",
		"agi_accountcode: ",
		"agi_threadid: 140245862868672",
		"agi_arg_1: 801",
		"agi_arg_2: two words",
	}
	if !slices.Equal(env, want) {
		t.Errorf("environment\n%s\nwant\n%s", strings.Join(env, "\n"), strings.Join(want, "\n"))
	}
}

func TestNoScriptNoNetworkScriptLine(t *testing.T) {
	addr := serve(t, func(context.Context, *agi.Session) {})
	tr := dial(t, addr, agitest.Call{})
	for _, l := range tr.Wire {
		if strings.HasPrefix(l.Text, "agi_network_script") {
			t.Errorf("launch_netscript sends no agi_network_script for an empty path, got %q", l.Text)
		}
	}
}

func TestHangupCauseToSIPCode(t *testing.T) {
	tests := []struct {
		cause    string
		answered bool
		sip      int
		cause2   int
	}{
		{"17", false, 486, 17},
		{"USER_BUSY", false, 486, 17},
		{"21", false, 403, 21},
		{"19", false, 480, 19},
		{"34", false, 503, 34},
		{"16", false, 603, 16},
		{"", false, 603, 16},
		{"nonsense", false, 603, 16},
		{"17", true, 0, 17},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s answered=%v", tt.cause, tt.answered), func(t *testing.T) {
			addr := serve(t, func(ctx context.Context, s *agi.Session) {
				args := []string{}
				if tt.cause != "" {
					args = append(args, tt.cause)
				}
				r, err := s.Exec(ctx, "Hangup", args...)
				if err != nil || r.Result != -1 {
					t.Errorf("Hangup = %+v %v", r, err)
				}
			})
			tr := dial(t, addr, agitest.Call{Answered: tt.answered})
			if !tr.HungUp || tr.HangupBy != "Hangup" || tr.SIPCode != tt.sip || tr.HangupCause != tt.cause2 {
				t.Errorf("hung up %v by %q sip %d cause %d, want sip %d cause %d", tr.HungUp, tr.HangupBy, tr.SIPCode, tr.HangupCause, tt.sip, tt.cause2)
			}
			if last := tr.Wire[len(tr.Wire)-1]; last.Text != "HANGUP" {
				t.Errorf("last line %q, want HANGUP", last.Text)
			}
		})
	}
}

func TestPJSIPHangup(t *testing.T) {
	tests := []struct {
		name   string
		call   agitest.Call
		arg    string
		hungUp bool
		sip    int
	}{
		{"decline", agitest.Call{}, "603", true, 603},
		{"by name", agitest.Call{}, "BUSY_HERE", true, 486},
		{"out of range", agitest.Call{}, "200", true, 603},
		{"unknown name", agitest.Call{}, "WHATEVER", true, 603},
		{"answered", agitest.Call{Answered: true}, "603", false, 0},
		{"not pjsip", agitest.Call{Type: "IAX2", Channel: "IAX2/peer-1"}, "603", false, 0},
		{"no code", agitest.Call{}, "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(t, func(ctx context.Context, s *agi.Session) {
				var args []string
				if tt.arg != "" {
					args = []string{tt.arg}
				}
				r, err := s.Exec(ctx, "PJSIPHangup", args...)
				if err != nil || r.Result != -1 {
					t.Errorf("PJSIPHangup = %+v %v", r, err)
				}
			})
			tr := dial(t, addr, tt.call)
			if tr.HungUp != tt.hungUp || tr.SIPCode != tt.sip {
				t.Errorf("hung up %v sip %d, want %v %d", tr.HungUp, tr.SIPCode, tt.hungUp, tt.sip)
			}
		})
	}
}

func TestRepliesToBadCommands(t *testing.T) {
	addr := serve(t, func(ctx context.Context, s *agi.Session) {
		usage := [][]string{
			{"EXEC"}, {"SET", "VARIABLE", "X"}, {"GET", "VARIABLE"}, {"GET", "FULL", "VARIABLE"},
			{"WAIT", "FOR", "DIGIT", "soon"}, {"HANGUP", "a", "b"}, {"CHANNEL", "STATUS", "a", "b"},
			{"VERBOSE"}, {"STREAM", "FILE", "x"}, {"GET", "DATA"},
		}
		for _, words := range usage {
			_, err := s.Command(ctx, words...)
			var ce *agi.CommandError
			if !errors.Is(err, agi.ErrUsage) || !errors.As(err, &ce) || ce.Usage() == "" {
				t.Errorf("%q: %v, want a 520 with usage", words, err)
			}
		}
		for _, words := range [][]string{{"GET"}, {"FOO"}, {"SAY"}, {"EXECUTE", "x"}} {
			if _, err := s.Command(ctx, words...); !errors.Is(err, agi.ErrInvalidCommand) {
				t.Errorf("%q: %v, want 510", words, err)
			}
		}
		if r, err := s.Command(ctx, "get", "variable", "CHANNEL"); err != nil || r.Data != "PJSIP/trunk-00000001" {
			t.Errorf("lower-case command: %+v %v", r, err)
		}
		if r, err := s.Command(ctx, "GET", "OPTION", "beep", "#"); err != nil || r.Result != 0 {
			t.Errorf("unmodelled command: %+v %v", r, err)
		}
		if _, err := s.Exec(ctx, "Queue", "support"); !errors.Is(err, agi.ErrNoApplication) {
			t.Errorf("application not in Apps: %v", err)
		}
		if r, err := s.Exec(ctx, "Dial", "PJSIP/a"); err != nil || r.Result != 0 {
			t.Errorf("Dial from Apps: %+v %v", r, err)
		}
	})
	tr := dial(t, addr, agitest.Call{Apps: map[string]int{"dial": 0}})
	if len(tr.Commands) != 18 {
		t.Errorf("%d commands recorded", len(tr.Commands))
	}
}

func TestDeadChannel(t *testing.T) {
	addr := serve(t, func(ctx context.Context, s *agi.Session) {
		s.Exec(ctx, "Ringing")
		select {
		case <-s.HangupReceived():
		case <-ctx.Done():
			t.Error("no HANGUP")
			return
		}
		if r, err := s.Exec(ctx, "Ringing"); err != nil || r.Result != 0 {
			t.Errorf("EXEC is permitted on a dead channel: %+v %v", r, err)
		}
		// Asterisk runs Wait on the hung-up channel all the same: it
		// sleeps and reports 0.
		if r, err := s.Exec(ctx, "Wait", "0.1"); err != nil || r.Result != 0 {
			t.Errorf("Wait on a dead channel: %+v %v", r, err)
		}
		if err := s.SetVariable(ctx, "A", "b"); err != nil {
			t.Errorf("SET VARIABLE on a dead channel: %v", err)
		}
		if err := s.Verbose(ctx, "bye", 1); err != nil {
			t.Errorf("VERBOSE on a dead channel: %v", err)
		}
		for _, f := range []func() error{
			func() error { return s.Answer(ctx) },
			func() error { _, err := s.ChannelStatus(ctx); return err },
			func() error { _, _, err := s.StreamFile(ctx, "beep", ""); return err },
			func() error { return s.Hangup(ctx, "") },
		} {
			if err := f(); !errors.Is(err, agi.ErrDeadChannel) {
				t.Errorf("want 511, got %v", err)
			}
		}
	})
	tr := dial(t, addr, agitest.Call{Hangup: agitest.CallerHangup{AfterReply: 1}})
	if tr.HangupBy != "caller" || len(tr.Indications) != 1 || tr.Variables["A"] != "b" {
		t.Errorf("final state: by %q indications %v vars %v", tr.HangupBy, tr.Indications, tr.Variables)
	}
	dead := 0
	for _, c := range tr.Commands {
		if c.Dead {
			dead++
		}
	}
	if dead != len(tr.Commands)-1 {
		t.Errorf("%d of %d commands ran dead", dead, len(tr.Commands))
	}
}

func TestMaxCommands(t *testing.T) {
	addr := serve(t, func(ctx context.Context, s *agi.Session) {
		for range 10 {
			if _, err := s.Exec(ctx, "NoOp"); err != nil {
				return
			}
		}
		t.Error("fake kept answering past its bound")
	})
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	defer cancel()
	if _, err := agitest.Dial(ctx, addr, agitest.Call{MaxCommands: 3}); err == nil {
		t.Error("Dial accepted more commands than MaxCommands")
	}
}

func TestDialRefuses(t *testing.T) {
	ctx := t.Context()
	for _, addr := range []string{"192.0.2.1:4573", "example.com:4573", "4573"} {
		if _, err := agitest.Dial(ctx, addr, agitest.Call{}); err == nil {
			t.Errorf("Dial(%s) accepted", addr)
		}
	}
	if _, err := agitest.Dial(ctx, "127.0.0.1:4573", agitest.Call{CallerIDName: "a\nagi_x: y"}); err == nil {
		t.Error("Dial accepted a line break in the environment")
	}
	if _, err := agitest.Dial(ctx, "127.0.0.1:4573", agitest.Call{URL: "http://x/"}); err == nil {
		t.Error("Dial accepted a non-agi URL")
	}
}

func TestLoad(t *testing.T) {
	addr := serve(t, func(ctx context.Context, s *agi.Session) {
		if s.Env.Script == "busy" {
			s.Exec(ctx, "Hangup", "17")
			return
		}
		s.Exec(ctx, "PJSIPHangup", "603")
	})
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	defer cancel()
	res, err := agitest.Load(ctx, addr, agitest.LoadOptions{
		Sessions:    50,
		Concurrency: 8,
		CallFactory: func(i int) agitest.Call {
			script := "ani"
			if i%10 == 0 {
				script = "busy"
			}
			return agitest.Call{URL: "agi://" + addr + "/" + script, UniqueID: fmt.Sprintf("1.%d", i)}
		},
		Check: func(tr *agitest.Transcript) error {
			if tr.SIPCode != 603 {
				return fmt.Errorf("sip %d", tr.SIPCode)
			}
			return nil
		},
	})
	if err == nil {
		t.Error("Load hid failed calls")
	}
	if res.Sessions != 50 || res.Succeeded != 45 || res.Failed != 5 || len(res.Errors) != 5 {
		t.Errorf("result %+v", res)
	}
	l := res.Latency
	if !(l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) || res.PerSecond() <= 0 {
		t.Errorf("latency summary out of order: %+v", l)
	}
}

func TestLoadRefuses(t *testing.T) {
	ctx := t.Context()
	for name, tt := range map[string]struct {
		addr string
		opts agitest.LoadOptions
	}{
		"remote":      {"192.0.2.1:4573", agitest.LoadOptions{Sessions: 1}},
		"no sessions": {"127.0.0.1:4573", agitest.LoadOptions{}},
		"too many":    {"127.0.0.1:4573", agitest.LoadOptions{Sessions: agitest.MaxLoadSessions + 1}},
		"flood":       {"127.0.0.1:4573", agitest.LoadOptions{Sessions: 1, Concurrency: agitest.MaxLoadConcurrency + 1}},
	} {
		if _, err := agitest.Load(ctx, tt.addr, tt.opts); err == nil {
			t.Errorf("%s: Load accepted", name)
		}
	}
}

// TestWaitOnHungUpChannelSleeps: a Wait on a hung-up channel really waits,
// so one longer than the call's deadline ends the call instead of being
// answered.
func TestWaitOnHungUpChannelSleeps(t *testing.T) {
	waited := make(chan error, 1)
	addr := serve(t, func(ctx context.Context, s *agi.Session) {
		if _, err := s.Exec(ctx, "Hangup", "17"); err != nil {
			t.Errorf("Hangup: %v", err)
		}
		select {
		case <-s.HangupReceived():
		case <-ctx.Done():
			t.Error("no HANGUP")
		}
		_, err := s.Exec(ctx, "Wait", "60")
		waited <- err
	})
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	defer cancel()
	tr, err := agitest.Dial(ctx, addr, agitest.Call{Timeout: 300 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v, want the call's deadline while Wait 60 sleeps", err)
	}
	if last := tr.Commands[len(tr.Commands)-1]; last.Line != "EXEC Wait 60" || !last.Dead || last.Reply != nil {
		t.Errorf("last command %+v, want EXEC Wait 60 on the dead channel, unanswered", last)
	}
	select {
	case err := <-waited:
		if err == nil {
			t.Error("the handler's Wait 60 was answered")
		}
	case <-time.After(testWait):
		t.Error("the handler's Wait 60 never returned")
	}
}

// halfClose plays a FastAGI server on one connection from ln: it reads the
// environment, sends each command and reads lines up to its reply (HANGUP
// lines on the way included), then closes its writing side, as a server
// that is done does, and reads whatever Asterisk still sends until it
// closes.
func halfClose(ln net.Listener, cmds ...string) (dialogue, tail []string, err error) {
	conn, err := ln.Accept()
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testWait))
	r := bufio.NewReader(conn)
	line := func() (string, error) {
		l, err := r.ReadString('\n')
		return strings.TrimSuffix(l, "\n"), err
	}
	for {
		l, err := line()
		if err != nil {
			return nil, nil, fmt.Errorf("environment: %w", err)
		}
		if l == "" {
			break
		}
	}
	for _, c := range cmds {
		if _, err := fmt.Fprintf(conn, "%s\n", c); err != nil {
			return dialogue, nil, err
		}
		for {
			l, err := line()
			if err != nil {
				return dialogue, nil, fmt.Errorf("%s: %w", c, err)
			}
			dialogue = append(dialogue, l)
			if l != "HANGUP" {
				break
			}
		}
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return dialogue, nil, err
	}
	for {
		l, err := line()
		if err != nil {
			return dialogue, tail, nil
		}
		tail = append(tail, l)
	}
}

// TestClosingHangup: run_agi sends one more HANGUP whenever its loop ends,
// after the server's close or after the hangup with AGIEXITONHANGUP, unless
// AGISIGHUP is off.
func TestClosingHangup(t *testing.T) {
	tests := []struct {
		name       string
		call       agitest.Call
		cmds       []string
		dialogue   []string
		tail       []string
		wireEnd    []string
		afterClose []string
	}{
		{
			name: "live channel", cmds: []string{"EXEC Ringing"},
			dialogue: []string{"200 result=0"}, tail: []string{"HANGUP"},
			wireEnd: []string{"EXEC Ringing", "200 result=0"}, afterClose: []string{"HANGUP"},
		},
		{
			name: "after a hangup", cmds: []string{"EXEC Hangup 17", "NOOP"},
			dialogue: []string{"200 result=-1", "HANGUP", "200 result=0"}, tail: []string{"HANGUP"},
			wireEnd: []string{"NOOP", "200 result=0"}, afterClose: []string{"HANGUP"},
		},
		{
			name: "AGISIGHUP=no", call: agitest.Call{Variables: map[string]string{"AGISIGHUP": "no"}},
			cmds:     []string{"EXEC Hangup 17", "NOOP"},
			dialogue: []string{"200 result=-1", "200 result=0"},
			wireEnd:  []string{"NOOP", "200 result=0"},
		},
		{
			name: "ExitOnHangup", call: agitest.Call{ExitOnHangup: true}, cmds: []string{"EXEC Hangup 17"},
			dialogue: []string{"200 result=-1"}, tail: []string{"HANGUP", "HANGUP"},
			wireEnd: []string{"200 result=-1", "HANGUP", "HANGUP"},
		},
		{
			name: "AGIEXITONHANGUP=yes", call: agitest.Call{Variables: map[string]string{"AGIEXITONHANGUP": "yes"}},
			cmds:     []string{"EXEC Hangup 17"},
			dialogue: []string{"200 result=-1"}, tail: []string{"HANGUP", "HANGUP"},
			wireEnd: []string{"200 result=-1", "HANGUP", "HANGUP"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type result struct {
				dialogue, tail []string
				err            error
			}
			res := make(chan result, 1)
			go func() {
				d, tl, err := halfClose(ln, tt.cmds...)
				res <- result{d, tl, err}
			}()
			tr := dial(t, ln.Addr().String(), tt.call)
			r := <-res
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !slices.Equal(r.dialogue, tt.dialogue) || !slices.Equal(r.tail, tt.tail) {
				t.Errorf("server read %q, then after closing its side %q; want %q, then %q", r.dialogue, r.tail, tt.dialogue, tt.tail)
			}
			var end []string
			for _, l := range tr.Wire[len(tr.Wire)-len(tt.wireEnd):] {
				end = append(end, l.Text)
			}
			if !slices.Equal(end, tt.wireEnd) || !slices.Equal(tr.AfterClose, tt.afterClose) {
				t.Errorf("transcript ends %q, after the close %q; want %q, %q", end, tr.AfterClose, tt.wireEnd, tt.afterClose)
			}
		})
	}
}
