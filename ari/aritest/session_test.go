package aritest

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// session is one raw keep-alive TCP connection to the simulator.
type session struct {
	t    *testing.T
	conn net.Conn
	rd   *bufio.Reader
	auth string
}

func openSession(t *testing.T, s *Sim) *session {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	user, pass := s.Credentials()
	return &session{t: t, conn: c, rd: bufio.NewReader(c), auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
}

// ping sends GET /ari/asterisk/ping on the connection, keeping it alive,
// and returns the status, or the error of a connection closed unanswered.
func (ss *session) ping() (int, error) {
	req := "GET /ari/asterisk/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic " + ss.auth + "\r\n\r\n"
	if _, err := io.WriteString(ss.conn, req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(ss.rd, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func (ss *session) mustPing() {
	ss.t.Helper()
	code, err := ss.ping()
	if err != nil || code != http.StatusOK {
		ss.t.Fatalf("ping: %d %v", code, err)
	}
}

// TestSessionLimitCountsConnections pins main/http.c's sessionlimit: it
// counts kept-alive TCP connections, not requests in flight, and closes
// the connection beyond it without an answer; a WebSocket stops counting
// once upgraded.
func TestSessionLimitCountsConnections(t *testing.T) {
	s := NewT(t, WithSessionLimit(2))
	a, b := openSession(t, s), openSession(t, s)
	a.mustPing()
	b.mustPing()
	// Both connections are idle, kept alive: they still count.
	c := openSession(t, s)
	code, err := c.ping()
	if err == nil {
		t.Fatalf("third session answered %d; want the connection closed unanswered", code)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
		t.Fatalf("third session: %v; want EOF or a reset", err)
	}
	if n := s.SessionsRefused(); n != 1 {
		t.Fatalf("%d sessions refused, want 1", n)
	}
	// Many requests on one connection are one session.
	for range 5 {
		a.mustPing()
	}
	if n := s.SessionsRefused(); n != 1 {
		t.Fatalf("%d sessions refused after requests on a kept-alive connection, want 1", n)
	}
	// A closed connection frees its place.
	b.conn.Close()
	d := openSession(t, s)
	for {
		code, err := d.ping()
		if err == nil && code == http.StatusOK {
			break
		}
		// The server may not have seen b's close when d was accepted.
		if s.SessionsRefused() > 5 {
			t.Fatalf("a session closed by the client still counts: %v", err)
		}
		d = openSession(t, s)
	}
	if p := s.PeakSessions(); p != 2 {
		t.Fatalf("peak %d sessions, want 2", p)
	}
}

func TestSessionLimitWebSocketLeavesTheCount(t *testing.T) {
	s := NewT(t, WithSessionLimit(1))
	listen(t, s, "app="+app)
	a := openSession(t, s)
	a.mustPing()
	if n := s.SessionsRefused(); n != 0 {
		t.Fatalf("%d sessions refused with one WebSocket and one REST connection, limit 1", n)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}
