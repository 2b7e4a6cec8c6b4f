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
// (admin.Service.Activity: today's requests by result, today's first legs
// per currency and the first legs per hour of the last 24 hours, read
// from the totals of migration 00015) over CALLBACKD_BENCH_CDRS CDRs
// (default 1,000,000, one a second, half of them first legs: 43,200 in
// the 24 hours) and CALLBACKD_BENCH_REQUESTS requests (default 200,000,
// one every 5 s: 17,280 a day), and the tariff list over
// CALLBACKD_BENCH_RATES rates (default 100,000) in 10 tariffs; 200 times
// each, p50 and p99 in ms. For comparison, 20 times each, the same
// figures by GROUP BY over the rows as before the totals: "groupby" (the
// request and hour counts over a range a millisecond off the hour, which
// the totals do not answer) and "report-day" (the day's first legs
// through Report, summed per currency), whose failures (the read timeout
// on MariaDB) are counted in "failed". "rebuild" times RebuildTotals
// over every seeded CDR and request once, the work of the migration's
// backfill.
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
	b.Run("rebuild", func(b *testing.B) {
		last := start.Add(time.Duration(max(n, reqs*5)) * time.Second).Truncate(time.Hour).Add(time.Hour)
		for b.Loop() {
			t0 := time.Now()
			cdrs, requests, err := svc.RebuildTotals(ctx, admin.CLIActor, start, last)
			if err != nil {
				b.Fatal(err)
			}
			if cdrs != int64(n) || requests != int64(reqs) {
				b.Fatalf("rebuilt %d CDRs and %d requests, want %d and %d", cdrs, requests, n, reqs)
			}
			b.ReportMetric(time.Since(t0).Seconds(), "s")
		}
	})
	// The middle of the seeded days, at 12:30.
	now := start.Add(time.Duration(min(n, reqs*5)/2) * time.Second).Truncate(24 * time.Hour).Add(12*time.Hour + 30*time.Minute)
	day := now.Truncate(24 * time.Hour)
	// The GROUP BY cases may pass the read timeout on MariaDB: they are
	// what the totals replace, so their failures are counted (with the
	// time they took), not fatal.
	cases := []struct {
		name    string
		runs    int
		mayFail bool
		run     func() error
	}{
		{"activity", 200, false, func() error {
			a, err := svc.Activity(ctx, admin.CLIActor, now)
			if err == nil && (len(a.ByResult) == 0 || a.Hours[23].Attempts == 0 || len(a.Today) != 1 || a.Today[0].Attempts == 0) {
				err = fmt.Errorf("no figures at %s: %+v", now, a)
			}
			return err
		}},
		{"groupby", 20, true, func() error {
			rs, err := s.RequestsByResult(ctx, day.Add(time.Millisecond), day.Add(24*time.Hour))
			if err == nil && len(rs) == 0 {
				err = fmt.Errorf("no requests on %s", day)
			}
			if err == nil {
				var hs []admin.HourCount
				hs, err = s.HourlyCallbacks(ctx, now.Add(-24*time.Hour), now)
				if err == nil && len(hs) == 0 {
					err = fmt.Errorf("no hours before %s", now)
				}
			}
			return err
		}},
		{"report-day", 20, true, func() error {
			rows, err := svc.Report(ctx, admin.CLIActor, admin.ReportFilter{From: day, To: day.Add(24 * time.Hour), By: admin.ByAccount, Leg: callback.LegA})
			if err == nil && len(rows) == 0 {
				err = fmt.Errorf("no report on %s", day)
			}
			return err
		}},
		{"tariffs", 200, false, func() error {
			ts, err := svc.ListTariffs(ctx, admin.CLIActor)
			if err == nil && len(ts) != 10 {
				err = fmt.Errorf("%d tariffs", len(ts))
			}
			return err
		}},
		{"rates-page", 200, false, func() error {
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
			failed := 0
			for b.Loop() {
				for range c.runs {
					t0 := time.Now()
					err := c.run()
					lat = append(lat, time.Since(t0))
					switch {
					case err != nil && c.mayFail:
						if failed == 0 {
							b.Logf("%s: %v", c.name, err)
						}
						failed++
					case err != nil:
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(failed), "failed")
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		})
	}
}
