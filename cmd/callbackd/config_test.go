package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsAreTheSeeds(t *testing.T) {
	c := DefaultConfig()
	if c.Callback.DelayBeforeCallback != 5*time.Second || c.Callback.BackoffInterval != 10*time.Second ||
		c.Callback.MaxAttempts != 3 || c.Callback.Timeout != 300*time.Second {
		t.Fatalf("seed defaults changed: %+v", c.Callback)
	}
	if err := c.Policy().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFileThenEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbackd.yaml")
	yaml := "callback:\n  max_attempts: 5\n  backoff_interval: 30s\nari:\n  url: http://10.0.0.1:8088\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path, []string{"CALLBACKD_ARI_URL=http://127.0.0.1:8088", "CALLBACKD_CALLBACK_TIMEOUT=45s", "HOME=/x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Callback.MaxAttempts != 5 || c.Callback.BackoffInterval != 30*time.Second {
		t.Fatalf("file not applied: %+v", c.Callback)
	}
	if c.ARI.URL != "http://127.0.0.1:8088" || c.Callback.Timeout != 45*time.Second {
		t.Fatalf("env did not override: %q %s", c.ARI.URL, c.Callback.Timeout)
	}
}

func TestConfigErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("callback:\n  max_atempts: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path, nil); err == nil || !strings.Contains(err.Error(), "max_atempts") {
		t.Fatalf("misspelt key: %v", err)
	}
	if _, err := LoadConfig("", []string{"CALLBACKD_CALLBACK_MAX_ATTEMPTS=three"}); err == nil || !strings.Contains(err.Error(), "CALLBACKD_CALLBACK_MAX_ATTEMPTS") {
		t.Fatalf("bad env value: %v", err)
	}
	if _, err := LoadConfig("", []string{"CALLBACKD_CALLBACK_SCAN_INTERVAL=soon"}); err == nil {
		t.Fatal("bad duration accepted")
	}
}

func TestConfigKeysHideSecrets(t *testing.T) {
	c := DefaultConfig()
	c.ARI.Password = "hunter2"
	c.Database.MySQLDSN = "u:p@tcp(127.0.0.1)/db"
	for _, kv := range ConfigKeys(&c) {
		if strings.Contains(kv[1], "hunter2") || strings.Contains(kv[1], "u:p@") {
			t.Fatalf("%s shows a secret", kv[0])
		}
	}
}

func TestRedactDSN(t *testing.T) {
	if got := redactDSN("callbackd:s3cret@tcp(127.0.0.1:3306)/callbackd"); strings.Contains(got, "s3cret") {
		t.Fatalf("redactDSN = %q", got)
	}
}

func TestConfigCallerIDChoices(t *testing.T) {
	c, err := LoadConfig("", []string{"CALLBACKD_ARI_LEG_A_CLI=access_number", "CALLBACKD_ARI_CARD_LEG_B_CLI=device,web=+4930123456"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ARI.LegACLI != "access_number" || c.ARI.CardLegBCLI != "device,web=+4930123456" {
		t.Fatalf("caller ID keys %q %q", c.ARI.LegACLI, c.ARI.CardLegBCLI)
	}
	if d := DefaultConfig(); d.ARI.LegACLI != "original" || d.ARI.CardLegBCLI != "source" {
		t.Fatalf("defaults %q %q", d.ARI.LegACLI, d.ARI.CardLegBCLI)
	}
	for key, bad := range map[string][2]string{"ari.leg_a_cli": {"did", "source"}, "ari.card_leg_b_cli": {"original", "fax=device"}} {
		c := DefaultConfig()
		c.ARI.LegACLI, c.ARI.CardLegBCLI = bad[0], bad[1]
		if _, err := newController(&c, nil, nil, nil, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%v: err %v", bad, err)
		}
	}
}
