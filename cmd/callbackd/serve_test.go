//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/agi/agitest"
)

// readNotify returns the next sd_notify datagram that contains want.
func readNotify(t *testing.T, c *net.UnixConn, want string) string {
	t.Helper()
	buf := make([]byte, 4096)
	for range 200 {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %q on the notify socket: %v", want, err)
		}
		if msg := string(buf[:n]); strings.Contains(msg, want) {
			return msg
		}
	}
	t.Fatalf("no %q among 200 notifications", want)
	return ""
}

// serve under systemd: READY=1 once serving, WATCHDOG=1 at half its
// interval, SIGHUP applies log.level and the limits and names what needs a restart,
// STOPPING=1 at the end; /readyz names the parts that are off and GET /
// lists the endpoints; no log line carries a key twice.
func TestServeUnderSystemd(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "callbackd.yaml")
	if err := os.WriteFile(cfg, []byte("log:\n  level: info\nlimits:\n  per_cli_burst: 1\n  per_cli_every: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "cb.db")
	mustRun(t, db, "init")
	agiAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=200000", "CALLBACKD_DATABASE_SQLITE_PATH=" + db,
		"CALLBACKD_AGI_LISTEN=" + agiAddr, "CALLBACKD_HTTP_LISTEN=" + httpAddr, "CALLBACKD_SMTP_LISTEN=127.0.0.1:0",
		"CALLBACKD_WEB_MODES=extended", "CALLBACKD_WEB_HMAC_KEY=" + strings.Repeat("k", 32)}
	var logs bytes.Buffer
	lw := &syncWriter{buf: &logs, seen: make(chan struct{}), want: "configuration reloaded"}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"serve", "-config", cfg}, env, strings.NewReader(""), lw, lw) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	readNotify(t, nc, "READY=1")
	readNotify(t, nc, "WATCHDOG=1")

	get := func(path, accept string) (int, map[string]any) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+httpAddr+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
		return resp.StatusCode, m
	}
	code, ready := get("/readyz", "")
	off, _ := ready["off"].(map[string]any)
	if code != 200 || ready["status"] != "partial" || off["ari"] == nil || off["sms"] == nil || off["web"] != nil {
		t.Errorf("/readyz without ARI: %d %v", code, ready)
	}
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{"callbackd_store_up 1", "callbackd_requests_unfinished 0", "callbackd_queue_oldest_due_seconds 0"} {
		if !strings.Contains(string(metricsText), w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	code, index := get("/", "application/json")
	b, _ := json.Marshal(index)
	for _, w := range []string{"/api/v1/requests", "/callback/extended", "/metrics", "/readyz", `"ari"`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("GET / lacks %s: %s", w, b)
		}
	}
	if strings.Contains(string(b), "/sms/inbound") || code != 200 {
		t.Errorf("GET /: %d %s", code, b)
	}

	// The console is served at /admin/ next to the web page.
	for path, want := range map[string]string{"/admin/login": "<h1>Sign in</h1>", "/callback/extended": "<form"} {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), want) {
			t.Errorf("GET %s: %d\n%s", path, resp.StatusCode, page)
		}
	}

	// A missed call from a caller ID spends the burst of 1; the next is refused.
	missed := func(cli string) string {
		tr, err := agitest.Dial(ctx, agiAddr, agitest.Call{URL: "agi://" + agiAddr + "/ani", Args: []string{"number=18005550100"},
			CallerID: cli, DNID: "18005550100"})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Variables["CALLBACKD_REASON"]
	}
	missed("4930111111")
	if why := missed("4930222222"); strings.Contains(why, "rate limit per CLI") {
		t.Fatalf("another caller ID limited: %s", why)
	}
	if why := missed("4930111111"); !strings.Contains(why, "rate limit per CLI") {
		t.Fatalf("the second call within the hour was not limited: %s", why)
	}

	if err := os.WriteFile(cfg, []byte("log:\n  level: debug\ncallback:\n  max_attempts: 7\nlimits:\n  per_cli_burst: 5\n  per_cli_every: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	<-lw.seen
	readNotify(t, nc, "READY=1")
	if why := missed("4930111111"); strings.Contains(why, "rate limit per CLI") {
		t.Errorf("limits.per_cli_burst raised by the reload, yet: %s", why)
	}
	cancel()
	stopped = true
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, lw.String())
	}
	readNotify(t, nc, "STOPPING=1")
	out := lw.String()
	if !strings.Contains(out, "applied=log.level,limits.per_cli_burst need_restart=callback.max_attempts") {
		t.Errorf("reload log:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		seen := map[string]bool{}
		for _, f := range strings.Fields(line) {
			k, _, ok := strings.Cut(f, "=")
			if !ok || strings.ContainsAny(k, `"`) {
				continue
			}
			if seen[k] && (k == "component" || k == "level" || k == "msg") {
				t.Errorf("key %s twice: %s", k, line)
			}
			seen[k] = true
		}
	}
}

// A port in use stops serve before anything starts: no "dispatcher
// started", and the error names the listener.
func TestServePortInUseStartsNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out bytes.Buffer
	env := []string{"CALLBACKD_DATABASE_SQLITE_PATH=" + filepath.Join(t.TempDir(), "cb.db"), "CALLBACKD_AGI_LISTEN=127.0.0.1:0",
		"CALLBACKD_HTTP_LISTEN=" + ln.Addr().String()}
	err = Run(t.Context(), []string{"serve"}, env, strings.NewReader(""), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "http: listen "+ln.Addr().String()) {
		t.Fatalf("serve on a port in use: %v\n%s", err, out.String())
	}
	for _, w := range []string{"dispatcher started", "FastAGI server listening"} {
		if strings.Contains(out.String(), w) {
			t.Errorf("%q logged after a failed start:\n%s", w, out.String())
		}
	}
}

func TestNotifierIgnoresAnotherProcessWatchdog(t *testing.T) {
	if n := newNotifier([]string{"NOTIFY_SOCKET=/x", "WATCHDOG_USEC=1000000", "WATCHDOG_PID=1"}, 2); n.watchdog != 0 {
		t.Errorf("watchdog meant for pid 1 taken by pid 2: %s", n.watchdog)
	}
	if n := newNotifier([]string{"NOTIFY_SOCKET=/x", "WATCHDOG_USEC=1000000", "WATCHDOG_PID=2"}, 2); n.watchdog != time.Second {
		t.Errorf("watchdog: %s", n.watchdog)
	}
	if err := (notifier{}).notify("READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
}
