package main

import (
	"bytes"
	"strings"
	"testing"
)

// The README's first command must work: a missed call becomes a bridged
// 2-way callback against the simulated Asterisk, then an inbound call runs
// the calling card.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"demo", "-dir", t.TempDir()}, nil, strings.NewReader(""), &out, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"PJSIPHangup 603", "First leg initiated", "First leg connected", "Second leg initiated",
		"Second leg connected", "Finished / Successful", "POST /ari/bridges", "leg A", "leg B", "account 801 balance: 9.99",
		"inbound IVR", "request 2: Request received  request created (source ivr)", "/answer", "enter-destination",
		"leg A  18005550105"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
