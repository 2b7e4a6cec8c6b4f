package ari

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func names(ts []*trunk) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

func mustTrunk(t *testing.T, tr Trunk) *trunk {
	t.Helper()
	tr.Dial = "PJSIP/{number}@{trunk}"
	c, err := compileTrunk(tr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRouteTrunks(t *testing.T) {
	all := []*trunk{
		mustTrunk(t, Trunk{Name: "any", Priority: 9}),
		mustTrunk(t, Trunk{Name: "de", Prefixes: []string{"49"}}),
		mustTrunk(t, Trunk{Name: "de-backup", Prefixes: []string{"49"}, Priority: 1}),
		mustTrunk(t, Trunk{Name: "berlin", Prefixes: []string{"4930", "4933"}}),
		mustTrunk(t, Trunk{Name: "uk", Prefixes: []string{"44"}}),
	}
	half := func() float64 { return 0.5 }
	for number, want := range map[string][]string{
		"4930123":  {"berlin", "de", "de-backup", "any"},
		"+4930123": {"berlin", "de", "de-backup", "any"},
		"4940123":  {"de", "de-backup", "any"},
		"44207":    {"uk", "any"},
		"1212":     {"any"},
	} {
		if got := names(routeTrunks(all, number, half)); !slices.Equal(got, want) {
			t.Errorf("route of %s: %q, want %q", number, got, want)
		}
	}
	if got := routeTrunks(all[1:], "1212", half); len(got) != 0 {
		t.Errorf("route of a number no prefix matches: %q", names(got))
	}
}

// Among trunks of equal prefix and priority, the first is drawn in
// proportion to the weights.
func TestRouteTrunksWeights(t *testing.T) {
	ts := []*trunk{
		mustTrunk(t, Trunk{Name: "a", Weight: 3}),
		mustTrunk(t, Trunk{Name: "b", Weight: 1}),
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	first := map[string]int{}
	const n = 4000
	for range n {
		first[routeTrunks(ts, "1", rnd.Float64)[0].Name]++
	}
	// Expected 3000 / 1000; the bounds are over 8 standard deviations wide.
	if first["a"] < 2780 || first["a"] > 3220 {
		t.Errorf("first choices %v, want about 3:1", first)
	}
}

func TestFailsOver(t *testing.T) {
	for _, tc := range []struct {
		cause, sip int
		want       bool
	}{
		{34, 503, true}, {18, 408, true}, {19, 480, true},
		{17, 486, false}, {1, 404, false}, {21, 403, false},
		{18, 0, true}, {34, 0, true}, {38, 0, true},
		{19, 0, false}, {17, 0, false}, {16, 0, false}, {0, 0, false},
	} {
		if got := failsOver(tc.cause, tc.sip); got != tc.want {
			t.Errorf("failsOver(cause %d, SIP %d) = %v", tc.cause, tc.sip, got)
		}
	}
}

func TestTrunkCapAndCallerID(t *testing.T) {
	tr := mustTrunk(t, Trunk{Name: "t", MaxChannels: 2, CallerIDPrefix: "+"})
	if !tr.take() || !tr.take() || tr.take() {
		t.Fatal("cap of 2 not kept")
	}
	tr.give()
	if !tr.take() {
		t.Fatal("a place given back is not free")
	}
	if tr.callerID("4930") != "+4930" || tr.callerID("+4930") != "+4930" || tr.callerID("") != "" {
		t.Errorf("caller ID prefix")
	}
	for _, bad := range []Trunk{{Name: "t", Prefixes: []string{"4a"}}, {Name: "t", MaxChannels: -1}, {Name: "t", IdentityHeader: "rpid"}} {
		bad.Dial = "PJSIP/{number}@x"
		if _, err := compileTrunk(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	d := mustTrunk(t, Trunk{Name: "d", IdentityHeader: IdentityDiversion})
	vars := map[string]string{}
	d.identityVariables(vars, "4930")
	if vars[varDiversion] != "<tel:4930>;reason=unknown" {
		t.Errorf("diversion identity %v", vars)
	}
	vars = map[string]string{varDiversion: "<tel:1>;reason=unconditional"}
	d.identityVariables(vars, "4930")
	if vars[varDiversion] != "<tel:1>;reason=unconditional" {
		t.Errorf("the access number's Diversion must win: %v", vars)
	}
}
