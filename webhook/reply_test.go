package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// relay is an SMTP server on 127.0.0.1 that keeps what it is given.
type relay struct {
	mu   sync.Mutex
	msgs []relayed
}

type relayed struct {
	from string
	to   []string
	data string
}

func (r *relay) NewSession(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }

type relaySession struct {
	r    *relay
	from string
	to   []string
}

func (s *relaySession) Reset()        { s.from, s.to = "", nil }
func (s *relaySession) Logout() error { return nil }
func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, relayed{s.from, s.to, string(b)})
	s.r.mu.Unlock()
	return nil
}

func startRelay(t *testing.T) (*relay, string) {
	r := &relay{}
	srv := smtp.NewServer(r)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r, ln.Addr().String()
}

// A request made by email gets a mail to its sender when it ends, one made
// by SMS a text to its number; other requests get neither.
func TestReplyToEmailAndSMSRequesters(t *testing.T) {
	eachStore(t, func(t *testing.T, st callback.Store) {
		ws := st.(webhook.Store)
		ws.SetWebhookPolicy(webhook.Policy{ReplyEmail: true, ReplySMS: true})
		mk := func(src callback.Source, cli string) *callback.Request {
			r := callback.NewRequest(src)
			r.Username, r.OriginalCLI, r.OriginalCLD, r.NextCall = "801", cli, "2way_12345", time.Now().Add(time.Hour)
			if err := st.CreateRequest(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			return r
		}
		byMail, bySMS, byAPI := mk(callback.SourceEmail, "4930111111"), mk(callback.SourceSMS, "4930222222"), mk(callback.SourceAPI, "4930333333")
		if err := ws.SetReplyAddress(context.Background(), byMail.ID, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*callback.Request{byMail, bySMS, byAPI} {
			if _, err := st.Cancel(context.Background(), r.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if ds := outbox(t, st, webhook.Filter{}); len(ds) != 2 {
			t.Fatalf("%d outbox rows, want the two replies", len(ds))
		}

		rl, addr := startRelay(t)
		var mu sync.Mutex
		var texts []map[string]any
		gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := webhook.Verify([]byte("sms_secret_0123456789"), r.Header.Get(webhook.SignatureHeader), body, time.Minute, time.Now()); err != nil {
				t.Errorf("SMS gateway: %v", err)
			}
			var m map[string]any
			json.Unmarshal(body, &m)
			mu.Lock()
			texts = append(texts, m)
			mu.Unlock()
		}))
		defer gw.Close()
		text, err := webhook.ParseTemplate("t", "Callback {{.Request.ID}} to {{.Request.OriginalCLI}}: {{.Result}}", webhook.DefaultReplyText)
		if err != nil {
			t.Fatal(err)
		}
		startSender(t, st, webhook.Options{Reply: webhook.ReplyOptions{SMTPRelay: addr, From: "Callbacks <callback@example.net>",
			Text: text, SMSURL: gw.URL, SMSSecret: "sms_secret_0123456789"}})
		waitFor(t, "both replies delivered", func() bool { return len(outbox(t, st, webhook.Filter{State: webhook.StateDelivered})) == 2 })

		rl.mu.Lock()
		defer rl.mu.Unlock()
		if len(rl.msgs) != 1 {
			t.Fatalf("%d mails relayed, want 1", len(rl.msgs))
		}
		m := rl.msgs[0]
		for _, want := range []string{"To: <alice@example.com>", "Subject: Callback ", ": Canceled", "Auto-Submitted: auto-replied",
			"Callback " + itoa(byMail.ID) + " to 4930111111: Canceled"} {
			if !strings.Contains(m.data, want) {
				t.Errorf("mail lacks %q:\n%s", want, m.data)
			}
		}
		if m.from != "callback@example.net" || len(m.to) != 1 || m.to[0] != "alice@example.com" {
			t.Errorf("envelope %s -> %v", m.from, m.to)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(texts) != 1 || texts[0]["to"] != "4930222222" || texts[0]["text"] != "Callback "+itoa(bySMS.ID)+" to 4930222222: Canceled" {
			t.Errorf("SMS gateway got %v", texts)
		}
	})
}

// A reply with nowhere to go (no relay configured) fails at once, saying
// what to set, rather than being retried for a day.
func TestReplyUnconfiguredFailsAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, st callback.Store) {
		ws := st.(webhook.Store)
		ws.SetWebhookPolicy(webhook.Policy{ReplySMS: true})
		r := callback.NewRequest(callback.SourceSMS)
		r.Username, r.OriginalCLI, r.OriginalCLD, r.NextCall = "801", "4930222222", "2way_12345", time.Now().Add(time.Hour)
		if err := st.CreateRequest(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Cancel(context.Background(), r.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		startSender(t, st, webhook.Options{})
		waitFor(t, "the reply to fail", func() bool { return len(outbox(t, st, webhook.Filter{State: webhook.StateFailed})) == 1 })
		if d := outbox(t, st, webhook.Filter{})[0]; d.Attempts != 1 || !strings.Contains(d.LastError, "webhooks.sms_url") {
			t.Errorf("row: attempts %d, error %q", d.Attempts, d.LastError)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
