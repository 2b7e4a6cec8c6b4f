package main

import (
	"os"
	"strings"
	"testing"
)

// Every key `callbackd config` prints has a row in the README's
// configuration table, so an operator reading it sees every knob.
func TestREADMEConfigTableHasEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "\n## Configuration\n")
	if start < 0 {
		t.Fatal("README has no Configuration section")
	}
	section := readme[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var rows strings.Builder
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `") {
			rows.WriteString(line)
			rows.WriteByte('\n')
		}
	}
	c := DefaultConfig()
	for _, kv := range ConfigKeys(&c) {
		if !strings.Contains(rows.String(), "`"+kv[0]+"`") {
			t.Errorf("README's configuration table has no row for %s", kv[0])
		}
	}
}
