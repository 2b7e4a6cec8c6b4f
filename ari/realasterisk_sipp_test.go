package ari_test

// Wire checks against a real Asterisk 22 over PJSIP, with SIPp as the
// trunk recording the INVITEs. Skipped unless CALLBACKD_REAL_ASTERISK is set
// (see realasterisk_test.go) and CALLBACKD_SIPP=1; sipp must be on PATH
// (Debian's sip-tester):
//
//	CALLBACKD_REAL_ASTERISK=http://127.0.0.1:8088 CALLBACKD_SIPP=1 \
//	go test ./ari -run RealAsteriskSIPp -v
//
// The test starts SIPp as a UAS on 127.0.0.1:5070 (CALLBACKD_SIPP_PORT) that
// answers every INVITE and logs every message, and places callbacks
// through the PJSIP endpoint CALLBACKD_SIPP_ENDPOINT (default "sipp"), which
// pjsip.conf must point at it:
//
//	[sipp]
//	type=endpoint
//	transport=transport-udp
//	context=callbackd-test
//	disallow=all
//	allow=ulaw
//	aors=sipp
//	direct_media=no
//	send_pai=yes
//
//	[sipp]
//	type=aor
//	contact=sip:127.0.0.1:5070
//
// SIPp answers; credit_time ends each callback after two seconds, and
// Asterisk's BYEs end SIPp's calls.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/callback"
)

// sipInvite is an initial INVITE as SIPp received it.
type sipInvite struct {
	user    string              // Request-URI user
	headers map[string]string   // first value of each header, by lower-case name
	all     map[string][]string // every value of each header, in order
}

func (i sipInvite) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "INVITE to %s:", i.user)
	for _, h := range []string{"from", "p-asserted-identity", "remote-party-id", "diversion", "x-2way-need-bind"} {
		if v, ok := i.headers[h]; ok {
			fmt.Fprintf(&b, " %s: %s;", h, v)
		}
	}
	return b.String()
}

// fromUser is the user part of the From URI.
func (i sipInvite) fromUser() string {
	v := i.headers["from"]
	_, uri, ok := strings.Cut(v, "<")
	if !ok {
		uri = v
	}
	uri = strings.TrimPrefix(strings.TrimPrefix(uri, "sip:"), "sips:")
	user, _, _ := strings.Cut(uri, "@")
	return user
}

// readInvites parses SIPp's message log (-trace_msg) for the initial
// INVITEs it received: those without a To tag.
func readInvites(t *testing.T, path string) []sipInvite {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("SIPp message log: %v", err)
	}
	defer f.Close()
	var out []sipInvite
	var cur *sipInvite
	inHeaders := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if rest, ok := strings.CutPrefix(line, "INVITE sip:"); ok {
			user, _, _ := strings.Cut(rest, "@")
			cur, inHeaders = &sipInvite{user: user, headers: map[string]string{}, all: map[string][]string{}}, true
			continue
		}
		if !inHeaders {
			continue
		}
		if line == "" {
			if _, tagged := cur.headers["to-tag"]; !tagged {
				out = append(out, *cur)
			}
			cur, inHeaders = nil, false
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if name == "to" && strings.Contains(value, ";tag=") {
			cur.headers["to-tag"] = "yes"
		}
		if _, seen := cur.headers[name]; !seen {
			cur.headers[name] = value
		}
		cur.all[name] = append(cur.all[name], value)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// startSIPp runs SIPp's built-in UAS scenario on 127.0.0.1:port for at
// most calls calls and limit time, logging messages to dir.
func startSIPp(t *testing.T, port string, calls int, limit time.Duration) string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "messages.log")
	ctx, cancel := context.WithTimeout(context.Background(), limit+5*time.Second)
	cmd := exec.CommandContext(ctx, "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", port, "-m", fmt.Sprint(calls),
		"-timeout", fmt.Sprintf("%ds", int(limit/time.Second)), "-nostdin", "-trace_msg", "-message_file", log)
	cmd.Dir = dir
	out, err := os.Create(filepath.Join(dir, "sipp.out"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		out.Close()
	})
	// SIPp writes the log only once it runs; give it its socket first.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(log); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return log
}

// sippOrSkip skips the test unless CALLBACKD_SIPP is set, then returns the
// real Asterisk and the message log of a SIPp UAS started for up to 12
// calls on CALLBACKD_SIPP_PORT.
func sippOrSkip(t *testing.T) (realAsterisk, string) {
	t.Helper()
	if os.Getenv("CALLBACKD_SIPP") == "" {
		t.Skip("set CALLBACKD_SIPP=1 (with CALLBACKD_REAL_ASTERISK) to check the INVITEs with SIPp as the trunk")
	}
	ra := realAsteriskFromEnv(t)
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatalf("CALLBACKD_SIPP is set but sipp is not on PATH: %v", err)
	}
	return ra, startSIPp(t, realEnvOr("CALLBACKD_SIPP_PORT", "5070"), 12, 60*time.Second)
}

func TestRealAsteriskSIPpCallerIDs(t *testing.T) {
	ra, log := sippOrSkip(t)
	endpoint := realEnvOr("CALLBACKD_SIPP_ENDPOINT", "sipp")

	cb := startRealCallbackd(t, ra, ra.base,
		ari.WithTrunk(ari.Trunk{Name: "sipp", Dial: "PJSIP/{number}@" + endpoint}), ari.WithDefaultTrunk("sipp"))
	ctx := context.Background()
	if err := cb.st.PutAccessNumber(ctx, &callback.AccessNumber{Number: "4930111"}); err != nil {
		t.Fatal(err)
	}

	// Seed 001's INSERT: username, original_cli, original_cld.
	seed := callback.NewRequest(callback.SourceSQL)
	seed.Username, seed.OriginalCLI, seed.OriginalCLD, seed.CreditTime = "801", "87654321", "2way_12345", 2
	// An ANI callback through an access number, without anonymous
	// accounting.
	ani := callback.NewRequest(callback.SourceANI)
	ani.Username, ani.OriginalCLI, ani.OriginalCLD, ani.CreditTime = "801", "87654322", "2way_12346", 2
	ani.AccessNumber, ani.AnonAcctEnabled = "4930111", false
	// twoway_cli and original_set_cli.
	set := callback.NewRequest(callback.SourceAPI)
	set.Username, set.OriginalCLI, set.OriginalCLD, set.CreditTime = "801", "87654323", "2way_12347", 2
	set.OriginalSetCLI, set.TwowayCLI = "4930777", "4930999"
	for _, r := range []*callback.Request{seed, ani, set} {
		if err := cb.svc.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		got := cb.done.wait(t, r.ID)
		if got.Result != callback.ResultSuccessful {
			t.Errorf("request %d: %s/%s %q", r.ID, got.Status, got.Result, got.LastError)
		}
	}
	time.Sleep(500 * time.Millisecond) // SIPp flushes its log per message

	invites := map[string]sipInvite{}
	for _, inv := range readInvites(t, log) {
		t.Logf("%s", inv)
		invites[inv.user] = inv
	}
	check := func(number, wantFrom string, needBind bool, diversion string) {
		t.Helper()
		inv, ok := invites[number]
		if !ok {
			t.Errorf("no INVITE to %s reached SIPp", number)
			return
		}
		if got := inv.fromUser(); got != wantFrom {
			t.Errorf("INVITE to %s: From %q, want user %s", number, inv.headers["from"], wantFrom)
		}
		if pai, ok := inv.headers["p-asserted-identity"]; ok && !strings.Contains(pai, "sip:"+wantFrom+"@") {
			t.Errorf("INVITE to %s: P-Asserted-Identity %q, want %s", number, pai, wantFrom)
		}
		if v, ok := inv.headers["x-2way-need-bind"]; needBind != ok || ok && v != "yes" {
			t.Errorf("INVITE to %s: X-2Way-Need-Bind %q (present %v), want present %v", number, v, ok, needBind)
		}
		if got := inv.headers["diversion"]; got != diversion {
			t.Errorf("INVITE to %s: Diversion %q, want %q", number, got, diversion)
		}
	}
	check("87654321", "87654321", true, "")
	check("12345", "801", true, "")
	check("87654322", "87654322", false, "<tel:4930111>;reason=unconditional")
	check("12346", "801", false, "")
	check("87654323", "4930777", true, "")
	check("12347", "4930999", true, "")
}

// TestRealAsteriskSIPpTrunkIdentity checks the trunks' identity headers
// (identity_header, identity_host, caller_id_prefix) on the wire, through
// an endpoint with send_pai=yes (CALLBACKD_SIPP_ENDPOINT, above) and one
// with send_pai=no (CALLBACKD_SIPP_ENDPOINT_NOPAI, default "sipp-nopai"),
// both pointing at the same SIPp:
//
//	[sipp-nopai]
//	type=endpoint
//	transport=transport-udp
//	context=callbackd-test
//	disallow=all
//	allow=ulaw
//	aors=sipp
//	direct_media=no
//	send_pai=no
func TestRealAsteriskSIPpTrunkIdentity(t *testing.T) {
	ra, log := sippOrSkip(t)
	withPAI := realEnvOr("CALLBACKD_SIPP_ENDPOINT", "sipp")
	noPAI := realEnvOr("CALLBACKD_SIPP_ENDPOINT_NOPAI", "sipp-nopai")

	const host = "carrier.example"
	cb := startRealCallbackd(t, ra, ra.base,
		// send_pai=yes: the PAI callbackd adds meets res_pjsip_caller_id's.
		ari.WithTrunk(ari.Trunk{Name: "pai_yes", Dial: "PJSIP/{number}@" + withPAI, Prefixes: []string{"71"},
			IdentityHeader: ari.IdentityPAI, IdentityHost: host, CallerIDPrefix: "+"}),
		ari.WithTrunk(ari.Trunk{Name: "pai_no", Dial: "PJSIP/{number}@" + noPAI, Prefixes: []string{"72"},
			IdentityHeader: ari.IdentityPAI, IdentityHost: host, CallerIDPrefix: "+"}),
		ari.WithTrunk(ari.Trunk{Name: "div", Dial: "PJSIP/{number}@" + noPAI, Prefixes: []string{"73"},
			IdentityHeader: ari.IdentityDiversion}))
	ctx := context.Background()
	for _, n := range []string{"71", "72", "73"} {
		r := callback.NewRequest(callback.SourceAPI)
		r.Username, r.OriginalCLI, r.OriginalCLD, r.CreditTime = "801", n+"00001", "2way_"+n+"00002", 2
		if err := cb.svc.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got := cb.done.wait(t, r.ID); got.Result != callback.ResultSuccessful {
			t.Errorf("request %d via the %s trunk: %s/%s %q", r.ID, n, got.Status, got.Result, got.LastError)
		}
	}
	time.Sleep(500 * time.Millisecond) // SIPp flushes its log per message

	invites := map[string]sipInvite{}
	for _, inv := range readInvites(t, log) {
		t.Logf("%s", inv)
		invites[inv.user] = inv
	}
	header := func(number, name string) (string, bool) {
		t.Helper()
		inv, ok := invites[number]
		if !ok {
			t.Errorf("no INVITE to %s reached SIPp", number)
			return "", false
		}
		v, ok := inv.headers[name]
		return v, ok
	}
	// Leg A presents the user's number, leg B the account, each with the
	// trunk's caller ID prefix.
	for number, from := range map[string]string{"7100001": "+7100001", "7100002": "+801", "7200001": "+7200001", "7200002": "+801",
		"7300001": "7300001", "7300002": "801"} {
		if inv, ok := invites[number]; ok && inv.fromUser() != from {
			t.Errorf("INVITE to %s: From %q, want user %s", number, inv.headers["from"], from)
		}
	}
	// send_pai=yes: Asterisk writes its own PAI from the caller ID (its
	// own address as the host) and keeps the one added after it: two
	// P-Asserted-Identity headers with sip: URIs, which RFC 3325 does not
	// allow. Hence the README's advice: send_pai=no on such trunks.
	for number, user := range map[string]string{"7100001": "+7100001", "7100002": "+801"} {
		inv, ok := invites[number]
		if !ok {
			t.Errorf("no INVITE to %s reached SIPp", number)
			continue
		}
		pais := inv.all["p-asserted-identity"]
		if len(pais) != 2 || !strings.Contains(pais[0], "sip:"+user+"@") || strings.Contains(pais[0], host) || pais[1] != "<sip:"+user+"@"+host+">" {
			t.Errorf("INVITE to %s via send_pai=yes: P-Asserted-Identity %q, want Asterisk's own for %s, then <sip:%s@%s>", number, pais, user, user, host)
		}
	}
	// send_pai=no: the trunk's identity goes out as callbackd wrote it,
	// alone.
	for number, user := range map[string]string{"7200001": "+7200001", "7200002": "+801"} {
		if pais := invites[number].all["p-asserted-identity"]; len(pais) != 1 || pais[0] != "<sip:"+user+"@"+host+">" {
			t.Errorf("INVITE to %s via send_pai=no: P-Asserted-Identity %q, want <sip:%s@%s> alone", number, pais, user, host)
		}
	}
	for number, user := range map[string]string{"7300001": "7300001", "7300002": "801"} {
		if div, ok := header(number, "diversion"); !ok || div != "<tel:"+user+">;reason=unknown" {
			t.Errorf("INVITE to %s via the diversion trunk: Diversion %q (present %v), want <tel:%s>;reason=unknown", number, div, ok, user)
		}
		if pai, ok := header(number, "p-asserted-identity"); ok {
			t.Errorf("INVITE to %s via send_pai=no without an identity PAI: P-Asserted-Identity %q", number, pai)
		}
	}
}
