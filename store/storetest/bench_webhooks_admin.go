package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
)

// SeedDeliveries inserts n webhook outbox rows, oldest first, in
// multi-row INSERTs of 1000: the oldest 1% failed (given up), the newest
// 2% pending after a failed attempt, the others delivered. Every tenth row
// is the global webhook's; the others go to accounts hook0000 ..
// hook<accounts-1> in turn (each created with a webhook), but for 20 rows
// among the oldest, which go to account hookrare.
func SeedDeliveries(tb testing.TB, s admin.Store, n, accounts int) {
	tb.Helper()
	ctx := context.Background()
	db := s.(RawDBer).RawDB()
	names := make([]string, accounts)
	for i := range names {
		names[i] = fmt.Sprintf("hook%04d", i)
	}
	for _, name := range append(names, "hookrare") {
		if _, err := db.ExecContext(ctx, "INSERT INTO accounts (username, currency, balance) VALUES (?, 'USD', 0)", name); err != nil {
			tb.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO account_webhooks (username, url, secret, events) VALUES (?, ?, '0123456789abcdef', 'all')",
			name, "http://127.0.0.1:9/"+name); err != nil {
			tb.Fatal(err)
		}
	}
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ts := func(t time.Time) string { return t.Format("2006-01-02 15:04:05.000") }
	const batch = 1000
	var sb strings.Builder
	for lo := 0; lo < n; lo += batch {
		sb.Reset()
		sb.WriteString(`INSERT INTO webhook_outbox (request_id, event_id, channel, account, status, result, payload, created, queued,
			state, attempts, next_attempt, last_code, last_error, delivered) VALUES `)
		args := make([]any, 0, batch*14)
		for i := lo; i < min(lo+batch, n); i++ {
			if i > lo {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, 'webhook', ?, 'Finished', 'Successful', '{}', ?, ?, ?, ?, ?, ?, ?, ?)")
			at := start.Add(time.Duration(i) * time.Second)
			var account any
			switch {
			case i < n/100 && i%(n/100/20+1) == 0:
				account = "hookrare"
			case i%10 != 0:
				account = names[i%accounts]
			}
			state, attempts, code, lastErr, delivered := "delivered", 1, any(204), any(nil), any(ts(at.Add(time.Second)))
			switch {
			case i < n/100:
				state, attempts, code, lastErr, delivered = "failed", 30, 500, "HTTP 500", nil
			case i >= n-n/50:
				state, attempts, code, lastErr, delivered = "pending", 3, 503, "HTTP 503", nil
			}
			args = append(args, int64(i/2+1), int64(i+1), account, ts(at), ts(at), state, attempts, ts(at.Add(time.Minute)), code, lastErr, delivered)
		}
		if _, err := db.ExecContext(ctx, sb.String(), args...); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchListDeliveries measures one page (50 rows) of the admin list of
// webhook notifications over CALLBACKD_BENCH_DELIVERIES rows (100,000 by
// default), by each filter: none, a state (failed: old, retrying: new),
// an account with rows everywhere, one whose rows are all old, its URL,
// and a request.
func BenchListDeliveries(b *testing.B, open func(b *testing.B) admin.Store) {
	n := benchSize(b, "CALLBACKD_BENCH_DELIVERIES", 100_000)
	s := open(b)
	SeedDeliveries(b, s, n, 100)
	svc := &admin.Service{Store: s, Webhooks: admin.WebhookConfig{URL: "http://127.0.0.1:9/global"}}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		f    admin.DeliveryFilter
	}{
		{"all", admin.DeliveryFilter{}},
		{"failed", admin.DeliveryFilter{State: "failed"}},
		{"retrying", admin.DeliveryFilter{State: "retrying"}},
		{"account", admin.DeliveryFilter{Account: "hook0042"}},
		{"rare_account", admin.DeliveryFilter{Account: "hookrare"}},
		{"rare_url", admin.DeliveryFilter{URL: "http://127.0.0.1:9/hookrare"}},
		{"global_url", admin.DeliveryFilter{URL: "http://127.0.0.1:9/global"}},
		{"request", admin.DeliveryFilter{RequestID: int64(n / 4)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := c.f
			f.Limit = 51
			for b.Loop() {
				ds, err := svc.ListDeliveries(ctx, admin.CLIActor, f)
				if err != nil || len(ds) == 0 {
					b.Fatalf("%s: %d rows, %v", c.name, len(ds), err)
				}
			}
		})
	}
}
