package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callbackd/callbackd/callback"
)

// storeProbe exports what alerting needs to know about the queue and that
// a scrape must not ask the store for: whether the store answers, how
// long the oldest due request has waited unclaimed, and how many requests
// are unfinished. It asks every interval.
type storeProbe struct {
	st                        callback.Store
	up, oldestDue, unfinished prometheus.Gauge
	log                       *slog.Logger
}

// unfinishedCap bounds the count query; the gauge reads at most this.
const unfinishedCap = 1000

func newStoreProbe(st callback.Store, reg prometheus.Registerer, log *slog.Logger) *storeProbe {
	p := &storeProbe{st: st, log: log,
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "callbackd_store_up",
			Help: "1 when the store answered the last probe (every 15s), 0 when it did not."}),
		oldestDue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "callbackd_queue_oldest_due_seconds",
			Help: "How long the earliest due, unclaimed request has waited past its next_call; 0 when none is due."}),
		unfinished: prometheus.NewGauge(prometheus.GaugeOpts{Name: "callbackd_requests_unfinished",
			Help: "Requests not finished yet (waiting, scheduled or in a call), counted up to 1000."}),
	}
	reg.MustRegister(p.up, p.oldestDue, p.unfinished)
	return p
}

func (p *storeProbe) run(ctx context.Context) error {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		p.probe(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *storeProbe) probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.st.Ping(ctx); err != nil {
		if ctx.Err() == nil {
			p.log.Warn("store probe: no answer", "err", err)
		}
		p.up.Set(0)
		return
	}
	p.up.Set(1)
	if due, ok, err := p.st.NextDue(ctx); err == nil {
		late := 0.0
		if ok {
			late = max(time.Since(due).Seconds(), 0)
		}
		p.oldestDue.Set(late)
	}
	no := false
	if reqs, err := p.st.ListRequests(ctx, callback.RequestFilter{Finished: &no, Limit: unfinishedCap}); err == nil {
		p.unfinished.Set(float64(len(reqs)))
	}
}
