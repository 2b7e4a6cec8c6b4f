package storetest

import (
	"errors"
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

func init() {
	accountTests["IVRs"] = testIVRs
}

// testIVRs: the IVRs by id an access number's iscallback of 8 or more
// names are put, replaced, listed and deleted; the database refuses an id
// below 8.
func testIVRs(t *testing.T, s callback.Store) {
	ctx := t.Context()
	is, ok := s.(callback.IVRStore)
	if !ok {
		t.Fatalf("%T keeps no IVRs", s)
	}
	if _, err := is.GetIVR(ctx, 8); !errors.Is(err, callback.ErrNotFound) {
		t.Fatalf("no IVR 8 yet: %v", err)
	}
	for _, v := range []callback.IVR{{ID: 9, SubApp: "2way_12345"}, {ID: 8, SubApp: "callingcard"}, {ID: 8, SubApp: "callingcard_es_en"}} {
		if err := is.PutIVR(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := is.GetIVR(ctx, 8); err != nil || *v != (callback.IVR{ID: 8, SubApp: "callingcard_es_en"}) {
		t.Fatalf("IVR 8 = %+v, %v", v, err)
	}
	list, err := is.ListIVRs(ctx)
	if err != nil || len(list) != 2 || list[0].ID != 8 || list[1] != (callback.IVR{ID: 9, SubApp: "2way_12345"}) {
		t.Fatalf("list %+v, %v", list, err)
	}
	for _, bad := range []callback.IVR{{ID: 7, SubApp: "callingcard"}, {ID: 10, SubApp: "voicemail"}} {
		if err := is.PutIVR(ctx, bad); err == nil {
			t.Errorf("PutIVR(%+v) accepted", bad)
		}
	}
	if _, err := raw(t, s).ExecContext(ctx, "INSERT INTO ivrs (id, sub_app) VALUES (3, 'callingcard')"); err == nil {
		t.Error("the database took IVR id 3, an iscallback mode")
	}
	if err := is.DeleteIVR(ctx, 9); err != nil {
		t.Fatal(err)
	}
	if err := is.DeleteIVR(ctx, 9); !errors.Is(err, callback.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
}
