//go:build unix

package console

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// This file is a small Chrome DevTools Protocol client for the browser
// tests (as in package web): it starts headless Chromium, speaks CDP over the browser's
// WebSocket, and drives one tab.

// chromiumApt is the package the browser tests need on Debian.
const chromiumApt = "apt-get install -y chromium"

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// chrome is a headless Chromium and the CDP connection to it.
type chrome struct {
	t    testing.TB
	conn *websocket.Conn

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan cdpMessage
	subs    map[string][]chan cdpMessage // by session + "\x00" + method
	readErr error
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startChrome starts Chromium, or skips the test when it is not
// installed (fails under CI=true, where it must be).
func startChrome(t *testing.T) *chrome {
	t.Helper()
	bin := findChromium()
	if bin == "" {
		why := "chromium is not installed; the browser tests need it (" + chromiumApt + ")"
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	dir := t.TempDir()
	args := []string{
		"--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--user-data-dir=" + dir, "about:blank",
	}
	if os.Geteuid() == 0 {
		// Chromium's sandbox refuses to run as root.
		args = append([]string{"--no-sandbox"}, args...)
	}
	cmd := exec.Command(bin, args...)
	// Its own process group, so that stopping it reaches the renderer and
	// zygote processes it starts, and no other process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}

	// Chromium announces its DevTools endpoint on stderr once it listens,
	// after writing DevToolsActivePort; waiting for the line waits for it.
	ready := make(chan string, 1)
	var tail []string
	var tailMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, "DevTools listening on "); ok {
				ready <- strings.TrimSpace(u)
			}
			tailMu.Lock()
			tail = append(tail, line)
			if len(tail) > 20 {
				tail = tail[1:]
			}
			tailMu.Unlock()
		}
		io.Copy(io.Discard, stderr)
	}()
	var wsURL string
	select {
	case wsURL = <-ready:
	case <-time.After(60 * time.Second):
		stop()
		tailMu.Lock()
		defer tailMu.Unlock()
		t.Fatalf("chromium did not open its DevTools port:\n%s", strings.Join(tail, "\n"))
	}
	// DevToolsActivePort holds the port and the browser target's path.
	if b, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort")); err == nil {
		if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) == 2 {
			wsURL = "ws://127.0.0.1:" + strings.TrimSpace(lines[0]) + strings.TrimSpace(lines[1])
		}
	}
	if !strings.HasPrefix(wsURL, "ws://127.0.0.1:") {
		stop()
		t.Fatalf("DevTools endpoint %q is not on 127.0.0.1", wsURL)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer dcancel()
	conn, _, err := websocket.Dial(dctx, wsURL, nil)
	if err != nil {
		stop()
		t.Fatalf("connect to DevTools %s: %v", wsURL, err)
	}
	conn.SetReadLimit(64 << 20) // screenshots arrive in one message
	b := &chrome{t: t, conn: conn, pending: map[int64]chan cdpMessage{}, subs: map[string][]chan cdpMessage{}}
	go b.readLoop()
	// Registered after t.TempDir, so it runs before the profile directory
	// is removed: Chromium must be gone by then.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.call(ctx, "", "Browser.close", nil, nil)
		select {
		case <-exited:
		case <-ctx.Done():
		}
		stop()
		conn.Close(websocket.StatusNormalClosure, "")
	})
	return b
}

func (b *chrome) readLoop() {
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				ch <- m
				delete(b.pending, m.ID)
			}
		} else {
			for _, ch := range b.subs[m.SessionID+"\x00"+m.Method] {
				select {
				case ch <- m:
				default: // a subscriber that stopped listening
				}
			}
		}
		b.mu.Unlock()
	}
}

// call sends a command and decodes its result into out (when not nil).
func (b *chrome) call(ctx context.Context, session, method string, params, out any) error {
	if params == nil {
		params = struct{}{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	ch := make(chan cdpMessage, 1)
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return fmt.Errorf("%s: connection lost: %w", method, b.readErr)
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()
	msg, _ := json.Marshal(cdpMessage{ID: id, SessionID: session, Method: method, Params: p})
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: connection lost", method)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// subscribe returns a channel of the session's events named method, and
// a function that ends the subscription.
func (b *chrome) subscribe(session, method string) (<-chan cdpMessage, func()) {
	ch := make(chan cdpMessage, 16)
	key := session + "\x00" + method
	b.mu.Lock()
	b.subs[key] = append(b.subs[key], ch)
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		s := b.subs[key]
		for i, c := range s {
			if c == ch {
				b.subs[key] = append(s[:i], s[i+1:]...)
				break
			}
		}
	}
}

// tab is one page of the browser, in a desktop-sized viewport.
type tab struct {
	b       *chrome
	t       testing.TB
	session string
}

func (b *chrome) newTab(ctx context.Context, width, height int) *tab {
	b.t.Helper()
	var created struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &created); err != nil {
		b.t.Fatal(err)
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true}, &attached); err != nil {
		b.t.Fatal(err)
	}
	tb := &tab{b: b, t: b.t, session: attached.SessionID}
	tb.do(ctx, "Page.enable", nil, nil)
	tb.do(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false,
	}, nil)
	return tb
}

func (tb *tab) do(ctx context.Context, method string, params, out any) {
	tb.t.Helper()
	if err := tb.b.call(ctx, tb.session, method, params, out); err != nil {
		tb.t.Fatal(err)
	}
}

// loads returns a channel of this tab's load events.
func (tb *tab) loads() (<-chan cdpMessage, func()) {
	return tb.b.subscribe(tb.session, "Page.loadEventFired")
}

func waitLoad(ctx context.Context, t testing.TB, ch <-chan cdpMessage, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("%s: no page load: %v", what, ctx.Err())
	}
}

// navigate opens url and waits for the page to load.
func (tb *tab) navigate(ctx context.Context, url string) {
	tb.t.Helper()
	ch, stop := tb.loads()
	defer stop()
	var res struct {
		ErrorText string `json:"errorText"`
	}
	tb.do(ctx, "Page.navigate", map[string]any{"url": url}, &res)
	if res.ErrorText != "" {
		tb.t.Fatalf("navigate %s: %s", url, res.ErrorText)
	}
	waitLoad(ctx, tb.t, ch, "navigate "+url)
}

// eval runs a JavaScript expression in the page and decodes its value.
func (tb *tab) eval(ctx context.Context, expr string, out any) {
	tb.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	tb.do(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	if res.ExceptionDetails != nil {
		tb.t.Fatalf("eval %s: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if out != nil {
		if err := json.Unmarshal(res.Result.Value, out); err != nil {
			tb.t.Fatalf("eval %s: decode %s: %v", expr, res.Result.Value, err)
		}
	}
}

func (tb *tab) text(ctx context.Context, expr string) string {
	tb.t.Helper()
	var s string
	tb.eval(ctx, expr, &s)
	return s
}

// typeInto focuses the input with id and types text as a keyboard would.
func (tb *tab) typeInto(ctx context.Context, id, text string) {
	tb.t.Helper()
	var ok bool
	tb.eval(ctx, fmt.Sprintf(`(() => { const e = document.getElementById(%q); if (!e) return false; e.focus(); e.select(); return document.activeElement === e; })()`, id), &ok)
	if !ok {
		tb.t.Fatalf("no input #%s to type into", id)
	}
	tb.do(ctx, "Input.insertText", map[string]any{"text": text}, nil)
}

// submit presses the button of the form with id and waits for the next
// page.
func (tb *tab) submit(ctx context.Context, form string) {
	tb.t.Helper()
	ch, stop := tb.loads()
	defer stop()
	var ok bool
	tb.eval(ctx, fmt.Sprintf(`(() => { const b = document.querySelector('#'+%q+' button[type=submit]'); if (!b) return false; b.click(); return true; })()`, form), &ok)
	if !ok {
		tb.t.Fatal("no submit button")
	}
	waitLoad(ctx, tb.t, ch, "submit")
}

// waitUntil re-reads the page after each load (the status page reloads
// itself) until cond, a JavaScript expression, is true.
func (tb *tab) waitUntil(ctx context.Context, cond string) {
	tb.t.Helper()
	ch, stop := tb.loads()
	defer stop()
	for range 200 {
		var ok bool
		tb.eval(ctx, cond, &ok)
		if ok {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			tb.t.Fatalf("page never showed %s (%v); it shows:\n%s", cond, ctx.Err(), tb.text(context.Background(), "document.body.innerText"))
		}
	}
	tb.t.Fatalf("page never showed %s", cond)
}

// screenshot writes a PNG of the viewport to path.
func (tb *tab) screenshot(ctx context.Context, path string) {
	tb.t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	tb.do(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": false}, &res)
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		tb.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}
