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
	"github.com/callbackd/callbackd/callback"
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

// SeedCDRs inserts n CDRs, one a second from start, over both legs and
// accounts acct0000..acct<accounts-1> (which it creates): one in ten is
// acct0000's, as SeedRequests's, the others spread over all of them; in
// multi-row INSERTs of 1000.
func SeedCDRs(tb testing.TB, s admin.Store, start time.Time, n, accounts int) {
	tb.Helper()
	ctx := context.Background()
	db := s.(RawDBer).RawDB()
	const batch = 1000
	var sb strings.Builder
	for lo := 0; lo < accounts; lo += batch {
		sb.Reset()
		sb.WriteString("INSERT INTO accounts (username, currency, balance) VALUES ")
		for i := lo; i < min(lo+batch, accounts); i++ {
			if i > lo {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "('acct%04d', 'USD', 0)", i)
		}
		if _, err := db.ExecContext(ctx, sb.String()); err != nil {
			tb.Fatal(err)
		}
	}
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
			acct := "acct0000"
			if i%10 != 3 {
				acct = fmt.Sprintf("acct%04d", i%accounts)
			}
			args = append(args, i/2+1, leg, acct, "chan-"+strconv.Itoa(i),
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
// (default 1,000,000) through admin.Service.ExportCDRs: rows/s by the
// wall clock and per CPU-second of the process, the MariaDB server's CPU
// time per row when MARIADB_TEST_PID names it (scripts/mariadb-test.sh
// does), and the largest heap seen during the export (sampled every
// 50,000 rows), which stays flat whatever the size.
func BenchExportCDRs(b *testing.B, open func(b *testing.B) admin.Store) {
	n := benchSize(b, "CALLBACKD_BENCH_CDRS", 1_000_000)
	s := open(b)
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	SeedCDRs(b, s, start, n, 1000)
	svc := &admin.Service{Store: s}
	f := admin.CDRFilter{From: start, To: start.Add(time.Duration(n) * time.Second)}
	var rows int64
	var elapsed, cpu, serverCPU time.Duration
	var peak uint64
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	for b.Loop() {
		w := &countingWriter{}
		cpu0 := cpuTime(b)
		server0, _ := ServerCPUTime(b)
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
		server1, _ := ServerCPUTime(b)
		serverCPU += server1 - server0
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
	if _, ok := ServerCPUTime(b); ok {
		// The database server's share, which the process's CPU time
		// leaves out (MariaDB through scripts/mariadb-test.sh).
		b.ReportMetric(float64(serverCPU.Nanoseconds())/1e3/float64(b.N*n), "server-cpu-us/row")
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(baseHeap)/(1<<20), "heap-before-MiB")
}

// SeedRequests inserts n callback requests created from start over days
// days, in multi-row INSERTs of 250 (each row also writes its history line
// through the table's trigger), spread as a busy service's are:
//   - by account: one in ten is acct0000's (a reseller's account with many
//     callers), the others spread over acct0000..acct<accounts-1>;
//   - by number: 200,000 distinct CLIs; four in five came in through one
//     of 20 access numbers (source ani), the others through the API;
//   - by outcome: the newest 1% are unfinished (40% Request received, 20%
//     Waiting for retry, 10% in each live status, held by a node), the
//     others Finished: 70% Successful, 10% Out of retries, 3% Expired, 8%
//     First leg aborted, 6% Second leg failed, 3% Canceled; Invalid request
//     only among the newest 10% (2 in 100 of them), as a client writing bad
//     rows lately would leave them, so its first page is not at the start
//     of the table.
//
// The accounts are SeedCDRs's; SeedRequests does not create them.
func SeedRequests(tb testing.TB, s admin.Store, start time.Time, days, n, accounts int) {
	tb.Helper()
	ctx := context.Background()
	db := s.(RawDBer).RawDB()
	const batch = 250
	step := time.Duration(days) * 24 * time.Hour / time.Duration(n)
	const ts = "2006-01-02 15:04:05.000"
	var sb strings.Builder
	for lo := 0; lo < n; lo += batch {
		sb.Reset()
		sb.WriteString(`INSERT INTO callback_requests (username, original_cli, original_cld, next_call, call_count, attempt,
			finished, status, result, creation_time, setup_time, source, access_number, lease_owner, lease_expires) VALUES `)
		args := make([]any, 0, batch*15)
		for i := lo; i < min(lo+batch, n); i++ {
			if i > lo {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, '2way_4930123456', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			created := start.Add(time.Duration(i) * step)
			user := "acct0000"
			if i%10 != 3 {
				user = fmt.Sprintf("acct%04d", i*7919%accounts)
			}
			source, access := any(string(callback.SourceAPI)), any(nil)
			if i%5 != 0 {
				source, access = string(callback.SourceANI), "493055500"+strconv.Itoa(10+i%20)
			}
			finished, status, result, owner, expires := 1, callback.StatusFinished, any(nil), any(nil), any(nil)
			setup := any(created.Add(5 * time.Second).Format(ts))
			switch k := i % 100; {
			case i >= n-n/100:
				finished = 0
				switch {
				case k < 40:
					status, setup = callback.StatusRequestReceived, nil
				case k < 60:
					status = callback.StatusWaitingForRetry
				default:
					status = []callback.Status{callback.StatusFirstLegInitiated, callback.StatusFirstLegConnected,
						callback.StatusSecondLegInitiated, callback.StatusSecondLegConnected}[(k-60)/10%4]
					owner, expires = "node-1", created.Add(time.Hour).Format(ts)
				}
			case i >= n-n/10 && (k == 3 || k == 7):
				result = string(callback.ResultInvalid)
			case k < 70:
				result = string(callback.ResultSuccessful)
			case k < 80:
				result = string(callback.ResultOutOfRetries)
			case k < 83:
				result = string(callback.ResultExpired)
			case k < 91:
				result = string(callback.ResultFirstLegAborted)
			case k < 97:
				result = string(callback.ResultSecondLegFailed)
			default:
				result = string(callback.ResultCanceled)
			}
			args = append(args, user, strconv.Itoa(49301000000+i*104729%200_000), created.Add(5*time.Second).Format(ts),
				1+i%3, 1+i%3, finished, string(status), result, created.Format(ts), setup, source, access, owner, expires)
		}
		if _, err := db.ExecContext(ctx, sb.String(), args...); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchAdminLists measures the first page of every list the console and
// the admin API offer, with each of their filters, over
// CALLBACKD_BENCH_REQUESTS callback requests (default 1,000,000, see
// SeedRequests), CALLBACKD_BENCH_CDRS CDRs (default 2,000,000) and
// CALLBACKD_BENCH_ACCOUNTS accounts (default 100,000),
// CALLBACKD_BENCH_QUERIES times per filter (default 200), and reports each
// filter's p50 and p99 in ms. A page is 51 rows, as the console reads
// them (50 and one to know there is a next), the live calls page with the
// count of the live calls its filter selects; the dashboard sums a day of
// CDRs.
func BenchAdminLists(b *testing.B, open func(b *testing.B) admin.Store) {
	n := benchSize(b, "CALLBACKD_BENCH_CDRS", 2_000_000)
	nreq := benchSize(b, "CALLBACKD_BENCH_REQUESTS", 1_000_000)
	accounts := benchSize(b, "CALLBACKD_BENCH_ACCOUNTS", 100_000)
	queries := benchSize(b, "CALLBACKD_BENCH_QUERIES", 200)
	s := open(b)
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Now()
	SeedCDRs(b, s, start, n, accounts)
	b.Logf("seeded %d CDRs and %d accounts in %s", n, accounts, time.Since(t0).Round(time.Second))
	t0 = time.Now()
	SeedRequests(b, s, start, 90, nreq, accounts)
	b.Logf("seeded %d requests in %s", nreq, time.Since(t0).Round(time.Second))
	raw := s.(RawDBer).RawDB()
	if _, err := raw.ExecContext(b.Context(), "UPDATE accounts SET blocked = 1, tariff = 'gold' WHERE username LIKE 'acct%7'"); err != nil {
		b.Fatal(err)
	}
	// The embedded store refreshes its query planner's statistics at open
	// and every hour; the tables were filled after the open, so refresh
	// them as the next hourly run would (CALLBACKD_BENCH_OPTIMIZE=0 leaves
	// them as they were, to compare).
	if o, ok := s.(interface{ Optimize(context.Context) error }); ok && os.Getenv("CALLBACKD_BENCH_OPTIMIZE") != "0" {
		if err := o.Optimize(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	svc := &admin.Service{Store: s}
	ctx := b.Context()
	yes, no := true, false
	mid := start.Add(time.Duration(n/2) * time.Second)
	old := start.Add(time.Duration(n/100) * time.Second)
	lastDay := start.Add(time.Duration(n)*time.Second - 24*time.Hour).Truncate(24 * time.Hour) // the last whole day
	if lastDay.Before(start) {
		lastDay = start
	}
	requests := func(f callback.RequestFilter) func() (int, error) {
		return func() (int, error) {
			if f.Limit == 0 {
				f.Limit = 51
			}
			r, err := s.ListRequests(ctx, f)
			return len(r), err
		}
	}
	cdrs := func(f admin.CDRFilter) func() (int, error) {
		return func() (int, error) {
			f.Limit = 51
			c, err := svc.ListCDRs(ctx, admin.CLIActor, f)
			return len(c), err
		}
	}
	// A page of live calls as the console reads it: the page, and the
	// count of every live call the filter selects.
	live := func(f admin.LiveFilter) func() (int, error) {
		return func() (int, error) {
			f.Limit = 51
			c, err := svc.LiveCalls(ctx, admin.CLIActor, f)
			if err != nil {
				return 0, err
			}
			n, err := svc.CountLiveCalls(ctx, admin.CLIActor, f)
			if err == nil && n < int64(len(c)) {
				err = fmt.Errorf("%d live calls counted, %d listed", n, len(c))
			}
			return len(c), err
		}
	}
	accountsList := func(f admin.AccountFilter) func() (int, error) {
		return func() (int, error) {
			f.Limit = 51
			a, err := svc.ListAccounts(ctx, admin.CLIActor, f)
			return len(a), err
		}
	}
	cases := []struct {
		name string
		run  func() (int, error)
	}{
		{"accounts", accountsList(admin.AccountFilter{})},
		{"accounts-prefix", accountsList(admin.AccountFilter{UsernamePrefix: "acct05"})},
		{"accounts-blocked", accountsList(admin.AccountFilter{Blocked: &yes})},
		{"accounts-tariff-currency", accountsList(admin.AccountFilter{Tariff: "gold", Currency: "USD"})},

		{"requests", requests(callback.RequestFilter{})},
		{"requests-status-finished", requests(callback.RequestFilter{Status: callback.StatusFinished})},
		{"requests-status-received", requests(callback.RequestFilter{Status: callback.StatusRequestReceived})},
		{"requests-status-retry", requests(callback.RequestFilter{Status: callback.StatusWaitingForRetry})},
		{"requests-status-live", requests(callback.RequestFilter{Status: callback.StatusSecondLegConnected})},
		{"requests-result-successful", requests(callback.RequestFilter{Result: callback.ResultSuccessful})},
		{"requests-result-canceled", requests(callback.RequestFilter{Result: callback.ResultCanceled})},
		{"requests-result-invalid", requests(callback.RequestFilter{Result: callback.ResultInvalid})},
		{"requests-status-result", requests(callback.RequestFilter{Status: callback.StatusFinished, Result: callback.ResultExpired})},
		{"requests-account-big", requests(callback.RequestFilter{Username: "acct0000"})},
		{"requests-account", requests(callback.RequestFilter{Username: "acct0042"})},
		{"requests-account-big-status", requests(callback.RequestFilter{Username: "acct0000", Status: callback.StatusRequestReceived})},
		{"requests-account-big-result", requests(callback.RequestFilter{Username: "acct0000", Result: callback.ResultInvalid})},
		{"requests-account-status-result", requests(callback.RequestFilter{Username: "acct0042", Status: callback.StatusFinished, Result: callback.ResultSuccessful})},
		{"requests-cli", requests(callback.RequestFilter{CLI: "49301000042"})},
		{"requests-unfinished", requests(callback.RequestFilter{Finished: &no})},
		{"requests-finished", requests(callback.RequestFilter{Finished: &yes})},
		{"requests-account-big-unfinished", requests(callback.RequestFilter{Username: "acct0000", Finished: &no})},
		{"live-calls", live(admin.LiveFilter{})},
		{"live-calls-status", live(admin.LiveFilter{Status: callback.StatusSecondLegConnected})},
		{"live-calls-account-big", live(admin.LiveFilter{Account: "acct0000"})},
		{"live-calls-account", live(admin.LiveFilter{Account: fmt.Sprintf("acct%04d", (nreq-1)*7919%accounts)})}, // the newest request's: live
		{"live-calls-node", live(admin.LiveFilter{Node: "node-1"})},
		{"live-calls-next-page", live(admin.LiveFilter{AfterID: int64(nreq - nreq/200)})},

		{"cdrs", cdrs(admin.CDRFilter{})},
		{"cdrs-account", cdrs(admin.CDRFilter{Account: "acct0042"})},
		{"cdrs-account-big", cdrs(admin.CDRFilter{Account: "acct0000"})},
		{"cdrs-account-big-leg", cdrs(admin.CDRFilter{Account: "acct0000", Leg: callback.LegB})},
		{"cdrs-account-big-range", cdrs(admin.CDRFilter{Account: "acct0000", From: old, To: mid})},
		{"cdrs-leg", cdrs(admin.CDRFilter{Leg: callback.LegB})},
		{"cdrs-account-leg", cdrs(admin.CDRFilter{Account: "acct0042", Leg: callback.LegA})},
		{"cdrs-range-recent", cdrs(admin.CDRFilter{From: mid, To: mid.Add(time.Hour)})},
		{"cdrs-range-old", cdrs(admin.CDRFilter{From: old, To: old.Add(time.Hour)})},
		{"cdrs-range-leg", cdrs(admin.CDRFilter{From: old, To: mid, Leg: callback.LegB})},
		{"cdrs-account-range", cdrs(admin.CDRFilter{Account: "acct0042", From: old, To: mid})},
		{"cdrs-account-range-leg", cdrs(admin.CDRFilter{Account: "acct0042", From: old, To: mid, Leg: callback.LegA})},
		{"dashboard-day-report", func() (int, error) {
			r, err := svc.Report(ctx, admin.CLIActor, admin.ReportFilter{From: lastDay, To: lastDay.Add(24 * time.Hour), By: admin.ByAccount, Leg: callback.LegA})
			return len(r), err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				for range queries {
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
// ServerCPUTime returns the CPU time (user and system) of the MariaDB
// server that scripts/mariadb-test.sh started, from /proc/<pid>/stat, or
// false when there is none (MARIADB_TEST_PID unset: SQLite, or a server
// of another kind).
func ServerCPUTime(b testing.TB) (time.Duration, bool) {
	pid := os.Getenv("MARIADB_TEST_PID")
	if pid == "" {
		return 0, false
	}
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		b.Fatalf("MARIADB_TEST_PID=%s: %v", pid, err)
	}
	// The fields after the command's closing parenthesis: utime and
	// stime are the 12th and 13th, in clock ticks (USER_HZ, 100 a second
	// on Linux).
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		b.Fatalf("%s: %q: too few fields", pid, s)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("/proc/%s/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, true
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
