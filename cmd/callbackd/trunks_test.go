package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/callbackd/callbackd/ari"
)

func TestConfigTrunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbackd.yaml")
	yaml := `ari:
  url: http://127.0.0.1:8088
  trunks:
    - name: carrier-de
      prefixes: ["49"]
      max_channels: 30
      calls_per_second: 5
      identity_header: pai
      identity_host: sip.carrier.example
      caller_id_prefix: "+"
    - name: carrier-any
      endpoint: PJSIP/{trunk}/sip:{number}@proxy.example.net
      trunk: any-ep
      priority: 1
      weight: 3
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := c.ARI.Trunks
	if len(ts) != 2 || ts[0].Name != "carrier-de" || !slices.Equal(ts[0].Prefixes, []string{"49"}) || ts[0].MaxChannels != 30 ||
		ts[0].CallsPerSecond != 5 || ts[0].IdentityHeader != "pai" || ts[0].IdentityHost != "sip.carrier.example" ||
		ts[0].CallerIDPrefix != "+" || ts[1].Trunk != "any-ep" || ts[1].Priority != 1 || ts[1].Weight != 3 {
		t.Fatalf("trunks %+v", ts)
	}
	ctl, err := ari.New(append(trunkOptions(&c), ari.WithURL(c.ARI.URL))...)
	if err != nil {
		t.Fatal(err)
	}
	if legs := ctl.TrunkLegs(); len(legs) != 2 {
		t.Fatalf("controller trunks %v", legs)
	}
	c.ARI.Trunks[0].IdentityHeader = "rpid"
	if _, err := ari.New(append(trunkOptions(&c), ari.WithURL(c.ARI.URL))...); err == nil {
		t.Fatal("an unknown identity header was accepted")
	}
	c.ARI.Trunks = nil
	ctl, err = ari.New(append(trunkOptions(&c), ari.WithURL(c.ARI.URL))...)
	if err != nil {
		t.Fatal(err)
	}
	if legs := ctl.TrunkLegs(); len(legs) != 1 {
		t.Fatalf("without ari.trunks: %v, want the one trunk", legs)
	}
}
