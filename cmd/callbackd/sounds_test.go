package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/sounds"
)

func TestSoundsCheck(t *testing.T) {
	dir := t.TempDir()
	for _, n := range sounds.Required("en") {
		p := filepath.Join(dir, "en", filepath.FromSlash(n)+".ulaw")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "th"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Run(t.Context(), append([]string{"sounds", "check", "-dir", dir}, args...), nil, strings.NewReader(""), &out, &out)
		return out.String(), err
	}
	out, err := run("-lang", "en")
	if err != nil || !strings.Contains(out, "en: all ") {
		t.Errorf("en only: %v\n%s", err, out)
	}
	out, err = run()
	var xe exitError
	if !errors.As(err, &xe) || xe.code != 1 {
		t.Errorf("with th and es missing: %v", err)
	}
	n := len(sounds.Required("th"))
	for _, want := range []string{"en: all ", "es: ", "th: " + strconv.Itoa(n) + " of " + strconv.Itoa(n) + " prompts missing", "  callbackd/enter-pin\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := run("extra"); err == nil {
		t.Error("an extra argument passed")
	}
}
