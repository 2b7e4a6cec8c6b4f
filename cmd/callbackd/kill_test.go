//go:build unix

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
)

// TestKill9MidCallRingsNoOneTwice kills the real callbackd binary with
// SIGKILL while a callback is bridged, restarts it, and checks that the
// request is settled, the orphaned legs are hung up, and nobody was dialled
// a second time.
func TestKill9MidCallRingsNoOneTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "callbackd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sim := aritest.NewT(t, aritest.WithCredentials("callbackd", "secret"))
	sim.Phone("4930111111", aritest.Answer(100*time.Millisecond))
	sim.Phone("12345", aritest.Answer(100*time.Millisecond)) // talks until hung up
	db := filepath.Join(dir, "cb.db")
	mustRun(t, db, "account", "add", "-username", "801", "-balance", "10")
	rates := filepath.Join(dir, "rates.csv")
	if err := os.WriteFile(rates, []byte("49,0.02,0,1,1\n1,0.01,0,1,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, db, "tariff", "import", "-tariff", "default", "-file", rates)
	mustRun(t, db, "request", "add", "-username", "801", "-cli", "4930111111", "-cld", "2way_12345", "-at", time.Now().UTC().Format(time.RFC3339))

	env := append(os.Environ(), "CALLBACKD_DATABASE_SQLITE_PATH="+db, "CALLBACKD_ARI_URL="+sim.URL(),
		"CALLBACKD_ARI_USER=callbackd", "CALLBACKD_ARI_PASSWORD=secret", "CALLBACKD_NODE=node1",
		"CALLBACKD_AGI_LISTEN=", "CALLBACKD_HTTP_LISTEN=", "CALLBACKD_CALLBACK_SCAN_INTERVAL=100ms")
	start := func(logName string) *exec.Cmd {
		cmd := exec.Command(bin, "serve")
		cmd.Env = env
		logf, err := os.Create(filepath.Join(dir, logName))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logf.Close() })
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitStatus := func(want func(*callback.Request) bool) *callback.Request {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		for {
			r, err := st.GetRequest(ctx, 1)
			if err == nil && want(r) {
				return r
			}
			select {
			case <-ctx.Done():
				logs, _ := os.ReadFile(filepath.Join(dir, "first.log"))
				logs2, _ := os.ReadFile(filepath.Join(dir, "second.log"))
				t.Fatalf("request 1: %+v, %v\nfirst run:\n%s\nsecond run:\n%s", r, err, logs, logs2)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	first := start("first.log")
	waitStatus(func(r *callback.Request) bool { return r.Status == callback.StatusSecondLegConnected })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	if n := len(sim.Channels()); n != 2 {
		t.Fatalf("%d channels live after the kill, want both legs still bridged", n)
	}

	start("second.log")
	r := waitStatus(func(r *callback.Request) bool { return r.Finished })
	if r.Result != callback.ResultSuccessful {
		t.Errorf("after the restart: %s/%s, want Finished/Successful (the conversation took place)", r.Status, r.Result)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for len(sim.Channels()) > 0 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(sim.Channels()); n != 0 {
		t.Errorf("%d orphaned channels still up after the restart", n)
	}
	originates := 0
	for _, q := range sim.Requests() {
		if q.Method == "POST" && (q.Path == "/ari/channels" || q.Path == "/ari/channels/create") {
			originates++
			if strings.Contains(q.Query.Get("channelId"), "-2-") {
				t.Errorf("a second attempt was placed: %s", q.Query.Get("channelId"))
			}
		}
	}
	if originates != 2 {
		t.Errorf("%d legs placed in all, want 2 (A and B once each)", originates)
	}
}
