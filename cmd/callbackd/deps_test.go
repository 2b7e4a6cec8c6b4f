package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestBinaryCarriesNoTestCode keeps the testing package out of the shipped
// binary: the demo runs the simulated Asterisk, and a test helper in a
// package it imports would link testing (and register its flags) into
// callbackd.
func TestBinaryCarriesNoTestCode(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, banned := range []string{"testing", "github.com/callbackd/callbackd/store/storetest", "github.com/callbackd/callbackd/store/dbtest"} {
		if slices.Contains(deps, banned) {
			t.Errorf("callbackd links %s", banned)
		}
	}
}
