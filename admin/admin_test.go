package admin

import (
	"errors"
	"testing"
)

func TestRoles(t *testing.T) {
	for _, c := range []struct {
		role                        Role
		read, cancel, resend, write bool
	}{
		{RoleAdmin, true, true, true, true},
		{RoleSupport, true, true, true, false},
		{RoleReporting, true, false, false, false},
		{"root", false, false, false, false},
	} {
		for p, want := range map[Permission]bool{PermRead: c.read, PermCancel: c.cancel, PermResend: c.resend, PermWrite: c.write} {
			err := Actor{Name: "x", Role: c.role}.Check(p)
			if (err == nil) != want {
				t.Errorf("%s may %s: %v, want %v", c.role, p, err, want)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Errorf("%v is not ErrForbidden", err)
			}
		}
	}
}

func TestReportRatios(t *testing.T) {
	r := ReportRow{Attempts: 3, Answered: 2, BillSec: 125}
	if r.ASR() != 6667 || r.ACD() != 63 {
		t.Errorf("ASR %d ACD %d, want 6667 and 63", r.ASR(), r.ACD())
	}
	if (ReportRow{}).ASR() != 0 || (ReportRow{}).ACD() != 0 {
		t.Error("empty row has ratios")
	}
}
