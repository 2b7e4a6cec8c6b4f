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
	for _, banned := range []string{"testing", "github.com/callbackd/callbackd/store/storetest", "github.com/callbackd/callbackd/store/dbtest",
		"github.com/callbackd/callbackd/callback/callbacktest"} {
		if slices.Contains(deps, banned) {
			t.Errorf("callbackd links %s", banned)
		}
	}
}

// TestHTTPSurfacesLinkNoTelephony keeps the API, the web page and the email
// trigger free of the telephony packages: they reach the queue through
// callback, their limits through limiter, and metrics names no observer
// type of agi or ari.
func TestHTTPSurfacesLinkNoTelephony(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "list", "-deps", "../../httpapi", "../../web", "../../mail", "../../console").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, banned := range []string{"agi", "ari", "billing", "trigger"} {
		if slices.Contains(deps, "github.com/callbackd/callbackd/"+banned) {
			t.Errorf("httpapi, web, mail or console links %s", banned)
		}
	}
}
