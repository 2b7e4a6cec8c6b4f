package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/callback/callbacktest"
	"github.com/callbackd/callbackd/mail"
)

// fakeDialer places every callback successfully, as a real Asterisk would
// when both parties answer. A number may be held before one of the four
// steps, so a test can look at the status page while the call is there.
type fakeDialer struct {
	mu    sync.Mutex
	holds map[string]*hold // by number called back
}

type hold struct {
	before  int           // step index: 0 before leg A is dialled ... 3 before leg B answers
	reached chan struct{} // closed when the call waits there
	release chan struct{} // closed by the test to let it go on
}

func (f *fakeDialer) holdAt(number string, before int) *hold {
	h := &hold{before: before, reached: make(chan struct{}), release: make(chan struct{})}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holds == nil {
		f.holds = map[string]*hold{}
	}
	f.holds[number] = h
	return h
}

func (f *fakeDialer) WaitReady(ctx context.Context) error { return ctx.Err() }

func (f *fakeDialer) Dial(ctx context.Context, c *callback.Attempt) callback.Outcome {
	f.mu.Lock()
	h := f.holds[c.Request.OriginalCLI]
	f.mu.Unlock()
	id := fmt.Sprintf("cbd-%d-%d", c.Request.ID, c.Request.CallCount+1)
	steps := []func() error{
		func() error { return c.FirstLegInitiated(ctx, id+"-a") },
		func() error { return c.FirstLegConnected(ctx) },
		func() error { return c.SecondLegInitiated(ctx, id+"-b") },
		func() error { return c.SecondLegConnected(ctx) },
	}
	for i, step := range steps {
		if h != nil && h.before == i {
			close(h.reached)
			select {
			case <-h.release:
			case <-ctx.Done():
				return callback.Outcome{Err: ctx.Err()}
			}
		}
		if err := step(); err != nil {
			return callback.Outcome{Result: callback.ResultFirstLegAborted, Reason: err.Error()}
		}
	}
	return callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.CauseNormalClearing}
}

// system is the page and the email trigger over one store, with a real
// Dispatcher placing calls through the fake Dialer.
type system struct {
	*testPage
	dialer    *fakeDialer
	concluded *callbacktest.Concluded
	mail      *mail.Handler
	smtpAddr  string
}

func newSystem(t *testing.T, st callback.Store, opts ...func(*Options)) *system {
	t.Helper()
	seedAccounts(t, st)
	policy := callback.DefaultPolicy()
	policy.DelayBeforeCallback = 0
	policy.ShutdownGrace = time.Second
	s := &system{dialer: &fakeDialer{}, concluded: callbacktest.NewConcluded()}
	d, err := callback.NewDispatcher(callback.DispatcherOptions{
		Store: st, Dialer: s.dialer, Policy: policy, Node: "web-test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Observer: s.concluded,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	svc := &callback.Service{Store: st, Policy: policy, Notify: d.Notify}
	s.testPage = newTestPage(t, st, svc, opts...)

	s.mail, err = mail.NewHandler(mail.HandlerOptions{
		Service: svc, Auth: auth.New(st, nil, time.Minute, 5), Limits: mail.DefaultLimits(),
		Logger:    slog.New(slog.NewTextHandler(s.logs, nil)),
		StatusURL: func(id int64) string { return s.srv.URL + StatusPath(testKey, id) },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mail.NewServer(mail.Options{Handler: s.mail, Domain: "callback.example.com",
		Recipients: []string{"callback@example.com"}, Logger: slog.New(slog.NewTextHandler(s.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.smtpAddr = ln.Addr().String()
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan struct{})
	go func() {
		defer close(sdone)
		srv.Serve(sctx, ln)
	}()
	t.Cleanup(func() {
		scancel()
		<-sdone
	})
	return s
}

// waitFinished waits until the dispatcher has written the final outcome
// of request id and returns the request.
func (s *system) waitFinished(t testing.TB, id int64) *callback.Request {
	t.Helper()
	return s.concluded.WaitFinished(t, s.store, id)
}

// TestEndToEnd places a request made on the page and one made by email
// through a real Dispatcher, on both stores, and reads the outcome on the
// status page.
func TestEndToEnd(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := newSystem(t, st.open(t))
			u := s.user()

			// The page: extended mode.
			p := u.submit(ModeExtended, extended("+420 777 123 456", "+44 20 7946 0958"))
			if p.code != http.StatusSeeOther {
				t.Fatalf("submit: %d\n%s", p.code, p.body)
			}
			statusPath := p.header.Get("Location")
			r := s.requests()[0]
			if got := s.waitFinished(t, r.ID); got.Result != callback.ResultSuccessful || got.CallCount != 1 {
				t.Fatalf("web request finished %s/%s after %d calls", got.Status, got.Result, got.CallCount)
			}
			sp := u.get(statusPath)
			if !strings.Contains(sp.body, ">Finished: successful</h1>") || strings.Contains(sp.body, `http-equiv="refresh"`) {
				t.Fatalf("status page:\n%s", sp.body)
			}

			// Email: seed 002's example verbatim, through the SMTP listener.
			msg := "From: Alice <alice@example.com>\r\nTo: callback@example.com\r\nSubject: callback\r\n" +
				"Message-ID: <e2e-" + st.name + "@example.com>\r\n\r\nP 6192345678 1ak45 SN 6581433653 DN 420212345678\r\n"
			if err := smtp.SendMail(s.smtpAddr, nil, "alice@example.com", []string{"callback@example.com"}, []byte(msg)); err != nil {
				t.Fatalf("send mail: %v", err)
			}
			var er *callback.Request
			for _, x := range s.requests() {
				if x.Source == callback.SourceEmail {
					er = x
				}
			}
			if er == nil || er.OriginalCLI != "6581433653" || er.OriginalCLD != "2way_420212345678" || er.Username != testAccount {
				t.Fatalf("email request = %+v", er)
			}
			if got := s.waitFinished(t, er.ID); got.Result != callback.ResultSuccessful {
				t.Fatalf("email request finished %s/%s", got.Status, got.Result)
			}
			sp = u.get(StatusPath(testKey, er.ID))
			if !strings.Contains(sp.body, ">Finished: successful</h1>") {
				t.Fatalf("status page of the email request:\n%s", sp.body)
			}
		})
	}
}
