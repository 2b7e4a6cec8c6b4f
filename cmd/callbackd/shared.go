package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/trigger"
)

// sharedLimits returns where the abuse limits of the triggers, the web
// page, email and the HTTP API, and the budgets of failed logins (PINs,
// passwords, API and operator tokens, console sign-ins), keep their
// buckets: the database when it is MariaDB/MySQL
// (database.mysql_dsn), which every node of a cluster shares, so N nodes
// allow one burst per caller and not N; nil (each process counts alone)
// on the embedded store, which serves one node, and with limits.shared
// off.
func sharedLimits(c *Config, st callback.Store) trigger.SharedBuckets {
	if c.Database.MySQLDSN == "" || !c.Limits.Shared {
		return nil
	}
	if b, ok := st.(trigger.SharedBuckets); ok {
		return b
	}
	return nil
}

// registerStoreMetrics adds the store's counters to m:
// callbackd_claim_conflicts_total.
func registerStoreMetrics(m *metrics.Metrics, st callback.Store) {
	c, ok := st.(interface{ ClaimConflicts() uint64 })
	if !ok {
		return
	}
	m.Registry().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "callbackd", Name: "claim_conflicts_total",
		Help: "Claims of due requests that lost their rows to another node (a certification conflict on Galera, a deadlock elsewhere) and were run again on other rows.",
	}, func() float64 { return float64(c.ClaimConflicts()) }))
}

// serviceStore is svc's store; nil without a service.
func serviceStore(svc *callback.Service) callback.Store {
	if svc == nil {
		return nil
	}
	return svc.Store
}
