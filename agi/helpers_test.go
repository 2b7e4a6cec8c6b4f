package agi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"github.com/callbackd/callbackd/agi"
)

// testWait bounds every wait in these tests; reaching it is a failure, never
// a measurement.
const testWait = 10 * time.Second

type testServer struct {
	Addr string
	Logs *logBuffer
	Obs  *recorder
	stop func()
}

// Stop cancels Serve, waits for it and checks that no session goroutine is
// left. It is safe to call more than once.
func (s *testServer) Stop() { s.stop() }

func startServer(t *testing.T, h agi.Handler, opts ...agi.Option) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	obs := &recorder{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := agi.NewServer(h, append([]agi.Option{agi.WithLogger(logger), agi.WithObserver(obs)}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	ts := &testServer{Addr: ln.Addr().String(), Logs: logs, Obs: obs}
	ts.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(testWait):
				t.Fatal("Serve did not return")
			}
			checkNoSessionGoroutines(t)
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

// checkNoSessionGoroutines fails if a goroutine is still running code of
// package agi once Serve has returned. Goroutines that are finishing get a
// bounded number of chances to be scheduled.
func checkNoSessionGoroutines(t *testing.T) {
	t.Helper()
	var stacks string
	for range 1000 {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "callbackd/agi.") {
			return
		}
		runtime.Gosched()
	}
	t.Errorf("goroutines of package agi left after Serve returned:\n%s", stacks)
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Find returns the first record with message msg.
func (l *logBuffer) Find(t *testing.T, msg string) map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range strings.SplitSeq(l.buf.String(), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			return rec
		}
	}
	t.Fatalf("no log record %q in:\n%s", msg, l.buf.String())
	return nil
}

type ended struct {
	Script string
	Err    error
}

type recorder struct {
	mu      sync.Mutex
	started []string
	ended   []ended
}

func (r *recorder) SessionStarted(script string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, script)
}

func (r *recorder) SessionEnded(script string, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = append(r.ended, ended{script, err})
}

// Only returns the single session's end, failing if there were others.
func (r *recorder) Only(t *testing.T) ended {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.started) != 1 || len(r.ended) != 1 {
		t.Fatalf("observer saw %d starts and %d ends, want 1 each", len(r.started), len(r.ended))
	}
	return r.ended[0]
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// waitClosed waits for a channel with the test deadline.
func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(testWait):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
