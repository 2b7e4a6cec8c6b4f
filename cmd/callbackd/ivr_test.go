//go:build unix

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
)

// TestServeInboundIVR runs the real binary against the simulated
// Asterisk: an access number in Mizu's iscallback 7 sends the inbound call
// to Stasis(callbackd,ivr,<number>), and callbackd serve answers it, runs
// the calling card and connects the destination, configured only through
// the admin commands and the environment.
func TestServeInboundIVR(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "callbackd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sim := aritest.NewT(t, aritest.WithCredentials("callbackd", "secret"))
	sim.Phone("4420123", aritest.Answer(50*time.Millisecond).ThenHangup(time.Second, aritest.CauseNormalClearing))
	db := filepath.Join(dir, "cb.db")
	mustRun(t, db, "account", "add", "-username", "alice", "-balance", "10")
	mustRun(t, db, "account", "cli", "-username", "alice", "-add", "15550001")
	rates := filepath.Join(dir, "rates.csv")
	if err := os.WriteFile(rates, []byte("44,0.60,0,1,1\n1800,0.06,0,1,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, db, "tariff", "import", "-tariff", "default", "-file", rates)
	mustRun(t, db, "access", "add", "-number", "18005550100", "-iscallback", "7")

	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "CALLBACKD_DATABASE_SQLITE_PATH="+db, "CALLBACKD_ARI_URL="+sim.URL(),
		"CALLBACKD_ARI_USER=callbackd", "CALLBACKD_ARI_PASSWORD=secret", "CALLBACKD_AGI_LISTEN=", "CALLBACKD_HTTP_LISTEN=")
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

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var ch string
	for ch == "" {
		// Stasis() fails until callbackd's application is registered.
		if ch, err = sim.Inbound(aritest.InboundCall{CallerID: "15550001", Exten: "18005550100", Args: []string{"ivr", "18005550100"},
			Caller: aritest.Answer(0).ThenDTMF(aritest.Digits("4420123#", 10*time.Millisecond)...)}); err != nil {
			select {
			case <-ctx.Done():
				t.Fatalf("callbackd never registered its Stasis application: %v\n%s", err, logs())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var r *callback.Request
	for {
		reqs, err := st.ListRequests(ctx, callback.RequestFilter{Source: callback.SourceIVR})
		if err == nil && len(reqs) == 1 && reqs[0].Finished {
			r = reqs[0]
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("inbound call not finished: %+v, %v\n%s", reqs, err, logs())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if r.Result != callback.ResultSuccessful || r.CallID != ch || r.Username != "alice" {
		t.Fatalf("request %+v\n%s", r, logs())
	}
	cdrs, err := st.ListCDRs(ctx, callback.CDRFilter{RequestID: r.ID})
	if err != nil || len(cdrs) != 2 || cdrs[0].Prefix != "1800" || cdrs[1].Prefix != "44" {
		t.Fatalf("CDRs %+v, %v", cdrs, err)
	}
	if l := logs(); !strings.Contains(l, "inbound IVR call started") {
		t.Errorf("no log line for the inbound call:\n%s", l)
	}
}
