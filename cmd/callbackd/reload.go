package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// newLeveledLogger is newLogger with its level in level, so that a reload
// can change it in place.
func newLeveledLogger(c *Config, level *slog.LevelVar, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Log.Level)); err != nil {
		return nil, fmt.Errorf("log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	switch c.Log.Format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format %q: want text or json", c.Log.Format)
}

// liveKeys are the keys a SIGHUP applies to the running server. Access
// numbers, accounts and rates live in the database and take effect without
// any signal.
var liveKeys = map[string]bool{"log.level": true,
	"limits.per_cli_burst": true, "limits.per_cli_every": true,
	"limits.per_account_burst": true, "limits.per_account_every": true,
	"limits.per_source_burst": true, "limits.per_source_every": true}

// startAux starts what runs beside the components: readiness and the
// watchdog for systemd, and the SIGHUP reload. The returned func stops them.
func (s *server) startAux(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var hup chan os.Signal
	if s.reload != nil {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
	}
	if err := s.notify.notify("READY=1\nSTATUS=serving"); err != nil {
		s.log.Warn("cannot tell systemd the service is ready", "err", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.notify.keepAlive(ctx, func(err error) {
			s.log.Error("cannot feed systemd's watchdog", "err", err)
		})
	}()
	if hup != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer signal.Stop(hup)
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					s.reloadConfig()
				}
			}
		}()
	}
	return func() {
		cancel()
		wg.Wait()
		if err := s.notify.notify("STOPPING=1"); err != nil {
			s.log.Warn("cannot tell systemd the service is stopping", "err", err)
		}
	}
}

// reloadConfig reads the configuration again and applies what can change
// while calls run; it names the changed keys that need a restart. A file
// that does not load leaves everything as it was.
func (s *server) reloadConfig() {
	s.notify.notify("RELOADING=1")
	defer s.notify.notify("READY=1\nSTATUS=serving")
	nc, err := s.reload()
	if err != nil {
		s.log.Error("configuration not reloaded; the running one stays", "err", err)
		return
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(nc.Log.Level)); err != nil {
		s.log.Error("configuration not reloaded; the running one stays", "err", fmt.Errorf("log.level %q: want debug, info, warn or error", nc.Log.Level))
		return
	}
	var applied, restart []string
	old := ConfigKeys(s.cfg)
	for i, kv := range ConfigKeys(nc) {
		if i >= len(old) || old[i][1] == kv[1] {
			continue
		}
		if liveKeys[kv[0]] {
			applied = append(applied, kv[0])
		} else {
			restart = append(restart, kv[0])
		}
	}
	if s.level != nil {
		s.level.Set(l)
	}
	// Only the live keys are taken over: the others keep describing what runs.
	s.cfg.Log.Level = nc.Log.Level
	if s.cfg.Limits.Limits != nc.Limits.Limits {
		// The trigger limits start afresh with the new engine.
		s.cfg.Limits.Limits = nc.Limits.Limits
		s.setEngine(s.cfg)
	}
	s.log.Info("configuration reloaded", "applied", strings.Join(applied, ","), "need_restart", strings.Join(restart, ","))
}
