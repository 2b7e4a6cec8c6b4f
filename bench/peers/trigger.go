package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/agi"
	"github.com/callbackd/callbackd/agi/agitest"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
	"github.com/callbackd/callbackd/store/mysql"
	"github.com/callbackd/callbackd/tariff"
	"github.com/callbackd/callbackd/trigger"
	gomysql "github.com/go-sql-driver/mysql"
)

// envMySQLDSN names the DSN scripts/mariadb-test.sh sets.
const envMySQLDSN = "CALLBACKD_TEST_MYSQL_DSN"

// serveTrigger runs callbackd's ANI trigger on MariaDB as trigger's
// BenchmarkTriggers sets it up: an access number with a default account
// and anonymous accounting, every caller new, so every session looks the
// caller up, checks for a pending request, inserts one and rejects the
// call with PJSIPHangup.
func serveTrigger(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("serve-trigger", flag.ContinueOnError)
	dsn := fs.String("dsn", "", "MariaDB DSN of an empty database")
	profile := fs.String("cpuprofile", os.Getenv("PEERS_TRIGGER_CPUPROFILE"), "write the server's CPU profile to this file")
	memProfile := fs.String("memprofile", os.Getenv("PEERS_TRIGGER_MEMPROFILE"), "write the server's allocation profile to this file when it stops")
	limits := fs.String("limits", "none", "the trigger's abuse limits: none, local (in memory) or shared (in MariaDB, limits.shared)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 4096
		defer writeHeapProfile(*memProfile)
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	st, err := mysql.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	log := quietLogger()
	p := callback.DefaultPolicy()
	svc := &callback.Service{Store: st, Policy: p}
	eng, err := triggerEngine(st, svc, *limits)
	if err != nil {
		return err
	}
	if err := st.CreateAccount(ctx, &callback.Account{Username: "default", Currency: "USD", Balance: 100 * callback.MoneyScale}); err != nil {
		return err
	}
	n := &callback.AccessNumber{Number: "18005550100", Trigger: callback.TriggerANI, SubApp: "callingcard",
		DefaultAccountUsername: "default", AnonymousAccounting: true, ANumberHandling: 3}
	n.ApplyDefaults()
	if err := st.PutAccessNumber(ctx, n); err != nil {
		return err
	}
	m := agi.NewMux()
	(&trigger.AGIHandler{Engine: eng, Log: log}).Register(m)
	lc := agi.ListenConfig() // as callbackd serve listens
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnStdinEOF(cancel)
	fmt.Fprintf(out, "READY %s\n", ln.Addr())
	return agi.NewServer(m, agi.WithLogger(log)).Serve(ctx, ln)
}

// benchLimit lets every trigger through while still checking it: the
// bucket's work (and, shared, its round trips) is done on every call.
var benchLimit = limiter.Limit{Every: time.Millisecond, Burst: 1 << 30}

// triggerEngine is the engine of serveTrigger with the limits named: none
// (the default, as trigger's BenchmarkTriggers), local (every limit on,
// each node counting alone: limits.shared false) or shared (every limit
// counted in the database, callbackd's default on MariaDB).
func triggerEngine(st *mysql.DB, svc *callback.Service, limits string) (*trigger.Engine, error) {
	var l trigger.Limits
	switch limits {
	case "none":
	case "local", "shared":
		l = trigger.Limits{PerCLI: benchLimit, PerAccount: benchLimit, PerSource: benchLimit}
	default:
		return nil, fmt.Errorf("-limits %q: none, local or shared", limits)
	}
	eng := trigger.NewEngine(st, svc, tariff.NewCache(st, time.Second), l, quietLogger())
	if limits == "shared" {
		eng.ShareLimits(st)
	}
	return eng, nil
}

// triggerLoad runs n trigger sessions against addr, callers first to
// first+n-1. With dialplanReject the calls ask for reject=dialplan, and
// each must end with the code in CALLBACKD_SIP_CODE instead of a hang-up.
func triggerLoad(ctx context.Context, addr string, first, n int, dialplanReject bool) (agitest.LoadResult, error) {
	args := []string{"number=18005550100"}
	if dialplanReject {
		args = append(args, "reject="+trigger.RejectInDialplan)
	}
	return agitest.Load(ctx, addr, agitest.LoadOptions{Sessions: n, Concurrency: 16, Timeout: 5 * time.Minute,
		CallFactory: func(i int) agitest.Call {
			return agitest.Call{URL: "agi://" + addr + "/ani", Args: args,
				CallerID: fmt.Sprintf("4930%07d", first+i), DNID: "18005550100"}
		},
		Check: func(tr *agitest.Transcript) error {
			code := tr.SIPCode
			if dialplanReject {
				if tr.HungUp {
					return fmt.Errorf("hung up with SIP %d despite reject=dialplan", code)
				}
				code, _ = strconv.Atoi(tr.Variables[trigger.VarSIPCode])
			}
			if code != 603 || tr.Variables[trigger.VarAction] != "callback" {
				return fmt.Errorf("SIP %d, %v", code, tr.Variables)
			}
			return nil
		}})
}

// benchTrigger measures the ANI trigger on MariaDB with callbackd, MariaDB
// and the load generator (with the fake Asterisk) each in its own process,
// and reports each one's CPU per session.
func benchTrigger(ctx context.Context, r *report, sessions int, limits string, procs int, dialplanReject bool) error {
	base := os.Getenv(envMySQLDSN)
	if base == "" {
		r.printf("### ANI trigger on MariaDB\n\nLeft out: %s is not set (run through scripts/mariadb-test.sh, as make bench-peers does).\n\n", envMySQLDSN)
		return nil
	}
	cfg, err := gomysql.ParseDSN(base)
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return err
	}
	dbPID := findProcess("mariadbd", "--port="+port)
	if dbPID == 0 {
		dbPID = findProcess("mysqld", "--port="+port)
	}
	if dbPID == 0 {
		return errors.New("no mariadbd process listening on port " + port)
	}
	self, err := selfPath()
	if err != nil {
		return err
	}
	here, err := os.Getwd()
	if err != nil {
		return err
	}
	// A database of its own, dropped afterwards: the DSN's user may create
	// and drop callbackd_* databases.
	admin, err := gomysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	adb := sql.OpenDB(admin)
	defer adb.Close()
	name := "callbackd_peers_" + strings.ToLower(rand.Text())
	if _, err := adb.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	defer adb.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE "+name)
	own := cfg.Clone()
	own.DBName = name
	var env []string
	procsText := "Go's default"
	if procs > 0 {
		env = []string{"GOMAXPROCS=" + strconv.Itoa(procs)}
		procsText = strconv.Itoa(procs)
	}
	c, err := startChild("trigger server", here, env, self, "serve-trigger", "-dsn", own.FormatDSN(), "-limits", limits)
	if err != nil {
		return err
	}
	defer c.stop()
	if _, err := triggerLoad(ctx, c.addr, 0, 500, dialplanReject); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var before, after [3]time.Duration
	pids := [3]int{c.pid(), dbPID, os.Getpid()}
	for i, p := range pids {
		if before[i], err = cpuTime(p); err != nil {
			return err
		}
	}
	res, err := triggerLoad(ctx, c.addr, 500, sessions, dialplanReject)
	if err != nil {
		return err
	}
	for i, p := range pids {
		if after[i], err = cpuTime(p); err != nil {
			return err
		}
	}
	r.printf("### ANI trigger on MariaDB (lookup, pending check, insert, reject)\n\n")
	r.printf("%d sessions, 16 at a time, a new caller each, after 500 warm-up sessions; callbackd, MariaDB and the load generator with the fake Asterisk each in its own process; abuse limits: %s; the trigger server's GOMAXPROCS: %s; the call hung up by %s.\n\n", sessions, limitsText[limits], procsText, rejectText[dialplanReject])
	r.printf("| sessions/s | p50 | p99 | callbackd CPU µs/session | MariaDB CPU µs/session | load generator + fake Asterisk CPU µs/session | load avg |\n|---|---|---|---|---|---|---|\n")
	r.printf("| %.0f | %s | %s | %s | %s | %s | %s |\n\n", res.PerSecond(), ms(res.Latency.P50), ms(res.Latency.P99),
		µs(after[0]-before[0], res.Succeeded), µs(after[1]-before[1], res.Succeeded), µs(after[2]-before[2], res.Succeeded), loadAverage())
	return nil
}

// writeHeapProfile writes the allocations made since the start (go tool
// pprof -sample_index=alloc_space or alloc_objects).
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "memprofile:", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "memprofile:", err)
	}
}

// rejectText says who hangs the call up, by -trigger-reject.
var rejectText = map[bool]string{false: "callbackd (`EXEC PJSIPHangup 603`)", true: "the dialplan (`reject=dialplan`: the code in `EXEC MSet`, no `EXEC PJSIPHangup`)"}

// limitsText describes the -trigger-limits settings in the report.
var limitsText = map[string]string{
	"none":   "none",
	"local":  "per CLI, per account and per source, each node counting alone (`limits.shared: false`)",
	"shared": "per CLI, per account and per source, counted in MariaDB (`limits.shared: true`, three buckets a trigger)",
}
