package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
)

// TestAccessIVRAuthentication: access add sets Mizu's ivrauthentication
// under the seed's numbers, lists it, defaults to 1 and refuses anything
// but 0 to 4.
func TestAccessIVRAuthentication(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "migrate")
	mustRun(t, db, "account", "add", "-username", "801")
	mustRun(t, db, "access", "add", "-number", "18005550100", "-default-account", "801", "-ivrauthentication", "4")
	mustRun(t, db, "access", "add", "-number", "18005550101", "-default-account", "801")
	out := mustRun(t, db, "access", "list")
	if !strings.Contains(out, "IVRAUTHENTICATION") {
		t.Fatalf("access list has no ivrauthentication column:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "18005550100" && f[len(f)-1] != "4",
			len(f) > 0 && f[0] == "18005550101" && f[len(f)-1] != "1":
			t.Errorf("access list line %q", line)
		}
	}
	for _, bad := range []string{"5", "-1"} {
		out, err := run(t, db, "", "access", "add", "-number", "18005550102", "-ivrauthentication", bad)
		if err == nil || !strings.Contains(err.Error()+out, "ivrauthentication") {
			t.Errorf("-ivrauthentication %s: err %v, output %q", bad, err, out)
		}
	}
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for number, want := range map[string]callback.IVRAuth{"18005550100": callback.IVRAuthANumberAndPIN, "18005550101": callback.IVRAuthANumberOrPIN} {
		n, err := st.GetAccessNumber(t.Context(), number)
		if err != nil {
			t.Fatal(err)
		}
		if n.IVRAuthentication != want {
			t.Errorf("%s: ivrauthentication %v, want %v", number, n.IVRAuthentication, want)
		}
	}
	if _, err := st.GetAccessNumber(t.Context(), "18005550102"); err == nil {
		t.Error("a refused access number was stored")
	}
}

// TestAccessIVRID: access ivr sets, lists and removes the IVRs by id, and
// access add takes an iscallback of 8 or more only for an IVR that exists.
func TestAccessIVRID(t *testing.T) {
	db := filepath.Join(t.TempDir(), "callbackd.db")
	mustRun(t, db, "migrate")
	out, err := run(t, db, "", "access", "add", "-number", "18005550100", "-iscallback", "8")
	if err == nil || !strings.Contains(err.Error()+out, "no IVR 8") {
		t.Fatalf("iscallback 8 without IVR 8: err %v, output %q", err, out)
	}
	for _, bad := range [][]string{{"-id", "7", "-subapp", "callingcard"}, {"-id", "8", "-subapp", "voicemail"}, {"-id", "8"}} {
		if out, err := run(t, db, "", append([]string{"access", "ivr"}, bad...)...); err == nil {
			t.Errorf("access ivr %q accepted: %s", bad, out)
		}
	}
	mustRun(t, db, "access", "ivr", "-id", "8", "-subapp", "callingcard_es")
	mustRun(t, db, "access", "ivr", "-id", "9", "-subapp", "2way_12345")
	if out := mustRun(t, db, "access", "ivr"); !strings.Contains(out, "8  ") || !strings.Contains(out, "callingcard_es") || !strings.Contains(out, "2way_12345") {
		t.Errorf("access ivr list:\n%s", out)
	}
	mustRun(t, db, "access", "add", "-number", "18005550100", "-iscallback", "8")
	mustRun(t, db, "access", "ivr", "-id", "9", "-remove")
	if out, err := run(t, db, "", "access", "ivr", "-id", "9", "-remove"); err == nil || !strings.Contains(out+err.Error(), "IVR 9 not found") {
		t.Errorf("remove twice: %v %s", err, out)
	}
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.GetAccessNumber(t.Context(), "18005550100"); err != nil || n.IsCallback != 8 {
		t.Fatalf("access number %+v, %v", n, err)
	}
	if ivrs, err := st.ListIVRs(t.Context()); err != nil || len(ivrs) != 1 || ivrs[0] != (callback.IVR{ID: 8, SubApp: "callingcard_es"}) {
		t.Fatalf("IVRs %+v, %v", ivrs, err)
	}
}
