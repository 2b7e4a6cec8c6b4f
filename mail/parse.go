package mail

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/callbackd/callbackd/callback"
)

// MaxMessageBytes is the largest message Parse reads. A command is one line
// of text; a message much bigger than this is not one, and reading it all
// would only cost memory.
const MaxMessageBytes = 256 << 10

// Bounds on the MIME tree, so that a crafted message cannot make the parser
// walk without end.
const (
	maxDepth = 8
	maxParts = 64
)

// Format is the command as a sender must write it, for error messages.
const Format = "P <account> <password> SN <callback number> DN <destination>"

// Command is a parsed email callback request.
type Command struct {
	Account  string
	Password string // never logged: LogValue and String leave it out
	// CallbackNumber (SN) is where the callback goes, normalised: digits
	// only, international prefix (+ or 00) removed.
	CallbackNumber string
	// Destination (DN) is the party connected after answer, normalised as
	// CallbackNumber; empty means the calling card.
	Destination string
	From        string // the From address, lower-case; "" when absent
	MessageID   string // the Message-ID header; "" when absent
}

// String shows the command with the password masked.
func (c Command) String() string {
	s := "P " + c.Account + " *** SN " + c.CallbackNumber
	if c.Destination != "" {
		s += " DN " + c.Destination
	}
	return s
}

// GoString masks the password in %#v too.
func (c Command) GoString() string { return "mail.Command{" + c.String() + "}" }

// LogValue lets the command be logged whole without its password.
func (c Command) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account", c.Account),
		slog.String("cli", c.CallbackNumber),
		slog.String("destination", c.Destination),
		slog.String("from", c.From),
	)
}

// The errors of a message that cannot be a callback request. Callers
// branch on them with errors.Is; the text is written for the sender.
var (
	// ErrNoCommand: neither the body nor the subject holds a command.
	ErrNoCommand = errors.New("no callback command found: write one line \"" + Format + "\" in the message body or subject")
	// ErrMalformed: a command is there but a field is missing or wrong; the
	// error is a *FieldError naming the field.
	ErrMalformed = errors.New("malformed callback command")
	// ErrTooLarge: the message is bigger than the limit; the error is a
	// *SizeError.
	ErrTooLarge = errors.New("message too large")
)

// FieldError names the part of a message or command that is wrong.
type FieldError struct {
	Field  string // "account", "password", "SN", "DN", "message", "charset", ...
	Reason string // never quotes the password
}

func (e *FieldError) Error() string {
	return "malformed callback command: " + e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *FieldError) Is(target error) bool { return target == ErrMalformed }

// SizeError reports a message over the size limit.
type SizeError struct{ Limit int64 }

func (e *SizeError) Error() string {
	return fmt.Sprintf("message too large: a callback request must be under %d bytes; send the command as plain text without attachments", e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *SizeError) Is(target error) bool { return target == ErrTooLarge }

// Parse reads one RFC 5322 message of at most MaxMessageBytes and returns
// the callback command in its body (text/plain preferred, HTML converted to
// text) or, failing that, in its subject.
func Parse(r io.Reader) (Command, error) { return parse(r, MaxMessageBytes) }

func parse(r io.Reader, limit int64) (Command, error) {
	// Read whole first: the size verdict must come before any parsing, and
	// the SMTP session must consume the message before it replies.
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return Command{}, fmt.Errorf("read message: %w", err)
	}
	if int64(len(raw)) > limit {
		return Command{}, &SizeError{Limit: limit}
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Command{}, &FieldError{Field: "message", Reason: "not an RFC 5322 message (header lines, a blank line, then the body)"}
	}
	var from string
	if a, err := msg.Header.AddressList("From"); err == nil && len(a) > 0 {
		from = strings.ToLower(a[0].Address)
	}
	subject, _ := headerDecoder.DecodeHeader(msg.Header.Get("Subject"))
	body, bodyErr := extractText(textproto.MIMEHeader(msg.Header), msg.Body, 0, new(int))

	var cmd Command
	var bodyCmdErr error
	if bodyErr == nil {
		cmd, bodyCmdErr = findCommand(body)
	} else {
		bodyCmdErr = bodyErr
	}
	if bodyCmdErr != nil {
		subjCmd, subjErr := findCommand(subject)
		switch {
		case subjErr == nil:
			cmd, bodyCmdErr = subjCmd, nil
		case errors.Is(bodyCmdErr, ErrNoCommand) && !errors.Is(subjErr, ErrNoCommand):
			return Command{}, subjErr
		default:
			return Command{}, bodyCmdErr
		}
	}
	cmd.From = from
	cmd.MessageID = strings.TrimSpace(msg.Header.Get("Message-Id"))
	return cmd, nil
}

// text is what a MIME part contributed: the plain and the HTML text.
type text struct {
	plain, html []string
}

// extractText returns the readable text of a message body: its text/plain
// parts, or, when it has none, its text/html parts converted to text.
func extractText(h textproto.MIMEHeader, body io.Reader, depth int, parts *int) (string, error) {
	var t text
	if err := walk(h, body, depth, parts, &t); err != nil {
		return "", err
	}
	if len(t.plain) > 0 {
		return strings.Join(t.plain, "\n"), nil
	}
	return strings.Join(t.html, "\n"), nil
}

func walk(h textproto.MIMEHeader, body io.Reader, depth int, parts *int, t *text) error {
	*parts++
	if depth > maxDepth || *parts > maxParts {
		return &FieldError{Field: "message", Reason: fmt.Sprintf("more than %d MIME parts or %d levels deep", maxParts, maxDepth)}
	}
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		// RFC 2045 §5.2: a missing or unreadable Content-Type is plain text.
		mediaType, params = "text/plain", map[string]string{}
	}
	if disp, _, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && disp == "attachment" {
		return nil
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			return &FieldError{Field: "Content-Type", Reason: mediaType + " without a boundary"}
		}
		mr := multipart.NewReader(body, boundary)
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return &FieldError{Field: "message", Reason: "broken MIME multipart structure"}
			}
			if err := walk(p.Header, p, depth+1, parts, t); err != nil {
				return err
			}
		}
	}
	if mediaType != "text/plain" && mediaType != "text/html" {
		return nil // images, forwarded messages, calendars: no command there
	}
	decoded, err := decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return err
	}
	s, err := decodeCharset(params["charset"], decoded)
	if err != nil {
		return err
	}
	if mediaType == "text/html" {
		t.html = append(t.html, htmlToText(s))
	} else {
		t.plain = append(t.plain, s)
	}
	return nil
}

func decodeTransfer(cte string, body io.Reader) ([]byte, error) {
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		r = body
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		// The decoder skips the CR LF line breaks of mail bodies itself.
		r = base64.NewDecoder(base64.StdEncoding, body)
	default:
		return nil, &FieldError{Field: "Content-Transfer-Encoding", Reason: "unsupported encoding; use 7bit, 8bit, quoted-printable or base64"}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, &FieldError{Field: "Content-Transfer-Encoding", Reason: "the body is not valid " + strings.ToLower(strings.TrimSpace(cte))}
	}
	return b, nil
}

// decodeCharset turns b into UTF-8. The command itself is ASCII, so a body
// in a charset we do not know is still read when it is pure ASCII.
func decodeCharset(charset string, b []byte) (string, error) {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return strings.ToValidUTF8(string(b), "\uFFFD"), nil
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819":
		return charmap.ISO8859_1.NewDecoder().String(string(b))
	case "iso-8859-15", "iso8859-15", "latin-9", "latin9":
		return charmap.ISO8859_15.NewDecoder().String(string(b))
	case "windows-1252", "cp1252":
		return charmap.Windows1252.NewDecoder().String(string(b))
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return "", &FieldError{Field: "charset", Reason: fmt.Sprintf("unsupported charset %q; send the message as UTF-8", charset)}
		}
	}
	return string(b), nil
}

var headerDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(input)
	if err != nil {
		return nil, err
	}
	s, err := decodeCharset(charset, b)
	if err != nil {
		return nil, err
	}
	return strings.NewReader(s), nil
}}

// htmlToText strips tags, drops script and style content and comments, turns
// block ends into line breaks and decodes entities: enough to read a command
// out of the HTML a mail client writes.
func htmlToText(s string) string {
	var b strings.Builder
	lower := asciiLower(s) // same length as s, so its indexes are s's
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "<!--"):
			end := strings.Index(s[i+4:], "-->")
			if end < 0 {
				return html.UnescapeString(b.String())
			}
			i += 4 + end + 3
		case s[i] == '<':
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				return html.UnescapeString(b.String())
			}
			tag := tagName(lower[i+1 : i+end])
			i += end + 1
			switch tag {
			case "script", "style", "head", "title":
				if close := strings.Index(lower[i:], "</"+tag); close >= 0 {
					i += close
				} else {
					i = len(s)
				}
			case "br", "/p", "p", "/div", "div", "/tr", "/li", "/h1", "/h2", "/h3", "/h4", "/h5", "/h6", "/blockquote", "/pre", "/table", "hr":
				b.WriteByte('\n')
			default:
				b.WriteByte(' ')
			}
		default:
			next := strings.IndexByte(s[i:], '<')
			if next < 0 {
				next = len(s) - i
			}
			b.WriteString(s[i : i+next])
			i += next
		}
	}
	return html.UnescapeString(b.String())
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// tagName returns the name of a tag from its inside ("/p", "br", "div").
func tagName(inside string) string {
	inside = strings.TrimSpace(inside)
	end := strings.IndexAny(inside, " \t\r\n/>")
	if strings.HasPrefix(inside, "/") {
		if e := strings.IndexAny(inside[1:], " \t\r\n>"); e >= 0 {
			return inside[:e+1]
		}
		return inside
	}
	if end < 0 {
		return inside
	}
	return inside[:end]
}

// token is one whitespace-separated word of the text and its line.
type token struct {
	s    string
	line int
}

func tokenize(s string) []token {
	var out []token
	for n, line := range strings.Split(s, "\n") {
		for _, f := range strings.Fields(line) {
			out = append(out, token{s: f, line: n})
		}
	}
	return out
}

func keyword(t token, k string) bool { return strings.EqualFold(t.s, k) }

// findCommand finds "P <account> <password> SN <number> [DN <number>]" in
// s. Keywords are case-insensitive and the parts may be spread over lines.
// Every "P" word is tried; the first complete command wins, and when none
// is complete the attempt that got furthest says what is wrong.
func findCommand(s string) (Command, error) {
	toks := tokenize(s)
	var best *FieldError
	bestDepth := -1
	for i, t := range toks {
		if !keyword(t, "P") {
			continue
		}
		cmd, depth, err := commandAt(toks, i+1)
		if err == nil {
			return cmd, nil
		}
		if depth > bestDepth {
			best, bestDepth = err, depth
		}
	}
	if best == nil {
		return Command{}, ErrNoCommand
	}
	return Command{}, best
}

// commandAt parses the command whose "P" precedes toks[i]. depth says how
// far it got, to rank failed attempts.
func commandAt(toks []token, i int) (Command, int, *FieldError) {
	want := "want " + Format
	at := func(k int) (token, bool) {
		if k < len(toks) {
			return toks[k], true
		}
		return token{}, false
	}
	t, ok := at(i)
	if !ok || keyword(t, "SN") || keyword(t, "DN") {
		return Command{}, 0, &FieldError{Field: "account", Reason: "missing; " + want}
	}
	account := t.s
	if len(account) > 64 {
		return Command{}, 1, &FieldError{Field: "account", Reason: "longer than 64 characters"}
	}
	t, ok = at(i + 1)
	if !ok || keyword(t, "SN") || keyword(t, "DN") {
		return Command{}, 1, &FieldError{Field: "password", Reason: "missing; " + want}
	}
	password := t.s
	if len(password) > 72 {
		return Command{}, 2, &FieldError{Field: "password", Reason: "longer than 72 bytes"}
	}
	t, ok = at(i + 2)
	if !ok || !keyword(t, "SN") {
		return Command{}, 2, &FieldError{Field: "SN", Reason: "missing: the callback number must follow the password after the word SN; " + want}
	}
	sn, next, err := numberAt(toks, i+3, "SN")
	if err != nil {
		return Command{}, 3, err
	}
	cmd := Command{Account: account, Password: password, CallbackNumber: sn}
	if t, ok := at(next); ok && keyword(t, "DN") {
		dn, _, err := numberAt(toks, next+1, "DN")
		if err != nil {
			return Command{}, 4, err
		}
		cmd.Destination = dn
	}
	return cmd, 5, nil
}

// numberAt reads the phone number starting at toks[i]: one token, or
// several on the same line when the sender grouped the digits
// ("+1 (658) 143-3653"). A trailing comma or period ends it.
func numberAt(toks []token, i int, field string) (string, int, *FieldError) {
	if i >= len(toks) || keyword(toks[i], "DN") || keyword(toks[i], "SN") {
		return "", i, &FieldError{Field: field, Reason: "the number is missing"}
	}
	var raw strings.Builder
	line := toks[i].line
	k := i
	for ; k < len(toks) && k < i+8; k++ {
		t := toks[k]
		s := strings.TrimRight(t.s, ",.;")
		if k > i && (t.line != line || !numberish(s)) {
			break
		}
		ended := len(s) < len(t.s)
		if !numberish(s) {
			return "", k, &FieldError{Field: field, Reason: "not a phone number: use digits, optionally starting with + or 00"}
		}
		raw.WriteString(s)
		if ended {
			k++
			break
		}
	}
	n, err := normalizeNumber(raw.String())
	if err != nil {
		return "", k, &FieldError{Field: field, Reason: err.Error()}
	}
	return n, k, nil
}

// numberish reports whether s is made of phone-number characters and has a
// digit.
func numberish(s string) bool {
	digit := false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c == '+', c == '(', c == ')', c == '-', c == '.':
		default:
			return false
		}
	}
	return digit
}

// normalizeNumber returns the digits of a number without its international
// prefix, as the rest of callbackd stores numbers.
func normalizeNumber(raw string) (string, error) {
	n, err := callback.NormalizeCLI(raw, "", "", "")
	if err != nil {
		var ce *callback.CLIError
		if errors.As(err, &ce) {
			return "", errors.New(ce.Reason + ": use digits, optionally starting with + or 00")
		}
		return "", err
	}
	if !callback.ValidDestination(n) {
		return "", errors.New("not a number that can be called")
	}
	return n, nil
}
