package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/callbackd/callbackd/auth"
)

// Options configures the SMTP listener. Zero values take the defaults in
// the comments.
type Options struct {
	Handler *Handler
	// Domain is the name the server gives in its greeting: localhost.
	Domain string
	// MaxMessageBytes is the largest message accepted (SIZE): 256 KiB.
	MaxMessageBytes int64
	// MaxRecipients per message: 5.
	MaxRecipients int
	// ReadTimeout and WriteTimeout bound each read and write of a client
	// connection, so idle or slow clients do not hold it: 60 s each.
	ReadTimeout, WriteTimeout time.Duration
	// Recipients, when not empty, are the only addresses RCPT TO accepts
	// (e.g. callback@example.com), case-insensitively; others get 550.
	Recipients []string
	// TrustedRelays are the addresses of MTAs that relay mail for many
	// senders (the operator's own mail server). For them failed passwords
	// are limited per sender address, not per relay, so that one sender
	// cannot lock out all others.
	TrustedRelays []netip.Prefix
	// TLSConfig, when set, offers STARTTLS.
	TLSConfig *tls.Config
	// HandleTimeout bounds authenticating and queueing one message: 30 s.
	HandleTimeout time.Duration
	// ShutdownGrace is how long messages in transfer may finish when the
	// server stops: 10 s.
	ShutdownGrace time.Duration
	Logger        *slog.Logger
}

// Server is the built-in SMTP listener of the email trigger.
type Server struct {
	o   Options
	log *slog.Logger
}

// DefaultOptions returns the defaults NewServer fills in for options left
// zero.
func DefaultOptions() Options {
	return Options{Domain: "localhost", MaxMessageBytes: MaxMessageBytes, MaxRecipients: 5,
		ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, HandleTimeout: 30 * time.Second}
}

// positiveOr returns v when it is positive, else def.
func positiveOr[T int | int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// NewServer checks o, fills in the defaults and returns a Server.
func NewServer(o Options) (*Server, error) {
	if o.Handler == nil {
		return nil, errors.New("smtp server: no handler")
	}
	d := DefaultOptions()
	if o.Domain == "" {
		o.Domain = d.Domain
	}
	o.MaxMessageBytes = positiveOr(o.MaxMessageBytes, d.MaxMessageBytes)
	o.MaxRecipients = positiveOr(o.MaxRecipients, d.MaxRecipients)
	o.ReadTimeout = positiveOr(o.ReadTimeout, d.ReadTimeout)
	o.WriteTimeout = positiveOr(o.WriteTimeout, d.WriteTimeout)
	o.HandleTimeout = positiveOr(o.HandleTimeout, d.HandleTimeout)
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	rcpts := make([]string, 0, len(o.Recipients))
	for _, r := range o.Recipients {
		if r = strings.ToLower(strings.TrimSpace(r)); r != "" {
			rcpts = append(rcpts, r)
		}
	}
	o.Recipients = rcpts
	return &Server{o: o, log: o.Logger.With("component", "smtp")}, nil
}

// ListenAndServe listens on addr (e.g. 127.0.0.1:2525) and serves until
// ctx is done.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp listen %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts SMTP connections on ln until ctx is done, then lets
// messages in transfer finish for ShutdownGrace and closes the rest. It
// returns nil after a shutdown and the accept error otherwise; ln is
// closed either way.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := smtp.NewServer(&backend{s: s, ctx: context.WithoutCancel(ctx)})
	srv.Domain = s.o.Domain
	srv.MaxMessageBytes = s.o.MaxMessageBytes
	srv.MaxRecipients = s.o.MaxRecipients
	srv.ReadTimeout = s.o.ReadTimeout
	srv.WriteTimeout = s.o.WriteTimeout
	srv.TLSConfig = s.o.TLSConfig
	srv.ErrorLog = errorLog{s.log}

	s.log.Info("SMTP listener started", "addr", ln.Addr().String(), "domain", s.o.Domain,
		"max_message_bytes", s.o.MaxMessageBytes, "recipients", strings.Join(s.o.Recipients, ","))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		srv.Close()
		if err != nil {
			return fmt.Errorf("smtp serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(grace); err != nil {
		s.log.Warn("SMTP shutdown: grace period over, closing open connections", "grace", s.o.ShutdownGrace)
		srv.Close()
	}
	<-errc
	s.log.Info("SMTP listener stopped")
	return nil
}

type backend struct {
	s   *Server
	ctx context.Context
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	var remote netip.Addr
	if ap, err := netip.ParseAddrPort(c.Conn().RemoteAddr().String()); err == nil {
		remote = ap.Addr().Unmap()
	}
	return &session{s: b.s, ctx: b.ctx, remote: remote}, nil
}

type session struct {
	s      *Server
	ctx    context.Context
	remote netip.Addr
	from   string
}

func (se *session) Reset()        { se.from = "" }
func (se *session) Logout() error { return nil }

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	se.from = strings.ToLower(from)
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	rc := se.s.o.Recipients
	if len(rc) > 0 && !slices.Contains(rc, strings.ToLower(to)) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "no such mailbox here: send callback requests to " + rc[0]}
	}
	return nil
}

// Data reads the message and answers for it: 250 with the request id, or
// the refusal with its reason.
func (se *session) Data(r io.Reader) error {
	cmd, err := parse(r, se.s.o.MaxMessageBytes)
	if err != nil {
		var serr *smtp.SMTPError
		if errors.As(err, &serr) {
			return serr // the transfer itself failed (size, reset)
		}
		se.s.log.Warn("email refused", "reason", err.Error(), "client", se.remote.String(), "mail_from", se.from)
		return smtpReply(nil, err)
	}
	source := se.remote.String()
	if se.trustedRelay() {
		source = se.from
		if source == "" {
			source = cmd.From
		}
	}
	ctx, cancel := context.WithTimeout(se.ctx, se.s.o.HandleTimeout)
	defer cancel()
	res, err := se.s.o.Handler.Handle(ctx, cmd, source)
	if err != nil {
		se.s.log.Warn("email refused", "reason", err.Error(), "account", cmd.Account,
			"client", se.remote.String(), "mail_from", se.from)
	}
	return smtpReply(res, err)
}

func (se *session) trustedRelay() bool {
	for _, p := range se.s.o.TrustedRelays {
		if se.remote.IsValid() && p.Contains(se.remote) {
			return true
		}
	}
	return false
}

// smtpReply turns the outcome of a message into the reply to DATA. A
// success is returned as an SMTPError with code 250 too: that is how
// go-smtp lets a session put its own text (the request id) in the reply.
func smtpReply(res *Result, err error) *smtp.SMTPError {
	reply := func(code int, enh smtp.EnhancedCode, msg string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: oneLine(msg)}
	}
	switch {
	case err == nil:
		what := "queued"
		if res.Duplicate {
			what = "already queued"
		}
		msg := fmt.Sprintf("callback request %d %s", res.Request.ID, what)
		if res.StatusURL != "" {
			msg += "; status: " + res.StatusURL
		}
		return reply(250, smtp.EnhancedCode{2, 0, 0}, msg)
	case errors.Is(err, ErrTooLarge):
		return reply(552, smtp.EnhancedCode{5, 3, 4}, err.Error())
	case errors.Is(err, ErrNoCommand), errors.Is(err, ErrMalformed):
		return reply(550, smtp.EnhancedCode{5, 6, 0}, err.Error())
	case errors.Is(err, auth.ErrBadCredentials):
		return reply(554, smtp.EnhancedCode{5, 7, 8}, "wrong account or password")
	case errors.Is(err, auth.ErrTooManyAttempts):
		return reply(554, smtp.EnhancedCode{5, 7, 1}, "too many failed attempts; wait a few minutes before sending again")
	case errors.Is(err, ErrRefused):
		return reply(554, smtp.EnhancedCode{5, 7, 1}, err.Error())
	}
	// Store down, or a failure we do not know: a temporary reply keeps the
	// message at the sending MTA, which tries again.
	return reply(451, smtp.EnhancedCode{4, 3, 0}, "callback service temporarily unavailable; try again later")
}

// oneLine keeps a reply to one line: the SMTP reply format has no room
// for the line breaks an error text might carry.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// errorLog sends go-smtp's internal errors to slog.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) {
	l.log.Warn("smtp: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}
func (l errorLog) Println(v ...any) {
	l.log.Warn("smtp: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
