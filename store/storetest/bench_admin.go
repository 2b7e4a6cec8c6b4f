package storetest

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
)

// benchSize reads a benchmark's size from the environment variable name,
// or def.
func benchSize(b *testing.B, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive number", name, s)
		}
		return n
	}
	return def
}

// SeedCDRs inserts n CDRs, one a second from start, spread over accounts
// acct0000..acct<accounts-1> (which it creates) and both legs, in
// multi-row INSERTs of 1000.
func SeedCDRs(tb testing.TB, s admin.Store, start time.Time, n, accounts int) {
	tb.Helper()
	ctx := context.Background()
	db := s.(RawDBer).RawDB()
	for i := range accounts {
		if _, err := db.ExecContext(ctx, "INSERT INTO accounts (username, currency, balance) VALUES (?, 'USD', 0)", fmt.Sprintf("acct%04d", i)); err != nil {
			tb.Fatal(err)
		}
	}
	const batch = 1000
	var sb strings.Builder
	for lo := 0; lo < n; lo += batch {
		sb.Reset()
		sb.WriteString(`INSERT INTO cdrs (request_id, leg, account, number, caller_id, channel_id, start_time, answer_time,
			end_time, billsec, cause, prefix, charge, currency, disposition) VALUES `)
		args := make([]any, 0, batch*8)
		for i := lo; i < min(lo+batch, n); i++ {
			if i > lo {
				sb.WriteString(", ")
			}
			st := start.Add(time.Duration(i) * time.Second)
			leg, ans, bill, disp, charge := "A", any(nil), 0, "NO ANSWER", 0
			if i%2 == 1 {
				leg = "B"
			}
			if i%3 != 0 {
				ans, bill, disp, charge = st.Add(7*time.Second).Format("2006-01-02 15:04:05.000"), 60+i%120, "ANSWERED", 125*(60+i%120)
			}
			sb.WriteString("(?, ?, ?, '4930123456', '4930999', ?, ?, ?, ?, ?, 16, '4930', ?, 'USD', ?)")
			args = append(args, i/2+1, leg, fmt.Sprintf("acct%04d", i%accounts), "chan-"+strconv.Itoa(i),
				st.Format("2006-01-02 15:04:05.000"), ans, st.Add(time.Duration(bill+10)*time.Second).Format("2006-01-02 15:04:05.000"),
				bill, charge, disp)
		}
		if _, err := db.ExecContext(ctx, sb.String(), args...); err != nil {
			tb.Fatal(err)
		}
	}
}

// countingWriter counts the bytes of the export.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)

// BenchExportCDRs measures the CSV export of CALLBACKD_BENCH_CDRS CDRs
// (default 1,000,000) through admin.Service.ExportCDRs: rows/s, and the
// largest heap seen during the export (sampled every 50,000 rows), which
// stays flat whatever the size.
func BenchExportCDRs(b *testing.B, open func(b *testing.B) admin.Store) {
	n := benchSize(b, "CALLBACKD_BENCH_CDRS", 1_000_000)
	s := open(b)
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	SeedCDRs(b, s, start, n, 1000)
	svc := &admin.Service{Store: s}
	f := admin.CDRFilter{From: start, To: start.Add(time.Duration(n) * time.Second)}
	var rows int64
	var elapsed, cpu time.Duration
	var peak uint64
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	for b.Loop() {
		w := &countingWriter{}
		cpu0 := cpuTime(b)
		t0 := time.Now()
		got, err := svc.ExportCDRs(b.Context(), admin.CLIActor, f, w, func() {
			// Called every 1,000 rows.
			if rows++; rows%50 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		})
		elapsed += time.Since(t0)
		cpu += cpuTime(b) - cpu0
		if err != nil {
			b.Fatal(err)
		}
		if got != int64(n) {
			b.Fatalf("exported %d rows, want %d", got, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/elapsed.Seconds(), "rows/s")
	// On a shared machine the wall clock counts the time other processes
	// hold the CPUs; the process's CPU time does not.
	b.ReportMetric(float64(b.N*n)/cpu.Seconds(), "rows/cpu-s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(baseHeap)/(1<<20), "heap-before-MiB")
}

// BenchAdminLists measures the first page (51 rows) of the console's
// lists over CALLBACKD_BENCH_CDRS CDRs (default 1,000,000) and
// CALLBACKD_BENCH_ACCOUNTS accounts (default 100,000), 200 times per
// filter, and reports each filter's p99 in ms.
func BenchAdminLists(b *testing.B, open func(b *testing.B) admin.Store) {
	n := benchSize(b, "CALLBACKD_BENCH_CDRS", 1_000_000)
	accounts := benchSize(b, "CALLBACKD_BENCH_ACCOUNTS", 100_000)
	s := open(b)
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	SeedCDRs(b, s, start, n, accounts)
	if _, err := s.(RawDBer).RawDB().ExecContext(b.Context(), "UPDATE accounts SET blocked = 1, tariff = 'gold' WHERE username LIKE 'acct%7'"); err != nil {
		b.Fatal(err)
	}
	svc := &admin.Service{Store: s}
	ctx := b.Context()
	yes := true
	mid := start.Add(time.Duration(n/2) * time.Second)
	old := start.Add(time.Duration(n/100) * time.Second)
	cases := []struct {
		name string
		run  func() (int, error)
	}{
		{"accounts", func() (int, error) {
			a, err := svc.ListAccounts(ctx, admin.CLIActor, admin.AccountFilter{Limit: 51})
			return len(a), err
		}},
		{"accounts-prefix", func() (int, error) {
			a, err := svc.ListAccounts(ctx, admin.CLIActor, admin.AccountFilter{UsernamePrefix: "acct05", Limit: 51})
			return len(a), err
		}},
		{"accounts-blocked", func() (int, error) {
			a, err := svc.ListAccounts(ctx, admin.CLIActor, admin.AccountFilter{Blocked: &yes, Limit: 51})
			return len(a), err
		}},
		{"accounts-tariff-currency", func() (int, error) {
			a, err := svc.ListAccounts(ctx, admin.CLIActor, admin.AccountFilter{Tariff: "gold", Currency: "USD", Limit: 51})
			return len(a), err
		}},
		{"cdrs", func() (int, error) {
			c, err := svc.ListCDRs(ctx, admin.CLIActor, admin.CDRFilter{Limit: 51})
			return len(c), err
		}},
		{"cdrs-account", func() (int, error) {
			c, err := svc.ListCDRs(ctx, admin.CLIActor, admin.CDRFilter{Account: "acct0042", Limit: 51})
			return len(c), err
		}},
		{"cdrs-leg", func() (int, error) {
			c, err := svc.ListCDRs(ctx, admin.CLIActor, admin.CDRFilter{Leg: "B", Limit: 51})
			return len(c), err
		}},
		{"cdrs-range-recent", func() (int, error) {
			c, err := svc.ListCDRs(ctx, admin.CLIActor, admin.CDRFilter{From: mid, To: mid.Add(time.Hour), Limit: 51})
			return len(c), err
		}},
		{"cdrs-range-old", func() (int, error) {
			c, err := svc.ListCDRs(ctx, admin.CLIActor, admin.CDRFilter{From: old, To: old.Add(time.Hour), Limit: 51})
			return len(c), err
		}},
		{"cdrs-account-range", func() (int, error) {
			c, err := svc.ListCDRs(ctx, admin.CLIActor, admin.CDRFilter{Account: "acct0042", From: old, To: mid, Limit: 51})
			return len(c), err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				for range 200 {
					t0 := time.Now()
					got, err := c.run()
					lat = append(lat, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					if got == 0 {
						b.Fatal("empty first page")
					}
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
