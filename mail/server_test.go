package mail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
	"github.com/callbackd/callbackd/store/dbtest"
)

// env is a Handler over a fresh SQLite store with the seed's account
// 6192345678 (password 1ak45) in it.
type env struct {
	store   callback.Store
	handler *Handler
}

func newEnv(t *testing.T, limits Limits) *env {
	t.Helper()
	ctx := t.Context()
	st := dbtest.SQLite(t)
	hash, err := auth.HashPassword("1ak45")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*callback.Account{
		{Username: "6192345678", PasswordHash: hash, Balance: 10 * callback.MoneyScale, Currency: "USD", MaxSessions: 2},
		{Username: "broke", PasswordHash: hash, Balance: 0, Currency: "USD", MaxSessions: 2},
	} {
		if err := st.CreateAccount(ctx, a); err != nil {
			t.Fatalf("create account: %v", err)
		}
	}
	svc := &callback.Service{Store: st, Policy: callback.DefaultPolicy()}
	h, err := NewHandler(HandlerOptions{
		Service:   svc,
		Auth:      auth.New(st, nil, time.Minute, 5),
		Limits:    limits,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		StatusURL: func(id int64) string { return fmt.Sprintf("https://callback.example.com/callback/status/t%d", id) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: st, handler: h}
}

func (e *env) requests(t *testing.T) []*callback.Request {
	t.Helper()
	rs, err := e.store.ListRequests(t.Context(), callback.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// startSMTP runs a Server on 127.0.0.1 and returns its address; it stops
// with the test.
func startSMTP(t *testing.T, o Options) string {
	t.Helper()
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// send delivers msg with net/smtp and returns the error of the step that
// failed (a *textproto.Error carries the reply code).
func send(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.example.com"); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func message(id, body string) string {
	return crlf("From: Alice <alice@example.com>\nTo: callback@example.com\nSubject: call me\nMessage-ID: <" + id + "@example.com>\n\n" + body + "\n")
}

func TestSMTP(t *testing.T) {
	e := newEnv(t, DefaultLimits())
	addr := startSMTP(t, Options{Handler: e.handler, Domain: "callback.example.com", Recipients: []string{"Callback@example.com"}})

	tests := []struct {
		name     string
		to       string
		msg      string
		code     int    // 0: accepted
		enhanced string // start of the reply text
		created  int    // requests in the store afterwards
	}{
		{"seed example", "callback@example.com", message("1", seedCommand), 0, "", 1},
		{"same message again", "callback@example.com", message("1", seedCommand), 0, "", 1},
		{"wrong recipient", "sales@example.com", message("2", seedCommand), 550, "5.1.1", 1},
		{"wrong format", "callback@example.com", message("3", "call me back please"), 550, "5.6.0", 1},
		{"missing SN", "callback@example.com", message("4", "P 6192345678 1ak45 6581433653"), 550, "5.6.0", 1},
		{"bad password", "callback@example.com", message("5", "P 6192345678 wrong SN 6581433653 DN 420212345678"), 554, "5.7.8", 1},
		{"unknown account", "callback@example.com", message("6", "P 1111111111 1ak45 SN 6581433653"), 554, "5.7.8", 1},
		{"number busy with another request", "callback@example.com", message("7", "P 6192345678 1ak45 SN 6581433653 DN 4401"), 554, "5.7.1", 1},
		{"no credit", "callback@example.com", message("8", "P broke 1ak45 SN 4912345678"), 554, "5.7.1", 1},
		{"too large", "callback@example.com", message("9", seedCommand+"\n"+strings.Repeat(strings.Repeat("x", 99)+"\n", MaxMessageBytes/100+1)), 552, "5.3.4", 1},
		{"calling card to another number", "callback@example.com", message("10", "P 6192345678 1ak45 SN 4420000000"), 0, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := send(addr, "alice@example.com", tt.to, tt.msg)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("send: %v", err)
				}
			} else {
				var te *textproto.Error
				if !errors.As(err, &te) || te.Code != tt.code || !strings.HasPrefix(te.Msg, tt.enhanced) {
					t.Fatalf("send: err = %v, want %d %s", err, tt.code, tt.enhanced)
				}
				if strings.Contains(te.Msg, "1ak45") {
					t.Fatalf("reply %q shows the password", te.Msg)
				}
			}
			if n := len(e.requests(t)); n != tt.created {
				t.Fatalf("%d requests in the store, want %d", n, tt.created)
			}
		})
	}
	rs := e.requests(t)
	r := rs[0]
	if r.Username != "6192345678" || r.OriginalCLI != "6581433653" || r.OriginalCLD != "2way_420212345678" ||
		r.Destination != "420212345678" || r.Source != callback.SourceEmail || r.Status != callback.StatusRequestReceived {
		t.Fatalf("request = %+v", r)
	}
	if rs[1].OriginalCLD != "callingcard" || rs[1].Destination != "" {
		t.Fatalf("DN-less request = %+v, want the calling card", rs[1])
	}
}

// TestSMTPReplyCarriesRequestID speaks SMTP by hand to read the 250 line.
func TestSMTPReplyCarriesRequestID(t *testing.T) {
	e := newEnv(t, noLimits)
	addr := startSMTP(t, Options{Handler: e.handler})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := textproto.NewConn(conn)
	expect := func(code int) string {
		t.Helper()
		_, msg, err := tc.ReadResponse(code)
		if err != nil {
			t.Fatalf("want %d: %v", code, err)
		}
		return msg
	}
	cmd := func(format string, args ...any) {
		t.Helper()
		if err := tc.PrintfLine(format, args...); err != nil {
			t.Fatal(err)
		}
	}
	expect(220)
	cmd("EHLO client.example.com")
	expect(250)
	cmd("MAIL FROM:<alice@example.com>")
	expect(250)
	cmd("RCPT TO:<callback@example.com>")
	expect(250)
	cmd("DATA")
	expect(354)
	w := tc.DotWriter()
	io.WriteString(w, message("42", seedCommand))
	w.Close()
	msg := expect(250)
	r := e.requests(t)[0]
	want := fmt.Sprintf("2.0.0 callback request %d queued; status: https://callback.example.com/callback/status/t%d", r.ID, r.ID)
	if msg != want {
		t.Fatalf("reply %q, want %q", msg, want)
	}
	cmd("QUIT")
	expect(221)
}

// failingStore is a store whose database is down.
type failingStore struct{ callback.Store }

var errDown = errors.New("dial tcp 127.0.0.1:3306: connection refused")

func (failingStore) GetRequestByKey(context.Context, string) (*callback.Request, error) {
	return nil, errDown
}
func (failingStore) PendingForCLI(context.Context, string) (*callback.Request, error) {
	return nil, errDown
}

func TestStoreDownIsTemporary(t *testing.T) {
	e := newEnv(t, noLimits)
	svc := &callback.Service{Store: failingStore{e.store}, Policy: callback.DefaultPolicy()}
	h, err := NewHandler(HandlerOptions{Service: svc, Auth: auth.New(e.store, nil, time.Minute, 5), Limits: noLimits,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr := startSMTP(t, Options{Handler: h})
	err = send(addr, "alice@example.com", "callback@example.com", message("1", seedCommand))
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 451 || !strings.HasPrefix(te.Msg, "4.3.0") {
		t.Fatalf("send: err = %v, want 451 4.3.0", err)
	}
	if strings.Contains(te.Msg, "3306") {
		t.Fatalf("reply %q leaks the store's address", te.Msg)
	}
	err = Pipe(t.Context(), strings.NewReader(message("1", seedCommand)), h)
	if !errors.Is(err, ErrUnavailable) || ExitCode(err) != ExitTempFail {
		t.Fatalf("Pipe: err = %v (exit %d), want ErrUnavailable and %d", err, ExitCode(err), ExitTempFail)
	}
	if n := len(e.requests(t)); n != 0 {
		t.Fatalf("%d requests created while the store was down", n)
	}
}

func TestPipeExitCodes(t *testing.T) {
	e := newEnv(t, noLimits)
	tests := []struct {
		name string
		msg  string
		exit int
	}{
		{"seed example", message("1", seedCommand), ExitOK},
		{"wrong format", message("2", "hello"), ExitDataErr},
		{"malformed", message("3", "P 6192345678 1ak45 SN"), ExitDataErr},
		{"bad password", message("4", "P 6192345678 nope SN 4930123456"), ExitNoPerm},
		{"too large", strings.Repeat("x", MaxMessageBytes+1), ExitDataErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Pipe(t.Context(), strings.NewReader(tt.msg), e.handler)
			if got := ExitCode(err); got != tt.exit {
				t.Fatalf("Pipe: err = %v, exit %d, want %d", err, got, tt.exit)
			}
		})
	}
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestHandleLimits(t *testing.T) {
	e := newEnv(t, Limits{PerAccount: limitOne, PerNumber: limitOne})
	ctx := t.Context()
	cmd := Command{Account: "6192345678", Password: "1ak45", CallbackNumber: "4930111111"}
	if _, err := e.handler.Handle(ctx, cmd, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	cmd.CallbackNumber = "4930222222"
	_, err := e.handler.Handle(ctx, cmd, "192.0.2.1")
	var re *RefusedError
	if !errors.As(err, &re) || ExitCode(err) != ExitNoPerm {
		t.Fatalf("second request: err = %v, want a per-account refusal", err)
	}
}

// TestHandleConcurrentDuplicates sends one message through many
// deliveries at once: exactly one request results.
func TestHandleConcurrentDuplicates(t *testing.T) {
	e := newEnv(t, noLimits)
	cmd := seedWant
	cmd.MessageID = "<dup@example.com>"
	var wg sync.WaitGroup
	ids := make([]int64, 8)
	for i := range ids {
		wg.Go(func() {
			res, err := e.handler.Handle(context.Background(), cmd, "192.0.2.1")
			if err != nil {
				t.Errorf("Handle: %v", err)
				return
			}
			ids[i] = res.Request.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids %v: want one request", ids)
		}
	}
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestSMTPMaxRecipients(t *testing.T) {
	e := newEnv(t, noLimits)
	addr := startSMTP(t, Options{Handler: e.handler, MaxRecipients: 1})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("a@example.com"); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("b@example.com")
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 452 {
		t.Fatalf("second RCPT: %v, want 452", err)
	}
}

var limitOne = limiter.Limit{Every: time.Hour, Burst: 1}

// noLimits turns both limits off (a zero Every), where a test is not
// about them.
var noLimits = Limits{PerAccount: limiter.Limit{Burst: 1}, PerNumber: limiter.Limit{Burst: 1}}
