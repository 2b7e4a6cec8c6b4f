package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/webhook"
)

// webhookPolicy is what the store writes to the outbox under c.
func webhookPolicy(c *Config) webhook.Policy {
	ev, _ := webhook.ParseEvents(c.Webhooks.Events)
	return webhook.Policy{Enabled: c.Webhooks.Enabled, Global: c.Webhooks.URL != "", GlobalEvents: ev,
		ReplyEmail: c.Webhooks.ReplyEmail, ReplySMS: c.Webhooks.ReplySMS}
}

// setWebhookPolicy tells st which status changes write outbox rows, so
// that every process changing statuses (serve, and the admin commands
// such as request cancel) writes them alike.
func setWebhookPolicy(c *Config, st callback.Store) error {
	if _, err := webhook.ParseEvents(c.Webhooks.Events); err != nil {
		return fmt.Errorf("webhooks.events: %w", err)
	}
	if ws, ok := st.(webhook.Store); ok {
		ws.SetWebhookPolicy(webhookPolicy(c))
	}
	return nil
}

// webhookComponent is the sender of the outbox, when webhooks.enabled.
// owner is the dispatcher's lease owner ("<node>/<boot>"): the sender's
// leases carry the same name.
func webhookComponent(c *Config, st callback.Store, owner string, m *metrics.Metrics, log *slog.Logger) (component, error) {
	ws, ok := st.(webhook.Store)
	if !ok {
		return component{}, errors.New("webhooks.enabled: the store keeps no outbox")
	}
	ev, err := webhook.ParseEvents(c.Webhooks.Events)
	if err != nil {
		return component{}, fmt.Errorf("webhooks.events: %w", err)
	}
	reply, err := replyOptions(c)
	if err != nil {
		return component{}, err
	}
	prefix := ""
	if i := strings.LastIndex(owner, "/"); i >= 0 {
		prefix = owner[:i+1]
	}
	s, err := webhook.NewSender(webhook.Options{Store: ws, URL: c.Webhooks.URL, Secret: c.Webhooks.Secret, Events: ev,
		Owner: owner, OwnerPrefix: prefix, Workers: c.Webhooks.Workers, Timeout: c.Webhooks.Timeout, Poll: c.Webhooks.Poll,
		RetryFor: c.Webhooks.RetryFor, BackoffMin: c.Webhooks.BackoffMin, BackoffMax: c.Webhooks.BackoffMax, Keep: c.Webhooks.Keep,
		UserAgent: "callbackd/" + readBuildInfo().Version, Logger: log, Observer: m.WebhookObserver(), Reply: reply})
	if err != nil {
		return component{}, err
	}
	return component{name: "webhooks", run: s.Run}, nil
}

// replyOptions checks the webhooks.reply_* keys and parses the templates.
func replyOptions(c *Config) (webhook.ReplyOptions, error) {
	w := c.Webhooks
	o := webhook.ReplyOptions{SMTPRelay: w.SMTPRelay, From: w.ReplyFrom, SMSURL: w.SMSURL, SMSSecret: w.SMSSecret}
	if w.ReplyEmail {
		if w.SMTPRelay == "" || w.ReplyFrom == "" {
			return o, errors.New("webhooks.reply_email needs webhooks.smtp_relay and webhooks.reply_from")
		}
		if _, _, err := net.SplitHostPort(w.SMTPRelay); err != nil {
			return o, fmt.Errorf("webhooks.smtp_relay: want host:port: %w", err)
		}
		if _, err := mail.ParseAddress(w.ReplyFrom); err != nil {
			return o, fmt.Errorf("webhooks.reply_from: %w", err)
		}
	}
	if w.ReplySMS {
		if err := webhook.CheckURL(w.SMSURL); err != nil {
			return o, fmt.Errorf("webhooks.reply_sms needs webhooks.sms_url: %w", err)
		}
		if len(w.SMSSecret) < webhook.MinSecretBytes {
			return o, fmt.Errorf("webhooks.sms_secret: at least %d bytes are needed to sign the replies to webhooks.sms_url", webhook.MinSecretBytes)
		}
	}
	var err error
	if o.Subject, err = webhook.ParseTemplate("webhooks.reply_subject", w.ReplySubject, webhook.DefaultReplySubject); err != nil {
		return o, err
	}
	if o.Text, err = webhook.ParseTemplate("webhooks.reply_template", w.ReplyTemplate, webhook.DefaultReplyText); err != nil {
		return o, err
	}
	return o, nil
}

// webhookCmd runs `callbackd webhook <verb>` through the admin service,
// as operator cli: the rules, the roles and the audit log of the admin
// API and the console.
func (e *env) webhookCmd(verb string, args []string) error {
	fs, cfgPath := e.flags("webhook " + verb)
	var run func(ctx context.Context, svc *admin.Service) error
	switch verb {
	case "list":
		run = e.webhookList(fs)
	case "show":
		run = e.webhookShow(fs)
	case "resend":
		run = e.webhookResend(fs)
	case "account":
		run = e.webhookAccount(fs)
	default:
		fmt.Fprint(e.stderr, groupUsage("webhook"))
		return usageError{fmt.Sprintf("webhook: unknown subcommand %q (%s)", verb, strings.Join(subcommandNames("webhook"), ", "))}
	}
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, st, err := e.openAdminStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := adminService(&c, st)
	if err != nil {
		return err
	}
	return run(e.ctx, svc)
}

func deliveryID(fs *flag.FlagSet) (int64, error) {
	if fs.NArg() != 1 {
		return 0, usageError{"give one notification id (see callbackd webhook list)"}
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Sprintf("notification id %q: want a positive number", fs.Arg(0))}
	}
	return id, nil
}

func whTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000")
}

func whDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (e *env) webhookList(fs *flag.FlagSet) func(context.Context, *admin.Service) error {
	state := fs.String("state", "", "only notifications in this state: pending, retrying (pending after a failed attempt), delivered or failed (given up)")
	request := fs.Int64("request", 0, "only the notifications of this request")
	account := fs.String("account", "", "only those to this account's webhook")
	url := fs.String("url", "", "only those POSTed to this URL (an account's webhook, or webhooks.url)")
	before := fs.Int64("before", 0, "only ids below this (the next page)")
	limit := fs.Int("limit", 50, "at most this many, newest first")
	return func(ctx context.Context, svc *admin.Service) error {
		ds, err := svc.ListDeliveries(ctx, admin.CLIActor, admin.DeliveryFilter{State: *state, RequestID: *request, Account: *account,
			URL: *url, BeforeID: *before, Limit: *limit})
		if err != nil {
			return adminError(err, "notification", "list notifications: %w", err)
		}
		w := e.table()
		fmt.Fprintln(w, "ID\tREQUEST\tTO\tSTATUS\tRESULT\tSTATE\tATTEMPTS\tCREATED\tNEXT ATTEMPT\tCODE\tLAST ERROR")
		for _, d := range ds {
			target := whTarget(d, false)
			next := "-"
			if d.State == webhook.StatePending {
				next = whTime(d.NextAttempt)
			}
			code := "-"
			if d.LastCode != 0 {
				code = strconv.Itoa(d.LastCode)
			}
			fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, d.RequestID, target, d.Status, whDash(string(d.Result)),
				d.State, d.Attempts, whTime(d.Created), next, code, whDash(whCut(d.LastError, 60)))
		}
		return w.Flush()
	}
}

// whTarget says where a notification goes: a webhook, or a reply.
func whTarget(d *webhook.Delivery, long bool) string {
	switch {
	case d.Channel == webhook.ChannelEmail || d.Channel == webhook.ChannelSMS:
		return "reply " + string(d.Channel) + " " + d.Address
	case d.Account != "" && long:
		return "account " + d.Account + " (" + whDash(d.URL) + ")"
	case d.Account != "":
		return "account " + d.Account
	case long:
		return "global (webhooks.url)"
	}
	return "global"
}

func whCut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (e *env) webhookShow(fs *flag.FlagSet) func(context.Context, *admin.Service) error {
	return func(ctx context.Context, svc *admin.Service) error {
		id, err := deliveryID(fs)
		if err != nil {
			return err
		}
		d, err := svc.GetDelivery(ctx, admin.CLIActor, id)
		if err != nil {
			return whNotFound(err, "notification %d not found", id)
		}
		w := e.table()
		target := whTarget(d, true)
		for _, kv := range [][2]string{
			{"id", strconv.FormatInt(d.ID, 10)}, {"request", strconv.FormatInt(d.RequestID, 10)}, {"event", strconv.FormatInt(d.EventID, 10)},
			{"webhook", target}, {"status", string(d.Status)}, {"result", whDash(string(d.Result))}, {"state", string(d.State)},
			{"attempts", strconv.Itoa(d.Attempts)}, {"created", whTime(d.Created)}, {"queued", whTime(d.Queued)},
			{"next attempt", whTime(d.NextAttempt)}, {"lease", whDash(d.LeaseOwner)}, {"last code", strconv.Itoa(d.LastCode)},
			{"last error", whDash(d.LastError)}, {"delivered", whTime(d.Delivered)},
		} {
			fmt.Fprintf(w, "%s:\t%s\n", kv[0], kv[1])
		}
		if err := w.Flush(); err != nil {
			return err
		}
		as, err := svc.ListDeliveryAttempts(ctx, admin.CLIActor, id)
		if err != nil {
			return fmt.Errorf("attempts of notification %d: %w", id, err)
		}
		if len(as) == 0 {
			fmt.Fprintln(e.stdout, "attempt log: none yet")
		} else {
			fmt.Fprintln(e.stdout, "attempt log:")
			w = e.table()
			fmt.Fprintln(w, "#\tSTARTED\tDURATION\tCODE\tERROR\tNODE")
			for _, a := range as {
				code := "-"
				if a.Code != 0 {
					code = strconv.Itoa(a.Code)
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", a.Attempt, whTime(a.Started), a.Duration().Round(time.Millisecond), code,
					whDash(whCut(a.Error, 60)), a.Owner)
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
		_, err = fmt.Fprintf(e.stdout, "payload:\n%s\n", d.Payload)
		return err
	}
}

func (e *env) webhookResend(fs *flag.FlagSet) func(context.Context, *admin.Service) error {
	return func(ctx context.Context, svc *admin.Service) error {
		id, err := deliveryID(fs)
		if err != nil {
			return err
		}
		d, _, err := svc.ResendDelivery(ctx, admin.CLIActor, id)
		if err != nil {
			return whNotFound(err, "notification %d not found", id)
		}
		_, err = fmt.Fprintf(e.stdout, "notification %d (request %d, %s) is due again now; a running serve with webhooks.enabled sends it\n",
			d.ID, d.RequestID, d.Status)
		return err
	}
}

func (e *env) webhookAccount(fs *flag.FlagSet) func(context.Context, *admin.Service) error {
	username := fs.String("username", "", "the account (required)")
	url := fs.String("url", "", "set the account's webhook URL (http:// or https://)")
	secret := fs.String("secret", "", fmt.Sprintf("its signing secret, at least %d bytes (required for a new webhook; kept when left out)", webhook.MinSecretBytes))
	events := fs.String("events", "", "all (every status change) or final (Finished only); a new webhook: all")
	del := fs.Bool("delete", false, "remove the account's webhook")
	return func(ctx context.Context, svc *admin.Service) error {
		if err := required(fs, "username"); err != nil {
			return err
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		switch {
		case *del:
			w, err := svc.GetAccountWebhook(ctx, admin.CLIActor, *username)
			if err == nil && w == nil {
				return fmt.Errorf("account %s has no webhook", *username)
			}
			if err == nil {
				err = svc.RemoveAccountWebhook(ctx, admin.CLIActor, *username, "")
			}
			if err != nil {
				return adminError(err, "account "+*username, "remove the webhook of account %s: %w", *username, err)
			}
			_, err = fmt.Fprintf(e.stdout, "account %s: webhook removed\n", *username)
			return err
		case set["url"] || set["secret"] || set["events"]:
			var in admin.WebhookSettings
			if set["url"] {
				in.URL = url
			}
			if set["secret"] {
				in.Secret = secret
			}
			if set["events"] {
				in.Events = events
			}
			if _, err := svc.SetAccountWebhook(ctx, admin.CLIActor, *username, "", in); err != nil {
				return adminError(err, "account "+*username, "set the webhook of account %s: %w", *username, err)
			}
		}
		w, err := svc.GetAccountWebhook(ctx, admin.CLIActor, *username)
		if err != nil {
			return adminError(err, "account "+*username, "read the webhook of account %s: %w", *username, err)
		}
		if w == nil {
			return fmt.Errorf("account %s has no webhook", *username)
		}
		_, err = fmt.Fprintf(e.stdout, "account %s: webhook %s, events %s, secret (set)\n", w.Username, w.URL, w.Events)
		return err
	}
}

// whNotFound words a not-found error for the command line.
func whNotFound(err error, format string, args ...any) error {
	if errors.Is(err, callback.ErrNotFound) {
		return fmt.Errorf(format, args...)
	}
	return err
}
