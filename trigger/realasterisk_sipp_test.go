package trigger_test

// The missed call over real SIP: SIPp rings an access number of a real
// Asterisk 22 running dialplan/extensions.conf as it is, whose FastAGI calls
// reach this test's trigger server. Skipped unless CALLBACKD_REAL_ASTERISK
// names Asterisk's HTTP server and CALLBACKD_SIPP=1 (sipp on PATH, Debian's
// sip-tester):
//
//	CALLBACKD_REAL_ASTERISK=http://127.0.0.1:8088 CALLBACKD_SIPP=1 \
//	go test ./trigger -run RealAsteriskSIPp -v
//
// The test points the dialplan's global CALLBACKD_AGI at its own FastAGI
// server over ARI (and puts it back afterwards). SIPp sends from
// 127.0.0.1:5072 (CALLBACKD_SIPP_CALLER_PORT) to Asterisk's PJSIP at
// 127.0.0.1:5060 (CALLBACKD_REAL_ASTERISK_SIP), with the header
// X-Callbackd-Test: caller, which pjsip.conf must route into the sample's
// [from-trunk]:
//
//	[sipp-caller]
//	type=endpoint
//	transport=transport-udp
//	context=from-trunk
//	disallow=all
//	allow=ulaw
//	direct_media=no
//
//	[sipp-caller]
//	type=identify
//	endpoint=sipp-caller
//	match_header=X-Callbackd-Test: caller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/trigger"
)

func TestRealAsteriskSIPpMissedCall(t *testing.T) {
	base := os.Getenv("CALLBACKD_REAL_ASTERISK")
	if base == "" || os.Getenv("CALLBACKD_SIPP") != "1" {
		t.Skip("set CALLBACKD_REAL_ASTERISK=http://127.0.0.1:8088 and CALLBACKD_SIPP=1 to ring a real Asterisk with SIPp")
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not on PATH (Debian: apt-get install sip-tester)")
	}
	ari := realARI{base: strings.TrimSuffix(base, "/"), user: envOr("CALLBACKD_REAL_ASTERISK_USER", "callbackd"),
		pass: envOr("CALLBACKD_REAL_ASTERISK_PASSWORD", "callbackd")}
	sipAddr := envOr("CALLBACKD_REAL_ASTERISK_SIP", "127.0.0.1:5060")
	callerPort := envOr("CALLBACKD_SIPP_CALLER_PORT", "5072")

	f := newFixture(t, dbtest.SQLite(t), trigger.Limits{})
	f.number(ani("18005550100", func(n *callback.AccessNumber) {
		n.DefaultAccountUsername, n.RingbackTime, n.HangupSIPCode = "default", 1, 486
	}))
	f.number(callback.AccessNumber{Number: "18005550101", Trigger: callback.TriggerDNIS, SubApp: "callingcard", AnonymousAccounting: true})

	before, err := ari.global(t.Context(), "CALLBACKD_AGI")
	if err != nil {
		t.Fatalf("read the global CALLBACKD_AGI: %v", err)
	}
	if err := ari.setGlobal(t.Context(), "CALLBACKD_AGI", "agi://"+f.addr); err != nil {
		t.Fatalf("set the global CALLBACKD_AGI: %v", err)
	}
	t.Cleanup(func() {
		if err := ari.setGlobal(context.Background(), "CALLBACKD_AGI", before); err != nil {
			t.Errorf("put the global CALLBACKD_AGI back to %q: %v", before, err)
		}
	})

	// The sample's ANI context asks for reject=dialplan: callbackd sets the
	// code, rings back, and the dialplan's PJSIPHangup answers 486.
	got := sippCall(t, sipAddr, callerPort, "18005550100", "4930555123", 486)
	if i := slices.Index(got, 180); i < 0 || got[len(got)-1] != 486 {
		t.Errorf("ANI: SIPp received %v, want 180 Ringing, then 486", got)
	}
	if r := f.pending("4930555123"); r == nil || r.Username != "default" || r.Source != callback.SourceANI {
		t.Errorf("ANI: queued %+v", r)
	}
	// The DNIS context still lets callbackd hang up (EXEC PJSIPHangup 603).
	got = sippCall(t, sipAddr, callerPort, "18005550101", "4930555124", 603)
	if got[len(got)-1] != 603 {
		t.Errorf("DNIS: SIPp received %v, want 603 last", got)
	}
	if r := f.pending("420602123456"); r == nil || r.Username != "18005550101" {
		t.Errorf("DNIS: queued %+v", r)
	}
}

// sippCall rings number from cli with SIPp's UAC, expecting the final
// response want and acknowledging it, and returns the status codes SIPp
// received in order.
func sippCall(t *testing.T, sipAddr, port, number, cli string, want int) []int {
	t.Helper()
	dir := t.TempDir()
	scenario := filepath.Join(dir, "missed-call.xml")
	if err := os.WriteFile(scenario, []byte(fmt.Sprintf(missedCallScenario, cli, want)), 0o644); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "messages.log")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", "-sf", scenario, "-s", number, "-i", "127.0.0.1", "-p", port, "-m", "1",
		"-timeout", "20s", "-nostdin", "-trace_msg", "-message_file", log, sipAddr)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	msgs, _ := os.ReadFile(log)
	if err != nil {
		t.Fatalf("sipp rang %s from %s: %v\n%s\nmessages:\n%s", number, cli, err, out, msgs)
	}
	var codes []int
	for _, line := range strings.Split(string(msgs), "\n") {
		var code int
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "SIP/2.0 %d", &code); err == nil {
			codes = append(codes, code)
		}
	}
	if len(codes) == 0 {
		t.Fatalf("sipp rang %s: no response in its log:\n%s", number, msgs)
	}
	return codes
}

// missedCallScenario is a SIPp UAC call that rings and expects to be
// rejected unanswered: %s the caller's number, %d the final response.
const missedCallScenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="callbackd missed call">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:%[1]s@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:%[1]s@[local_ip]:[local_port]>
      Max-Forwards: 70
      X-Callbackd-Test: caller
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="%[2]d"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
</scenario>
`

// realARI is the little of ARI the test needs: Asterisk's global variables.
type realARI struct{ base, user, pass string }

func (a realARI) do(ctx context.Context, method, path string, q url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+"/ari"+path+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(a.user, a.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s %s: %s %s", method, path, resp.Status, body)
	}
	return string(body), nil
}

// global reads a global variable (GET /asterisk/variable).
func (a realARI) global(ctx context.Context, name string) (string, error) {
	body, err := a.do(ctx, http.MethodGet, "/asterisk/variable", url.Values{"variable": {name}})
	if err != nil {
		return "", err
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return "", err
	}
	return v.Value, nil
}

// setGlobal sets a global variable (POST /asterisk/variable).
func (a realARI) setGlobal(ctx context.Context, name, value string) error {
	_, err := a.do(ctx, http.MethodPost, "/asterisk/variable", url.Values{"variable": {name}, "value": {value}})
	return err
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
