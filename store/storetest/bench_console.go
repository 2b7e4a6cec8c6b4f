package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// seedFinishedRequests inserts n finished callback requests, one every 5 seconds
// from start, their results in turn, in multi-row INSERTs of 1000.
func seedFinishedRequests(tb testing.TB, s admin.Store, start time.Time, n int) {
	tb.Helper()
	ctx := context.Background()
	db := s.(RawDBer).RawDB()
	const batch = 1000
	var sb strings.Builder
	for lo := 0; lo < n; lo += batch {
		sb.Reset()
		sb.WriteString("INSERT INTO callback_requests (username, original_cli, original_cld, status, result, finished, creation_time, next_call) VALUES ")
		args := make([]any, 0, batch*5)
		for i := lo; i < min(lo+batch, n); i++ {
			if i > lo {
				sb.WriteString(", ")
			}
			ts := start.Add(time.Duration(i) * 5 * time.Second).Format("2006-01-02 15:04:05.000")
			sb.WriteString("('801', ?, 'callingcard', 'Finished', ?, 1, ?, ?)")
			args = append(args, fmt.Sprintf("4930%07d", i), string(callback.Results[i%len(callback.Results)]), ts, ts)
		}
		if _, err := db.ExecContext(ctx, sb.String(), args...); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchDashboard measures the console's dashboard figures
// (admin.Service.Activity: today's requests by result and the first legs
// per hour of the last 24 hours) over CALLBACKD_BENCH_CDRS CDRs (default
// 1,000,000, one a second, half of them first legs: 43,200 in the 24
// hours) and CALLBACKD_BENCH_REQUESTS requests (default 200,000, one
// every 5 s: 17,280 a day), and the tariff list over
// CALLBACKD_BENCH_RATES rates (default 100,000) in 10 tariffs; 200 times
// each, p50 and p99 in ms.
func BenchDashboard(b *testing.B, open func(b *testing.B) admin.Store) {
	n := benchSize(b, "CALLBACKD_BENCH_CDRS", 1_000_000)
	reqs := benchSize(b, "CALLBACKD_BENCH_REQUESTS", 200_000)
	rates := benchSize(b, "CALLBACKD_BENCH_RATES", 100_000)
	s := open(b)
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	SeedCDRs(b, s, start, n, 1000)
	seedFinishedRequests(b, s, start, reqs)
	for t := range 10 {
		var rs []callback.TariffRate
		for i := range rates / 10 {
			rs = append(rs, callback.TariffRate{Prefix: fmt.Sprintf("%d%06d", 1+t, i), PricePerMinute: 100, FirstIncrement: 60, NextIncrement: 60})
		}
		if _, err := s.ImportRates(b.Context(), fmt.Sprintf("tariff%d", t), rs, false); err != nil {
			b.Fatal(err)
		}
	}
	svc := &admin.Service{Store: s}
	ctx := b.Context()
	// The middle of the seeded days, at 12:30.
	now := start.Add(time.Duration(min(n, reqs*5)/2) * time.Second).Truncate(24 * time.Hour).Add(12*time.Hour + 30*time.Minute)
	cases := []struct {
		name string
		run  func() error
	}{
		{"activity", func() error {
			a, err := svc.Activity(ctx, admin.CLIActor, now)
			if err == nil && (len(a.ByResult) == 0 || a.Hours[23].Attempts == 0) {
				err = fmt.Errorf("no figures at %s: %+v", now, a)
			}
			return err
		}},
		{"tariffs", func() error {
			ts, err := svc.ListTariffs(ctx, admin.CLIActor)
			if err == nil && len(ts) != 10 {
				err = fmt.Errorf("%d tariffs", len(ts))
			}
			return err
		}},
		{"rates-page", func() error {
			rs, err := svc.ListRatesPage(ctx, admin.CLIActor, "tariff5", "6005000", 51)
			if err == nil && len(rs) != 51 {
				err = fmt.Errorf("%d rates", len(rs))
			}
			return err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				for range 200 {
					t0 := time.Now()
					err := c.run()
					lat = append(lat, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		})
	}
}
