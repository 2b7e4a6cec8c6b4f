package callback

import "testing"

// The pairs observed on a real Asterisk 22 (shared ASTERISK.md) and MOR's
// table (seed 004).
func TestCauseSIPCode(t *testing.T) {
	for cause, sip := range map[Cause]int{17: 486, 21: 403, 19: 480, 34: 503, 16: 603, 0: 603, 1: 404, 2: 404, 3: 404,
		18: 408, 20: 480, 27: 502, 28: 484, 29: 501, 31: 480} {
		if got := cause.SIPCode(); got != sip {
			t.Errorf("Cause(%d).SIPCode() = %d, want %d", cause, got, sip)
		}
	}
}

func TestRejectCauseRoundTrip(t *testing.T) {
	for _, code := range HangupSIPCodes {
		c, err := RejectCause(code)
		if err != nil {
			t.Fatalf("RejectCause(%d): %v", code, err)
		}
		if got := c.SIPCode(); got != code {
			t.Errorf("RejectCause(%d) = %d (%s), which chan_pjsip sends as %d", code, c, c, got)
		}
	}
	if _, err := RejectCause(404 + 1); err == nil {
		t.Error("RejectCause accepted a code outside the seed's list")
	}
}

func TestCauseFromSIP(t *testing.T) {
	for sip, cause := range map[int]Cause{486: 17, 603: 21, 404: 1, 480: 19, 503: 34, 408: 18, 499: 127, 599: 34, 200: 16} {
		if got := CauseFromSIP(sip); got != cause {
			t.Errorf("CauseFromSIP(%d) = %d, want %d", sip, got, cause)
		}
	}
}

func TestCauseTableSorted(t *testing.T) {
	for i := 1; i < len(causeTable); i++ {
		if causeTable[i-1].Cause >= causeTable[i].Cause {
			t.Fatalf("cause table not sorted at %d", causeTable[i].Cause)
		}
	}
	if ci, ok := LookupCause(17); !ok || ci.Name != "USER_BUSY" || ci.Text != "User busy" {
		t.Fatalf("LookupCause(17) = %+v", ci)
	}
}
