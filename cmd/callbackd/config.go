package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/mysql"
)

// Config is callbackd's configuration: a YAML file, then CALLBACKD_*
// environment variables, then flags, each overriding the one before.
// Defaults are the seed's (Sippy ANI Callback) where the seed has one; the
// option names in comments are the seed's.
type Config struct {
	// Node names this process among nodes sharing one database; default
	// the host name.
	Node string `yaml:"node"`
	Log  struct {
		Level  string `yaml:"level"`  // debug, info, warn, error (default info)
		Format string `yaml:"format"` // text or json (default text)
	} `yaml:"log"`
	Database struct {
		// MySQLDSN selects MariaDB/MySQL, e.g.
		// "callbackd:secret@tcp(127.0.0.1:3306)/callbackd". Empty: the
		// embedded store at SQLitePath.
		MySQLDSN   string `yaml:"mysql_dsn"`
		SQLitePath string `yaml:"sqlite_path"` // default callbackd.db
		// MaxConnections is how many connections to MariaDB/MySQL this
		// process holds at most.
		MaxConnections int `yaml:"max_connections"` // 8
		// QueryTimeout bounds every store call: a database that is down,
		// frozen or locked costs a request this long at most, then 503.
		QueryTimeout time.Duration `yaml:"query_timeout"` // 5s
	} `yaml:"database"`
	Callback struct {
		DelayBeforeCallback time.Duration `yaml:"delay_before_callback"` // "Delay Before Callback" 5s
		BackoffInterval     time.Duration `yaml:"backoff_interval"`      // "Backoff Interval" 10s
		MaxAttempts         int           `yaml:"max_attempts"`          // "Max # Of Callback Attempts" 3
		Timeout             time.Duration `yaml:"timeout"`               // "Timeout" (wait for answer) 300s
		ScanInterval        time.Duration `yaml:"scan_interval"`         // "Scan Interval" 1s (seed 5s)
		MaxAge              time.Duration `yaml:"max_age"`               // older requests finish Expired: 1h
		Lease               time.Duration `yaml:"lease"`                 // claim lease: 30s
		RescueInterval      time.Duration `yaml:"rescue_interval"`       // 5s
		MaxLiveCalls        int           `yaml:"max_live_calls"`        // global limit: 500
		ShutdownGrace       time.Duration `yaml:"shutdown_grace"`        // 30s
		// MaxCreditTime bounds credit_time (seconds of leg A): requests
		// asking for more are refused, rows inserted by SQL finish Invalid
		// request. 0: no bound.
		MaxCreditTime time.Duration `yaml:"max_credit_time"` // 24h
	} `yaml:"callback"`
	AGI struct {
		// Listen is the FastAGI address (Asterisk's default port 4573);
		// empty turns the FastAGI server off.
		Listen         string        `yaml:"listen"`          // 127.0.0.1:4573
		SessionTimeout time.Duration `yaml:"session_timeout"` // one trigger call at most: 30s
		// CLDDefaultAccount is the Default Account Username for calls that
		// carry a CLD rule (ani_<options>_<string>) on a number that is not
		// a configured access number.
		CLDDefaultAccount string `yaml:"cld_default_account"`
	} `yaml:"agi"`
	Limits struct {
		// Abuse limits of the call triggers (F1): a burst, then one per
		// interval, per caller ID, per account and per source address.
		PerCLIBurst      int           `yaml:"per_cli_burst"`      // 5
		PerCLIEvery      time.Duration `yaml:"per_cli_every"`      // 1m
		PerAccountBurst  int           `yaml:"per_account_burst"`  // 10
		PerAccountEvery  time.Duration `yaml:"per_account_every"`  // 30s
		PerSourceBurst   int           `yaml:"per_source_burst"`   // 60
		PerSourceEvery   time.Duration `yaml:"per_source_every"`   // 1s
		TariffCacheCheck time.Duration `yaml:"tariff_cache_check"` // how often rate changes are looked for: 5s
	} `yaml:"limits"`
	HTTP struct {
		// Listen is the address of the HTTP server: the API, XML-RPC, the
		// SMS webhook, the web page, /metrics, /healthz and /readyz. Empty
		// turns it off.
		Listen string `yaml:"listen"` // 127.0.0.1:8080
		// APITokens are the operator's API tokens (Bearer), comma-separated.
		APITokens string `yaml:"api_tokens"`
		// Failed logins allowed per account and per source, then one per
		// interval.
		LoginBurst int           `yaml:"login_burst"` // 5
		LoginEvery time.Duration `yaml:"login_every"` // 1m
		// TrustedProxies are CIDRs whose X-Forwarded-For is believed.
		TrustedProxies  string        `yaml:"trusted_proxies"`
		PerSourceBurst  int           `yaml:"per_source_burst"`  // API writes per client address: 100
		PerSourceEvery  time.Duration `yaml:"per_source_every"`  // then one per 50ms
		PerAccountBurst int           `yaml:"per_account_burst"` // API creates per account (password logins): 20
		PerAccountEvery time.Duration `yaml:"per_account_every"` // then one per 3s
	} `yaml:"http"`
	SMS struct {
		// Secret authenticates the SMS gateway (X-Callbackd-Secret header or
		// ?secret=); with neither it nor TwilioAuthToken the webhook is off.
		Secret          string        `yaml:"secret"`
		TwilioAuthToken string        `yaml:"twilio_auth_token"` // checks X-Twilio-Signature
		PublicURL       string        `yaml:"public_url"`        // the webhook URL as the gateway sees it, for the signature
		PerSenderBurst  int           `yaml:"per_sender_burst"`  // 3
		PerSenderEvery  time.Duration `yaml:"per_sender_every"`  // 1m
	} `yaml:"sms"`
	Web struct {
		Modes                 string        `yaml:"modes"`                   // "simple,extended,hosted"; "" = page off
		HMACKey               string        `yaml:"hmac_key"`                // >= 32 bytes, the same on every node
		PublicURL             string        `yaml:"public_url"`              // e.g. https://callback.example.com (links in SMTP replies)
		Title                 string        `yaml:"title"`                   // Callback
		Region                string        `yaml:"region"`                  // ISO 3166 for national formats; "" = international only
		SimpleDestination     string        `yaml:"simple_destination"`      // simple mode: the helpdesk number
		SimpleAuth            string        `yaml:"simple_auth"`             // simple mode: pin or password (pin)
		HostedAccount         string        `yaml:"hosted_account"`          // hosted mode: the internal account that pays
		HostedDestination     string        `yaml:"hosted_destination"`      // hosted mode: the number to connect to
		HostedAllowedPrefixes string        `yaml:"hosted_allowed_prefixes"` // e.g. "420,421"; "" = any
		TrustedProxies        string        `yaml:"trusted_proxies"`         // CIDRs whose X-Forwarded-For is believed
		SecureCookies         bool          `yaml:"secure_cookies"`          // true behind an HTTPS proxy
		FormTTL               time.Duration `yaml:"form_ttl"`                // 1h
		Refresh               time.Duration `yaml:"refresh"`                 // status page refresh: 3s
		PerSourceBurst        int           `yaml:"per_source_burst"`        // 10
		PerSourceEvery        time.Duration `yaml:"per_source_every"`        // 1m
		PerNumberBurst        int           `yaml:"per_number_burst"`        // 3
		PerNumberEvery        time.Duration `yaml:"per_number_every"`        // 10m
		PerAccountBurst       int           `yaml:"per_account_burst"`       // 10
		PerAccountEvery       time.Duration `yaml:"per_account_every"`       // 30s
	} `yaml:"web"`
	SMTP struct {
		Listen          string        `yaml:"listen"`            // "" = off; e.g. 127.0.0.1:2525
		Domain          string        `yaml:"domain"`            // localhost
		MaxMessageBytes int           `yaml:"max_message_bytes"` // 262144
		MaxRecipients   int           `yaml:"max_recipients"`    // 5
		ReadTimeout     time.Duration `yaml:"read_timeout"`      // 60s
		WriteTimeout    time.Duration `yaml:"write_timeout"`     // 60s
		Recipients      string        `yaml:"recipients"`        // e.g. "callback@example.com"; "" = any
		TrustedRelays   string        `yaml:"trusted_relays"`    // CIDRs of your own relaying MTA
		PerAccountBurst int           `yaml:"per_account_burst"` // 10
		PerAccountEvery time.Duration `yaml:"per_account_every"` // 30s
		PerNumberBurst  int           `yaml:"per_number_burst"`  // 5
		PerNumberEvery  time.Duration `yaml:"per_number_every"`  // 1m
	} `yaml:"smtp"`
	Billing struct {
		// ReserveSlice is how much talk time a call holds money for at
		// once: the first slice before the destination is dialled, the next
		// ones while the call lasts.
		ReserveSlice time.Duration `yaml:"reserve_slice"` // 5m
	} `yaml:"billing"`
	ARI struct {
		// URL of Asterisk's HTTP server, e.g. http://127.0.0.1:8088. Empty:
		// requests are queued and wait.
		URL      string `yaml:"url"`
		User     string `yaml:"user"`
		Password string `yaml:"password"`
		App      string `yaml:"app"` // Stasis application name: callbackd
		// Endpoint is the seed's "SIP Proxy For Callback Calls": the dial
		// string of both legs; {number} is the number called and {trunk}
		// the PJSIP endpoint placing the call (the trunk, or the
		// per-identity endpoint of a request with an md5secret).
		Endpoint string `yaml:"endpoint"` // PJSIP/{number}@{trunk}
		Trunk    string `yaml:"trunk"`    // the trunk's endpoint in pjsip.conf: trunk
		// Realm is the realm the SIP proxy challenges with, which the
		// md5secret HA1s were computed for; empty answers any realm.
		Realm          string `yaml:"realm"`
		AuthType       string `yaml:"auth_type"`        // digest (Asterisk 22.2+) or md5 (22.0, 22.1)
		DiversionHost  string `yaml:"diversion_host"`   // host of the Diversion URI; empty: tel: URI
		CallsPerSecond int    `yaml:"calls_per_second"` // new legs per second on the trunk; 0 no cap
		MaxChannels    int    `yaml:"max_channels"`     // live channels at most (two per callback): 1000
		ChannelPrefix  string `yaml:"channel_prefix"`   // channel ids cbd-<request>-<attempt>-a: cbd
		// BillTwoWay rates, reserves and charges 2-way callbacks like the
		// calling card; false leaves their billing to the SIP switch (Sippy's
		// X-2Way-Need-Bind) and places them unrated.
		BillTwoWay bool `yaml:"bill_two_way"` // true
		// TwoWayBusyPrompts plays the busy or failed prompt to the user of a
		// 2-way callback whose destination is busy or fails (E7).
		TwoWayBusyPrompts bool `yaml:"two_way_busy_prompts"` // true
		// IVRWait is how long a caller sent to Stasis(<app>,ivr,...) may
		// wait for its call to start before being released.
		IVRWait time.Duration `yaml:"ivr_wait"` // 20s
		// MaxRequests bounds the ARI requests in flight, and the HTTP
		// connections open to Asterisk; keep it below http.conf's
		// sessionlimit (100), beyond which Asterisk drops connections.
		MaxRequests int `yaml:"max_requests"` // 50
		// LegACLI is what leg A presents when neither the access number's
		// Fixed CLI nor original_set_cli names a caller ID: original
		// (original_cli, seed 001) or access_number.
		LegACLI string `yaml:"leg_a_cli"` // original
		// CardLegBCLI is what the calling card's destination sees: source
		// (the caller's number), device (the paying account's number) or a
		// fixed number, optionally per trigger: "device,web=+4930123456".
		CardLegBCLI string `yaml:"card_leg_b_cli"` // source
	} `yaml:"ari"`
	Auth struct {
		// PINKey is the server key PINs are stored under
		// (HMAC-SHA-256), at least 32 bytes, the same on every node.
		// Plain PINs left by earlier versions are hashed under it when
		// the store is opened. Changing it makes every stored PIN unusable.
		PINKey string `yaml:"pin_key"`
		// Failed logins per account over all sources (only sources that
		// failed on the account already are held to it), then one per
		// interval.
		AccountFailuresBurst int           `yaml:"account_failures_burst"` // 20
		AccountFailuresEvery time.Duration `yaml:"account_failures_every"` // 5m
		// Failed PINs and passwords over all sources on each of the web
		// page, the IVR and email, then one per interval.
		SurfaceFailuresBurst int           `yaml:"surface_failures_burst"` // 20
		SurfaceFailuresEvery time.Duration `yaml:"surface_failures_every"` // 15s
	} `yaml:"auth"`
}

// DefaultConfig returns every default.
func DefaultConfig() Config {
	var c Config
	c.Log.Level = "info"
	c.Log.Format = "text"
	c.Database.SQLitePath = "callbackd.db"
	c.Database.MaxConnections = mysql.DefaultMaxConns
	c.Database.QueryTimeout = 5 * time.Second
	c.Auth.AccountFailuresBurst, c.Auth.AccountFailuresEvery = 20, 5*time.Minute
	c.Auth.SurfaceFailuresBurst, c.Auth.SurfaceFailuresEvery = 20, 15*time.Second
	p := callback.DefaultPolicy()
	c.Callback.DelayBeforeCallback = p.DelayBeforeCallback
	c.Callback.BackoffInterval = p.BackoffInterval
	c.Callback.MaxAttempts = p.MaxAttempts
	c.Callback.Timeout = p.AnswerTimeout
	c.Callback.ScanInterval = p.ScanInterval
	c.Callback.MaxAge = p.MaxAge
	c.Callback.Lease = p.LeaseFor
	c.Callback.RescueInterval = p.RescueInterval
	c.Callback.MaxLiveCalls = p.MaxLiveCalls
	c.Callback.ShutdownGrace = p.ShutdownGrace
	c.Callback.MaxCreditTime = p.MaxCreditTime
	c.AGI.Listen = "127.0.0.1:4573"
	c.AGI.SessionTimeout = 30 * time.Second
	c.Limits.PerCLIBurst, c.Limits.PerCLIEvery = 5, time.Minute
	c.Limits.PerAccountBurst, c.Limits.PerAccountEvery = 10, 30*time.Second
	c.Limits.PerSourceBurst, c.Limits.PerSourceEvery = 60, time.Second
	c.Limits.TariffCacheCheck = 5 * time.Second
	c.HTTP.Listen = "127.0.0.1:8080"
	c.HTTP.LoginBurst, c.HTTP.LoginEvery = 5, time.Minute
	c.HTTP.PerSourceBurst, c.HTTP.PerSourceEvery = 100, 50*time.Millisecond
	c.HTTP.PerAccountBurst, c.HTTP.PerAccountEvery = 20, 3*time.Second
	c.SMS.PerSenderBurst, c.SMS.PerSenderEvery = 3, time.Minute
	c.Web.Title = "Callback"
	c.Web.SimpleAuth = "pin"
	c.Web.FormTTL = time.Hour
	c.Web.Refresh = 3 * time.Second
	c.Web.PerSourceBurst, c.Web.PerSourceEvery = 10, time.Minute
	c.Web.PerNumberBurst, c.Web.PerNumberEvery = 3, 10*time.Minute
	c.Web.PerAccountBurst, c.Web.PerAccountEvery = 10, 30*time.Second
	c.SMTP.Domain = "localhost"
	c.SMTP.MaxMessageBytes = 256 << 10
	c.SMTP.MaxRecipients = 5
	c.SMTP.ReadTimeout, c.SMTP.WriteTimeout = time.Minute, time.Minute
	c.SMTP.PerAccountBurst, c.SMTP.PerAccountEvery = 10, 30*time.Second
	c.SMTP.PerNumberBurst, c.SMTP.PerNumberEvery = 5, time.Minute
	c.ARI.App = "callbackd"
	c.ARI.Endpoint = "PJSIP/{number}@{trunk}"
	c.ARI.Trunk = "trunk"
	c.ARI.AuthType = "digest"
	c.ARI.MaxChannels = 1000
	c.ARI.MaxRequests = ari.DefaultMaxRequests
	c.ARI.ChannelPrefix = "cbd"
	c.ARI.BillTwoWay = true
	c.ARI.TwoWayBusyPrompts = true
	c.Billing.ReserveSlice = billing.DefaultReserveSlice
	c.ARI.IVRWait = 20 * time.Second
	c.ARI.LegACLI = "original"
	c.ARI.CardLegBCLI = "source"
	return c
}

// Policy returns the dispatcher policy.
func (c *Config) Policy() callback.Policy {
	return callback.Policy{
		DelayBeforeCallback: c.Callback.DelayBeforeCallback,
		BackoffInterval:     c.Callback.BackoffInterval,
		MaxAttempts:         c.Callback.MaxAttempts,
		AnswerTimeout:       c.Callback.Timeout,
		ScanInterval:        c.Callback.ScanInterval,
		MaxAge:              c.Callback.MaxAge,
		LeaseFor:            c.Callback.Lease,
		RescueInterval:      c.Callback.RescueInterval,
		MaxLiveCalls:        c.Callback.MaxLiveCalls,
		ShutdownGrace:       c.Callback.ShutdownGrace,
		MaxCreditTime:       c.Callback.MaxCreditTime,
	}
}

// LoadConfig reads path (if not empty) over the defaults, then applies the
// environment.
func LoadConfig(path string, environ []string) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		if err := checkConfigFile(path, b); err != nil {
			return c, err
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("parse config %s: %w", path, err)
		}
	}
	if err := applyEnv(&c, environ); err != nil {
		return c, err
	}
	return c, nil
}

// EnvName returns the environment variable of a config key path such as
// "database.mysql_dsn": CALLBACKD_DATABASE_MYSQL_DSN.
func EnvName(key string) string {
	return "CALLBACKD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// applyEnv overrides every field whose CALLBACKD_* variable is set.
func applyEnv(c *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "CALLBACKD_") {
			env[k] = v
		}
	}
	var errs []error
	walkConfig(reflect.ValueOf(c).Elem(), "", func(key string, f reflect.Value) {
		v, ok := env[EnvName(key)]
		if !ok {
			return
		}
		if err := setField(f, v); err != nil {
			errs = append(errs, envValueError(EnvName(key), v, f))
		}
	})
	return errors.Join(errs...)
}

// ConfigKeys lists every key with its current value, for `callbackd config`.
func ConfigKeys(c *Config) [][2]string {
	var out [][2]string
	walkConfig(reflect.ValueOf(c).Elem(), "", func(key string, f reflect.Value) {
		v := fmt.Sprint(f.Interface())
		if strings.Contains(key, "password") || strings.Contains(key, "dsn") || strings.HasSuffix(key, "_key") || strings.HasSuffix(key, "tokens") || strings.HasSuffix(key, "token") || strings.HasSuffix(key, "secret") {
			if v != "" {
				v = "(set)"
			}
		}
		out = append(out, [2]string{key, v})
	})
	return out
}

func walkConfig(v reflect.Value, prefix string, fn func(key string, f reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			walkConfig(f, key, fn)
			continue
		}
		fn(key, f)
	}
}

func setField(f reflect.Value, v string) error {
	switch {
	case f.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(v)
	case f.Kind() == reflect.Int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		f.SetInt(int64(n))
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		f.SetBool(b)
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}
