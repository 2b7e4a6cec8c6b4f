package agi

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Ringing", "Ringing"},
		{"", `""`},
		{"two words", `"two words"`},
		{"tab\there", "\"tab\there\""},
		{`say "hi"`, `"say \"hi\""`},
		{`C:\path`, `"C:\\path"`},
		{"PJSIP/trunk-00000001", "PJSIP/trunk-00000001"},
		{"CALLERID(num)", "CALLERID(num)"},
		{"+4930123", "+4930123"},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestFormatCommand(t *testing.T) {
	got, err := FormatCommand("VERBOSE", "callback queued for 801", "3")
	if err != nil || got != `VERBOSE "callback queued for 801" 3` {
		t.Fatalf("FormatCommand = %q, %v", got, err)
	}
	got, err = FormatCommand("STREAM", "FILE", "beep", "")
	if err != nil || got != `STREAM FILE beep ""` {
		t.Fatalf("FormatCommand = %q, %v", got, err)
	}
	for _, bad := range [][]string{{}, {"SET", "VARIABLE", "X", "a\nb"}, {"NOOP", "a\x00"}, {"NOOP", "a\r"}} {
		if _, err := FormatCommand(bad...); err == nil {
			t.Errorf("FormatCommand(%q) accepted", bad)
		}
	}
	if _, err := FormatCommand("VERBOSE", "a\nb"); !errors.Is(err, errUnsendable) {
		t.Errorf("newline error = %v, want errUnsendable", err)
	}
	if _, err := FormatCommand(make([]string, maxArgs)...); err == nil {
		t.Error("FormatCommand accepted more words than Asterisk keeps")
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"EXEC Ringing", []string{"EXEC", "Ringing"}},
		{"  GET   VARIABLE\tX  ", []string{"GET", "VARIABLE", "X"}},
		{`VERBOSE "hello world" 3`, []string{"VERBOSE", "hello world", "3"}},
		{`STREAM FILE beep ""`, []string{"STREAM", "FILE", "beep", ""}},
		{`SET VARIABLE X "a \"b\" c"`, []string{"SET", "VARIABLE", "X", `a "b" c`}},
		{`NOOP a\ b`, []string{"NOOP", "a b"}},
		{`NOOP \\x`, []string{"NOOP", `\x`}},
		{`NOOP ab"c d"e`, []string{"NOOP", "abc de"}},
		{`NOOP "unterminated`, []string{"NOOP", "unterminated"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := ParseArgs(tt.line); !slices.Equal(got, tt.want) {
			t.Errorf("ParseArgs(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
	many := strings.Repeat("w ", maxArgs+10)
	if got := ParseArgs(many); len(got) != maxArgs-1 {
		t.Errorf("ParseArgs kept %d words, Asterisk keeps %d", len(got), maxArgs-1)
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	words := []string{"SET", "VARIABLE", "CB_NOTE", `He said "call me" \o/`, "", "\ttab", "a  b"}
	line, err := FormatCommand(words...)
	if err != nil {
		t.Fatal(err)
	}
	if got := ParseArgs(line); !slices.Equal(got, words) {
		t.Fatalf("round trip %q -> %q -> %q", words, line, got)
	}
}

// EXEC's line is written without joining its arguments first; it must be
// the line FormatCommand makes of the joined word, and refuse the same.
func TestAppendExecIsFormatCommand(t *testing.T) {
	tests := []struct {
		app  string
		args []string
	}{
		{"Ringing", nil},
		{"PJSIPHangup", []string{"603"}},
		{"Wait", []string{""}},
		{"MSet", []string{"", ""}},
		{"MSet", []string{"CALLBACKD_ACTION=callback", "CALLBACKD_REASON=callback 7 queued for 4930 on behalf of default"}},
		{"MSet", []string{`A=say "hi"`, `B=back\slash`, "C=tab\there"}},
		{"Playtones", []string{"ring"}},
		{"App With Space", []string{"x"}},
		{"MSet", []string{"A=line\nbreak"}},
		{"Bad\r", []string{"x"}},
		{"MSet", []string{"ok", "nul\x00"}},
	}
	for _, tt := range tests {
		words := []string{"EXEC", tt.app}
		if len(tt.args) > 0 {
			words = append(words, strings.Join(tt.args, ","))
		}
		want, wantErr := FormatCommand(words...)
		got, err := appendExec(nil, tt.app, tt.args)
		if string(got) != want && wantErr == nil || (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Errorf("appendExec(%q, %q) = %q, %v; FormatCommand = %q, %v", tt.app, tt.args, got, err, want, wantErr)
		}
	}
}
