package agi_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/agi"
	"github.com/callbackd/callbackd/agi/agitest"
)

func TestRejectUnansweredWithEarlyMedia(t *testing.T) {
	mux := agi.NewMux()
	hungUp := make(chan bool, 1)
	mux.HandleFunc("ani", func(ctx context.Context, s *agi.Session) {
		for _, app := range [][]string{{"Ringing"}, {"Progress"}, {"Playtones", "ring"}, {"Wait", "3"}} {
			if _, err := s.Exec(ctx, app[0], app[1:]...); err != nil {
				t.Errorf("%s: %v", app[0], err)
			}
		}
		if st, err := s.ChannelStatus(ctx); err != nil || st != agi.StateRing {
			t.Errorf("ChannelStatus = %v, %v", st, err)
		}
		if _, err := s.Exec(ctx, "PJSIPHangup", "603"); err != nil {
			t.Errorf("PJSIPHangup: %v", err)
		}
		select {
		case <-s.HangupReceived():
			hungUp <- s.HungUp()
		case <-ctx.Done():
			hungUp <- false
		}
	})
	srv := startServer(t, mux)
	tr, err := agitest.Dial(testContext(t), srv.Addr, agitest.Call{
		URL: "agi://" + srv.Addr + "/ani?x=y", Args: []string{"801", "1234"},
		CallerID: "801", DNID: "1234",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !<-hungUp {
		t.Error("handler did not see HANGUP")
	}
	if tr.Answered || tr.SIPCode != 603 || tr.HangupBy != "PJSIPHangup" || !tr.ClosedByServer {
		t.Errorf("final state: answered %v sip %d by %q closed %v", tr.Answered, tr.SIPCode, tr.HangupBy, tr.ClosedByServer)
	}
	if want := []string{"ringing", "progress", "playtones:ring"}; !slices.Equal(tr.Indications, want) {
		t.Errorf("indications %v, want %v", tr.Indications, want)
	}
	if want := []string{"Ringing", "Progress", "Playtones ring", "Wait 3", "PJSIPHangup 603"}; !slices.Equal(tr.Exec(), want) {
		t.Errorf("exec %v, want %v", tr.Exec(), want)
	}
	srv.Stop()
	if e := srv.Obs.Only(t); e.Script != "ani" || e.Err != nil {
		t.Errorf("observer: %+v", e)
	}
}

func TestSessionCommands(t *testing.T) {
	srv := startServer(t, agi.HandlerFunc(func(ctx context.Context, s *agi.Session) {
		if err := s.Answer(ctx); err != nil {
			t.Errorf("Answer: %v", err)
		}
		if v, ok, err := s.GetFullVariable(ctx, "${CALLERID(num)} in ${CONTEXT}", ""); err != nil || !ok || v != "801 in from-trunk" {
			t.Errorf("GetFullVariable = %q %v %v", v, ok, err)
		}
		if _, ok, err := s.GetVariable(ctx, "NOT_SET"); err != nil || ok {
			t.Errorf("GetVariable(NOT_SET) ok=%v err=%v", ok, err)
		}
		if err := s.SetVariable(ctx, "NOTE", `say "hi" \ bye`); err != nil {
			t.Errorf("SetVariable: %v", err)
		}
		if v, _, _ := s.GetVariable(ctx, "NOTE"); v != `say "hi" \ bye` {
			t.Errorf("variable came back as %q", v)
		}
		if d, endpos, err := s.StreamFile(ctx, "press-1", "12"); err != nil || d != '1' || endpos == 0 {
			t.Errorf("StreamFile = %q %d %v", d, endpos, err)
		}
		if _, _, err := s.StreamFile(ctx, "missing", ""); !errors.Is(err, agi.ErrFailure) {
			t.Errorf("StreamFile(missing) = %v", err)
		}
		if d, err := s.WaitForDigit(ctx, time.Second); err != nil || d != '2' {
			t.Errorf("WaitForDigit = %q %v", d, err)
		}
		if digits, timedOut, err := s.GetData(ctx, "enter-number", 5*time.Second, 10); err != nil || timedOut || digits != "0301" {
			t.Errorf("GetData = %q %v %v", digits, timedOut, err)
		}
		if digits, timedOut, err := s.GetData(ctx, "enter-number", 5*time.Second, 10); err != nil || !timedOut || digits != "" {
			t.Errorf("GetData on silence = %q %v %v", digits, timedOut, err)
		}
		if d, err := s.WaitForDigit(ctx, -1); err != nil || d != 0 {
			t.Errorf("WaitForDigit on silence = %q %v", d, err)
		}
		if err := s.Hangup(ctx, "PJSIP/other-1"); !errors.Is(err, agi.ErrFailure) {
			t.Errorf("Hangup(other) = %v", err)
		}
		if err := s.Hangup(ctx, ""); err != nil {
			t.Errorf("Hangup: %v", err)
		}
		if err := s.Answer(ctx); !errors.Is(err, agi.ErrHangup) {
			t.Errorf("Answer after hangup = %v", err)
		}
	}))
	tr, err := agitest.Dial(testContext(t), srv.Addr, agitest.Call{
		CallerID: "801", DNID: "1234", DTMF: "120301#", MissingSounds: []string{"missing"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Answered || tr.HangupBy != "agi" || tr.SIPCode != 0 || tr.Variables["NOTE"] != `say "hi" \ bye` {
		t.Errorf("final state: %+v", tr)
	}
	if got := tr.CommandLines()[3]; got != `SET VARIABLE NOTE "say \"hi\" \\ bye"` {
		t.Errorf("quoted command %s", got)
	}
}

func TestNotFoundEndsSessionCleanly(t *testing.T) {
	mux := agi.NewMux()
	mux.HandleFunc("ani", func(context.Context, *agi.Session) { t.Error("wrong route") })
	srv := startServer(t, mux)
	tr, err := agitest.Dial(testContext(t), srv.Addr, agitest.Call{
		URL: "agi://" + srv.Addr + "/nope?x=1", UniqueID: "1732350000.5", Channel: "PJSIP/trunk-00000005",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.ClosedByServer || len(tr.Commands) != 0 {
		t.Errorf("closed %v, commands %q", tr.ClosedByServer, tr.CommandLines())
	}
	srv.Stop()
	rec := srv.Logs.Find(t, "agi script not found")
	if rec["script"] != "nope" || rec["channel"] != "PJSIP/trunk-00000005" || rec["uniqueid"] != "1732350000.5" || rec["remote"] == nil {
		t.Errorf("log record %v", rec)
	}
}

func TestMuxCustomNotFound(t *testing.T) {
	mux := agi.NewMux()
	mux.NotFound(agi.HandlerFunc(func(ctx context.Context, s *agi.Session) {
		s.Verbose(ctx, "no such script "+s.Env.Script, 1)
	}))
	srv := startServer(t, mux)
	tr, err := agitest.Dial(testContext(t), srv.Addr, agitest.Call{URL: "agi://" + srv.Addr + "/other"})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.CommandLines(); len(got) != 1 || got[0] != `VERBOSE "no such script other" 1` {
		t.Errorf("commands %q", got)
	}
}

func TestMuxRegistrationPanics(t *testing.T) {
	mux := agi.NewMux()
	mux.HandleFunc("ani", func(context.Context, *agi.Session) {})
	for name, f := range map[string]func(){
		"duplicate": func() { mux.HandleFunc("ani", func(context.Context, *agi.Session) {}) },
		"nil":       func() { mux.Handle("x", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s registration did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestHandlerPanic(t *testing.T) {
	srv := startServer(t, agi.HandlerFunc(func(ctx context.Context, s *agi.Session) {
		s.Exec(ctx, "Ringing")
		panic("boom")
	}))
	tr, err := agitest.Dial(testContext(t), srv.Addr, agitest.Call{UniqueID: "1732350000.9"})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.ClosedByServer {
		t.Error("connection not closed after panic")
	}
	srv.Stop()
	rec := srv.Logs.Find(t, "agi handler panicked")
	if rec["panic"] != "boom" || rec["uniqueid"] != "1732350000.9" || rec["channel"] != "PJSIP/trunk-00000001" || rec["remote"] == nil {
		t.Errorf("log record %v", rec)
	}
	if e := srv.Obs.Only(t); e.Err == nil || !strings.Contains(e.Err.Error(), "boom") {
		t.Errorf("observer error %v", e.Err)
	}
}

func TestCallerHangsUpMidSession(t *testing.T) {
	got := make(chan error, 1)
	srv := startServer(t, agi.HandlerFunc(func(ctx context.Context, s *agi.Session) {
		if _, err := s.Exec(ctx, "Ringing"); err != nil {
			t.Errorf("Ringing: %v", err)
		}
		// The caller is gone and Asterisk (AGIEXITONHANGUP) closed the
		// socket: the next command must fail with ErrHangup, not hang.
		waitClosed(t, s.HangupReceived(), "HANGUP")
		_, err := s.Exec(ctx, "Wait", "1")
		got <- err
	}))
	tr, err := agitest.Dial(testContext(t), srv.Addr, agitest.Call{
		Hangup: agitest.CallerHangup{AfterReply: 1}, ExitOnHangup: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, agi.ErrHangup) {
		t.Errorf("command after hangup: %v", err)
	}
	if tr.HangupBy != "caller" || tr.ClosedByServer {
		t.Errorf("final state: by %q closed by server %v", tr.HangupBy, tr.ClosedByServer)
	}
	srv.Stop()
	if e := srv.Obs.Only(t); e.Err != nil {
		t.Errorf("a caller hanging up is not a session error: %v", e.Err)
	}
}

func TestHangupWhileIdle(t *testing.T) {
	srv := startServer(t, agi.HandlerFunc(func(ctx context.Context, s *agi.Session) {
		s.Exec(ctx, "Ringing")
		// Nothing is pending: the reader must still notice the HANGUP.
		waitClosed(t, s.HangupReceived(), "HANGUP while idle")
		if v, ok, err := s.GetVariable(ctx, "HANGUPCAUSE"); err != nil || !ok || v != "16" {
			t.Errorf("HANGUPCAUSE on the dead channel = %q %v %v", v, ok, err)
		}
	}))
	tr, err := agitest.Dial(testContext(t), srv.Addr, agitest.Call{Hangup: agitest.CallerHangup{After: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if tr.HangupBy != "caller" || !tr.ClosedByServer {
		t.Errorf("final state: %+v", tr)
	}
}

// rawSession connects, sends input, and reads until the server closes.
func rawSession(t *testing.T, addr, input string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testWait))
	// The server may close before it has read everything: that is the
	// point, so a failed write is fine.
	io.WriteString(conn, input)
	conn.(*net.TCPConn).CloseWrite()
	if _, err := io.Copy(io.Discard, conn); err != nil && !closed(err) {
		t.Fatalf("server did not close the connection: %v", err)
	}
}

func TestBadEnvironment(t *testing.T) {
	head := "agi_network: yes\nagi_network_script: ani\nagi_request: agi://h/ani\nagi_channel: PJSIP/x-00000001\nagi_uniqueid: 77.1\n"
	tests := []struct {
		name   string
		input  string
		opts   []agi.Option
		reason string
	}{
		{"malformed line", head + "garbage\n\n", nil, "not a name: value line"},
		{"bad integer", head + "agi_priority: x\n\n", nil, "agi_priority is not an integer"},
		{"truncated block", head, nil, "environment cut off"},
		{"no newline", head + "agi_language: e", nil, "connection closed in the middle of a line"},
		{"over-long line", head + "agi_callerid: " + strings.Repeat("9", 200) + "\n\n", []agi.Option{agi.WithMaxLineLength(128)}, "line longer than 128 bytes"},
		{"too many lines", head + "\n", []agi.Option{agi.WithMaxEnvLines(3)}, "environment longer than 3 lines"},
		{"missing channel", "agi_network: yes\nagi_request: agi://h/ani\n\n", nil, "agi_channel missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, agi.HandlerFunc(func(context.Context, *agi.Session) { t.Error("handler ran") }), tt.opts...)
			rawSession(t, srv.Addr, tt.input)
			srv.Stop()
			rec := srv.Logs.Find(t, "agi bad environment")
			if !strings.Contains(rec["err"].(string), tt.reason) || rec["remote"] == nil {
				t.Errorf("log record %v, want reason %q", rec, tt.reason)
			}
			if tt.name != "missing channel" && tt.name != "too many lines" && (rec["channel"] != "PJSIP/x-00000001" || rec["uniqueid"] != "77.1") {
				t.Errorf("log record lacks the call: %v", rec)
			}
			var pe *agi.ProtocolError
			if e := srv.Obs.Only(t); !errors.As(e.Err, &pe) {
				t.Errorf("observer error %v, want a ProtocolError", e.Err)
			}
		})
	}
}

func TestSilentConnection(t *testing.T) {
	srv := startServer(t, agi.HandlerFunc(func(context.Context, *agi.Session) { t.Error("handler ran") }))
	rawSession(t, srv.Addr, "")
	srv.Stop()
	srv.Logs.Find(t, "agi connection closed before the environment")
	if e := srv.Obs.Only(t); !errors.Is(e.Err, io.EOF) {
		t.Errorf("observer error %v", e.Err)
	}
}

func TestMalformedReply(t *testing.T) {
	got := make(chan error, 1)
	srv := startServer(t, agi.HandlerFunc(func(ctx context.Context, s *agi.Session) {
		_, err := s.Exec(ctx, "Ringing")
		got <- err
		if _, err := s.Exec(ctx, "Ringing"); err == nil {
			t.Error("session still usable after a malformed reply")
		}
	}))
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testWait))
	io.WriteString(conn, strings.Join(pjsipEnvLines, "\n")+"\n\n")
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || line != "EXEC Ringing\n" {
		t.Fatalf("command %q %v", line, err)
	}
	io.WriteString(conn, "OK \x1b[31mfine\n")
	var pe *agi.ProtocolError
	if err := <-got; !errors.As(err, &pe) || strings.Contains(pe.Line, "\x1b") {
		t.Fatalf("Exec error %v, want a sanitised ProtocolError", err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil && !closed(err) {
		t.Fatal(err)
	}
	srv.Stop()
	rec := srv.Logs.Find(t, "agi session ended with error")
	if !strings.Contains(rec["err"].(string), "malformed reply") || rec["channel"] != "PJSIP/sipp-00000000" {
		t.Errorf("log record %v", rec)
	}
}

var pjsipEnvLines = []string{
	"agi_network: yes", "agi_network_script: ani", "agi_request: agi://127.0.0.1:4573/ani",
	"agi_channel: PJSIP/sipp-00000000", "agi_uniqueid: 1732350000.0",
}

func TestSessionTimeout(t *testing.T) {
	got := make(chan error, 1)
	srv := startServer(t, agi.HandlerFunc(func(ctx context.Context, s *agi.Session) {
		<-ctx.Done()
		_, err := s.Exec(ctx, "Ringing")
		got <- err
	}), agi.WithSessionTimeout(50*time.Millisecond))
	if _, err := agitest.Dial(testContext(t), srv.Addr, agitest.Call{}); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, agi.ErrSessionTimeout) {
		t.Errorf("command after the session timeout: %v", err)
	}
	srv.Stop()
	if e := srv.Obs.Only(t); !errors.Is(e.Err, agi.ErrSessionTimeout) {
		t.Errorf("observer error %v", e.Err)
	}
}

func TestCommandContextCancelled(t *testing.T) {
	got := make(chan error, 1)
	srv := startServer(t, agi.HandlerFunc(func(ctx context.Context, s *agi.Session) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := s.Exec(cctx, "Ringing")
		got <- err
		// A command that never went out leaves the session usable.
		if _, err := s.Exec(ctx, "Ringing"); err != nil {
			t.Errorf("Exec after a cancelled one: %v", err)
		}
	}))
	tr, err := agitest.Dial(testContext(t), srv.Addr, agitest.Call{})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("Exec with a cancelled context: %v", err)
	}
	if len(tr.Commands) != 1 {
		t.Errorf("commands %q", tr.CommandLines())
	}
}

func TestShutdownCutsOffSessions(t *testing.T) {
	inHandler := make(chan struct{})
	sawCancel := make(chan bool, 1)
	srv := startServer(t, agi.HandlerFunc(func(ctx context.Context, s *agi.Session) {
		close(inHandler)
		<-ctx.Done()
		sawCancel <- true
	}), agi.WithShutdownTimeout(10*time.Millisecond))
	dialed := make(chan *agitest.Transcript, 1)
	go func() {
		tr, err := agitest.Dial(testContext(t), srv.Addr, agitest.Call{})
		if err != nil {
			t.Errorf("Dial: %v", err)
		}
		dialed <- tr
	}()
	waitClosed(t, inHandler, "the session to start")
	srv.Stop()
	if !<-sawCancel {
		t.Error("handler context not cancelled")
	}
	if tr := <-dialed; tr == nil || !tr.ClosedByServer {
		t.Errorf("fake not released: %+v", tr)
	}
}

func TestShutdownWaitsForSessions(t *testing.T) {
	inHandler := make(chan struct{})
	release := make(chan struct{})
	finished := make(chan bool, 1)
	srv := startServer(t, agi.HandlerFunc(func(ctx context.Context, s *agi.Session) {
		close(inHandler)
		<-release
		// Graceful stop: the session context is still alive.
		_, err := s.Exec(ctx, "Ringing")
		finished <- err == nil
	}))
	go agitest.Dial(testContext(t), srv.Addr, agitest.Call{})
	waitClosed(t, inHandler, "the session to start")
	stopped := make(chan struct{})
	go func() {
		srv.Stop()
		close(stopped)
	}()
	close(release)
	waitClosed(t, stopped, "Serve to return")
	if !<-finished {
		t.Error("session could not finish during a graceful stop")
	}
}

func TestListenAndServe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	srv := agi.NewServer(agi.NewMux())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx, "127.0.0.1:0") }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testWait):
		t.Fatal("ListenAndServe did not return")
	}
	if err := agi.NewServer(agi.NewMux()).ListenAndServe(t.Context(), "127.0.0.1:-1"); err == nil {
		t.Error("bad address accepted")
	}
}

// flakyListener fails its first Accept with EMFILE, as a process out of
// file descriptors does.
type flakyListener struct {
	net.Listener
	failed bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestAcceptRetriesTransientErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- agi.NewServer(agi.HandlerFunc(func(ctx context.Context, s *agi.Session) {
			s.Exec(ctx, "PJSIPHangup", "603")
		})).Serve(ctx, &flakyListener{Listener: ln})
	}()
	tr, err := agitest.Dial(testContext(t), ln.Addr().String(), agitest.Call{})
	if err != nil || tr.SIPCode != 603 {
		t.Errorf("call after a transient accept error: %v %+v", err, tr)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestListenConfigKeepAliveOff checks that a connection accepted by a
// FastAGI listener has TCP keep-alive off, as ListenConfig documents
// (Go's default turns it on, with four setsockopt calls per connection).
func TestListenConfigKeepAliveOff(t *testing.T) {
	lc := agi.ListenConfig()
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on int
	var optErr error
	if err := raw.Control(func(fd uintptr) {
		on, optErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil {
		t.Fatal(err)
	}
	if optErr != nil {
		t.Fatal(optErr)
	}
	if on != 0 {
		t.Errorf("SO_KEEPALIVE = %d on an accepted FastAGI connection, want 0", on)
	}
}
