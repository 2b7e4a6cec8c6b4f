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

	"github.com/callbackd/callbackd/callback"
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
	ARI struct {
		// URL of Asterisk's HTTP server, e.g. http://127.0.0.1:8088. Empty:
		// requests are queued and wait.
		URL      string `yaml:"url"`
		User     string `yaml:"user"`
		Password string `yaml:"password"`
		App      string `yaml:"app"` // Stasis application name: callbackd
		// Endpoint is the seed's "SIP Proxy For Callback Calls": the dial
		// string template of both legs; {number} is replaced.
		Endpoint string `yaml:"endpoint"` // PJSIP/{number}@trunk
		Realm    string `yaml:"realm"`    // SIP realm of md5secret HA1s: asterisk
	} `yaml:"ari"`
}

// DefaultConfig returns every default.
func DefaultConfig() Config {
	var c Config
	c.Log.Level = "info"
	c.Log.Format = "text"
	c.Database.SQLitePath = "callbackd.db"
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
	c.AGI.Listen = "127.0.0.1:4573"
	c.AGI.SessionTimeout = 30 * time.Second
	c.Limits.PerCLIBurst, c.Limits.PerCLIEvery = 5, time.Minute
	c.Limits.PerAccountBurst, c.Limits.PerAccountEvery = 10, 30*time.Second
	c.Limits.PerSourceBurst, c.Limits.PerSourceEvery = 60, time.Second
	c.Limits.TariffCacheCheck = 5 * time.Second
	c.ARI.App = "callbackd"
	c.ARI.Endpoint = "PJSIP/{number}@trunk"
	c.ARI.Realm = "asterisk"
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
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(key), v, err))
		}
	})
	return errors.Join(errs...)
}

// ConfigKeys lists every key with its current value, for `callbackd config`.
func ConfigKeys(c *Config) [][2]string {
	var out [][2]string
	walkConfig(reflect.ValueOf(c).Elem(), "", func(key string, f reflect.Value) {
		v := fmt.Sprint(f.Interface())
		if strings.Contains(key, "password") || strings.Contains(key, "dsn") {
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
