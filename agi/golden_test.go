package agi_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/agi"
	"github.com/callbackd/callbackd/agi/agitest"
)

// transcript is a testdata file: the wire lines in order and the fake's
// settings needed to reproduce it.
type transcript struct {
	lines []agitest.WireLine
	env   []string
	fake  map[string]string
}

func readTranscript(t *testing.T, path string) transcript {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := transcript{fake: map[string]string{}}
	inEnv := true
	for line := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "# fake: "); ok {
			for kv := range strings.FieldsSeq(rest) {
				k, v, _ := strings.Cut(kv, "=")
				tr.fake[k] = v
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		from := "asterisk"
		switch {
		case strings.HasPrefix(line, "<"):
		case strings.HasPrefix(line, ">"):
			from = "server"
		default:
			t.Fatalf("%s: line %q is neither < nor >", path, line)
		}
		text := strings.TrimPrefix(line[1:], " ")
		tr.lines = append(tr.lines, agitest.WireLine{From: from, Text: text})
		if inEnv && from == "asterisk" {
			if text == "" {
				inEnv = false
			} else {
				tr.env = append(tr.env, text)
			}
		}
	}
	return tr
}

func (tr transcript) format() string {
	return (&agitest.Transcript{Wire: tr.lines}).Format()
}

// goldenHandlers drive the sessions recorded in testdata, checking on the
// way what the Session methods return.
func goldenHandlers(t *testing.T) map[string]agi.HandlerFunc {
	return map[string]agi.HandlerFunc{
		"pjsip_reject.txt": func(ctx context.Context, s *agi.Session) {
			if s.Env.CallerID != "801" || s.Env.Script != "ani" || len(s.Env.Args) != 2 || s.Env.Args[1] != "1234" {
				t.Errorf("env: %+v", s.Env)
			}
			if _, err := s.Exec(ctx, "Ringing"); err != nil {
				t.Errorf("Ringing: %v", err)
			}
			cli, ok, err := s.GetVariable(ctx, "CALLERID(num)")
			if err != nil || !ok || cli != "801" {
				t.Errorf("GetVariable = %q, %v, %v", cli, ok, err)
			}
			if err := s.SetVariable(ctx, "CALLBACKD_RESULT", "queued"); err != nil {
				t.Errorf("SetVariable: %v", err)
			}
			if err := s.Verbose(ctx, "callback queued for "+cli, 3); err != nil {
				t.Errorf("Verbose: %v", err)
			}
			r, err := s.Exec(ctx, "PJSIPHangup", "603")
			if err != nil || r.Result != -1 {
				t.Errorf("PJSIPHangup = %+v, %v", r, err)
			}
		},
		"caller_hangup.txt": func(ctx context.Context, s *agi.Session) {
			if s.Env.Params.Get("cli") != "+4930123" || s.Env.Script != "ani" {
				t.Errorf("params: %v", s.Env.Params)
			}
			if _, err := s.Exec(ctx, "Ringing"); err != nil {
				t.Errorf("Ringing: %v", err)
			}
			_, err := s.WaitForDigit(ctx, 3*time.Second)
			if !errors.Is(err, agi.ErrHangup) || !errors.Is(err, agi.ErrDeadChannel) || !s.HungUp() {
				t.Errorf("WaitForDigit after hangup: %v (hung up %v)", err, s.HungUp())
			}
		},
		"errors.txt": func(ctx context.Context, s *agi.Session) {
			_, err := s.Command(ctx, "GET", "VARIABLE")
			var ce *agi.CommandError
			if !errors.Is(err, agi.ErrUsage) || !errors.As(err, &ce) || !strings.Contains(ce.Usage(), "Example return code: 200 result=1 (testvariable)") {
				t.Errorf("usage: %v", err)
			}
			if _, err := s.Command(ctx, "FOO", "BAR"); !errors.Is(err, agi.ErrInvalidCommand) {
				t.Errorf("unknown command: %v", err)
			}
			if _, err := s.Exec(ctx, "NoSuchApp"); !errors.Is(err, agi.ErrNoApplication) {
				t.Errorf("unknown app: %v", err)
			}
			if r, err := s.Exec(ctx, "Hangup", "17"); err != nil || r.Result != -1 {
				t.Errorf("Hangup(17) = %+v, %v", r, err)
			}
			select {
			case <-s.HangupReceived():
			case <-ctx.Done():
				t.Errorf("no HANGUP after Hangup(17)")
				return
			}
			if v, ok, err := s.GetVariable(ctx, "HANGUPCAUSE"); err != nil || !ok || v != "17" {
				t.Errorf("HANGUPCAUSE = %q, %v, %v", v, ok, err)
			}
			if _, err := s.ChannelStatus(ctx); !errors.Is(err, agi.ErrDeadChannel) || !errors.Is(err, agi.ErrHangup) {
				t.Errorf("CHANNEL STATUS on a dead channel: %v", err)
			}
		},
	}
}

func goldenFiles(t *testing.T) []string {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	return files
}

// TestGoldenReplay plays Asterisk's side of each transcript byte for byte
// against the real server and checks that the server sends exactly the
// recorded commands, then closes.
func TestGoldenReplay(t *testing.T) {
	handlers := goldenHandlers(t)
	for _, path := range goldenFiles(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			h, ok := handlers[name]
			if !ok {
				t.Fatalf("no handler for %s", name)
			}
			tr := readTranscript(t, path)
			srv := startServer(t, h)
			conn, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(testWait))
			r := bufio.NewReader(conn)
			for i, l := range tr.lines {
				if l.From == "asterisk" {
					if _, err := io.WriteString(conn, l.Text+"\n"); err != nil {
						t.Fatalf("line %d: write: %v", i+1, err)
					}
					continue
				}
				got, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("line %d: want %q, read error %v", i+1, l.Text, err)
				}
				if got != l.Text+"\n" {
					t.Fatalf("line %d: server sent %q, transcript has %q", i+1, got, l.Text)
				}
			}
			if extra, err := r.ReadString('\n'); !closed(err) {
				t.Fatalf("server sent %q (%v) after the transcript instead of closing", extra, err)
			}
			srv.Stop()
			if e := srv.Obs.Only(t); e.Err != nil {
				t.Errorf("session error: %v", e.Err)
			}
		})
	}
}

// TestGoldenFake checks that agitest answers the recorded commands exactly
// as Asterisk did, so that tests built on the fake hold on the real thing.
func TestGoldenFake(t *testing.T) {
	handlers := goldenHandlers(t)
	for _, path := range goldenFiles(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			tr := readTranscript(t, path)
			srv := startServer(t, handlers[name])
			call := callFromEnv(t, tr.env)
			if n, ok := tr.fake["BeforeReply"]; ok {
				call.Hangup.BeforeReply, _ = strconv.Atoi(n)
			}
			got, err := agitest.Dial(testContext(t), srv.Addr, call)
			if err != nil {
				t.Fatal(err)
			}
			if got.Format() != tr.format() {
				t.Errorf("fake transcript differs from %s:\n--- fake\n%s--- golden\n%s", name, got.Format(), tr.format())
			}
		})
	}
}

// callFromEnv builds the agitest call that sends this environment block.
func callFromEnv(t *testing.T, lines []string) agitest.Call {
	t.Helper()
	env, err := agi.ParseEnv(lines)
	if err != nil {
		t.Fatal(err)
	}
	return agitest.Call{
		URL: env.Request, Args: env.Args, Channel: env.Channel, Type: env.Type,
		Language: env.Language, UniqueID: env.UniqueID, Version: env.Version,
		CallerID: env.CallerID, CallerIDName: env.CallerIDName, CallingPres: env.CallingPres,
		CallingANI2: env.CallingANI2, CallingTON: env.CallingTON, CallingTNS: env.CallingTNS,
		DNID: env.DNID, RDNIS: env.RDNIS, Context: env.Context, Extension: env.Extension,
		Priority: env.Priority, AccountCode: env.AccountCode, ThreadID: env.ThreadID,
		Enhanced: env.Enhanced,
	}
}

// closed reports a read error meaning the server closed the connection; a
// reset is a close with our last line still unread.
func closed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
