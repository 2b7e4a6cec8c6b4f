package agi

import (
	"errors"
	"fmt"
	"strings"
)

// maxArgs is res_agi.c's MAX_ARGS: Asterisk keeps at most maxArgs-1 words of
// a command line and silently drops the rest.
const maxArgs = 128

// errUnsendable rejects arguments that cannot travel on one protocol line.
var errUnsendable = errors.New("argument contains a line break or NUL")

// Quote returns arg in the form Asterisk's parse_args reads back as exactly
// arg: bare when it has no blank, quote or backslash, otherwise in double
// quotes with '"' and '\' escaped by a backslash. The empty string becomes ""
// so that it still counts as an argument.
func Quote(arg string) string {
	if arg != "" && !strings.ContainsAny(arg, " \t\"\\") {
		return arg
	}
	var b strings.Builder
	b.Grow(len(arg) + 2)
	b.WriteByte('"')
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

// FormatCommand joins words into one command line (without the newline),
// quoting each with Quote. It refuses words that would break the line.
func FormatCommand(words ...string) (string, error) {
	if len(words) == 0 {
		return "", errors.New("empty command")
	}
	if len(words) >= maxArgs {
		return "", fmt.Errorf("%d words: asterisk keeps at most %d", len(words), maxArgs-1)
	}
	quoted := make([]string, len(words))
	for i, w := range words {
		if strings.ContainsAny(w, "\r\n\x00") {
			return "", fmt.Errorf("word %d: %w", i+1, errUnsendable)
		}
		quoted[i] = Quote(w)
	}
	return strings.Join(quoted, " "), nil
}

// ParseArgs splits a command line the way res_agi.c's parse_args does:
// blanks separate words unless quoted or escaped, '"' toggles quoting (and
// starts a word, so "" is an empty word), '\' makes the next character
// literal. Like Asterisk it keeps at most maxArgs-1 words.
func ParseArgs(line string) []string {
	var (
		args       []string
		cur        []byte
		inWord     bool
		quoted     bool
		escaped    bool
		whitespace = true
	)
	flush := func() {
		if inWord {
			args = append(args, string(cur))
			cur = cur[:0]
			inWord = false
		}
	}
	start := func() bool {
		n := len(args)
		if inWord {
			n++
		}
		if n >= maxArgs-1 {
			return false
		}
		flush()
		inWord = true
		whitespace = false
		return true
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		normal := false
		switch c {
		case '"':
			if escaped {
				normal = true
				break
			}
			quoted = !quoted
			if quoted && whitespace {
				start()
			}
		case ' ', '\t':
			if quoted || escaped {
				normal = true
				break
			}
			whitespace = true
		case '\\':
			if escaped {
				normal = true
				break
			}
			escaped = true
		default:
			normal = true
		}
		if !normal {
			continue
		}
		if whitespace && !start() {
			// Asterisk drops every character of the words beyond its limit.
			escaped = false
			continue
		}
		cur = append(cur, c)
		escaped = false
	}
	flush()
	return args
}
