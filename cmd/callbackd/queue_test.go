//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/store/sqlite"
)

// TestServeReportsBadRowsAndFailingClaims runs the real binary and looks
// at what an operator sees: a row no request can hold (next_call text that
// is not a time, written before the checks of migration 00003) is finished
// Invalid request with an ERROR line naming its id and counted in
// /metrics, while the rows behind it are dialled; and /readyz names the
// "queue" check while claims fail (here: the table is renamed away), and
// is ready again once they work.
func TestServeReportsBadRowsAndFailingClaims(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "callbackd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sim := aritest.NewT(t, aritest.WithCredentials("callbackd", "secret"))
	sim.Phone("4930100", aritest.Answer(10*time.Millisecond).ThenHangup(100*time.Millisecond, aritest.CauseNormalClearing))
	db := filepath.Join(dir, "cb.db")
	mustRun(t, db, "account", "add", "-username", "801", "-balance", "10")
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	raw := st.RawDB()
	conn, err := raw.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var trig string
	if err := conn.QueryRowContext(t.Context(), "SELECT sql FROM sqlite_schema WHERE name = 'callback_requests_checks_insert'").Scan(&trig); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"DROP TRIGGER callback_requests_checks_insert",
		`INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('801', '4930999', '2way_4930100', '2000-01-01 garbage')`,
		trig,
	} {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()
	good := func(cli string) {
		t.Helper()
		if _, err := raw.ExecContext(t.Context(), `INSERT INTO callback_requests (username, original_cli, original_cld, next_call)
			VALUES ('801', ?, '2way_4930100', strftime('%Y-%m-%d %H:%M:%f', 'now'))`, cli); err != nil {
			t.Fatal(err)
		}
	}
	good("4930555")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "CALLBACKD_DATABASE_SQLITE_PATH="+db, "CALLBACKD_ARI_URL="+sim.URL(),
		"CALLBACKD_ARI_USER=callbackd", "CALLBACKD_ARI_PASSWORD=secret", "CALLBACKD_AGI_LISTEN=", "CALLBACKD_HTTP_LISTEN="+addr,
		"CALLBACKD_CALLBACK_SCAN_INTERVAL=100ms", "CALLBACKD_ARI_BILL_TWO_WAY=false")
	logPath := filepath.Join(dir, "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	logs := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("still not %s\n%s", what, logs())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	finished := func(id int64) string {
		var status, result string
		if err := raw.QueryRowContext(ctx, "SELECT status, COALESCE(result, '') FROM callback_requests WHERE i_callback_request = ?", id).Scan(&status, &result); err != nil {
			return err.Error()
		}
		return status + "/" + result
	}
	wait("the good row dialled", func() bool { return finished(2) == "Finished/Successful" })
	if got := finished(1); got != "Finished/Invalid request" {
		t.Fatalf("the bad row: %s", got)
	}
	if l := logs(); !strings.Contains(l, "unreadable request finished Invalid request") || !strings.Contains(l, "request_id=1") ||
		!strings.Contains(l, "level=ERROR") {
		t.Errorf("no ERROR line with the row id:\n%s", l)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, `callbackd_queue_invalid_rows_total{outcome="finished"} 1`) {
		t.Errorf("metrics %d:\n%s", code, grepLines(body, "callbackd_queue", "callbackd_claim"))
	}
	// The good row's status changes went through the embedded store's
	// shared transactions, and are counted.
	if _, body := get("/metrics"); !strings.Contains(body, "callbackd_store_update_transactions_total ") ||
		strings.Contains(body, "callbackd_store_updates_total 0\n") || !strings.Contains(body, "callbackd_store_updates_total ") {
		t.Errorf("no count of status changes in /metrics:\n%s", grepLines(body, "callbackd_store"))
	}
	wait("ready", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })

	rename := func(from, to string) {
		t.Helper()
		if _, err := raw.ExecContext(t.Context(), fmt.Sprintf("ALTER TABLE %s RENAME TO %s", from, to)); err != nil {
			t.Fatal(err)
		}
	}
	rename("callback_requests", "callback_requests_away")
	wait("reporting the queue not ready", func() bool {
		code, body := get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"check":"queue"`)
	})
	if _, body := get("/metrics"); strings.Contains(body, "callbackd_claim_errors_total 0\n") {
		t.Errorf("no claim error counted:\n%s", grepLines(body, "callbackd_claim"))
	}
	rename("callback_requests_away", "callback_requests")
	wait("ready again", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	good("4930556")
	wait("dialling again", func() bool { return finished(3) == "Finished/Successful" })
}

func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
