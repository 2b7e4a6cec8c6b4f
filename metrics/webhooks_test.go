package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/webhook"
)

func TestWebhookMetrics(t *testing.T) {
	m := New()
	o := m.WebhookObserver()
	o.Attempted(webhook.StatePending, 0)
	o.Attempted(webhook.StatePending, 0)
	o.Attempted(webhook.StateDelivered, 300*time.Millisecond)
	o.QueueDepth(7)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`callbackd_webhook_deliveries_total{outcome="delivered"} 1`,
		`callbackd_webhook_deliveries_total{outcome="retry"} 2`,
		`callbackd_webhook_deliveries_total{outcome="failed"} 0`,
		`callbackd_webhook_queue_depth 7`,
		`callbackd_webhook_delivery_delay_seconds_bucket{le="0.5"} 1`,
		`callbackd_webhook_delivery_delay_seconds_bucket{le="0.25"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
