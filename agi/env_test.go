package agi

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// pjsipEnv is what Asterisk 22 sends for a PJSIP call from 801 to 1234 that
// runs AGI(agi://127.0.0.1:4573/ani?x=y,801,1234).
var pjsipEnv = []string{
	"agi_network: yes",
	"agi_network_script: ani?x=y",
	"agi_request: agi://127.0.0.1:4573/ani?x=y",
	"agi_channel: PJSIP/sipp-00000000",
	"agi_language: en",
	"agi_type: PJSIP",
	"agi_uniqueid: 1732350000.0",
	"agi_version: 22.10.0",
	"agi_callerid: 801",
	"agi_calleridname: sipp",
	"agi_callingpres: 0",
	"agi_callingani2: 0",
	"agi_callington: 0",
	"agi_callingtns: 0",
	"agi_dnid: 1234",
	"agi_rdnis: unknown",
	"agi_context: from-trunk",
	"agi_extension: 1234",
	"agi_priority: 2",
	"agi_enhanced: 0.0",
	"agi_accountcode: ",
	"agi_threadid: 140245862868672",
	"agi_arg_1: 801",
	"agi_arg_2: 1234",
}

func TestParseEnv(t *testing.T) {
	env, err := ParseEnv(pjsipEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Env{
		Network: true, NetworkScript: "ani?x=y", Request: "agi://127.0.0.1:4573/ani?x=y",
		Channel: "PJSIP/sipp-00000000", Language: "en", Type: "PJSIP", UniqueID: "1732350000.0",
		Version: "22.10.0", CallerID: "801", CallerIDName: "sipp", DNID: "1234", RDNIS: "unknown",
		Context: "from-trunk", Extension: "1234", Priority: 2, ThreadID: 140245862868672,
		Args: []string{"801", "1234"}, Script: "ani", Params: url.Values{"x": {"y"}},
	}
	env.Vars = nil
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("ParseEnv =\n%+v\nwant\n%+v", env, want)
	}
	env, _ = ParseEnv(pjsipEnv)
	if len(env.Vars) != len(pjsipEnv) || env.Vars[0].Name != "agi_network" || env.Vars[20] != (Var{"agi_accountcode", ""}) {
		t.Errorf("Vars not in order: %v", env.Vars)
	}
	if v, ok := env.Lookup("agi_callerid"); !ok || v != "801" {
		t.Errorf("Lookup(agi_callerid) = %q, %v", v, ok)
	}
	if _, ok := env.Lookup("agi_nope"); ok {
		t.Error("Lookup found a variable never sent")
	}
}

func TestParseEnvScript(t *testing.T) {
	tests := []struct {
		script string
		name   string
		params url.Values
	}{
		{"ani", "ani", url.Values{}},
		{"/ani", "ani", url.Values{}},
		{"", "", url.Values{}},
		{"ani?cli=+4930123&lang=de", "ani", url.Values{"cli": {"+4930123"}, "lang": {"de"}}},
		{"callback/web?a=1&a=2&flag", "callback/web", url.Values{"a": {"1", "2"}, "flag": {""}}},
		{"ani?name=J%C3%BCrgen%20M&bad=%zz", "ani", url.Values{"name": {"Jürgen M"}, "bad": {"%zz"}}},
	}
	for _, tt := range tests {
		lines := []string{"agi_network: yes", "agi_request: agi://h/" + tt.script, "agi_channel: PJSIP/a-1"}
		if tt.script != "" {
			lines = append(lines, "agi_network_script: "+tt.script)
		}
		env, err := ParseEnv(lines)
		if err != nil {
			t.Fatalf("%q: %v", tt.script, err)
		}
		if env.Script != tt.name || !reflect.DeepEqual(env.Params, tt.params) {
			t.Errorf("%q: script %q params %v, want %q %v", tt.script, env.Script, env.Params, tt.name, tt.params)
		}
	}
}

func TestParseEnvErrors(t *testing.T) {
	base := []string{"agi_request: agi://h/x", "agi_channel: PJSIP/a-1"}
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"no colon", append(base, "garbage"), "not a name: value line"},
		{"empty name", append(base, ": x"), "not a name: value line"},
		{"blank in name", append(base, "agi callerid: 1"), "not a name: value line"},
		{"duplicate", append(base, "agi_channel: PJSIP/b-2"), "duplicate variable"},
		{"bad priority", append(base, "agi_priority: one"), "agi_priority is not an integer"},
		{"bad pres", append(base, "agi_callingpres: x"), "agi_callingpres is not an integer"},
		{"bad threadid", append(base, "agi_threadid: 0x1"), "agi_threadid is not an integer"},
		{"bad enhanced", append(base, "agi_enhanced: yes"), "agi_enhanced"},
		{"arg zero", append(base, "agi_arg_0: a"), "bad argument number"},
		{"arg huge", append(base, "agi_arg_99999999999: a"), "bad argument number"},
		{"arg gap", append(base, "agi_arg_2: a"), "agi_arg_1 missing"},
		{"no request", []string{"agi_channel: PJSIP/a-1"}, "agi_request missing"},
		{"no channel", []string{"agi_request: agi://h/x"}, "agi_channel missing"},
		{"empty", nil, "agi_request missing"},
	}
	for _, tt := range tests {
		_, err := ParseEnv(tt.lines)
		var pe *ProtocolError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want a ProtocolError containing %q", tt.name, err, tt.want)
		}
	}
}

func TestParseEnvKeepsUnknownAndOddValues(t *testing.T) {
	env, err := ParseEnv([]string{
		"agi_request: agi://h/x",
		"agi_channel: PJSIP/a-1",
		"agi_calleridname: Smith: John",
		"agi_future_field: 42",
		"agi_dnid:",
	})
	if err != nil {
		t.Fatal(err)
	}
	if env.CallerIDName != "Smith: John" || env.DNID != "" {
		t.Errorf("values: %q %q", env.CallerIDName, env.DNID)
	}
	if v, _ := env.Lookup("agi_future_field"); v != "42" {
		t.Errorf("unknown variable lost: %q", v)
	}
}
