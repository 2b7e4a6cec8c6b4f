package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/tariff"
)

// Errors name the thing in the operator's words, on both stores.
func TestCLIMessages(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testCLIMessages(t, "CALLBACKD_DATABASE_SQLITE_PATH="+filepath.Join(t.TempDir(), "callbackd.db"))
	})
	t.Run("mariadb", func(t *testing.T) {
		testCLIMessages(t, "CALLBACKD_DATABASE_MYSQL_DSN="+dbtest.MySQLDSN(t))
	})
}

func testCLIMessages(t *testing.T, storeEnv string) {
	dir := t.TempDir()
	if err := Run(t.Context(), []string{"account", "add", "-username", "801"}, []string{storeEnv}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("callback:\n  max_atempts: 5\n  timeout: 300\nlog:\n  levl: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		env  string
		want []string
	}{
		{[]string{"account", "add", "-username", "801"}, "", []string{"account 801 already exists"}},
		{[]string{"request", "show", "99"}, "", []string{"request 99 not found"}},
		{[]string{"request", "cancel", "99"}, "", []string{"request 99 not found"}},
		{[]string{"account", "show", "-username", "802"}, "", []string{"account 802 not found"}},
		{[]string{"account", "cli", "-username", "802", "-add", "4930111111"}, "", []string{"account 802 not found"}},
		{[]string{"access", "remove", "-number", "1999"}, "", []string{"access number 1999 not found"}},
		{[]string{"config"}, "CALLBACKD_CALLBACK_MAX_ATTEMPTS=abc", []string{`CALLBACKD_CALLBACK_MAX_ATTEMPTS: "abc" is not a number`}},
		{[]string{"config"}, "CALLBACKD_CALLBACK_TIMEOUT=soon", []string{`CALLBACKD_CALLBACK_TIMEOUT: "soon" is not a duration`}},
		{[]string{"config", "-config", typo}, "", []string{
			"line 2: unknown key callback.max_atempts; did you mean max_attempts?",
			`line 3: callback.timeout: "300" has no unit: write 300s`,
			"line 5: unknown key log.levl; did you mean level?"}},
		{[]string{"account", "frob"}, "", []string{`account: unknown subcommand "frob" (add, edit, list, show, balance, pin, cli)`}},
		{[]string{"serve", "-log-level", "loud"}, "", []string{`log.level "loud"`}},
	} {
		env := []string{storeEnv}
		if tc.env != "" {
			env = append(env, tc.env)
		}
		var out bytes.Buffer
		err := Run(t.Context(), tc.args, env, strings.NewReader(""), &out, &out)
		if err == nil {
			t.Errorf("callbackd %s: no error\n%s", strings.Join(tc.args, " "), out.String())
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("callbackd %s: %q lacks %q", strings.Join(tc.args, " "), err, w)
			}
		}
	}
}

// Every command group lists its subcommands; serve -h lists every flag and
// points at callbackd config.
func TestHelpListsSubcommandsAndFlags(t *testing.T) {
	for group, cmds := range adminCommands {
		for _, args := range [][]string{{group, "-h"}, {group, "help"}} {
			var out bytes.Buffer
			if err := Run(t.Context(), args, nil, strings.NewReader(""), &out, &out); err != nil {
				t.Errorf("%v: %v", args, err)
			}
			for _, c := range cmds {
				if !strings.Contains(out.String(), "  "+c[0]+" ") {
					t.Errorf("%v does not list %s:\n%s", args, c[0], out.String())
				}
			}
		}
		var out bytes.Buffer
		if err := Run(t.Context(), []string{group}, nil, strings.NewReader(""), &out, &out); err == nil || !strings.Contains(out.String(), cmds[0][1]) {
			t.Errorf("%s alone: %v\n%s", group, err, out.String())
		}
	}
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"serve", "-h"}, nil, strings.NewReader(""), &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"-config", "-sqlite", "-mysql-dsn", "-ari-url", "-agi-listen", "-http-listen", "-log-level", "-node", "'callbackd config'"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("serve -h lacks %s:\n%s", w, out.String())
		}
	}
}

// callbackd config says where each value comes from, and which host name
// node falls back to.
func TestConfigShowsSources(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("callback:\n  max_attempts: 5\n  backoff_interval: 30s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	env := []string{"CALLBACKD_CONFIG=" + path, "CALLBACKD_CALLBACK_BACKOFF_INTERVAL=45s", "CALLBACKD_CALLBACK_MAX_ATEMPTS=4", "CALLBACKD_TEST_MYSQL_DSN=x"}
	if err := Run(t.Context(), []string{"config", "-ari-url", "http://127.0.0.1:8088"}, env, strings.NewReader(""), &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "# unknown variable CALLBACKD_CALLBACK_MAX_ATEMPTS; did you mean CALLBACKD_CALLBACK_MAX_ATTEMPTS?") ||
		strings.Contains(out.String(), "CALLBACKD_TEST_MYSQL_DSN") || strings.Contains(out.String(), "unknown variable CALLBACKD_CONFIG") {
		t.Errorf("unknown variables:\n%s", out.String())
	}
	host, _ := os.Hostname()
	lines := map[string]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = l
		}
	}
	for key, want := range map[string][]string{
		"callback.max_attempts":     {"5", "file " + path + ":2"},
		"callback.backoff_interval": {"45s", "env CALLBACKD_CALLBACK_BACKOFF_INTERVAL"},
		"ari.url":                   {"http://127.0.0.1:8088", "flag -ari-url"},
		"callback.timeout":          {"5m0s", "default"},
		"node":                      {host, "default (the host name)"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[key], w) {
				t.Errorf("%s: %q lacks %q", key, lines[key], w)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "-version", "--version"} {
		var out bytes.Buffer
		if err := Run(t.Context(), []string{arg}, nil, strings.NewReader(""), &out, &out); err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"callbackd ", "commit ", runtime.Version()} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: %q lacks %q", arg, out.String(), w)
			}
		}
	}
}

// The shipped examples load as they are.
func TestExamplesLoad(t *testing.T) {
	c, err := LoadConfig("../../examples/callbackd.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.SQLitePath != "/var/lib/callbackd/callbackd.db" {
		t.Errorf("example keeps its data in %q, not the state directory", c.Database.SQLitePath)
	}
	f, err := os.Open("../../examples/rates.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if rs, err := tariff.ParseRatesCSV(f, "default"); err != nil || len(rs) < 5 {
		t.Fatalf("rates.csv: %d rates, %v", len(rs), err)
	}
}

// init seeds a setup on which a missed call completes: with no rates, leg
// B used to fail with "destination has no rate". On both stores.
func TestInitThenACallCompletes(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testInitThenACallCompletes(t, "CALLBACKD_DATABASE_SQLITE_PATH="+filepath.Join(t.TempDir(), "callbackd.db"))
	})
	t.Run("mariadb", func(t *testing.T) {
		testInitThenACallCompletes(t, "CALLBACKD_DATABASE_MYSQL_DSN="+dbtest.MySQLDSN(t))
	})
}

func testInitThenACallCompletes(t *testing.T, storeEnv string) {
	cmd := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := Run(t.Context(), args, []string{storeEnv}, strings.NewReader(""), &out, &out); err != nil {
			t.Fatalf("callbackd %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	out := cmd("init", "-rates", "../../examples/rates.csv")
	for _, w := range []string{"schema:", "rates imported", "account:        801", "access number:  18005550100",
		"exten => 18005550100,1,Goto(callback-ani-18005550100,${EXTEN},1)", "AGI(${CALLBACKD_AGI}/ani,number=${EXTEN},reject=dialplan)",
		"PJSIPHangup(${CALLBACKD_SIP_CODE})", "CALLBACKD_AGI=agi://127.0.0.1:4573"} {
		if !strings.Contains(out, w) {
			t.Errorf("init output lacks %q:\n%s", w, out)
		}
	}
	if again := cmd("init"); !strings.Contains(again, "801 exists already") || !strings.Contains(again, "left as it is") {
		t.Errorf("second init:\n%s", again)
	}

	agiAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	simAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var logs bytes.Buffer
	lw := &syncWriter{buf: &logs, seen: make(chan struct{}), want: "FastAGI server listening"}
	serveEnv := []string{storeEnv, "CALLBACKD_ARI_URL=http://" + simAddr,
		"CALLBACKD_ARI_USER=callbackd", "CALLBACKD_ARI_PASSWORD=s3cret", "CALLBACKD_AGI_LISTEN=" + agiAddr,
		"CALLBACKD_HTTP_LISTEN=", "CALLBACKD_CALLBACK_DELAY_BEFORE_CALLBACK=100ms"}
	srvCtx, stopSrv := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(srvCtx, []string{"serve"}, serveEnv, strings.NewReader(""), lw, lw) }()
	defer func() { stopSrv(); <-done }()
	<-lw.seen
	var demo bytes.Buffer
	err = Run(ctx, []string{"demo", "-asterisk", simAddr, "-agi", agiAddr, "-ari-password", "s3cret", "-timeout", "45s"}, nil, strings.NewReader(""), &demo, &demo)
	if err != nil {
		t.Fatalf("demo -asterisk: %v\n%s\nserver:\n%s", err, demo.String(), lw.String())
	}
	var show string
	for range 250 {
		if show = cmd("request", "show", "1"); strings.Contains(show, "Successful") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("request 1:\n%s\n%s\nserver:\n%s", show, demo.String(), lw.String())
}

// The flat tariff of a bare init rates every destination.
func TestInitFlatTariff(t *testing.T) {
	db := filepath.Join(t.TempDir(), "flat.db")
	mustRun(t, db, "init")
	if out := mustRun(t, db, "tariff", "list"); strings.Count(out, "flat") != 10 {
		t.Errorf("flat tariff:\n%s", out)
	}
}

// Flags after the request id count: "request show 1 -config f" reads f.
func TestFlagsAfterArguments(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "cb.db")
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("database:\n  sqlite_path: "+db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, args := range [][]string{
		// init: account 801 on a tariff that rates the number called back.
		{"init", "-config", cfg},
		{"request", "add", "-username", "801", "-cli", "4930111111", "-config", cfg},
		{"request", "show", "1", "-config", cfg},
	} {
		out.Reset()
		if err := Run(t.Context(), args, nil, strings.NewReader(""), &out, &out); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
	}
	if !strings.Contains(out.String(), "4930111111") {
		t.Fatalf("request show 1 -config: %s", out.String())
	}
}

// callbackd health exits 0 on a 200 from /readyz and 1 otherwise.
func TestHealth(t *testing.T) {
	code := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		w.Write([]byte(`{"status":"x"}`))
	}))
	defer srv.Close()
	env := []string{"CALLBACKD_HTTP_LISTEN=" + strings.TrimPrefix(srv.URL, "http://")}
	var out bytes.Buffer
	err := Run(t.Context(), []string{"health"}, env, strings.NewReader(""), &out, &out)
	var xe exitError
	if !errors.As(err, &xe) || xe.code != 1 || !strings.Contains(err.Error(), "503") {
		t.Errorf("health on a 503: %v", err)
	}
	code = http.StatusOK
	if err := Run(t.Context(), []string{"health"}, env, strings.NewReader(""), &out, &out); err != nil {
		t.Errorf("health on a 200: %v", err)
	}
	if err := Run(t.Context(), []string{"health"}, []string{"CALLBACKD_HTTP_LISTEN="}, strings.NewReader(""), &out, &out); err == nil || !strings.Contains(err.Error(), "http.listen is empty") {
		t.Errorf("health with no HTTP server: %v", err)
	}
}

// Every subcommand admin.go dispatches is listed by `callbackd <group> -h`.
func TestEverySubcommandIsListed(t *testing.T) {
	src, err := os.ReadFile("admin.go")
	if err != nil {
		t.Fatal(err)
	}
	cases := regexp.MustCompile(`case "([a-z]+) ([a-z]+)":`).FindAllStringSubmatch(string(src), -1)
	if len(cases) < 10 {
		t.Fatalf("found %d admin cases in admin.go", len(cases))
	}
	for _, c := range cases {
		if !slices.Contains(subcommandNames(c[1]), c[2]) {
			t.Errorf("%s %s is dispatched but not in adminCommands (cli.go), so '%s -h' does not list it", c[1], c[2], c[1])
		}
	}
}
