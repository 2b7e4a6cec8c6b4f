package storetest

import (
	"testing"

	"github.com/callbackd/callbackd/callback"
)

func init() {
	accountTests["AccessNumberIVRAuthentication"] = testAccessNumberIVRAuthentication
}

// testAccessNumberIVRAuthentication: Mizu's ivrauthentication is kept per
// access number under the seed's numbers 0 to 4; a row written by SQL
// without it has the default, 1; the database refuses any other number.
func testAccessNumberIVRAuthentication(t *testing.T, s callback.Store) {
	ctx := t.Context()
	for v := 0; v <= 4; v++ {
		a, err := callback.ParseIVRAuth(v)
		if err != nil {
			t.Fatal(err)
		}
		n := callback.AccessNumber{Number: "1800555020" + string(rune('0'+v)), IVRAuthentication: a}
		n.ApplyDefaults()
		if err := s.PutAccessNumber(ctx, &n); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAccessNumber(ctx, n.Number)
		if err != nil {
			t.Fatal(err)
		}
		if got.IVRAuthentication != a {
			t.Errorf("ivrauthentication %d stored, read %v", v, got.IVRAuthentication)
		}
		var col int
		if err := raw(t, s).QueryRowContext(ctx, "SELECT ivrauthentication FROM access_numbers WHERE number = ?", n.Number).Scan(&col); err != nil {
			t.Fatal(err)
		}
		if col != v {
			t.Errorf("ivrauthentication %v is %d in the column, want the seed's %d", a, col, v)
		}
	}

	db := raw(t, s)
	if _, err := db.ExecContext(ctx, "INSERT INTO access_numbers (number) VALUES ('18005550300')"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAccessNumber(ctx, "18005550300")
	if err != nil {
		t.Fatal(err)
	}
	if got.IVRAuthentication != callback.IVRAuthANumberOrPIN || got.IVRAuthentication.Seed() != callback.DefaultIVRAuthentication {
		t.Errorf("a number inserted by SQL has ivrauthentication %v, want the default 1", got.IVRAuthentication)
	}
	if _, err := db.ExecContext(ctx, "UPDATE access_numbers SET ivrauthentication = 4 WHERE number = '18005550300'"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetAccessNumber(ctx, "18005550300"); got == nil || got.IVRAuthentication != callback.IVRAuthANumberAndPIN {
		t.Errorf("ivrauthentication 4 written by SQL reads %v", got)
	}
	for _, bad := range []string{"5", "-1"} {
		if _, err := db.ExecContext(ctx, "UPDATE access_numbers SET ivrauthentication = "+bad+" WHERE number = '18005550300'"); err == nil {
			t.Errorf("ivrauthentication %s accepted by the database", bad)
		}
	}
}
