// Package sounds holds the voice prompts callbackd's IVRs play and the
// catalogue of their names.
//
// The recordings live next to this file as <lang>/<name>.wav (8000 Hz, mono,
// 16-bit signed PCM, the format Asterisk's format_wav plays), one folder per
// Asterisk language code, so that a channel whose language is "es" playing
// "sound:callbackd/enter-pin" finds es/callbackd/enter-pin.wav. Two kinds of
// prompt are kept:
//
//   - callbackd/<name>: callbackd's own prompts (PIN entry, balance, errors,
//     currency and time words). Every language has all of them.
//   - digits/<name>: the files Asterisk's say.c opens for "digits:" and
//     "number:" media in that language, so that a bare Asterisk with no sound
//     packages can say numbers. Their names differ between languages because
//     each language's number syntax asks for different files.
//
// The table prompts.tsv (lang, name, text) is the single source of truth;
// generate.sh speaks each row with espeak-ng and writes the wav file with
// sox. The table is embedded in this package: [Languages], [Names], [Has],
// [Text] and [Resolve] let the IVR code and its tests check that every
// prompt it plays exists.
package sounds
