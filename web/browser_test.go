//go:build unix

package web

import (
	"context"
	"github.com/callbackd/callbackd/internal/cdptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
)

// Phone-sized viewport of the browser tests (an iPhone 12-15 in CSS
// pixels).
const phoneWidth, phoneHeight = 390, 844

// screenshotPath is where a screenshot goes: docs/screenshots when
// CALLBACKD_SCREENSHOTS=1, the test's temporary directory otherwise.
func screenshotPath(t *testing.T, dir, name string) string {
	if os.Getenv("CALLBACKD_SCREENSHOTS") == "1" {
		return filepath.Join("..", "docs", "screenshots", name+".png")
	}
	return filepath.Join(dir, name+".png")
}

// TestBrowser fills in each form in headless Chromium on a phone-sized
// screen, sends it, and follows the status page as the callback is placed
// by a real Dispatcher, checking what a user sees.
func TestBrowser(t *testing.T) {
	b := cdptest.Start(t)
	s := newSystem(t, dbtest.SQLite(t), func(o *Options) { o.Refresh = time.Second })
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	shots := t.TempDir()
	shot := func(tb *cdptest.Tab, name string) { tb.Screenshot(ctx, screenshotPath(t, shots, name)) }

	// layoutOK checks what a phone user needs of every page.
	layoutOK := func(t *testing.T, tb *cdptest.Tab, page string) {
		t.Helper()
		var fits bool
		tb.Eval(ctx, `document.documentElement.scrollWidth <= window.innerWidth`, &fits)
		if !fits {
			t.Errorf("%s: the page is wider than the screen", page)
		}
		if lang := tb.Text(ctx, `document.documentElement.lang`); lang != "en" {
			t.Errorf("%s: lang %q", page, lang)
		}
		var styled bool
		tb.Eval(ctx, `getComputedStyle(document.body).fontFamily.includes('system-ui')`, &styled)
		if !styled {
			t.Errorf("%s: the stylesheet did not load", page)
		}
	}
	// formOK checks the inputs of a form page.
	formOK := func(t *testing.T, tb *cdptest.Tab, page string) {
		t.Helper()
		var bad []string
		tb.Eval(ctx, `[...document.querySelectorAll('input:not([type=hidden])')].filter(e => {
			const l = document.querySelector('label[for="' + e.id + '"]');
			const r = e.getBoundingClientRect();
			return !l || !e.labels.length || parseFloat(getComputedStyle(e).fontSize) < 16 || r.height < 44 || r.right > window.innerWidth;
		}).map(e => e.name)`, &bad)
		if len(bad) > 0 {
			t.Errorf("%s: inputs without a bound label, too small or off screen: %v", page, bad)
		}
		var h float64
		tb.Eval(ctx, `document.querySelector('button[type=submit]').getBoundingClientRect().height`, &h)
		if h < 44 {
			t.Errorf("%s: button %vpx high, want at least 44", page, h)
		}
	}
	headline := func(tb *cdptest.Tab) string { return tb.Text(ctx, `document.querySelector('h1').textContent`) }
	showing := func(text string) string {
		return `document.querySelector('h1') && document.querySelector('h1').textContent === ` + strconv.Quote(text)
	}

	t.Run("index", func(t *testing.T) {
		tb := b.NewTab(ctx, phoneWidth, phoneHeight)
		tb.Navigate(ctx, s.srv.URL+"/")
		layoutOK(t, tb, "index")
		var links int
		tb.Eval(ctx, `document.querySelectorAll('ul.modes a').length`, &links)
		if links != 3 {
			t.Fatalf("index shows %d modes", links)
		}
		shot(tb, "index")
	})

	t.Run("extended", func(t *testing.T) {
		tb := b.NewTab(ctx, phoneWidth, phoneHeight)
		tb.Navigate(ctx, s.srv.URL+"/callback/extended")
		layoutOK(t, tb, "extended form")
		formOK(t, tb, "extended form")
		// Keyboard focus is visible.
		for _, typ := range []string{"keyDown", "keyUp"} {
			tb.Do(ctx, "Input.dispatchKeyEvent", map[string]any{"type": typ, "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9}, nil)
		}
		var outline string
		tb.Eval(ctx, `(() => { const s = getComputedStyle(document.activeElement); return document.activeElement.tagName + ' ' + s.outlineStyle + ' ' + s.outlineWidth; })()`, &outline)
		if !strings.HasSuffix(outline, "solid 3px") {
			t.Errorf("focused element: %q, want a 3px solid outline", outline)
		}
		tb.Eval(ctx, `document.activeElement.blur(); true`, nil)
		shot(tb, "extended-form")

		// A wrong password first: the form comes back with the error next
		// to the field, and what the user typed except the password.
		tb.TypeInto(ctx, "f-account", testAccount)
		tb.TypeInto(ctx, "f-password", "wrong")
		tb.TypeInto(ctx, "f-number", "+420 777 100 200")
		tb.TypeInto(ctx, "f-destination", "+44 20 7946 0958")
		tb.Submit(ctx)
		if got := tb.Text(ctx, `document.getElementById('f-password-error').textContent`); !strings.Contains(got, "not correct") {
			t.Fatalf("password error %q", got)
		}
		if got := tb.Text(ctx, `document.getElementById('f-password').getAttribute('aria-describedby')`); got != "f-password-error" {
			t.Fatalf("password aria-describedby %q", got)
		}
		if got := tb.Text(ctx, `document.getElementById('f-number').value`); got != "+420 777 100 200" {
			t.Fatalf("number not kept: %q", got)
		}
		if got := tb.Text(ctx, `document.getElementById('f-password').value`); got != "" {
			t.Fatal("password echoed back")
		}
		formOK(t, tb, "extended form with an error")
		shot(tb, "extended-error")

		// The right password: the status page follows the call.
		wait := s.dialer.holdAt("420777100200", 3)
		tb.TypeInto(ctx, "f-password", testPassword)
		tb.Submit(ctx)
		if !strings.Contains(tb.Text(ctx, `location.pathname`), "/callback/status/") {
			t.Fatalf("after submit the browser is at %s", tb.Text(ctx, `location.href`))
		}
		<-wait.reached
		tb.WaitUntil(ctx, showing("Calling the other party"))
		layoutOK(t, tb, "extended status")
		var current string
		tb.Eval(ctx, `document.querySelector('[aria-current=step]').firstChild.textContent`, &current)
		if current != "Calling the other party" {
			t.Fatalf("current step %q", current)
		}
		if tb.Text(ctx, `document.querySelector('meta[http-equiv=refresh]').content`) != "1" {
			t.Fatal("no meta refresh while the call is in progress")
		}
		shot(tb, "extended-status-calling")
		close(wait.release)
		// No navigation from here: the page must refresh itself.
		tb.WaitUntil(ctx, showing("Finished: successful"))
		var refresh bool
		tb.Eval(ctx, `document.querySelector('meta[http-equiv=refresh]') !== null`, &refresh)
		if refresh {
			t.Fatal("the finished page still refreshes")
		}
		shot(tb, "extended-status-finished")
	})

	t.Run("simple", func(t *testing.T) {
		tb := b.NewTab(ctx, phoneWidth, phoneHeight)
		tb.Navigate(ctx, s.srv.URL+"/callback/simple")
		layoutOK(t, tb, "simple form")
		formOK(t, tb, "simple form")
		if got := tb.Text(ctx, `document.getElementById('f-pin').getAttribute('inputmode')`); got != "numeric" {
			t.Fatalf("PIN inputmode %q", got)
		}
		shot(tb, "simple-form")
		wait := s.dialer.holdAt("420777300400", 0)
		tb.TypeInto(ctx, "f-pin", testPIN)
		tb.TypeInto(ctx, "f-number", "+420 777 300 400")
		tb.Submit(ctx)
		<-wait.reached
		tb.WaitUntil(ctx, showing("Request received"))
		shot(tb, "simple-status")
		close(wait.release)
		tb.WaitUntil(ctx, showing("Finished: successful"))
		r := s.requestFor(t, "420777300400")
		if r.OriginalCLD != "2way_"+helpdeskNorm || r.Result != callback.ResultSuccessful {
			t.Fatalf("simple request %+v", r)
		}
	})

	t.Run("hosted", func(t *testing.T) {
		tb := b.NewTab(ctx, phoneWidth, phoneHeight)
		tb.Navigate(ctx, s.srv.URL+"/callback/hosted")
		layoutOK(t, tb, "hosted form")
		formOK(t, tb, "hosted form")
		shot(tb, "hosted-form")
		wait := s.dialer.holdAt("420777500600", 1)
		tb.TypeInto(ctx, "f-number", "+1 212 555 0100") // not on the allow-list
		tb.Submit(ctx)
		if got := tb.Text(ctx, `document.getElementById('f-number-error').textContent`); !strings.Contains(got, "We cannot call this number for free") {
			t.Fatalf("number error %q", got)
		}
		shot(tb, "hosted-error")
		tb.TypeInto(ctx, "f-number", "+420 777 500 600")
		tb.Submit(ctx)
		<-wait.reached
		tb.WaitUntil(ctx, showing("Calling you"))
		shot(tb, "hosted-status")
		close(wait.release)
		tb.WaitUntil(ctx, showing("Finished: successful"))
		if h := headline(tb); h != "Finished: successful" {
			t.Fatalf("headline %q", h)
		}
	})

	t.Run("forged form", func(t *testing.T) {
		tb := b.NewTab(ctx, phoneWidth, phoneHeight)
		tb.Navigate(ctx, s.srv.URL+"/callback/hosted")
		tb.Eval(ctx, `document.querySelector('input[name=csrf_token]').value = 'forged'; true`, nil)
		tb.TypeInto(ctx, "f-number", "+420 777 900 900")
		tb.Submit(ctx)
		if h := headline(tb); h != "This form cannot be sent again" {
			t.Fatalf("forged token: headline %q", h)
		}
		layoutOK(t, tb, "403 page")
		shot(tb, "forbidden")
	})
}

func (s *system) requestFor(t *testing.T, cli string) *callback.Request {
	t.Helper()
	for _, r := range s.requests() {
		if r.OriginalCLI == cli {
			return r
		}
	}
	t.Fatalf("no request for %s", cli)
	return nil
}
