package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/callbackd/callbackd/agi"
	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/httpapi"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/store/mysql"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/tariff"
	"github.com/callbackd/callbackd/trigger"
	"github.com/callbackd/callbackd/web"
)

// openStore opens MariaDB/MySQL when a DSN is configured and the embedded
// store otherwise; both run the migrations first.
func openStore(ctx context.Context, c *Config, log *slog.Logger) (callback.Store, error) {
	var st callback.Store
	if c.Database.MySQLDSN != "" {
		db, err := mysql.OpenWith(ctx, c.Database.MySQLDSN, mysql.Options{QueryTimeout: c.Database.QueryTimeout})
		if err != nil {
			return nil, fmt.Errorf("open MariaDB/MySQL store: %w", err)
		}
		db.SetMaxConns(c.Database.MaxConnections)
		log.Info("store: MariaDB/MySQL", "dsn", redactDSN(c.Database.MySQLDSN), "max_connections", c.Database.MaxConnections,
			"query_timeout", c.Database.QueryTimeout)
		st = db
	} else {
		db, err := sqlite.OpenWith(ctx, c.Database.SQLitePath, sqlite.Options{QueryTimeout: c.Database.QueryTimeout})
		if err != nil {
			where := c.Database.SQLitePath
			if abs, aerr := filepath.Abs(where); aerr == nil && abs != where {
				where += " (" + abs + ")"
			}
			return nil, fmt.Errorf("open embedded store %s as uid %d: %w; set database.sqlite_path to a file in a directory this user may write", where, os.Getuid(), err)
		}
		log.Info("store: embedded (SQLite); set database.mysql_dsn for MariaDB/MySQL and several nodes", "path", c.Database.SQLitePath,
			"query_timeout", c.Database.QueryTimeout)
		st = db
	}
	if err := setPINKey(ctx, c, st, log); err != nil {
		st.Close()
		return nil, err
	}
	if err := setWebhookPolicy(c, st); err != nil {
		st.Close()
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return st, nil
}

// pinStore is a store that keeps PINs as keyed hashes (both SQL stores).
type pinStore interface {
	SetPINKey(k *callback.PINKey)
	HashPlainPINs(ctx context.Context) (int, error)
	PINStatus(ctx context.Context) (plain, otherKey int, err error)
}

// setPINKey gives st the PIN key auth.pin_key and hashes, in place, the
// PINs an earlier version stored in plain text.
func setPINKey(ctx context.Context, c *Config, st callback.Store, log *slog.Logger) error {
	ps, ok := st.(pinStore)
	if !ok || c.Auth.PINKey == "" {
		return nil
	}
	k, err := callback.NewPINKey([]byte(c.Auth.PINKey))
	if err != nil {
		return fmt.Errorf("auth.pin_key: %w", err)
	}
	ps.SetPINKey(k)
	n, err := ps.HashPlainPINs(ctx)
	if err != nil {
		return fmt.Errorf("hash the PINs stored in plain text: %w", err)
	}
	if n > 0 {
		log.Info("PINs stored in plain text are now hashed under auth.pin_key", "accounts", n)
	}
	return nil
}

// checkPINs refuses to serve while stored PINs cannot be checked: every
// PIN login would fail without a word.
func checkPINs(ctx context.Context, c *Config, st callback.Store) error {
	ps, ok := st.(pinStore)
	if !ok {
		return nil
	}
	plain, other, err := ps.PINStatus(ctx)
	switch {
	case err != nil:
		return err
	case plain > 0:
		return fmt.Errorf("%d accounts have a PIN stored in plain text and auth.pin_key (CALLBACKD_AUTH_PIN_KEY) is not set: "+
			"set it to a secret of at least %d bytes, the same on every node, and they are hashed when callbackd starts", plain, callback.MinPINKeyBytes)
	case other > 0 && c.Auth.PINKey == "":
		return fmt.Errorf("%d accounts have a PIN and auth.pin_key (CALLBACKD_AUTH_PIN_KEY) is not set: set the key the PINs were stored under", other)
	case other > 0:
		return fmt.Errorf("%d accounts have a PIN stored under another auth.pin_key: set that key again, "+
			"or give those accounts new PINs (callbackd account pin -username U -set PIN, or -clear)", other)
	}
	return nil
}

// redactDSN hides the password of a go-sql-driver DSN "user:pass@tcp(...)/db".
func redactDSN(dsn string) string {
	at := -1
	for i := len(dsn) - 1; i >= 0; i-- {
		if dsn[i] == '@' {
			at = i
			break
		}
	}
	if at < 0 {
		return dsn
	}
	cred := dsn[:at]
	for i := 0; i < len(cred); i++ {
		if cred[i] == ':' {
			return cred[:i] + ":***" + dsn[at:]
		}
	}
	return dsn
}

func (e *env) migrate(args []string) error {
	fs, cfgPath := e.flags("migrate")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log, err := newLogger(&c, e.stderr)
	if err != nil {
		return err
	}
	st, err := openStore(e.ctx, &c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintln(e.stdout, "schema is up to date")
	return nil
}

// component is one long-running part of the server. A component that
// listens names its address: every address is bound before any component
// starts, so a port in use stops the server before the dispatcher claims
// anything.
type component struct {
	name  string
	run   func(ctx context.Context) error
	addr  string
	serve func(ctx context.Context, ln net.Listener) error
	// lc is the listener's configuration where it is not the default.
	lc *net.ListenConfig
}

func (e *env) serve(args []string) error {
	fs, cfgPath := e.flags("serve")
	cf := addConfigFlags(fs)
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if _, err := cf.apply(&c); err != nil {
		return err
	}
	level := new(slog.LevelVar)
	log, err := newLeveledLogger(&c, level, e.stderr)
	if err != nil {
		return err
	}
	for _, msg := range unknownEnv(e.environ) {
		log.Warn(msg + " (ignored)")
	}
	srv, err := newServer(e.ctx, &c, log)
	if err != nil {
		return err
	}
	defer srv.close()
	srv.notify = newNotifier(e.environ, os.Getpid())
	srv.reload = func() (*Config, error) {
		nc, err := e.loadConfig(*cfgPath)
		if err != nil {
			return nil, err
		}
		if _, err := cf.apply(&nc); err != nil {
			return nil, err
		}
		return &nc, nil
	}
	srv.level = level
	return srv.run(e.ctx)
}

// server is the wired product: store, service, dispatcher and the
// protocol front ends.
type server struct {
	cfg        *Config
	log        *slog.Logger
	store      callback.Store
	svc        *callback.Service
	dispatcher *callback.Dispatcher
	engine     atomic.Pointer[triggers]
	rates      *tariff.Cache
	metrics    *metrics.Metrics
	ready      []httpapi.ReadyCheck // beyond the store's ping, which httpapi always checks
	components []component
	notify     notifier                // systemd readiness and watchdog
	reload     func() (*Config, error) // reads the configuration again on SIGHUP
	level      *slog.LevelVar          // log.level, changed by a reload
}

func newServer(ctx context.Context, c *Config, log *slog.Logger) (*server, error) {
	policy := c.Policy()
	if err := policy.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	st, err := openStore(ctx, c, log)
	if err != nil {
		return nil, err
	}
	if err := checkPINs(ctx, c, st); err != nil {
		st.Close()
		return nil, fmt.Errorf("configuration: %w", err)
	}
	s := &server{cfg: c, log: log, store: st}
	m := metrics.New()
	registerStoreMetrics(m, st)
	s.metrics = m
	var dialer callback.Dialer
	waitingFor := "an ARI connection to Asterisk: set ari.url (CALLBACKD_ARI_URL), e.g. http://127.0.0.1:8088"
	rates := tariff.NewCache(st, c.Limits.TariffCacheCheck)
	s.rates = rates
	authn := newAuthenticator(c, st)
	biller := billing.New(st, rates, billing.Options{Logger: log.With("component", "billing"), ReserveSlice: c.Billing.ReserveSlice})
	if ariConfigured(c) {
		ctrl, err := newController(c, st, m, biller, authn, s.startInbound, s.pinLogin, log)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("configuration: %w", err)
		}
		dialer = ctrl
		s.components = append(s.components, component{name: "ari", run: ctrl.Run},
			component{name: "billing-recovery", run: func(ctx context.Context) error { return biller.Sweep(ctx, billing.SweepInterval) }})
		s.ready = append(s.ready, httpapi.ReadyCheck{Name: "ari", Check: func(context.Context) error {
			if ctrl.Ready() {
				return nil
			}
			return errors.New("ARI events WebSocket not connected")
		}})
	}
	d, err := callback.NewDispatcher(callback.DispatcherOptions{
		Store: st, Dialer: dialer, Policy: policy, Node: c.Node, WaitingFor: waitingFor, Logger: log,
		Observer: m.DispatchObserver(),
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	m.SetLiveCalls(d.Live)
	s.dispatcher = d
	s.ready = append(s.ready, httpapi.ReadyCheck{Name: "queue", Check: d.QueueReady})
	s.svc = &callback.Service{Store: st, Policy: policy, Notify: func() { d.Notify(); m.Created() }, Check: newRequestChecker(c, biller)}
	s.components = append(s.components, component{name: "dispatcher", run: d.Run},
		component{name: "store-probe", run: newStoreProbe(st, m.Registry(), log.With("component", "probe")).run})
	if c.Webhooks.Enabled || c.Webhooks.ReplyEmail || c.Webhooks.ReplySMS {
		comp, err := webhookComponent(c, st, d.Owner(), m, log)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("configuration: %w", err)
		}
		s.components = append(s.components, comp)
	}

	s.setEngine(c)
	if c.AGI.Listen != "" {
		srv := agi.NewServer(agi.HandlerFunc(s.serveAGI), agi.WithLogger(log.With("component", "agi")), agi.WithSessionTimeout(c.AGI.SessionTimeout),
			agi.WithObserver(m.AGIObserver(agi.ErrSessionTimeout)))
		s.components = append(s.components, component{name: "fastagi", addr: c.AGI.Listen, serve: func(ctx context.Context, ln net.Listener) error {
			log.Info("FastAGI server listening", "component", "agi", "addr", ln.Addr().String(), "scripts", "ani dnis pin callback cld")
			return srv.Serve(ctx, ln)
		}, lc: new(agi.ListenConfig())})
	}
	var page http.Handler
	if c.Web.Modes != "" {
		wo, err := webOptions(c, s.svc, authn, log) // web adds its component key
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("configuration: %w", err)
		}
		page = web.New(wo)
	}
	if c.SMTP.Listen != "" {
		comp, err := smtpComponent(c, s.svc, authn, log) // mail adds its component keys
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("configuration: %w", err)
		}
		s.components = append(s.components, comp)
	}
	if c.HTTP.Listen != "" {
		ho, err := httpOptions(c, st, s.svc, authn, log) // httpapi adds its component key
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("configuration: %w", err)
		}
		ho.Metrics = m
		ho.Ready = s.ready
		ho.Fallback = page // the web page, behind the same logs, metrics and recovery
		// The console at /admin/, then the web page.
		if ho.Fallback, err = withConsole(c, st, ho.Admin, page, log); err != nil {
			st.Close()
			return nil, fmt.Errorf("configuration: %w", err)
		}
		s.components = append(s.components, httpComponent(c.HTTP.Listen, withIndex(httpapi.New(ho), c), log.With("component", "http")))
	}
	return s, nil
}

// run binds every listening address, then runs every component until ctx
// is done or one fails; a failing component stops the others. When started
// by systemd it reports readiness once everything runs, and feeds the
// watchdog.
func (s *server) run(ctx context.Context) error {
	lns, err := s.listen(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	errs := make([]error, len(s.components))
	for i, comp := range s.components {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := comp.run
			if comp.serve != nil {
				run = func(ctx context.Context) error { return comp.serve(ctx, lns[i]) }
			}
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs[i] = fmt.Errorf("%s: %w", comp.name, err)
				s.log.Error("component failed; stopping", "component", comp.name, "err", err)
				cancel(errs[i])
			}
		}()
	}
	stopAux := s.startAux(ctx)
	wg.Wait()
	stopAux()
	s.log.Info("callbackd stopped")
	return errors.Join(errs...)
}

// listen binds the address of every component that listens. On the first
// failure it closes what it bound and names the component and address.
func (s *server) listen(ctx context.Context) ([]net.Listener, error) {
	lns := make([]net.Listener, len(s.components))
	for i, comp := range s.components {
		if comp.serve == nil {
			continue
		}
		lc := comp.lc
		if lc == nil {
			lc = new(net.ListenConfig)
		}
		ln, err := lc.Listen(ctx, "tcp", comp.addr)
		if err != nil {
			for _, l := range lns {
				if l != nil {
					l.Close()
				}
			}
			return nil, fmt.Errorf("%s: listen %s: %w", comp.name, comp.addr, err)
		}
		lns[i] = ln
	}
	return lns, nil
}

func (s *server) close() {
	if err := s.store.Close(); err != nil {
		s.log.Error("close store", "err", err)
	}
}

// startInbound serves a call the dialplan sent to Stasis(<app>,ivr,...):
// the trigger engine decides who pays and the dispatcher runs the call on
// this node at once; the ARI controller then takes the waiting channel
// over as leg A.
func (s *server) startInbound(ctx context.Context, in ari.Inbound) error {
	return s.engine.Load().eng.ServeInbound(ctx, trigger.InboundCall{CLI: in.CallerID, Number: in.Number, Channel: in.Channel}, s.dispatcher.Start)
}

// pinLogin runs Mizu anumberhandling "add" after a PIN login in the
// calling card: the trigger engine adds the caller's number to the account
// when the access number says so.
func (s *server) pinLogin(ctx context.Context, r *callback.Request, a *callback.Account) {
	s.engine.Load().eng.PINLogin(ctx, r, a)
}

// triggers is the trigger engine of the current limits and the FastAGI
// scripts that call it; a reload that changes limits.* replaces both.
type triggers struct {
	eng *trigger.Engine
	mux *agi.Mux
}

// setEngine builds the trigger engine for c's limits and puts it in
// place; calls already in it finish there.
func (s *server) setEngine(c *Config) {
	eng := trigger.NewEngine(s.store, s.svc, s.rates, c.Limits.Limits, s.log.With("component", "trigger"))
	eng.Fallback.DefaultAccountUsername = c.AGI.CLDDefaultAccount
	eng.PendingLookupFailed = s.metrics.PendingLookupFailed
	if b := sharedLimits(c, s.store); b != nil {
		eng.ShareLimits(b)
	}
	mux := agi.NewMux()
	(&trigger.AGIHandler{Engine: eng, Log: s.log.With("component", "trigger")}).Register(mux)
	s.engine.Store(&triggers{eng: eng, mux: mux})
}

func (s *server) serveAGI(ctx context.Context, sess *agi.Session) {
	s.engine.Load().mux.ServeAGI(ctx, sess)
}

// The metrics observers satisfy the interfaces of the packages they
// observe without importing them.
var (
	_ agi.Observer = metrics.AGIObserver{}
	_ ari.Observer = metrics.ARIObserver{}
)
