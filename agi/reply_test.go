package agi

import (
	"bufio"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		line string
		want Reply
	}{
		{"200 result=0", Reply{Code: 200, ResultText: "0"}},
		{"200 result=1", Reply{Code: 200, Result: 1, ResultText: "1"}},
		{"200 result=-1", Reply{Code: 200, Result: -1, ResultText: "-1"}},
		{"200 result=-2", Reply{Code: 200, Result: -2, ResultText: "-2"}},
		{"200 result=1 (801)", Reply{Code: 200, Result: 1, ResultText: "1", Data: "801"}},
		{"200 result=1 ()", Reply{Code: 200, Result: 1, ResultText: "1"}},
		{"200 result=1 (a (b) c)", Reply{Code: 200, Result: 1, ResultText: "1", Data: "a (b) c"}},
		{"200 result=1 (x) endpos=5)", Reply{Code: 200, Result: 1, ResultText: "1", Data: "x) endpos=5"}},
		{"200 result=0 endpos=8000", Reply{Code: 200, ResultText: "0", Endpos: 8000, Fields: map[string]string{"endpos": "8000"}}},
		{"200 result=-1 endpos=0", Reply{Code: 200, Result: -1, ResultText: "-1", Fields: map[string]string{"endpos": "0"}}},
		{"200 result=49 endpos=4000", Reply{Code: 200, Result: 49, ResultText: "49", Endpos: 4000, Fields: map[string]string{"endpos": "4000"}}},
		{"200 result=0 (timeout) endpos=1234", Reply{Code: 200, ResultText: "0", Data: "timeout", Endpos: 1234, Fields: map[string]string{"endpos": "1234"}}},
		{"200 result=1 (digit) digit=5 endpos=99", Reply{Code: 200, Result: 1, ResultText: "1", Data: "digit", Endpos: 99, Fields: map[string]string{"digit": "5", "endpos": "99"}}},
		{"200 result=1 (speech) endpos=0 results=2 one two", Reply{Code: 200, Result: 1, ResultText: "1", Data: "speech", Fields: map[string]string{"endpos": "0", "results": "2 one two"}}},
		{"200 result=0123", Reply{Code: 200, Result: 123, ResultText: "0123"}},
		{"200 result= (timeout)", Reply{Code: 200, Data: "timeout"}},
		{"200 result=12 (timeout)", Reply{Code: 200, Result: 12, ResultText: "12", Data: "timeout"}},
		{"200 result=a", Reply{Code: 200, ResultText: "a"}},
		{"510 Invalid or unknown command", Reply{Code: 510, Text: "Invalid or unknown command"}},
		{"511 Command Not Permitted on a dead channel or intercept routine", Reply{Code: 511, Text: "Command Not Permitted on a dead channel or intercept routine"}},
		{"520-Invalid command syntax.  Proper usage follows:", Reply{Code: 520, Text: "Invalid command syntax.  Proper usage follows:"}},
		{"520 Invalid command syntax.  Proper usage not available.", Reply{Code: 520, Text: "Invalid command syntax.  Proper usage not available."}},
	}
	for _, tt := range tests {
		got, err := ParseReply(tt.line)
		if err != nil {
			t.Errorf("ParseReply(%q): %v", tt.line, err)
			continue
		}
		tt.want.Lines = []string{tt.line}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseReply(%q) =\n%+v\nwant\n%+v", tt.line, got, tt.want)
		}
	}
}

func TestParseReplyErrors(t *testing.T) {
	for _, line := range []string{
		"", "HANGUP", "20", "2000 result=1", "abc result=0", "200", "200 res=1",
		"200 result=1 (unterminated", "200 result=1 garbage", "200 result=0 endpos=x",
		"099 hi", "200_result=1", "200-result=1",
	} {
		_, err := ParseReply(line)
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Errorf("ParseReply(%q) err = %v, want *ProtocolError", line, err)
		}
	}
}

func TestReplyUsage(t *testing.T) {
	r := Reply{Lines: []string{
		"520-Invalid command syntax.  Proper usage follows:",
		"line one",
		"Example return code: 200 result=1 (testvariable)",
		"520 End of proper usage.",
	}}
	if got, want := r.Usage(), "line one\nExample return code: 200 result=1 (testvariable)"; got != want {
		t.Errorf("Usage = %q, want %q", got, want)
	}
	if (Reply{Lines: []string{"510 Invalid or unknown command"}}).Usage() != "" {
		t.Error("single-line reply has usage")
	}
}

func TestReadLine(t *testing.T) {
	const max = 16
	tests := []struct {
		in    string
		lines []string
		err   string
	}{
		{"a\nb\r\n\n", []string{"a", "b", ""}, "EOF"},
		{"no newline", nil, "connection closed in the middle of a line"},
		{"0123456789abcdef-too-long\n", nil, "line longer than 16 bytes"},
		{"", nil, "EOF"},
	}
	for _, tt := range tests {
		r := bufio.NewReaderSize(strings.NewReader(tt.in), max)
		var got []string
		var err error
		for range 10 {
			var l string
			l, err = readLine(r, max)
			if err != nil {
				break
			}
			got = append(got, l)
		}
		if !reflect.DeepEqual(got, tt.lines) || err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("readLine(%q) = %q, %v; want %q, %s", tt.in, got, err, tt.lines, tt.err)
		}
	}
}

func TestReadEnvBlock(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		maxLines int
		n        int
		err      string
	}{
		{"complete", strings.Join(pjsipEnv, "\n") + "\n\n", 100, len(pjsipEnv), ""},
		{"cut off", strings.Join(pjsipEnv[:5], "\n") + "\n", 100, 5, "environment cut off"},
		{"cut mid-line", "agi_network: yes\nagi_req", 100, 1, "connection closed in the middle of a line"},
		{"silent", "", 100, 0, "EOF"},
		{"too many", strings.Repeat("agi_x: y\n", 5) + "\n", 4, 4, "environment longer than 4 lines"},
		{"too long", "agi_network: " + strings.Repeat("y", 100) + "\n\n", 100, 0, "line longer than"},
	}
	for _, tt := range tests {
		lines, err := readEnvBlock(bufio.NewReaderSize(strings.NewReader(tt.in), 64), 64, tt.maxLines)
		if len(lines) != tt.n {
			t.Errorf("%s: %d lines, want %d", tt.name, len(lines), tt.n)
		}
		if tt.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
		}
	}
}

func TestSanitize(t *testing.T) {
	got := sanitize("bad\x1b[31m\nline\xff" + strings.Repeat("x", 300))
	if strings.ContainsAny(got, "\x1b\n") || len(got) > maxLoggedLine*2 || !strings.HasSuffix(got, "...") {
		t.Errorf("sanitize = %s", got)
	}
}
