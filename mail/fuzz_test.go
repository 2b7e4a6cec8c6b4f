package mail

import (
	"errors"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/callback"
)

// FuzzParse checks that no message makes the parser panic or hang, that
// every error is one of the typed ones, and that every command it returns
// is one the service would accept.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"From: a@example.com\r\n\r\n" + seedCommand + "\r\n",
		"Subject: " + seedCommand + "\r\n\r\n",
		"Content-Type: text/html\r\n\r\n<p>P 1 2 SN 345</p>",
		"Content-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\nUCAxIDIgU04gMzQ1\r\n--x--\r\n",
		"Content-Transfer-Encoding: quoted-printable\r\n\r\nP 1 2 S=\r\nN 345 DN +1 (2) 3-4.",
		"\r\n\r\np a b sn 00420 212 dn",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := Parse(strings.NewReader(string(data)))
		if err != nil {
			if !errors.Is(err, ErrNoCommand) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if cmd.Account == "" || cmd.Password == "" || len(cmd.Account) > 64 || len(cmd.Password) > 72 {
			t.Fatalf("bad credentials fields in %v", cmd)
		}
		if !callback.ValidDestination(cmd.CallbackNumber) {
			t.Fatalf("SN %q not callable", cmd.CallbackNumber)
		}
		if cmd.Destination != "" && !callback.ValidDestination(cmd.Destination) {
			t.Fatalf("DN %q not callable", cmd.Destination)
		}
	})
}

// FuzzFindCommand works on the text alone, where the command grammar is.
func FuzzFindCommand(f *testing.F) {
	f.Add(seedCommand)
	f.Add("p x y sn 1-2 (3)\n dn 00 44 1.")
	f.Add("P P P SN SN DN DN")
	f.Fuzz(func(t *testing.T, s string) {
		cmd, err := findCommand(s)
		if err != nil {
			if !errors.Is(err, ErrNoCommand) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !callback.ValidDestination(cmd.CallbackNumber) {
			t.Fatalf("SN %q not callable", cmd.CallbackNumber)
		}
	})
}
