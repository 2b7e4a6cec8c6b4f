package ari

import (
	"log/slog"
	"strings"
	"sync"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/sounds"
)

// Prompts chooses the language every prompt of a call is played in, for
// the calling card and the 2-way sub-application alike: the first of the
// call's languages (PromptLanguages) that has a recording of it, else
// English, [sounds.DefaultLanguage]. Asterisk itself would fall back from
// a missing recording straight to its default language, skipping the
// languages listed next, so callbackd chooses, and plays every prompt with
// an explicit language. A prompt missing in a language is logged once per
// Prompts, prompt and language, not on every call: share one Prompts
// between the sub-applications of a process. The zero Prompts is ready to
// use; it must not be copied once used.
type Prompts struct {
	// Has reports whether a language has a recording of a prompt
	// ("callbackd/enter-pin"); nil is the shipped catalogue, [sounds.Has].
	Has func(lang, name string) bool

	// missing holds "lang\x00prompt" once a prompt missing in a language
	// was logged.
	missing sync.Map
}

// defaultPrompts serves sub-applications given no Prompts of their own.
var defaultPrompts = &Prompts{}

// PromptLanguages are a request's IVR languages in order of preference:
// the request's own (the access number's, the account's), then those of
// its CLD ("callingcard_th_es"). English comes after them all (Choose).
func PromptLanguages(r *callback.Request) []string {
	langs := []string{r.Language}
	if cld, err := callback.ParseCLD(r.OriginalCLD); err == nil {
		langs = append(langs, cld.Languages...)
	}
	return langs
}

// Choose returns the language the prompt name ("callbackd/busy", with or
// without "sound:") is played in for a call that asks for langs, and
// whether any language has it (when none has, lang is English and the
// caller may leave the prompt out). Each language passed over is logged
// once at WARN, "prompt missing in language, played in the next"; a
// prompt no language has, "prompt missing in every language".
func (p *Prompts) Choose(log *slog.Logger, langs []string, name string) (lang string, ok bool) {
	if p == nil {
		p = defaultPrompts
	}
	name = strings.TrimPrefix(name, "sound:")
	lang, missing, ok := sounds.Choose(p.Has, langs, name)
	for _, l := range missing {
		if _, seen := p.missing.LoadOrStore(l+"\x00"+name, true); !seen {
			log.Warn("prompt missing in language, played in the next", "prompt", name, "lang", l, "played_in", lang)
		}
	}
	if !ok {
		if _, seen := p.missing.LoadOrStore(sounds.DefaultLanguage+"\x00"+name, true); !seen {
			log.Warn("prompt missing in every language", "prompt", name, "langs", strings.Join(langs, ","))
		}
	}
	return lang, ok
}
