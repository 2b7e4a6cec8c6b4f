package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callbackd/callbackd/webhook"
)

// webhookObserver counts the webhook sender's attempts.
type webhookObserver struct {
	deliveries *prometheus.CounterVec
	delay      prometheus.Histogram
	depth      prometheus.Gauge
}

// WebhookObserver registers the webhook metrics and returns the sender's
// observer; call it once per process.
//
//   - callbackd_webhook_deliveries_total{outcome}: attempts by outcome:
//     delivered (2xx), retry (anything else, due again later), failed (the
//     retry window passed: given up until resent).
//   - callbackd_webhook_delivery_delay_seconds: from the status change to
//     its 2xx answer.
//   - callbackd_webhook_queue_depth: notifications pending (due or waiting
//     to retry), counted every 5 s.
func (m *Metrics) WebhookObserver() webhook.Observer {
	o := webhookObserver{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "webhook", Name: "deliveries_total",
			Help: "Webhook POSTs by outcome: delivered (2xx), retry (no 2xx; due again later), failed (retry window passed; resend by hand).",
		}, []string{"outcome"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "webhook", Name: "delivery_delay_seconds",
			Help:    "Time from a request's status change to the 2xx answer to its notification.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "webhook", Name: "queue_depth",
			Help: "Webhook notifications pending: due now or waiting to be retried.",
		}),
	}
	for _, s := range []string{"delivered", "retry", "failed"} {
		o.deliveries.WithLabelValues(s) // every series from the start
	}
	m.reg.MustRegister(o.deliveries, o.delay, o.depth)
	return o
}

func (o webhookObserver) Attempted(s webhook.State, delay time.Duration) {
	switch s {
	case webhook.StateDelivered:
		o.deliveries.WithLabelValues("delivered").Inc()
		o.delay.Observe(delay.Seconds())
	case webhook.StatePending:
		o.deliveries.WithLabelValues("retry").Inc()
	case webhook.StateFailed:
		o.deliveries.WithLabelValues("failed").Inc()
	}
}

func (o webhookObserver) QueueDepth(n int) { o.depth.Set(float64(n)) }
