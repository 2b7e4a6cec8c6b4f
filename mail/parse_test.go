package mail

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// crlf turns a message written with \n into the CR LF form of the wire.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// seedCommand is seed 002's example, verbatim.
const seedCommand = "P 6192345678 1ak45 SN 6581433653 DN 420212345678"

var seedWant = Command{Account: "6192345678", Password: "1ak45", CallbackNumber: "6581433653", Destination: "420212345678"}

func TestParseMessages(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("Hello,\n\n" + seedCommand + "\n\nThanks\n"))
	// A base64 body is wrapped at 76 characters, as mail clients write it.
	var wrapped strings.Builder
	for i := 0; i < len(b64); i += 76 {
		wrapped.WriteString(b64[i:min(i+76, len(b64))] + "\n")
	}
	tests := []struct {
		name    string
		msg     string
		want    Command
		wantErr error
		field   string
	}{
		{
			name: "seed example verbatim in a plain message",
			msg: `From: Alice <Alice@Example.com>
To: callback@example.com
Subject: callback
Message-ID: <1@example.com>
Date: Mon, 2 Jun 2025 10:00:00 +0000

P 6192345678 1ak45 SN 6581433653 DN 420212345678
`,
			want: Command{Account: "6192345678", Password: "1ak45", CallbackNumber: "6581433653",
				Destination: "420212345678", From: "alice@example.com", MessageID: "<1@example.com>"},
		},
		{
			name: "seed format line with its trailing comma",
			msg:  "From: a@example.com\n\n" + seedCommand + ",\n",
			want: seedWant,
		},
		{
			name: "trailing period and lower-case keywords spread over lines",
			msg:  "From: a@example.com\n\nplease call me:\np 6192345678 1ak45\nsn +1 (658) 143-3653\ndn 00420 212 345 678.\nBest regards\n",
			want: Command{Account: "6192345678", Password: "1ak45", CallbackNumber: "16581433653", Destination: "420212345678"},
		},
		{
			name: "no DN: calling card",
			msg:  "From: a@example.com\n\nP 6192345678 1ak45 SN 6581433653\n",
			want: Command{Account: "6192345678", Password: "1ak45", CallbackNumber: "6581433653"},
		},
		{
			name: "command in the subject, empty body",
			msg:  "From: a@example.com\nSubject: " + seedCommand + "\n\n",
			want: seedWant,
		},
		{
			name: "quoted-printable body",
			msg: `From: a@example.com
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe, bitte zur=C3=BCckrufen: P 6192345678 1ak45 SN 6581433653 D=
N 420212345678
`,
			want: seedWant,
		},
		{
			name: "base64 body",
			msg:  "From: a@example.com\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: base64\n\n" + wrapped.String(),
			want: seedWant,
		},
		{
			name: "multipart/alternative prefers text/plain",
			msg: `From: a@example.com
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

P 6192345678 1ak45 SN 6581433653 DN 420212345678
--b1
Content-Type: text/html; charset=utf-8

<p>P 6192345678 wrong SN 111 DN 222</p>
--b1--
`,
			want: seedWant,
		},
		{
			name: "multipart/mixed with an attachment and nested alternative",
			msg: `From: a@example.com
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

P 6192345678 1ak45 SN 6581433653 DN 420212345678
--inner--
--outer
Content-Type: text/plain
Content-Disposition: attachment; filename=old.txt

P 1 2 SN 3 DN 4
--outer--
`,
			want: seedWant,
		},
		{
			name: "HTML-only body",
			msg: `From: a@example.com
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head><style>p { color: red }</style><title>P x y SN 1</title></head>
<body><div>P&nbsp;6192345678 <b>1ak45</b></div><div>SN 6581433653<br>DN&#32;420212345678</div>
<!-- P 9 9 SN 9 --><script>var P = 1;</script></body></html>
`,
			want: seedWant,
		},
		{
			name: "latin1 body and encoded subject",
			msg: "From: =?iso-8859-1?q?Andr=E9?= <andre@example.com>\nSubject: =?iso-8859-1?q?R=FCckruf?=\nMIME-Version: 1.0\n" +
				"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n" +
				"Bitte R\xfcckruf: P 6192345678 p\xe4ss SN 6581433653 DN 420212345678\n",
			want: Command{Account: "6192345678", Password: "päss", CallbackNumber: "6581433653", Destination: "420212345678", From: "andre@example.com"},
		},
		{
			name:    "wrong format",
			msg:     "From: a@example.com\nSubject: hello\n\nPlease call me back on 6581433653.\n",
			wantErr: ErrNoCommand,
		},
		{
			name:    "missing SN",
			msg:     "From: a@example.com\n\nP 6192345678 1ak45 6581433653 DN 420212345678\n",
			wantErr: ErrMalformed, field: "SN",
		},
		{
			name:    "missing password",
			msg:     "From: a@example.com\n\nP 6192345678 SN 6581433653 DN 420212345678\n",
			wantErr: ErrMalformed, field: "password",
		},
		{
			name:    "SN not a number",
			msg:     "From: a@example.com\n\nP 6192345678 1ak45 SN home DN 420212345678\n",
			wantErr: ErrMalformed, field: "SN",
		},
		{
			name:    "DN without number",
			msg:     "From: a@example.com\n\nP 6192345678 1ak45 SN 6581433653 DN\n",
			wantErr: ErrMalformed, field: "DN",
		},
		{
			name:    "unsupported charset with non-ASCII bytes",
			msg:     "From: a@example.com\nContent-Type: text/plain; charset=koi8-r\n\n\xf0 P 1 2 SN 3\n",
			wantErr: ErrMalformed, field: "charset",
		},
		{
			name:    "not a message",
			msg:     "this is not a header\n",
			wantErr: ErrMalformed, field: "message",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(crlf(tt.msg)))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Parse: err = %v, want %v", err, tt.wantErr)
				}
				var fe *FieldError
				if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field) {
					t.Fatalf("Parse: err = %v, want field %q", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.want.From == "" {
				got.From = ""
			}
			if tt.want.MessageID == "" {
				got.MessageID = ""
			}
			if got != tt.want {
				t.Fatalf("Parse = %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	msg := "From: a@example.com\r\n\r\n" + seedCommand + "\r\n" + strings.Repeat("x", MaxMessageBytes)
	_, err := Parse(strings.NewReader(msg))
	var se *SizeError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &se) || se.Limit != MaxMessageBytes {
		t.Fatalf("Parse: err = %v, want a *SizeError with limit %d", err, MaxMessageBytes)
	}
}

func TestParseBoundedMIME(t *testing.T) {
	// A multipart nested deeper than the parser walks is refused, not
	// followed.
	var b strings.Builder
	b.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := range maxDepth + 2 {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	_, err := Parse(strings.NewReader(b.String()))
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("Parse: err = %v, want ErrMalformed", err)
	}
}

func TestCommandNeverShowsPassword(t *testing.T) {
	c := seedWant
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.LogValue().String()} {
		if strings.Contains(s, c.Password) {
			t.Errorf("%q shows the password", s)
		}
	}
	// An error about a misplaced field never quotes a token that may be
	// the password.
	_, err := Parse(strings.NewReader("From: a@example.com\r\n\r\nP 6192345678 s3cr3t 6581433653\r\n"))
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err = %v: want an error without the password", err)
	}
}

func TestHTMLToText(t *testing.T) {
	got := htmlToText(`<p>a&amp;b</p><br/>c<!-- hidden --><style>x</style>d<unclosed`)
	if want := "a&b\n\nc d"; strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") {
		t.Fatalf("htmlToText = %q, want %q", got, want)
	}
}
