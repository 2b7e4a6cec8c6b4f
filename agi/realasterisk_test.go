package agi_test

// A check of the FastAGI wire against a real Asterisk 22, skipped unless
// CALLBACKD_REAL_ASTERISK names its HTTP server (ARI places the call):
//
//	CALLBACKD_REAL_ASTERISK=http://127.0.0.1:8088 \
//	CALLBACKD_REAL_ASTERISK_USER=callbackd CALLBACKD_REAL_ASTERISK_PASSWORD=callbackd \
//	go test ./agi -run RealAsterisk -v
//
// The user and password default to those of dialplan/ari.conf. The test
// listens on 127.0.0.1 and originates Local/agi@<context> (context from
// CALLBACKD_REAL_ASTERISK_CONTEXT, default "callbackd-test"), whose
// extension must run the AGI URL the originate passes in a variable:
//
//	[callbackd-test]
//	exten => agi,1,AGI(${CALLBACKD_TEST_AGI})
//	 same => n,Hangup()
//
// It plays one script of commands, records every line Asterisk sends, checks
// the replies, then plays the same script against agi/agitest and reports
// where the fake answers differently.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/agi/agitest"
)

// realStep is one command and the reply Asterisk 22.9 gives on a ringing
// (unanswered) Local channel.
type realStep struct {
	cmd   string
	reply []string
	// after are lines Asterisk sends unprompted after the reply.
	after []string
	// minTook is how long Asterisk takes at least to reply.
	minTook time.Duration
}

var realScript = []realStep{
	{cmd: "SET VARIABLE CALLBACKD_ACTION callback", reply: []string{"200 result=1"}},
	{cmd: "GET VARIABLE CALLBACKD_ACTION", reply: []string{"200 result=1 (callback)"}},
	{cmd: "GET VARIABLE CALLBACKD_NOT_SET", reply: []string{"200 result=0"}},
	{cmd: "CHANNEL STATUS", reply: []string{"200 result=4"}},
	{cmd: "EXEC Ringing", reply: []string{"200 result=0"}},
	{cmd: "EXEC Wait 1", reply: []string{"200 result=0"}},
	{cmd: "EXEC NoSuchApplication", reply: []string{"200 result=-2"}},
	{cmd: "NO SUCH COMMAND", reply: []string{"510 Invalid or unknown command"}},
	{cmd: "GET VARIABLE", reply: []string{
		"520-Invalid command syntax.  Proper usage follows:",
		"Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in parentheses.",
		"Example return code: 200 result=1 (testvariable)",
		"520 End of proper usage.",
	}},
	{cmd: "EXEC Hangup 17", reply: []string{"200 result=-1"}, after: []string{"HANGUP"}},
	{cmd: "GET VARIABLE CALLBACKD_ACTION", reply: []string{"200 result=1 (callback)"}},
	// Dead mode: Wait still sleeps its full time on a channel that has no
	// frames to read, and reports 0.
	{cmd: "EXEC Wait 1", reply: []string{"200 result=0"}, minTook: time.Second},
	{cmd: "STREAM FILE beep \"\"", reply: []string{"511 Command Not Permitted on a dead channel or intercept routine"}},
	{cmd: "NOOP", reply: []string{"200 result=0"}},
}

// realSeen is what one call sent: the environment and, per step, the reply
// and the unprompted lines that followed it.
type realSeen struct {
	env     []string
	replies [][]string
	after   [][]string
	took    []time.Duration // from the command to its reply
	// tail is what Asterisk sent after the script closed its side.
	tail []string
}

// playScript accepts one FastAGI connection on ln and plays realScript.
func playScript(ln net.Listener, deadline time.Time) (*realSeen, error) {
	conn, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func(d time.Duration) (string, bool) {
		select {
		case l, ok := <-lines:
			return l, ok
		case <-time.After(d):
			return "", false
		}
	}
	seen := &realSeen{}
	for {
		l, ok := next(5 * time.Second)
		if !ok {
			return seen, fmt.Errorf("environment cut short after %q", seen.env)
		}
		if l == "" {
			break
		}
		seen.env = append(seen.env, l)
	}
	for _, st := range realScript {
		sent := time.Now()
		if _, err := fmt.Fprintf(conn, "%s\n", st.cmd); err != nil {
			return seen, err
		}
		var reply []string
		for {
			l, ok := next(5 * time.Second)
			if !ok {
				return seen, fmt.Errorf("%s: no reply", st.cmd)
			}
			if l == "HANGUP" && len(reply) == 0 {
				// Unprompted before the reply: counted with the previous step.
				seen.after[len(seen.after)-1] = append(seen.after[len(seen.after)-1], l)
				continue
			}
			reply = append(reply, l)
			if len(l) < 4 || l[3] != '-' {
				if !strings.HasPrefix(reply[0], "520-") || strings.HasPrefix(l, "520 ") {
					break
				}
			}
		}
		seen.replies = append(seen.replies, reply)
		seen.took = append(seen.took, time.Since(sent))
		var after []string
		for {
			l, ok := next(300 * time.Millisecond)
			if !ok {
				break
			}
			after = append(after, l)
		}
		seen.after = append(seen.after, after)
	}
	// The script ends: close our side, as a FastAGI server does, and read
	// what Asterisk still sends.
	conn.(*net.TCPConn).CloseWrite()
	for {
		l, ok := next(2 * time.Second)
		if !ok {
			break
		}
		seen.tail = append(seen.tail, l)
	}
	return seen, nil
}

func realAsteriskAGIEnv(t *testing.T) (base, user, pass, ctx string) {
	t.Helper()
	base = os.Getenv("CALLBACKD_REAL_ASTERISK")
	if base == "" {
		t.Skip("set CALLBACKD_REAL_ASTERISK=http://127.0.0.1:8088 (and CALLBACKD_REAL_ASTERISK_USER/_PASSWORD) to run against a real Asterisk")
	}
	get := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	return strings.TrimRight(base, "/"), get("CALLBACKD_REAL_ASTERISK_USER", "callbackd"),
		get("CALLBACKD_REAL_ASTERISK_PASSWORD", "callbackd"), get("CALLBACKD_REAL_ASTERISK_CONTEXT", "callbackd-test")
}

func TestRealAsteriskAGIWire(t *testing.T) {
	base, user, pass, dialCtx := realAsteriskAGIEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	aguri := "agi://" + ln.Addr().String() + "/probe,number=18005550100"

	type result struct {
		seen *realSeen
		err  error
	}
	res := make(chan result, 1)
	go func() {
		s, err := playScript(ln, time.Now().Add(30*time.Second))
		res <- result{s, err}
	}()

	body, _ := json.Marshal(map[string]any{"variables": map[string]string{"CALLBACKD_TEST_AGI": aguri}})
	q := url.Values{"endpoint": {"Local/agi@" + dialCtx}, "app": {"callbackd-agi-probe"},
		"callerId": {"\"Test Caller\" <4915112345678>"}, "timeout": {"30"}}
	req, _ := http.NewRequest("POST", base+"/ari/channels?"+q.Encode(), bytes.NewReader(body))
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("originate: %s", resp.Status)
	}

	var r result
	select {
	case r = <-res:
	case <-time.After(40 * time.Second):
		t.Fatal("Asterisk did not connect to the FastAGI listener")
	}
	if r.seen != nil {
		for _, l := range r.seen.env {
			t.Logf("< %s", l)
		}
		for i, rep := range r.seen.replies {
			t.Logf("> %s   (replied after %s)", realScript[i].cmd, r.seen.took[i].Round(time.Millisecond))
			for _, l := range rep {
				t.Logf("< %s", l)
			}
			for _, l := range r.seen.after[i] {
				t.Logf("< %s   (unprompted)", l)
			}
		}
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	real := r.seen

	for _, l := range real.tail {
		t.Logf("< %s   (after the script closed its side)", l)
	}
	// run_agi's last act when the script closes: one more HANGUP, whether
	// or not the channel hung up.
	if !slices.Equal(real.tail, []string{"HANGUP"}) {
		t.Errorf("after the script closed its side, Asterisk sent %q, want [HANGUP]", real.tail)
	}

	// The environment: setup_env's keys in its order.
	var keys []string
	env := map[string]string{}
	for _, l := range real.env {
		k, v, _ := strings.Cut(l, ": ")
		keys = append(keys, k)
		env[k] = v
	}
	wantKeys := []string{"agi_network", "agi_network_script", "agi_request", "agi_channel", "agi_language", "agi_type",
		"agi_uniqueid", "agi_version", "agi_callerid", "agi_calleridname", "agi_callingpres", "agi_callingani2",
		"agi_callington", "agi_callingtns", "agi_dnid", "agi_rdnis", "agi_context", "agi_extension", "agi_priority",
		"agi_enhanced", "agi_accountcode", "agi_threadid", "agi_arg_1"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("environment keys\n got %q\nwant %q", keys, wantKeys)
	}
	if env["agi_network_script"] != "probe" || env["agi_arg_1"] != "number=18005550100" || env["agi_type"] != "Local" {
		t.Errorf("environment %q", real.env)
	}

	for i, st := range realScript {
		if !slices.Equal(real.replies[i], st.reply) {
			t.Errorf("%s: Asterisk replied %q, want %q", st.cmd, real.replies[i], st.reply)
		}
		if !slices.Equal(real.after[i], st.after) {
			t.Errorf("%s: Asterisk then sent %q, want %q", st.cmd, real.after[i], st.after)
		}
		if real.took[i] < st.minTook {
			t.Errorf("%s: Asterisk replied after %s, want at least %s", st.cmd, real.took[i], st.minTook)
		}
	}

	// The same script against the fake, on a channel like the real one.
	t.Run("agitest", func(t *testing.T) {
		ln2, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln2.Close()
		res2 := make(chan result, 1)
		go func() {
			s, err := playScript(ln2, time.Now().Add(30*time.Second))
			res2 <- result{s, err}
		}()
		call := agitest.Call{
			URL: "agi://" + ln2.Addr().String() + "/probe", Args: []string{"number=18005550100"},
			Channel: env["agi_channel"], Type: "Local", CallerID: env["agi_callerid"], CallerIDName: env["agi_calleridname"],
			Context: env["agi_context"], Extension: env["agi_extension"],
		}
		tr, derr := agitest.Dial(context.Background(), ln2.Addr().String(), call)
		r2 := <-res2
		if derr != nil {
			t.Logf("agitest: %v", derr)
		}
		if r2.err != nil {
			t.Fatalf("script against agitest: %v", r2.err)
		}
		if tr != nil {
			t.Logf("agitest transcript:\n%s", tr.Format())
		}
		fake := r2.seen
		for i, st := range realScript {
			if !slices.Equal(fake.replies[i], real.replies[i]) {
				t.Errorf("%s: agitest replied %q, Asterisk %q", st.cmd, fake.replies[i], real.replies[i])
			}
			if !slices.Equal(fake.after[i], real.after[i]) {
				t.Errorf("%s: agitest then sent %q, Asterisk %q", st.cmd, fake.after[i], real.after[i])
			}
		}
		if !slices.Equal(fake.tail, real.tail) {
			t.Errorf("after the script closed its side, agitest sent %q, Asterisk %q", fake.tail, real.tail)
		}
		if tr != nil && !slices.Equal(tr.AfterClose, real.tail) {
			t.Errorf("agitest's transcript has %q after the close, Asterisk sent %q", tr.AfterClose, real.tail)
		}
	})
}
