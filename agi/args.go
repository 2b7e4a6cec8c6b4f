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
	if !needsQuotes(arg) {
		return arg
	}
	return string(appendQuoted(make([]byte, 0, len(arg)+8), arg))
}

func needsQuotes(arg string) bool {
	return arg == "" || strings.ContainsAny(arg, " \t\"\\")
}

// appendQuoted appends arg to b in double quotes, '"' and '\' escaped.
func appendQuoted(b []byte, arg string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, arg)
	return append(b, '"')
}

func appendEscaped(b []byte, arg string) []byte {
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return b
}

// appendWord appends arg as Quote writes it.
func appendWord(b []byte, arg string) []byte {
	if needsQuotes(arg) {
		return appendQuoted(b, arg)
	}
	return append(b, arg...)
}

// FormatCommand joins words into one command line (without the newline),
// quoting each with Quote. It refuses words that would break the line.
func FormatCommand(words ...string) (string, error) {
	b, err := appendCommand(nil, words...)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// appendCommand is FormatCommand appending to b.
func appendCommand(b []byte, words ...string) ([]byte, error) {
	if len(words) == 0 {
		return b, errors.New("empty command")
	}
	if len(words) >= maxArgs {
		return b, fmt.Errorf("%d words: asterisk keeps at most %d", len(words), maxArgs-1)
	}
	for i, w := range words {
		if strings.ContainsAny(w, "\r\n\x00") {
			return b, fmt.Errorf("word %d: %w", i+1, errUnsendable)
		}
	}
	for i, w := range words {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendWord(b, w)
	}
	return b, nil
}

// appendExec appends the command line of EXEC app with args joined by ','
// into one options word, as appendCommand("EXEC", app,
// strings.Join(args, ",")) would, without making the joined word.
func appendExec(b []byte, app string, args []string) ([]byte, error) {
	if strings.ContainsAny(app, "\r\n\x00") {
		return b, fmt.Errorf("word 2: %w", errUnsendable)
	}
	quote := len(args) == 1 && args[0] == ""
	for _, a := range args {
		if strings.ContainsAny(a, "\r\n\x00") {
			return b, fmt.Errorf("word 3: %w", errUnsendable)
		}
		quote = quote || strings.ContainsAny(a, " \t\"\\")
	}
	b = append(b, "EXEC "...)
	b = appendWord(b, app)
	if len(args) == 0 {
		return b, nil
	}
	b = append(b, ' ')
	if quote {
		b = append(b, '"')
	}
	for i, a := range args {
		if i > 0 {
			b = append(b, ',')
		}
		if quote {
			b = appendEscaped(b, a)
		} else {
			b = append(b, a...)
		}
	}
	if quote {
		b = append(b, '"')
	}
	return b, nil
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
