package sounds

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Required returns the prompts a language needs in Asterisk's sounds
// directory: every callbackd/* prompt (each language must have all of
// English's), and the digits/* files this package ships for lang, if any
// (a language without them relies on Asterisk's own sound packages).
func Required(lang string) []string {
	var out []string
	for _, n := range Names(DefaultLanguage) {
		if strings.HasPrefix(n, "callbackd/") {
			out = append(out, n)
		}
	}
	for _, n := range Names(lang) {
		if strings.HasPrefix(n, "digits/") {
			out = append(out, n)
		}
	}
	return out
}

// Missing is what [Check] found for one language.
type Missing struct {
	Lang     string
	Required int      // prompts looked for
	Names    []string // those not found, sorted
}

// Check looks for the recordings of each language of langs in dir, an
// Asterisk sounds directory (astdatadir/sounds): prompt name in language
// lang is <dir>/<lang>/<name>.<any format>, as Asterisk's file.c looks it
// up. langs empty means every language with prompts here and every
// language folder in dir. The result is in the order of langs (sorted when
// langs is empty).
func Check(dir string, langs []string) ([]Missing, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("sounds directory: %w", err)
	}
	if len(langs) == 0 {
		langs = Languages()
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("sounds directory: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() && langRE.MatchString(e.Name()) && !slices.Contains(langs, e.Name()) {
				langs = append(langs, e.Name())
			}
		}
		slices.Sort(langs)
	}
	out := make([]Missing, 0, len(langs))
	for _, lang := range langs {
		if !langRE.MatchString(lang) {
			return nil, fmt.Errorf("bad language code %q", lang)
		}
		req := Required(lang)
		m := Missing{Lang: lang, Required: len(req)}
		for _, name := range req {
			found, err := filepath.Glob(filepath.Join(dir, lang, filepath.FromSlash(name)) + ".*")
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", lang, name, err)
			}
			if len(found) == 0 {
				m.Names = append(m.Names, name)
			}
		}
		out = append(out, m)
	}
	return out, nil
}
