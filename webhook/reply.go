package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"text/template"
	"time"
)

// ReplyOptions configure the replies to requesters: a templated message,
// when a request made by email or SMS finishes, mailed through an SMTP
// relay or texted through an SMS gateway.
type ReplyOptions struct {
	// SMTPRelay is the host:port the emails are handed to (port 25 or
	// 587, no authentication: a relay that accepts this host); STARTTLS is
	// used when the relay offers it. "" leaves email replies failed.
	SMTPRelay string
	From      string             // the From address of the emails
	Subject   *template.Template // nil: DefaultReplySubject
	Text      *template.Template // the email body and the SMS; nil: DefaultReplyText
	// SMSURL is the gateway's send endpoint: a POST of
	// {"to":"<number>","text":"...","request_id":N}, signed with
	// SMSSecret as webhooks are (Callbackd-Signature). "" leaves SMS
	// replies failed.
	SMSURL    string
	SMSSecret string
}

// The default templates. Their data is the Payload: .Result, .Request.ID,
// .Request.OriginalCLI, .Request.Destination, .Request.Duration (seconds)
// and the other fields documented there.
const (
	DefaultReplySubject = `Callback {{.Request.ID}}: {{or .Result "ended"}}`
	DefaultReplyText    = `Your callback {{.Request.ID}} to {{.Request.OriginalCLI}} has ended: {{or .Result "ended"}}` +
		`{{if .Request.Duration}}, talk time {{.Request.Duration}} s{{end}}.`
)

// ParseTemplate parses a reply template; "" is def.
func ParseTemplate(name, text, def string) (*template.Template, error) {
	if text == "" {
		text = def
	}
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Rendered once against a sample, so a field that does not exist is
	// refused at start rather than at the first reply.
	if err := t.Execute(io.Discard, Payload{Request: RequestBody{ID: 1}}); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

func (s *Sender) render(t *template.Template, def string, d *Delivery) (string, error) {
	if t == nil {
		t = template.Must(template.New("default").Parse(def))
	}
	var p Payload
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return "", fmt.Errorf("payload: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, p); err != nil {
		return "", err
	}
	return b.String(), nil
}

// errNotConfigured marks a row that cannot be sent as things are
// configured: it fails at once instead of being retried for a day.
var errNotConfigured = errors.New("not configured")

// sendEmail mails the reply of d to its address through the relay.
func (s *Sender) sendEmail(ctx context.Context, d *Delivery) error {
	r := s.o.Reply
	if r.SMTPRelay == "" || r.From == "" {
		return fmt.Errorf("%w: webhooks.smtp_relay and webhooks.reply_from must be set to mail replies", errNotConfigured)
	}
	to, err := mail.ParseAddress(d.Address)
	if err != nil {
		return fmt.Errorf("%w: reply address %q: %v", errNotConfigured, d.Address, err)
	}
	from, err := mail.ParseAddress(r.From)
	if err != nil {
		return fmt.Errorf("%w: webhooks.reply_from %q: %v", errNotConfigured, r.From, err)
	}
	subject, err := s.render(r.Subject, DefaultReplySubject, d)
	if err != nil {
		return fmt.Errorf("%w: subject template: %v", errNotConfigured, err)
	}
	text, err := s.render(r.Text, DefaultReplyText, d)
	if err != nil {
		return fmt.Errorf("%w: text template: %v", errNotConfigured, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", r.SMTPRelay)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(r.SMTPRelay)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to.Address); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <callbackd-reply-%d@%s>\r\n",
		from.String(), to.String(), mime.QEncoding.Encode("utf-8", oneLine(subject)), s.o.Now().UTC().Format(time.RFC1123Z), d.ID, host)
	fmt.Fprintf(&msg, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	msg.WriteString(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n"))
	msg.WriteString("\r\n")
	if _, err := w.Write(msg.Bytes()); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// smsBody is what the SMS gateway is sent.
type smsBody struct {
	To        string `json:"to"`
	Text      string `json:"text"`
	RequestID int64  `json:"request_id"`
}

// sendSMS posts the reply of d to the SMS gateway; a 2xx answer is sent.
func (s *Sender) sendSMS(ctx context.Context, d *Delivery) (int, error) {
	r := s.o.Reply
	if r.SMSURL == "" {
		return 0, fmt.Errorf("%w: webhooks.sms_url must be set to text replies", errNotConfigured)
	}
	text, err := s.render(r.Text, DefaultReplyText, d)
	if err != nil {
		return 0, fmt.Errorf("%w: text template: %v", errNotConfigured, err)
	}
	body, err := json.Marshal(smsBody{To: d.Address, Text: text, RequestID: d.RequestID})
	if err != nil {
		return 0, err
	}
	return s.postJSON(ctx, r.SMSURL, r.SMSSecret, d.ID, "request.reply", body)
}

// replyTarget names where a reply goes, for the logs.
func replyTarget(o ReplyOptions, c Channel) string {
	if c == ChannelSMS {
		return Redact(o.SMSURL)
	}
	return o.SMTPRelay
}
