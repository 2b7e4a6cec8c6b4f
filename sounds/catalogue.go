package sounds

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

//go:embed prompts.tsv
var table string

// DefaultLanguage is the language Asterisk falls back to when a prompt is
// found neither in the channel's language nor without a language.
const DefaultLanguage = "en"

var (
	langRE = regexp.MustCompile(`^[a-z]{2,3}(_[A-Za-z0-9]+)*$`)
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$`)
)

// catalogue maps language to prompt name to the text spoken.
type catalogue map[string]map[string]string

// cat is the parsed table; parseErr is the first problem found in it (the
// rows before and after a bad one are still loaded). The package test fails
// when parseErr is set.
var cat, parseErr = parse(table)

// parse reads the prompt table: one "lang<TAB>name<TAB>text" row a line,
// blank lines and lines starting with # ignored.
func parse(s string) (catalogue, error) {
	c := catalogue{}
	var first error
	fail := func(line int, format string, args ...any) {
		if first == nil {
			first = fmt.Errorf("prompts.tsv:%d: %s", line, fmt.Sprintf(format, args...))
		}
	}
	for i, line := range strings.Split(s, "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[0] == "" || f[1] == "" || f[2] == "" {
			fail(n, "want three tab-separated fields: lang, name, text")
			continue
		}
		lang, name, text := f[0], f[1], f[2]
		if !langRE.MatchString(lang) {
			fail(n, "bad language code %q", lang)
			continue
		}
		if !nameRE.MatchString(name) {
			fail(n, "bad prompt name %q", name)
			continue
		}
		if c[lang] == nil {
			c[lang] = map[string]string{}
		}
		if _, dup := c[lang][name]; dup {
			fail(n, "%s %s defined twice", lang, name)
			continue
		}
		c[lang][name] = text
	}
	return c, first
}

// Languages returns the language codes that have prompts, sorted.
func Languages() []string {
	langs := make([]string, 0, len(cat))
	for l := range cat {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	return langs
}

// Names returns the prompt names of lang, sorted, as they are played:
// "callbackd/enter-pin" is played as "sound:callbackd/enter-pin". It returns
// nil for a language without prompts.
func Names(lang string) []string {
	m := cat[lang]
	if m == nil {
		return nil
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Has reports whether lang has a recording of the prompt name (exactly that
// language, without Asterisk's fallbacks; see [Resolve]). A leading "sound:"
// on name is accepted.
func Has(lang, name string) bool {
	_, ok := cat[lang][strings.TrimPrefix(name, "sound:")]
	return ok
}

// Text returns what the prompt name says in lang.
func Text(lang, name string) (string, bool) {
	t, ok := cat[lang][strings.TrimPrefix(name, "sound:")]
	return t, ok
}

// Resolve returns the language whose recording of name Asterisk plays on a
// channel whose language is lang, trying the languages in Asterisk's order:
// lang itself, then lang with its "_" suffixes removed one at a time
// ("es_MX" then "es"), then [DefaultLanguage]. ok is false when none of them
// has the prompt.
func Resolve(lang, name string) (found string, ok bool) {
	for l := lang; l != ""; {
		if Has(l, name) {
			return l, true
		}
		i := strings.LastIndexByte(l, '_')
		if i < 0 {
			break
		}
		l = l[:i]
	}
	if Has(DefaultLanguage, name) {
		return DefaultLanguage, true
	}
	return "", false
}

// Choose returns the language a prompt is played in for a call that asks
// for the languages langs in order of preference (the request's language,
// then the languages of its CLD, "callingcard_th_es"): the first of langs
// that has a recording of name, else [DefaultLanguage]. has reports whether a
// language has a recording; nil is [Has]. missing lists the languages of
// langs passed over because they have no recording of name, in order,
// without repeats. ok is false when [DefaultLanguage] has none either; lang
// is then DefaultLanguage.
func Choose(has func(lang, name string) bool, langs []string, name string) (lang string, missing []string, ok bool) {
	if has == nil {
		has = Has
	}
	name = strings.TrimPrefix(name, "sound:")
	for _, l := range langs {
		if l == "" || slices.Contains(missing, l) {
			continue
		}
		if has(l, name) {
			return l, missing, true
		}
		missing = append(missing, l)
	}
	if slices.Contains(missing, DefaultLanguage) {
		return DefaultLanguage, missing, false
	}
	return DefaultLanguage, missing, has(DefaultLanguage, name)
}
