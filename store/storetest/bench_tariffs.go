package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// BenchTariffList measures the console's tariff list
// (admin.Service.ListTariffs) over CALLBACKD_BENCH_RATES rates (default
// 100,000) imported into 10 tariffs, 1,000 accounts spread over them,
// CALLBACKD_BENCH_QUERIES times (default 200): p50 and p99 in ms.
func BenchTariffList(b *testing.B, open func(b *testing.B) admin.Store) {
	rates := benchSize(b, "CALLBACKD_BENCH_RATES", 100_000)
	queries := benchSize(b, "CALLBACKD_BENCH_QUERIES", 200)
	s := open(b)
	ctx := b.Context()
	for t := range 10 {
		var rs []callback.TariffRate
		for i := range rates / 10 {
			rs = append(rs, callback.TariffRate{Prefix: fmt.Sprintf("%d%06d", 1+t, i), PricePerMinute: 100, FirstIncrement: 60, NextIncrement: 60})
		}
		if _, err := s.ImportRates(ctx, fmt.Sprintf("tariff%d", t), rs, false); err != nil {
			b.Fatal(err)
		}
	}
	db := s.(RawDBer).RawDB()
	for i := range 1000 {
		if _, err := db.ExecContext(ctx, "INSERT INTO accounts (username, currency, balance, tariff) VALUES (?, ?, 0, ?)",
			fmt.Sprintf("acct%04d", i), []string{"USD", "EUR"}[i%2], fmt.Sprintf("tariff%d", i%10)); err != nil {
			b.Fatal(err)
		}
	}
	svc := &admin.Service{Store: s}
	var lat []time.Duration
	for b.Loop() {
		for range queries {
			t0 := time.Now()
			ts, err := svc.ListTariffs(ctx, admin.CLIActor)
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			if len(ts) != 10 || ts[3].Rates != int64(rates/10) || ts[3].Accounts != 100 {
				b.Fatalf("tariffs %+v", ts)
			}
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}
