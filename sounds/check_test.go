package sounds

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range Required("en") {
		write("en/" + n + ".wav")
	}
	write("th/callbackd/enter-pin.gsm")
	got, err := Check(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	byLang := map[string]Missing{}
	var langs []string
	for _, m := range got {
		byLang[m.Lang] = m
		langs = append(langs, m.Lang)
	}
	if !slices.Equal(langs, []string{"en", "es", "th"}) {
		t.Fatalf("languages %q", langs)
	}
	if m := byLang["en"]; len(m.Names) != 0 || m.Required == 0 {
		t.Errorf("en %+v", m)
	}
	if m := byLang["es"]; len(m.Names) != m.Required || m.Required != len(Required("es")) {
		t.Errorf("es %+v", m)
	}
	th := byLang["th"]
	if len(th.Names) != th.Required-1 || slices.Contains(th.Names, "callbackd/enter-pin") || !slices.Contains(th.Names, "callbackd/enter-destination") {
		t.Errorf("th %+v", th)
	}
	if got, err := Check(dir, []string{"th"}); err != nil || len(got) != 1 || got[0].Lang != "th" {
		t.Errorf("th only: %+v %v", got, err)
	}
	if _, err := Check(filepath.Join(dir, "nope"), nil); err == nil {
		t.Error("a missing directory passed")
	}
	if _, err := Check(dir, []string{"../x"}); err == nil {
		t.Error("a bad language passed")
	}
}
