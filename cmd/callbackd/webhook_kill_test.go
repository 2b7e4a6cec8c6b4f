//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/webhook"
)

// TestKill9MidDeliveryLosesNoNotification kills the real callbackd binary
// with SIGKILL while its webhook sender has POSTs in flight, restarts it,
// and checks that every notification in the outbox reached the receiver
// (some twice: at least once) and is marked delivered.
func TestKill9MidDeliveryLosesNoNotification(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const secret, n, killAt = "whsec_kill_test_0123456789", 300, 100
	dir := t.TempDir()
	bin := filepath.Join(dir, "callbackd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "cb.db")
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// n callbacks end (canceled: Finished / Canceled), each writing its
	// notification with its status change.
	st.SetWebhookPolicy(webhook.Policy{Enabled: true, Global: true, GlobalEvents: webhook.EventsFinal})
	for i := range n {
		r := callback.NewRequest(callback.SourceAPI)
		r.Username, r.OriginalCLI, r.OriginalCLD, r.NextCall = "801", fmt.Sprint(4930000000+i), "2way_12345", time.Now().Add(time.Hour)
		if err := st.CreateRequest(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Cancel(t.Context(), r.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	got := map[string]int{} // 2xx answers by Callbackd-Delivery
	total := 0
	var victim *exec.Cmd
	killed := make(chan struct{})
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, time.Minute, time.Now()); err != nil {
			t.Errorf("delivery %s: %v", r.Header.Get(webhook.DeliveryHeader), err)
		}
		mu.Lock()
		total++
		if total == killAt {
			// Mid-delivery: this POST and the others in flight are never
			// answered to the process that sent them.
			victim.Process.Signal(syscall.SIGKILL)
			mu.Unlock()
			<-killed
			return
		}
		got[r.Header.Get(webhook.DeliveryHeader)]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()

	env := append(os.Environ(), "CALLBACKD_DATABASE_SQLITE_PATH="+db, "CALLBACKD_NODE=node1",
		"CALLBACKD_AGI_LISTEN=", "CALLBACKD_HTTP_LISTEN=", "CALLBACKD_WEBHOOKS_ENABLED=true",
		"CALLBACKD_WEBHOOKS_URL="+rc.URL, "CALLBACKD_WEBHOOKS_SECRET="+secret, "CALLBACKD_WEBHOOKS_EVENTS=final",
		"CALLBACKD_WEBHOOKS_WORKERS=8", "CALLBACKD_WEBHOOKS_POLL_INTERVAL=20ms")
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
	logs := func() string {
		a, _ := os.ReadFile(filepath.Join(dir, "first.log"))
		b, _ := os.ReadFile(filepath.Join(dir, "second.log"))
		return fmt.Sprintf("first run:\n%s\nsecond run:\n%s", a, b)
	}

	mu.Lock()
	victim = start("first.log")
	mu.Unlock()
	victim.Wait()
	close(killed)
	mu.Lock()
	before := len(got)
	mu.Unlock()
	held, err := st.ListDeliveries(t.Context(), webhook.Filter{State: webhook.StatePending, Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	inFlight := 0
	for _, d := range held {
		if d.LeaseOwner != "" {
			inFlight++
		}
	}
	if inFlight == 0 || before >= n {
		t.Fatalf("the kill came at no delivery in flight (%d delivered, %d pending)\n%s", before, len(held), logs())
	}

	start("second.log")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		c, err := st.CountDeliveries(ctx, webhook.StateDelivered)
		mu.Lock()
		received := len(got)
		mu.Unlock()
		if err == nil && c == n && received == n {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d notifications received, %d marked delivered (%v)\n%s", received, n, c, err, logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	all, err := st.ListDeliveries(t.Context(), webhook.Filter{Limit: n + 1})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	twice := 0
	for _, d := range all {
		k := fmt.Sprint(d.ID)
		switch {
		case got[k] == 0:
			t.Errorf("notification %d (request %d) lost", d.ID, d.RequestID)
		case got[k] > 1:
			twice++
		}
	}
	t.Logf("%d notifications: %d delivered before the kill with %d in flight, %d received twice, none lost", len(all), before, inFlight, twice)
}
