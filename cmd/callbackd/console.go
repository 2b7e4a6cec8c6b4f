package main

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/console"
	"github.com/callbackd/callbackd/web"
)

// withConsole serves the operators' console at /admin/ over svc (the
// admin API's service) and every other path with next (the web page), or
// 404 without one. Sessions are signed with web.hmac_key when it is set,
// else with a key of this process (sessions then end at a restart and
// hold on one node only). The failed sign-ins are counted where
// sharedLimits says.
func withConsole(c *Config, st callback.Store, svc *admin.Service, next http.Handler, log *slog.Logger) (http.Handler, error) {
	if svc == nil {
		return next, nil
	}
	proxies, err := prefixes("web.trusted_proxies", c.Web.TrustedProxies)
	if err != nil {
		return nil, err
	}
	o := console.Options{Admin: svc, SecureCookies: c.Web.SecureCookies, TrustedProxies: proxies, Logger: log.With("component", "console")}
	if len(c.Web.HMACKey) >= web.MinKeyBytes {
		o.Key = []byte(c.Web.HMACKey)
	} else {
		log.Warn("console sessions are signed with a key of this process: set web.hmac_key to keep them across restarts and nodes", "component", "console")
	}
	if b := sharedLimits(c, st); b != nil {
		// The console's budgets of failed sign-ins, held where every
		// node sees them.
		l := auth.DefaultLogin()
		o.Lockout = auth.NewLockout(auth.DefaultLimits(l.Every, l.Burst), auth.SurfaceConsole)
		o.Lockout.ShareLimits(b)
	}
	cons := console.New(o)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/admin" || strings.HasPrefix(r.URL.Path, console.Prefix):
			cons.ServeHTTP(w, r)
		case next != nil:
			next.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	}), nil
}
