package aritest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// rawEvent is the part of an event the scenario tests look at.
type rawEvent struct {
	Type        string `json:"type"`
	Application string `json:"application"`
	AsteriskID  string `json:"asterisk_id"`
	Timestamp   string `json:"timestamp"`
	Dialstatus  string `json:"dialstatus"`
	Cause       int    `json:"cause"`
	CauseTxt    string `json:"cause_txt"`
	TechCause   int    `json:"tech_cause"`
	Soft        bool   `json:"soft"`
	Digit       string `json:"digit"`
	Variable    string `json:"variable"`
	Value       string `json:"value"`
	Args        []string
	Channel     struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"channel"`
	Peer struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"peer"`
	Bridge struct {
		ID       string   `json:"id"`
		Channels []string `json:"channels"`
	} `json:"bridge"`
	Playback struct {
		ID    string `json:"id"`
		State string `json:"state"`
		Media string `json:"media_uri"`
	} `json:"playback"`
	raw []byte
}

// chanID is the channel an event is about.
func (e rawEvent) chanID() string {
	if e.Channel.ID != "" {
		return e.Channel.ID
	}
	return e.Peer.ID
}

// label is a compact form for sequence assertions.
func (e rawEvent) label() string {
	switch e.Type {
	case "Dial":
		return "Dial(" + e.Dialstatus + ")"
	case "ChannelStateChange":
		return "ChannelStateChange(" + e.Channel.State + ")"
	case "ChannelDestroyed":
		return fmt.Sprintf("ChannelDestroyed(%d)", e.Cause)
	case "ChannelHangupRequest":
		if e.Soft {
			return fmt.Sprintf("ChannelHangupRequest(%d,soft)", e.Cause)
		}
		return fmt.Sprintf("ChannelHangupRequest(%d)", e.Cause)
	case "PlaybackFinished":
		return "PlaybackFinished(" + e.Playback.State + ")"
	case "ChannelDtmfReceived":
		return "ChannelDtmfReceived(" + e.Digit + ")"
	case "ChannelVarset":
		return "ChannelVarset(" + e.Variable + "=" + e.Value + ")"
	}
	return e.Type
}

// listener is an ARI application connected over the events WebSocket.
type listener struct {
	t    testing.TB
	ws   *websocket.Conn
	mu   sync.Mutex
	evs  []rawEvent
	more chan struct{}
	done chan struct{}
	err  error
}

func listen(t testing.TB, s *Sim, query string) *listener {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	user, pass := s.Credentials()
	u := s.EventsURL() + "?" + query + "&api_key=" + url.QueryEscape(user+":"+pass)
	ws, resp, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial events websocket: %v", err)
	}
	if resp.Body != nil {
		resp.Body.Close()
	}
	ws.SetReadLimit(1 << 22)
	l := &listener{t: t, ws: ws, more: make(chan struct{}), done: make(chan struct{})}
	go l.read()
	t.Cleanup(func() { ws.CloseNow() })
	return l
}

func (l *listener) read() {
	defer close(l.done)
	for {
		_, b, err := l.ws.Read(context.Background())
		if err != nil {
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			return
		}
		var e rawEvent
		if err := json.Unmarshal(b, &e); err != nil {
			l.mu.Lock()
			l.err = fmt.Errorf("decode event %s: %w", b, err)
			l.mu.Unlock()
			return
		}
		e.raw = b
		l.mu.Lock()
		l.evs = append(l.evs, e)
		close(l.more)
		l.more = make(chan struct{})
		l.mu.Unlock()
	}
}

// waitFor returns the first event (from the start) matching, waiting up to
// five seconds.
func (l *listener) waitFor(match func(rawEvent) bool) rawEvent {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		l.mu.Lock()
		for _, e := range l.evs {
			if match(e) {
				l.mu.Unlock()
				return e
			}
		}
		more, err := l.more, l.err
		l.mu.Unlock()
		if err != nil {
			l.t.Fatalf("events websocket ended: %v", err)
		}
		select {
		case <-ctx.Done():
			l.t.Fatalf("no matching event; have %v", l.labels(""))
		case <-more:
		case <-l.done:
		}
	}
}

func (l *listener) waitType(chanID, typ string) rawEvent {
	l.t.Helper()
	return l.waitFor(func(e rawEvent) bool { return e.Type == typ && (chanID == "" || e.chanID() == chanID) })
}

// labels lists the events about a channel ("" for all) in arrival order.
func (l *listener) labels(chanID string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.evs {
		if chanID == "" || e.chanID() == chanID {
			out = append(out, e.label())
		}
	}
	return out
}

func (l *listener) all() []rawEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]rawEvent(nil), l.evs...)
}

// waitClosed waits for the server to drop the socket.
func (l *listener) waitClosed() error {
	l.t.Helper()
	select {
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.err
	case <-time.After(5 * time.Second):
		l.t.Fatal("websocket not closed")
		return nil
	}
}

type response struct {
	Code int
	Body []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// call makes an authenticated ARI request; path includes the query.
func call(t testing.TB, s *Sim, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.ARIURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(s.Credentials())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Code: resp.StatusCode, Body: b}
}

func mustCode(t testing.TB, r response, code int) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("status %d, want %d: %s", r.Code, code, r.Body)
	}
}

func equalSeq(got, want []string) bool {
	return strings.Join(got, " ") == strings.Join(want, " ")
}

// waitSeq waits until the channel's events equal want.
func (l *listener) waitSeq(chanID string, want []string) {
	l.t.Helper()
	last := want[len(want)-1]
	l.waitFor(func(e rawEvent) bool { return e.chanID() == chanID && e.label() == last })
	if got := l.labels(chanID); !equalSeq(got, want) {
		l.t.Fatalf("events for %s:\n got %v\nwant %v", chanID, got, want)
	}
}
