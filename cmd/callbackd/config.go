package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/callbackd/callbackd/agi"
	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/httpapi"
	"github.com/callbackd/callbackd/limiter"
	"github.com/callbackd/callbackd/mail"
	"github.com/callbackd/callbackd/store/mysql"
	"github.com/callbackd/callbackd/tariff"
	"github.com/callbackd/callbackd/trigger"
	"github.com/callbackd/callbackd/web"
	"github.com/callbackd/callbackd/webhook"
)

// Config is callbackd's configuration: a YAML file, then CALLBACKD_*
// environment variables, then flags, each overriding the one before.
// Defaults are the seed's (Sippy ANI Callback) where the seed has one; the
// option names in comments are the seed's. Each default is taken from the
// package that owns the option (DefaultConfig); where a section is that
// package's own struct, its yaml tags name the keys. A limit (Burst at
// once, then one per Every) named per_cli is the keys per_cli_burst and
// per_cli_every.
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
	// Callback is the dispatcher's policy: the seed's "Advanced
	// parameters" (callback.Policy documents each key and its default).
	Callback callback.Policy `yaml:"callback"`
	AGI      struct {
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
		// interval, per caller ID, per account and per source address
		// (trigger.DefaultLimits: 5/1m, 10/30s, 60/1s).
		trigger.Limits   `yaml:",inline"`
		TariffCacheCheck time.Duration `yaml:"tariff_cache_check"` // how often rate changes are looked for: 5s
		// Shared counts the trigger, web, email and HTTP API limits and
		// the failed logins in the MariaDB/MySQL database, so every node
		// sharing it shares each budget; false: each node counts alone
		// (no effect on the embedded store, which serves one node).
		Shared bool `yaml:"shared"` // true
	} `yaml:"limits"`
	HTTP struct {
		// Listen is the address of the HTTP server: the API, XML-RPC, the
		// SMS webhook, the web page, /metrics, /healthz and /readyz. Empty
		// turns it off.
		Listen string `yaml:"listen"` // 127.0.0.1:8080
		// APITokens are the operator's API tokens (Bearer), comma-separated.
		APITokens string `yaml:"api_tokens"`
		// Failed logins allowed per account and per source, then one per
		// interval (auth.DefaultLogin: 5, then 1m).
		Login auth.Limit `yaml:"login"`
		// TrustedProxies are CIDRs whose X-Forwarded-For is believed.
		TrustedProxies string        `yaml:"trusted_proxies"`
		PerSource      limiter.Limit `yaml:"per_source"`  // API writes per client address: 100, then one per 50ms
		PerAccount     limiter.Limit `yaml:"per_account"` // API creates per account (password logins): 20, then one per 3s
	} `yaml:"http"`
	SMS struct {
		// Secret authenticates the SMS gateway (X-Callbackd-Secret header or
		// ?secret=); with neither it nor TwilioAuthToken the webhook is off.
		Secret          string        `yaml:"secret"`
		TwilioAuthToken string        `yaml:"twilio_auth_token"` // checks X-Twilio-Signature
		PublicURL       string        `yaml:"public_url"`        // the webhook URL as the gateway sees it, for the signature
		PerSender       limiter.Limit `yaml:"per_sender"`        // 3, then 1m
	} `yaml:"sms"`
	Web struct {
		Modes                 string           `yaml:"modes"`                   // "simple,extended,hosted"; "" = page off
		HMACKey               string           `yaml:"hmac_key"`                // >= 32 bytes, the same on every node
		PublicURL             string           `yaml:"public_url"`              // e.g. https://callback.example.com (links in SMTP replies)
		Title                 string           `yaml:"title"`                   // Callback
		Region                string           `yaml:"region"`                  // ISO 3166 for national formats; "" = international only
		SimpleDestination     string           `yaml:"simple_destination"`      // simple mode: the helpdesk number
		SimpleAuth            string           `yaml:"simple_auth"`             // simple mode: pin or password (pin)
		HostedAccount         string           `yaml:"hosted_account"`          // hosted mode: the internal account that pays
		HostedDestination     string           `yaml:"hosted_destination"`      // hosted mode: the number to connect to
		HostedAllowedPrefixes string           `yaml:"hosted_allowed_prefixes"` // e.g. "420,421"; "" = any
		TrustedProxies        string           `yaml:"trusted_proxies"`         // CIDRs whose X-Forwarded-For is believed
		SecureCookies         bool             `yaml:"secure_cookies"`          // true behind an HTTPS proxy
		FormTTL               time.Duration    `yaml:"form_ttl"`                // 1h
		Refresh               time.Duration    `yaml:"refresh"`                 // status page refresh: 3s
		web.Limits            `yaml:",inline"` // per source 10/1m, per number 3/10m, per account 10/30s
	} `yaml:"web"`
	SMTP struct {
		Listen          string           `yaml:"listen"`            // "" = off; e.g. 127.0.0.1:2525
		Domain          string           `yaml:"domain"`            // localhost
		MaxMessageBytes int              `yaml:"max_message_bytes"` // 262144
		MaxRecipients   int              `yaml:"max_recipients"`    // 5
		ReadTimeout     time.Duration    `yaml:"read_timeout"`      // 60s
		WriteTimeout    time.Duration    `yaml:"write_timeout"`     // 60s
		Recipients      string           `yaml:"recipients"`        // e.g. "callback@example.com"; "" = any
		TrustedRelays   string           `yaml:"trusted_relays"`    // CIDRs of your own relaying MTA
		mail.Limits     `yaml:",inline"` // per account 10/30s, per number 5/1m
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
		// Trunks are several carriers with prefix routing and failover;
		// when set they replace endpoint/trunk/calls_per_second, the first
		// being the default. Empty: the one trunk above.
		Trunks []TrunkConfig `yaml:"trunks"`
		// Servers are several Asterisk servers driven from this node;
		// when set they replace url/user/password. Empty: the one server
		// of url.
		Servers []ServerConfig `yaml:"servers"`
	} `yaml:"ari"`
	Webhooks struct {
		// Enabled turns status notifications on: each status change writes
		// outbox rows for the global webhook (URL) and the account's own
		// (callbackd webhook account), and serve sends them.
		Enabled bool   `yaml:"enabled"` // false
		URL     string `yaml:"url"`     // global webhook; "" none (account webhooks only)
		Secret  string `yaml:"secret"`  // HMAC-SHA-256 key of the global webhook, >= 16 bytes
		Events  string `yaml:"events"`  // all (every status change) or final (Finished only): all
		// Sending: concurrent POSTs, one POST's timeout, how often due rows
		// are looked for, how long a notification is retried (backoff
		// doubling from backoff_min up to backoff_max), how long delivered
		// and failed rows are kept.
		Workers    int           `yaml:"workers"`       // 16
		Timeout    time.Duration `yaml:"timeout"`       // 10s
		Poll       time.Duration `yaml:"poll_interval"` // 100ms
		RetryFor   time.Duration `yaml:"retry_for"`     // 24h
		BackoffMin time.Duration `yaml:"backoff_min"`   // 5s
		BackoffMax time.Duration `yaml:"backoff_max"`   // 1h
		Keep       time.Duration `yaml:"keep"`          // 168h
		// Replies to the requester when a request made by email or SMS
		// finishes: a message from the templates (Go text/template over
		// the notification body; "" the default), mailed through the SMTP
		// relay or POSTed to the SMS gateway.
		ReplyEmail    bool   `yaml:"reply_email"`    // false
		ReplySMS      bool   `yaml:"reply_sms"`      // false
		SMTPRelay     string `yaml:"smtp_relay"`     // host:port of the outgoing relay, e.g. 127.0.0.1:25
		ReplyFrom     string `yaml:"reply_from"`     // From address of the emails
		ReplySubject  string `yaml:"reply_subject"`  // email subject template
		ReplyTemplate string `yaml:"reply_template"` // email body and SMS text template
		SMSURL        string `yaml:"sms_url"`        // the gateway's send endpoint (JSON POST)
		SMSSecret     string `yaml:"sms_secret"`     // signs the POST (Callbackd-Signature)
	} `yaml:"webhooks"`
	Auth struct {
		// PINKey is the server key PINs are stored under
		// (HMAC-SHA-256), at least 32 bytes, the same on every node.
		// Plain PINs left by earlier versions are hashed under it when
		// the store is opened. Changing it makes every stored PIN unusable.
		PINKey string `yaml:"pin_key"`
		// Failed logins per account over all sources (only sources that
		// failed on the account already are held to it), then one per
		// interval.
		AccountFailures auth.Limit `yaml:"account_failures"` // 20, then 5m
		// Failed PINs and passwords over all sources on each of the web
		// page, the IVR and email, then one per interval.
		SurfaceFailures auth.Limit `yaml:"surface_failures"` // 20, then 15s
	} `yaml:"auth"`
}

// DefaultConfig returns every default, taken from the package that owns
// each option; the rest are the daemon's own (listen addresses, names).
func DefaultConfig() Config {
	var c Config
	c.Log.Level = "info"
	c.Log.Format = "text"
	c.Database.SQLitePath = "callbackd.db"
	c.Database.MaxConnections = mysql.DefaultMaxConns
	c.Database.QueryTimeout = mysql.DefaultQueryTimeout
	authLimits := auth.DefaultLimits(auth.DefaultLogin().Every, auth.DefaultLogin().Burst)
	c.Auth.AccountFailures, c.Auth.SurfaceFailures = authLimits.PerAccount, authLimits.PerSurface
	c.Callback = callback.DefaultPolicy()
	c.AGI.Listen = "127.0.0.1:4573"
	c.AGI.SessionTimeout = agi.DefaultSessionTimeout
	c.Limits.Limits = trigger.DefaultLimits()
	c.Limits.TariffCacheCheck = tariff.DefaultCheckInterval
	c.Limits.Shared = true
	c.HTTP.Listen = "127.0.0.1:8080"
	c.HTTP.Login = auth.DefaultLogin()
	httpLimits := httpapi.DefaultLimits()
	c.HTTP.PerSource, c.HTTP.PerAccount = httpLimits.PerSource, httpLimits.PerAccount
	c.SMS.PerSender = httpLimits.PerSender
	wo := web.DefaultOptions()
	c.Web.Title = wo.Title
	c.Web.SimpleAuth = wo.Simple.Auth
	c.Web.FormTTL = wo.FormTTL
	c.Web.Refresh = wo.Refresh
	c.Web.Limits = wo.Limits
	mo := mail.DefaultOptions()
	c.SMTP.Domain = mo.Domain
	c.SMTP.MaxMessageBytes = int(mo.MaxMessageBytes)
	c.SMTP.MaxRecipients = mo.MaxRecipients
	c.SMTP.ReadTimeout, c.SMTP.WriteTimeout = mo.ReadTimeout, mo.WriteTimeout
	c.SMTP.Limits = mail.DefaultLimits()
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
	wh := webhook.DefaultOptions()
	c.Webhooks.Events, c.Webhooks.Workers, c.Webhooks.Timeout, c.Webhooks.Poll = string(wh.Events), wh.Workers, wh.Timeout, wh.Poll
	c.Webhooks.RetryFor, c.Webhooks.BackoffMin, c.Webhooks.BackoffMax, c.Webhooks.Keep = wh.RetryFor, wh.BackoffMin, wh.BackoffMax, wh.Keep
	return c
}

// Policy returns the dispatcher policy.
func (c *Config) Policy() callback.Policy { return c.Callback }

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
		if err := decodeConfig(b, &c); err != nil {
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

// decodeConfig sets the keys a YAML file names: each leaf is decoded into
// the field walkConfig finds for its key. checkConfigFile has reported
// unknown keys and values of the wrong kind already.
func decodeConfig(b []byte, c *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	fields := map[string]reflect.Value{}
	walkConfig(reflect.ValueOf(c).Elem(), "", func(key string, f reflect.Value) { fields[key] = f })
	isField := func(key string) bool { _, ok := fields[key]; return ok }
	var errs []error
	eachYAMLKey(&doc, isField, func(key string, _, v *yaml.Node) {
		f, ok := fields[key]
		if !ok {
			return // reported by checkConfigFile
		}
		if err := v.Decode(f.Addr().Interface()); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %s: %w", v.Line, key, err))
		}
	})
	return errors.Join(errs...)
}

// walkConfig calls fn with every key and its field: a struct field named by
// its yaml tag is a section, an inline one adds its fields to the section
// it is in, and a limit (a struct of Burst and Every) named x is the two
// keys x_burst and x_every. Fields without a yaml tag are not keys.
func walkConfig(v reflect.Value, prefix string, fn func(key string, f reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		tag, ok := t.Field(i).Tag.Lookup("yaml")
		if !ok || tag == "-" || !t.Field(i).IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := v.Field(i)
		if opts == "inline" {
			walkConfig(f, prefix, fn)
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		switch {
		case isLimit(f.Type()):
			fn(key+"_burst", f.FieldByName("Burst"))
			fn(key+"_every", f.FieldByName("Every"))
		case f.Kind() == reflect.Struct:
			walkConfig(f, key, fn)
		default:
			fn(key, f)
		}
	}
}

// isLimit reports whether t is a rate limit: Burst at once, then one per
// Every.
func isLimit(t reflect.Type) bool {
	if t.Kind() != reflect.Struct || t.NumField() != 2 {
		return false
	}
	b, okB := t.FieldByName("Burst")
	e, okE := t.FieldByName("Every")
	return okB && okE && b.Type.Kind() == reflect.Int && e.Type == reflect.TypeOf(time.Duration(0))
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

// TrunkConfig is one entry of ari.trunks: a carrier legs are routed to
// (ari.Trunk). realm, auth_type and diversion_host of ari apply to all.
type TrunkConfig struct {
	Name     string   `yaml:"name"`
	Endpoint string   `yaml:"endpoint"` // dial string: PJSIP/{number}@{trunk}
	Trunk    string   `yaml:"trunk"`    // the PJSIP endpoint in pjsip.conf: name
	Prefixes []string `yaml:"prefixes"` // numbers it carries, longest match first; none: any
	Priority int      `yaml:"priority"` // lower first among equal prefixes: 0
	Weight   int      `yaml:"weight"`   // share among equal priority: 1
	// CallsPerSecond and MaxChannels cap the trunk's new legs per second
	// and live legs (0: no cap); a trunk at its cap is passed over.
	CallsPerSecond float64 `yaml:"calls_per_second"`
	MaxChannels    int     `yaml:"max_channels"`
	IdentityHeader string  `yaml:"identity_header"`  // pai or diversion: names the caller ID; "" none
	IdentityHost   string  `yaml:"identity_host"`    // host of its URI; "" tel:
	CallerIDPrefix string  `yaml:"caller_id_prefix"` // put before the caller ID, e.g. "+"
}

// ServerConfig is one entry of ari.servers: an Asterisk this node places
// callbacks on (ari.Server). app, max_requests and channel_prefix of ari
// apply to each.
type ServerConfig struct {
	Name        string   `yaml:"name"`         // in logs and channel ids: a letter, then letters, digits, _
	URL         string   `yaml:"url"`          // Asterisk's HTTP server, e.g. http://10.0.0.11:8088
	User        string   `yaml:"user"`         // the ARI user of its ari.conf; "": ari.user
	Password    string   `yaml:"password"`     // its password
	MaxChannels int      `yaml:"max_channels"` // live channels on it (two per callback); 0 no cap
	Trunks      []string `yaml:"trunks"`       // names of the ari.trunks it has; none: all
}

// String is how callbackd config prints the entry: its password hidden.
func (s ServerConfig) String() string {
	pw := ""
	if s.Password != "" {
		pw = " password=(set)"
	}
	return fmt.Sprintf("{%s %s user=%s%s max_channels=%d trunks=%v}", s.Name, s.URL, s.User, pw, s.MaxChannels, s.Trunks)
}
