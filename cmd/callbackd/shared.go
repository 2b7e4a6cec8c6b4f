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
// callbackd_claim_conflicts_total, and where Updates share transactions
// callbackd_store_update_transactions_total and
// callbackd_store_updates_total.
func registerStoreMetrics(m *metrics.Metrics, st callback.Store) {
	if c, ok := st.(interface{ ClaimConflicts() uint64 }); ok {
		m.Registry().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "callbackd", Name: "claim_conflicts_total",
			Help: "Claims of due requests that lost their rows to another node (a certification conflict on Galera, a deadlock elsewhere) and were run again on other rows.",
		}, func() float64 { return float64(c.ClaimConflicts()) }))
	}
	b, ok := st.(interface {
		BatchesUpdates() bool
		UpdateBatching() (txs, updates uint64)
	})
	if !ok || !b.BatchesUpdates() {
		return
	}
	m.Registry().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "callbackd", Name: "store_update_transactions_total",
		Help: "Transactions that carried status changes of requests (the changes that come together share one).",
	}, func() float64 { txs, _ := b.UpdateBatching(); return float64(txs) }))
	m.Registry().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "callbackd", Name: "store_updates_total",
		Help: "Status changes of requests those transactions carried: divided by callbackd_store_update_transactions_total, the mean batch.",
	}, func() float64 { _, ups := b.UpdateBatching(); return float64(ups) }))
}

// serviceStore is svc's store; nil without a service.
func serviceStore(svc *callback.Service) callback.Store {
	if svc == nil {
		return nil
	}
	return svc.Store
}
