package main

import (
	"slices"
	"strings"
	"testing"
)

// The top-level help names every subcommand of each admin command group,
// so a new one cannot be reachable yet missing from `callbackd -h`.
func TestUsageListsEverySubcommand(t *testing.T) {
	for group, subs := range adminCommands {
		var line string
		for _, l := range strings.Split(usage, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == group {
				line = f[1]
				break
			}
		}
		if line == "" {
			t.Errorf("callbackd -h has no line for %s", group)
			continue
		}
		listed := strings.Split(line, "|")
		for _, s := range subs {
			if !slices.Contains(listed, s[0]) {
				t.Errorf("callbackd -h lists %s %s, without %s", group, line, s[0])
			}
		}
	}
}
