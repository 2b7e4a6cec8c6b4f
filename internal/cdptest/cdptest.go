//go:build unix

// Package cdptest drives a headless Chromium over the Chrome DevTools
// Protocol for the browser tests of the web page and the console. Only
// tests import it.
package cdptest

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

// Browser is a headless Chromium and the CDP connection to it.
type Browser struct {
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

// Start starts Chromium, or skips the test when it is not
// installed (fails under CI=true, where it must be).
func Start(t *testing.T) *Browser {
	t.Helper()
	bin := findChromium()
	if bin == "" {
		why := "chromium is not installed; the Browser tests need it (" + chromiumApt + ")"
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
	// DevToolsActivePort holds the port and the Browser target's path.
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
	b := &Browser{t: t, conn: conn, pending: map[int64]chan cdpMessage{}, subs: map[string][]chan cdpMessage{}}
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

func (b *Browser) readLoop() {
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
func (b *Browser) call(ctx context.Context, session, method string, params, out any) error {
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
func (b *Browser) subscribe(session, method string) (<-chan cdpMessage, func()) {
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

// Tab is one page of the browser.
type Tab struct {
	b       *Browser
	t       testing.TB
	session string
}

// NewTab opens a page in a phone-sized viewport with touch, as the web
// page's users see it.
func (b *Browser) NewTab(ctx context.Context, width, height int) *Tab {
	return b.newTab(ctx, width, height, true)
}

// NewDesktopTab opens a page in a desktop viewport, as operators see the
// console.
func (b *Browser) NewDesktopTab(ctx context.Context, width, height int) *Tab {
	return b.newTab(ctx, width, height, false)
}

func (b *Browser) newTab(ctx context.Context, width, height int, mobile bool) *Tab {
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
	tb := &Tab{b: b, t: b.t, session: attached.SessionID}
	tb.Do(ctx, "Page.enable", nil, nil)
	scale := 1
	if mobile {
		scale = 2
	}
	tb.Do(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile,
	}, nil)
	if mobile {
		tb.Do(ctx, "Emulation.setTouchEmulationEnabled", map[string]any{"enabled": true, "maxTouchPoints": 5}, nil)
	}
	return tb
}

// Do sends a CDP command to the page; an error fails the test.
func (tb *Tab) Do(ctx context.Context, method string, params, out any) {
	tb.t.Helper()
	if err := tb.b.call(ctx, tb.session, method, params, out); err != nil {
		tb.t.Fatal(err)
	}
}

// loads returns a channel of this tab's load events.
func (tb *Tab) loads() (<-chan cdpMessage, func()) {
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

// Navigate opens url and waits for the page to load.
func (tb *Tab) Navigate(ctx context.Context, url string) {
	tb.t.Helper()
	ch, stop := tb.loads()
	defer stop()
	var res struct {
		ErrorText string `json:"errorText"`
	}
	tb.Do(ctx, "Page.navigate", map[string]any{"url": url}, &res)
	if res.ErrorText != "" {
		tb.t.Fatalf("navigate %s: %s", url, res.ErrorText)
	}
	waitLoad(ctx, tb.t, ch, "navigate "+url)
}

// Eval runs a JavaScript expression in the page and decodes its value.
func (tb *Tab) Eval(ctx context.Context, expr string, out any) {
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
	tb.Do(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	if res.ExceptionDetails != nil {
		tb.t.Fatalf("eval %s: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if out != nil {
		if err := json.Unmarshal(res.Result.Value, out); err != nil {
			tb.t.Fatalf("eval %s: decode %s: %v", expr, res.Result.Value, err)
		}
	}
}

// Text is the string value of the JavaScript expression expr.
func (tb *Tab) Text(ctx context.Context, expr string) string {
	tb.t.Helper()
	var s string
	tb.Eval(ctx, expr, &s)
	return s
}

// TypeInto focuses the input with id and types text as a keyboard would.
func (tb *Tab) TypeInto(ctx context.Context, id, text string) {
	tb.t.Helper()
	var ok bool
	tb.Eval(ctx, fmt.Sprintf(`(() => { const e = document.getElementById(%q); if (!e) return false; e.focus(); e.select(); return document.activeElement === e; })()`, id), &ok)
	if !ok {
		tb.t.Fatalf("no input #%s to type into", id)
	}
	tb.Do(ctx, "Input.insertText", map[string]any{"text": text}, nil)
}

// Submit presses the page's form button and waits for the next page.
func (tb *Tab) Submit(ctx context.Context) {
	tb.submit(ctx, `form button[type=submit]`)
}

// SubmitForm presses the button of the form with id and waits for the
// next page.
func (tb *Tab) SubmitForm(ctx context.Context, id string) {
	tb.submit(ctx, "#"+id+" button[type=submit]")
}

func (tb *Tab) submit(ctx context.Context, selector string) {
	tb.t.Helper()
	ch, stop := tb.loads()
	defer stop()
	var ok bool
	tb.Eval(ctx, fmt.Sprintf(`(() => { const b = document.querySelector(%q); if (!b) return false; b.click(); return true; })()`, selector), &ok)
	if !ok {
		tb.t.Fatalf("no submit button %s", selector)
	}
	waitLoad(ctx, tb.t, ch, "submit")
}

// WaitUntil re-reads the page after each load (the status page reloads
// itself) until cond, a JavaScript expression, is true.
func (tb *Tab) WaitUntil(ctx context.Context, cond string) {
	tb.t.Helper()
	ch, stop := tb.loads()
	defer stop()
	for range 200 {
		var ok bool
		tb.Eval(ctx, cond, &ok)
		if ok {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			tb.t.Fatalf("page never showed %s (%v); it shows:\n%s", cond, ctx.Err(), tb.Text(context.Background(), "document.body.innerText"))
		}
	}
	tb.t.Fatalf("page never showed %s", cond)
}

// Screenshot writes a PNG of the viewport to path.
func (tb *Tab) Screenshot(ctx context.Context, path string) {
	tb.t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	tb.Do(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": false}, &res)
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

// A11yScript is a JavaScript expression whose value is the accessibility
// faults of the page: form controls without a label, not exactly one h1, a
// heading level skipped, and text whose contrast with its background is
// below 4.5:1 (WCAG AA).
const A11yScript = `(() => {
  const faults = [];
  for (const e of document.querySelectorAll('input, select, textarea')) {
    if (e.type === 'hidden') continue;
    const labelled = (e.id && document.querySelector('label[for="' + e.id + '"]')) || e.closest('label') || e.getAttribute('aria-label');
    if (!labelled) faults.push('no label: ' + (e.name || e.outerHTML));
  }
  const hs = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => +h.tagName[1]);
  if (hs.filter(l => l === 1).length !== 1) faults.push('h1 count ' + hs.filter(l => l === 1).length);
  if (hs[0] !== 1) faults.push('the first heading is not the h1');
  for (let i = 1; i < hs.length; i++) if (hs[i] > hs[i-1] + 1) faults.push('heading h' + hs[i] + ' after h' + hs[i-1]);
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }); return 0.2126*v[0] + 0.7152*v[1] + 0.0722*v[2]; };
  const bg = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0) return c; } return [255, 255, 255]; };
  for (const e of document.querySelectorAll('body *')) {
    if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(bg(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) faults.push('contrast ' + ratio.toFixed(2) + ': ' + e.textContent.trim().slice(0, 40));
  }
  return faults;
})()`

// CheckPage reports, as errors of the test naming page, the faults
// A11yScript finds on the page and a stylesheet that did not load (the
// project's stylesheets set a system-ui font on the body).
func (tb *Tab) CheckPage(ctx context.Context, page string) {
	tb.t.Helper()
	var faults []string
	tb.Eval(ctx, A11yScript, &faults)
	if len(faults) > 0 {
		tb.t.Errorf("%s: accessibility: %s", page, strings.Join(faults, "; "))
	}
	var styled bool
	tb.Eval(ctx, `getComputedStyle(document.body).fontFamily.includes('system-ui')`, &styled)
	if !styled {
		tb.t.Errorf("%s: the stylesheet did not load", page)
	}
}
