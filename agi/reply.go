package agi

import (
	"strconv"
	"strings"
)

// Reply codes Asterisk sends (res_agi.c).
const (
	CodeSuccess        = 200
	CodeInvalidCommand = 510
	CodeDeadChannel    = 511
	CodeUsage          = 520
)

// Reply is Asterisk's answer to one command.
type Reply struct {
	Code int
	// Result is the numeric result; 0 when ResultText is not an integer.
	Result int
	// ResultText is the result exactly as sent: GET DATA answers digits
	// ("0123", "" on a silent timeout) that an integer would mangle.
	ResultText string
	// Data is the text in parentheses: a variable's value, "timeout", "dtmf".
	Data string
	// Endpos is the sample offset STREAM FILE and friends report.
	Endpos int64
	// Fields holds every key=value pair after the data, endpos included.
	Fields map[string]string
	// Text is the message of a non-200 reply, e.g. "Invalid or unknown command".
	Text string
	// Lines are the raw lines, more than one for a 520 usage reply.
	Lines []string
}

// Usage returns the usage text of a multi-line 520 reply: the lines between
// "520-Invalid command syntax..." and "520 End of proper usage.".
func (r Reply) Usage() string {
	if len(r.Lines) < 3 {
		return ""
	}
	return strings.Join(r.Lines[1:len(r.Lines)-1], "\n")
}

// continues reports whether line opens a multi-line reply ("520-...") whose
// end is the first line starting with the same code and a space.
func continues(line string) bool {
	return len(line) >= 4 && line[3] == '-' && isCode(line[:3])
}

func isCode(s string) bool {
	return len(s) == 3 && s[0] >= '1' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}

// ParseReply parses the first (or only) line of a reply:
//
//	200 result=<n> [(<data>)] [endpos=<n>] [key=value...]
//	510 Invalid or unknown command
//	520-Invalid command syntax.  Proper usage follows:
//
// Data may itself contain parentheses and blanks (a variable's value), so the
// data ends at the last ')' that is followed only by key=value fields.
func ParseReply(line string) (Reply, error) {
	r := Reply{Lines: []string{line}}
	if len(line) < 3 || !isCode(line[:3]) || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
		return r, protocolError("malformed reply", []byte(line))
	}
	r.Code, _ = strconv.Atoi(line[:3])
	rest := ""
	if len(line) > 4 {
		rest = line[4:]
	}
	if r.Code != CodeSuccess {
		r.Text = rest
		return r, nil
	}
	if len(line) == 3 || line[3] != ' ' {
		// Only usage replies (520) span lines.
		return r, protocolError("malformed 200 reply", []byte(line))
	}
	rest, ok := strings.CutPrefix(rest, "result=")
	if !ok {
		return r, protocolError("200 reply without result=", []byte(line))
	}
	r.ResultText, rest, _ = strings.Cut(rest, " ")
	if n, err := strconv.Atoi(r.ResultText); err == nil {
		r.Result = n
	}
	if strings.HasPrefix(rest, "(") {
		end := dataEnd(rest)
		if end < 0 {
			return r, protocolError("unterminated data in reply", []byte(line))
		}
		r.Data = rest[1:end]
		rest = strings.TrimPrefix(rest[end+1:], " ")
	}
	if rest != "" {
		fields, ok := parseFields(rest)
		if !ok {
			return r, protocolError("malformed fields in reply", []byte(line))
		}
		r.Fields = fields
		if ep, ok := fields["endpos"]; ok {
			n, err := strconv.ParseInt(ep, 10, 64)
			if err != nil {
				return r, protocolError("endpos is not an integer", []byte(line))
			}
			r.Endpos = n
		}
	}
	return r, nil
}

// dataEnd returns the index of the ')' closing the data that opens s, or -1.
func dataEnd(s string) int {
	for i := len(s) - 1; i > 0; i-- {
		if s[i] != ')' {
			continue
		}
		if i == len(s)-1 {
			return i
		}
		if s[i+1] == ' ' && startsWithField(s[i+2:]) {
			return i
		}
	}
	return -1
}

func startsWithField(s string) bool {
	k, _, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// parseFields reads "k=v k=v ..."; a word without '=' belongs to the value
// before it, as in SPEECH RECOGNIZE's "results=2 one two".
func parseFields(s string) (map[string]string, bool) {
	fields := map[string]string{}
	last := ""
	for word := range strings.SplitSeq(s, " ") {
		if startsWithField(word) {
			k, v, _ := strings.Cut(word, "=")
			fields[k] = v
			last = k
			continue
		}
		if last == "" {
			return nil, false
		}
		fields[last] += " " + word
	}
	return fields, true
}
