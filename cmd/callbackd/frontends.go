package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/callingcard"
	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/httpapi"
	"github.com/callbackd/callbackd/mail"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/web"
)

// splitList splits a comma-separated configuration value.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func prefixes(key, s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range splitList(s) {
		pr, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		out = append(out, pr)
	}
	return out, nil
}

func newAuthenticator(c *Config, st callback.Store) *auth.Authenticator {
	a := auth.New(st, splitList(c.HTTP.APITokens), c.HTTP.Login.Every, c.HTTP.Login.Burst)
	l := auth.DefaultLimits(c.HTTP.Login.Every, c.HTTP.Login.Burst)
	l.PerAccount, l.PerSurface = c.Auth.AccountFailures, c.Auth.SurfaceFailures
	a.SetLimits(l)
	if b := sharedLimits(c, st); b != nil {
		a.ShareLimits(b)
	}
	return a
}

func webOptions(c *Config, svc *callback.Service, authn *auth.Authenticator, log *slog.Logger) (web.Options, error) {
	o := web.Options{Service: svc, Auth: authn, Key: []byte(c.Web.HMACKey), Title: c.Web.Title, Region: c.Web.Region,
		SecureCookies: c.Web.SecureCookies, FormTTL: c.Web.FormTTL, Refresh: c.Web.Refresh, Logger: log,
		Limits: c.Web.Limits}
	for _, m := range splitList(c.Web.Modes) {
		switch m {
		case web.ModeSimple:
			o.Simple = web.Simple{Enabled: true, Destination: c.Web.SimpleDestination, Auth: c.Web.SimpleAuth}
		case web.ModeExtended:
			o.Extended = web.Extended{Enabled: true}
		case web.ModeHosted:
			o.Hosted = web.Hosted{Enabled: true, Account: c.Web.HostedAccount, Destination: c.Web.HostedDestination,
				AllowedPrefixes: splitList(c.Web.HostedAllowedPrefixes)}
		default:
			return o, fmt.Errorf("web.modes: unknown mode %q: want simple, extended or hosted", m)
		}
	}
	var err error
	if o.TrustedProxies, err = prefixes("web.trusted_proxies", c.Web.TrustedProxies); err != nil {
		return o, err
	}
	o.SharedLimits = sharedLimits(c, serviceStore(svc))
	return o, o.Validate()
}

func mailHandler(c *Config, svc *callback.Service, authn *auth.Authenticator, log *slog.Logger) (*mail.Handler, error) {
	ho := mail.HandlerOptions{Service: svc, Auth: authn, Logger: log, Limits: c.SMTP.Limits}
	ho.SharedLimits = sharedLimits(c, serviceStore(svc))
	if c.Web.PublicURL != "" && len(c.Web.HMACKey) >= web.MinKeyBytes {
		base, key := strings.TrimRight(c.Web.PublicURL, "/"), []byte(c.Web.HMACKey)
		ho.StatusURL = func(id int64) string { return base + web.StatusPath(key, id) }
	}
	return mail.NewHandler(ho)
}

func httpOptions(c *Config, st callback.Store, svc *callback.Service, authn *auth.Authenticator, log *slog.Logger) (httpapi.Options, error) {
	lim := httpapi.DefaultLimits()
	lim.PerSource, lim.PerAccount, lim.PerSender = c.HTTP.PerSource, c.HTTP.PerAccount, c.SMS.PerSender
	proxies, err := prefixes("http.trusted_proxies", c.HTTP.TrustedProxies)
	if err != nil {
		return httpapi.Options{}, err
	}
	return httpapi.Options{Store: st, Service: svc, Authenticator: authn, Logger: log, Limits: &lim, TrustedProxies: proxies,
		SharedLimits: sharedLimits(c, st),
		SMS:          httpapi.SMSOptions{Secret: c.SMS.Secret, TwilioAuthToken: c.SMS.TwilioAuthToken, PublicURL: c.SMS.PublicURL},
		Admin:        newAdminService(c, st, svc.Notify)}, nil
}

// newController builds the ARI controller from the ari.* options.
// pinLogin is called after each PIN login in the calling card (Mizu
// anumberhandling "add").
func newController(c *Config, st callback.Store, m *metrics.Metrics, biller *billing.Biller, authn *auth.Authenticator, inbound ari.InboundFunc,
	pinLogin func(context.Context, *callback.Request, *callback.Account), log *slog.Logger) (*ari.Controller, error) {
	legB, err := callingcard.ParseLegBCLI(c.ARI.CardLegBCLI)
	if err != nil {
		return nil, fmt.Errorf("ari.card_leg_b_cli: %w", err)
	}
	legA, err := ari.ParseLegACLI(c.ARI.LegACLI)
	if err != nil {
		return nil, fmt.Errorf("ari.leg_a_cli: %w", err)
	}
	// One choice of prompt languages, and one log line per missing
	// prompt, for both sub-applications.
	prompts := &ari.Prompts{}
	cc, err := callingcard.New(callingcard.Options{Biller: biller, PINs: authn.Surface(auth.SurfaceIVR), LegBCLI: legB, OnPINLogin: pinLogin,
		Prompts: prompts})
	if err != nil {
		return nil, fmt.Errorf("calling card: %w", err)
	}
	twoWay := ari.TwoWay{BusyPrompts: c.ARI.TwoWayBusyPrompts, Prompts: prompts}
	if c.ARI.BillTwoWay {
		twoWay.Biller = biller
	}
	trunks := append(trunkOptions(c), serverOptions(c)...)
	return ari.New(append(trunks,
		ari.WithApp(callback.SubAppCallingCard, cc),
		ari.WithApp(callback.SubAppTwoWay, twoWay),
		ari.WithURL(c.ARI.URL),
		ari.WithCredentials(c.ARI.User, c.ARI.Password),
		ari.WithAppName(c.ARI.App),
		ari.WithMaxChannels(c.ARI.MaxChannels),
		ari.WithMaxRequests(c.ARI.MaxRequests),
		ari.WithChannelPrefix(c.ARI.ChannelPrefix),
		ari.WithAccessNumbers(st),
		ari.WithLegACLI(legA),
		ari.WithInbound(inbound, c.ARI.IVRWait),
		ari.WithLogger(log),
		ari.WithObserver(m.ARIObserver()),
	)...)
}

// smtpComponent is the built-in SMTP listener of the email trigger.
func smtpComponent(c *Config, svc *callback.Service, authn *auth.Authenticator, log *slog.Logger) (component, error) {
	mh, err := mailHandler(c, svc, authn, log)
	if err != nil {
		return component{}, err
	}
	relays, err := prefixes("smtp.trusted_relays", c.SMTP.TrustedRelays)
	if err != nil {
		return component{}, err
	}
	ms, err := mail.NewServer(mail.Options{Handler: mh, Domain: c.SMTP.Domain,
		MaxMessageBytes: int64(c.SMTP.MaxMessageBytes), MaxRecipients: c.SMTP.MaxRecipients,
		ReadTimeout: c.SMTP.ReadTimeout, WriteTimeout: c.SMTP.WriteTimeout,
		Recipients: splitList(c.SMTP.Recipients), TrustedRelays: relays, Logger: log})
	if err != nil {
		return component{}, err
	}
	return component{name: "smtp", addr: c.SMTP.Listen, serve: ms.Serve}, nil
}

// httpComponent serves h on addr until ctx is done, then shuts down
// gracefully: requests in flight finish (bounded), nothing new is taken.
func httpComponent(addr string, h http.Handler, log *slog.Logger) component {
	return component{name: "http", addr: addr, serve: func(ctx context.Context, ln net.Listener) error {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		log.Info("HTTP server listening", "addr", ln.Addr().String())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("http shutdown: %w", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}}
}

// exitError carries a process exit status for commands run by other
// programs (the MTA pipe).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// mail reads one message on stdin and queues its callback: the MTA pipe
// form of the email trigger. Exit codes are sysexits' so the MTA bounces
// malformed mail and bad credentials, and keeps the message when the store
// is down.
func (e *env) mail(args []string) error {
	fs, cfgPath := e.flags("mail")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.loadConfig(*cfgPath)
	if err != nil {
		return exitError{mail.ExitTempFail, err}
	}
	log, err := newLogger(&c, e.stderr)
	if err != nil {
		return exitError{mail.ExitTempFail, err}
	}
	st, err := openStore(e.ctx, &c, log)
	if err != nil {
		return exitError{mail.ExitTempFail, err}
	}
	defer st.Close()
	// No Notify: the serving process finds the row at its next scan.
	svc := &callback.Service{Store: st, Policy: c.Policy(), Check: newRequestChecker(&c, newBiller(&c, st))}
	h, err := mailHandler(&c, svc, newAuthenticator(&c, st), log)
	if err != nil {
		return exitError{mail.ExitTempFail, err}
	}
	if err := mail.Pipe(e.ctx, e.stdin, h); err != nil {
		return exitError{mail.ExitCode(err), err}
	}
	return nil
}

// serverOptions are the servers of ari.servers; none when the list is
// empty (ari.url is then the only server).
func serverOptions(c *Config) []ari.Option {
	var out []ari.Option
	for _, s := range c.ARI.Servers {
		user := s.User
		if user == "" {
			user = c.ARI.User
		}
		out = append(out, ari.WithServer(ari.Server{Name: s.Name, URL: s.URL, User: user, Password: s.Password,
			MaxChannels: s.MaxChannels, Trunks: s.Trunks}))
	}
	return out
}

// ariConfigured reports whether an Asterisk is configured: ari.url or
// ari.servers.
func ariConfigured(c *Config) bool { return c.ARI.URL != "" || len(c.ARI.Servers) > 0 }

// trunkOptions are the trunks of ari.trunks, or the one trunk of
// ari.endpoint / ari.trunk when that list is empty.
func trunkOptions(c *Config) []ari.Option {
	trunks := []ari.Option{
		ari.WithTrunk(ari.Trunk{Name: c.ARI.Trunk, Dial: c.ARI.Endpoint, Endpoint: c.ARI.Trunk,
			CallsPerSecond: float64(c.ARI.CallsPerSecond), Realm: c.ARI.Realm, AuthType: c.ARI.AuthType,
			DiversionHost: c.ARI.DiversionHost}),
		ari.WithDefaultTrunk(c.ARI.Trunk),
	}
	if len(c.ARI.Trunks) > 0 {
		trunks = trunks[:0]
		for _, t := range c.ARI.Trunks {
			dial, ep := t.Endpoint, t.Trunk
			if dial == "" {
				dial = "PJSIP/{number}@{trunk}"
			}
			if ep == "" {
				ep = t.Name
			}
			trunks = append(trunks, ari.WithTrunk(ari.Trunk{Name: t.Name, Dial: dial, Endpoint: ep, CallsPerSecond: t.CallsPerSecond,
				Realm: c.ARI.Realm, AuthType: c.ARI.AuthType, DiversionHost: c.ARI.DiversionHost,
				Prefixes: t.Prefixes, Priority: t.Priority, Weight: t.Weight, MaxChannels: t.MaxChannels,
				IdentityHeader: t.IdentityHeader, IdentityHost: t.IdentityHost, CallerIDPrefix: t.CallerIDPrefix}))
		}
	}
	return trunks
}
