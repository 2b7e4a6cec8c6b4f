package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/config.golden")

// `callbackd config` prints every key, its value, where it comes from and
// its variable: the operator's view of the configuration, which moving
// defaults between packages must not change.
func TestConfigOutputGolden(t *testing.T) {
	golden, err := filepath.Abs(filepath.Join("testdata", "config.golden"))
	if err != nil {
		t.Fatal(err)
	}
	// A relative file name keeps the printed table's columns the same on
	// every run.
	t.Chdir(t.TempDir())
	path := "c.yaml"
	yaml := "callback:\n  max_attempts: 5\n  lease: 40s\nlimits:\n  per_cli_burst: 7\n  per_source_every: 2s\n" +
		"http:\n  login_every: 2m\nsmtp:\n  per_number_burst: 9\nauth:\n  surface_failures_every: 20s\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CALLBACKD_CONFIG=" + path, "CALLBACKD_NODE=n1", "CALLBACKD_WEB_PER_ACCOUNT_EVERY=45s", "CALLBACKD_SMS_PER_SENDER_BURST=4"}
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"config", "-log-level", "debug"}, env, strings.NewReader(""), &out, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("callbackd config changed:\n%s\nwant:\n%s", got, want)
	}
}
