package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/ari"
)

func TestConfigServers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbackd.yaml")
	yaml := `ari:
  user: callbackd
  trunks:
    - name: carrier_de
    - name: carrier_any
  servers:
    - name: ast1
      url: http://10.0.0.11:8088
      password: s3cret-one
      max_channels: 400
    - name: ast2
      url: http://10.0.0.12:8088
      user: other
      password: s3cret-two
      trunks: [carrier_any]
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ss := c.ARI.Servers
	if len(ss) != 2 || ss[0].Name != "ast1" || ss[0].URL != "http://10.0.0.11:8088" || ss[0].MaxChannels != 400 ||
		ss[1].User != "other" || !slices.Equal(ss[1].Trunks, []string{"carrier_any"}) {
		t.Fatalf("servers %+v", ss)
	}
	if !ariConfigured(&c) {
		t.Fatal("ari.servers alone does not count as an Asterisk configured")
	}
	for _, kv := range ConfigKeys(&c) {
		if strings.Contains(kv[1], "s3cret") {
			t.Fatalf("callbackd config prints a server's password: %s %s", kv[0], kv[1])
		}
	}
	ctl, err := ari.New(append(trunkOptions(&c), serverOptions(&c)...)...)
	if err != nil {
		t.Fatal(err)
	}
	st := ctl.ServerStates()
	if len(st) != 2 || st[0].Name != "ast1" || st[0].Max != 400 || st[1].Name != "ast2" {
		t.Fatalf("controller servers %+v", st)
	}
	c.ARI.Servers[1].Trunks = []string{"carrier_fr"}
	if _, err := ari.New(append(trunkOptions(&c), serverOptions(&c)...)...); err == nil {
		t.Fatal("a server naming an unknown trunk was accepted")
	}
}
