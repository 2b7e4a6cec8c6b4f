package sounds

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// maxTotalBytes bounds the size of all recordings together.
const maxTotalBytes = 5 << 20

func TestTableParses(t *testing.T) {
	if parseErr != nil {
		t.Fatal(parseErr)
	}
	if got := Languages(); !slices.Equal(got, []string{"en", "es"}) {
		t.Fatalf("Languages() = %v, want [en es]", got)
	}
}

// Every row of the table has its recording, in the format Asterisk's
// format_wav plays.
func TestEveryPromptHasAValidWav(t *testing.T) {
	var total int64
	for _, lang := range Languages() {
		for _, name := range Names(lang) {
			file := lang + "/" + name + ".wav"
			b, err := os.ReadFile(file)
			if err != nil {
				t.Errorf("%s %s: %v (run ./generate.sh)", lang, name, err)
				continue
			}
			total += int64(len(b))
			if err := checkWav(b); err != nil {
				t.Errorf("%s: %v", file, err)
			}
		}
	}
	if total > maxTotalBytes {
		t.Errorf("recordings total %d bytes, over the %d byte budget", total, maxTotalBytes)
	}
}

// Every recording has a row in the table, so the table stays the source of
// truth and nothing stale is shipped.
func TestNoWavWithoutRow(t *testing.T) {
	err := fs.WalkDir(os.DirFS("."), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || path.Ext(p) != ".wav" {
			return nil
		}
		lang, rest, ok := strings.Cut(p, "/")
		if !ok || !Has(lang, strings.TrimSuffix(rest, ".wav")) {
			t.Errorf("%s has no row in prompts.tsv", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// callbackdPrompts are the prompts callbackd's IVRs play.
var callbackdPrompts = []string{
	"enter-pin", "invalid-pin", "too-many-attempts", "your-balance-is",
	"you-have", "minutes-of-talk-time", "enter-destination", "no-destination",
	"destination-blocked", "destination-unknown", "insufficient-funds",
	"daily-limit-reached", "connecting", "one-minute-left", "time-is-up",
	"busy", "failed", "account-blocked", "goodbye", "please-wait",
	"currency-USD", "currency-USD-minor", "currency-EUR", "currency-EUR-minor",
	"currency-GBP", "currency-GBP-minor", "and", "point", "minus", "minute",
	"minutes", "second", "seconds",
}

// Every language has the same callbackd prompts, and they include all the
// ones the IVRs play.
func TestCallbackdPromptsInEveryLanguage(t *testing.T) {
	want := map[string]bool{}
	for _, lang := range Languages() {
		for _, n := range Names(lang) {
			if strings.HasPrefix(n, "callbackd/") {
				want[n] = true
			}
		}
	}
	for _, n := range callbackdPrompts {
		want["callbackd/"+n] = true
	}
	for _, lang := range Languages() {
		for n := range want {
			if !Has(lang, n) {
				t.Errorf("%s has no %s", lang, n)
			}
		}
	}
}

// digitNames are the files Asterisk's say.c opens for digits: and number:
// media, per language.
func digitNames(lang string) []string {
	// digits: media (any language): 0..9, * and #, and - for minus.
	names := []string{"star", "pound", "minus"}
	for i := range 10 {
		names = append(names, strconv.Itoa(i))
	}
	switch lang {
	case "en":
		for i := 10; i < 20; i++ {
			names = append(names, strconv.Itoa(i))
		}
		for i := 20; i < 100; i += 10 {
			names = append(names, strconv.Itoa(i))
		}
		names = append(names, "hundred", "thousand", "million", "billion")
	case "es":
		for i := 10; i <= 30; i++ {
			names = append(names, strconv.Itoa(i))
		}
		for i := 40; i < 100; i += 10 {
			names = append(names, strconv.Itoa(i))
		}
		for i := 100; i < 1000; i += 100 {
			names = append(names, strconv.Itoa(i))
		}
		names = append(names, "1F", "1M", "100-and", "and", "thousand", "million", "millions")
	}
	return names
}

func TestDigitsForSayNumber(t *testing.T) {
	for _, lang := range Languages() {
		for _, n := range digitNames(lang) {
			if !Has(lang, "digits/"+n) {
				t.Errorf("%s has no digits/%s", lang, n)
			}
		}
	}
}

func TestLookups(t *testing.T) {
	if !Has("en", "callbackd/enter-pin") || !Has("es", "sound:callbackd/enter-pin") {
		t.Error("Has misses callbackd/enter-pin")
	}
	if Has("en", "callbackd/nope") || Has("xx", "callbackd/enter-pin") || Has("en", "enter-pin") {
		t.Error("Has finds a prompt that is not there")
	}
	if txt, ok := Text("es", "digits/100-and"); !ok || txt != "ciento" {
		t.Errorf(`Text("es", "digits/100-and") = %q, %v`, txt, ok)
	}
	if Names("xx") != nil {
		t.Error(`Names("xx") is not nil`)
	}
	for _, c := range []struct{ lang, name, want string }{
		{"es", "digits/100-and", "es"},
		{"es_MX", "callbackd/goodbye", "es"},
		{"es_MX_formal", "digits/1F", "es"},
		{"en_GB", "digits/hundred", "en"},
		{"fr", "callbackd/goodbye", "en"},
		{"es", "digits/hundred", "en"},
		{"fr", "digits/100-and", ""},
	} {
		got, ok := Resolve(c.lang, c.name)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("Resolve(%q, %q) = %q, %v, want %q", c.lang, c.name, got, ok, c.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{
		"en\tcallbackd/x\n",
		"en\tcallbackd/x\thello\textra\n",
		"en\tcallbackd/x\t\n",
		"EN\tcallbackd/x\thello\n",
		"en\t../x\thello\n",
		"en\tcallbackd/x.wav\thello\n",
		"en\tcallbackd/x\thello\nen\tcallbackd/x\tagain\n",
	} {
		if _, err := parse(bad); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
	c, err := parse("# comment\n\nen\tdigits/1\tone\r\nes_MX\tcallbackd/a b\thola\n")
	if err == nil {
		t.Error("name with a space accepted")
	}
	if c["en"]["digits/1"] != "one" {
		t.Errorf("good row around a bad one not loaded: %v", c)
	}
}

// checkWav checks that b is a RIFF WAVE file of 8000 Hz, mono, 16-bit PCM
// with a data chunk that is not empty and not silent.
func checkWav(b []byte) error {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return errors.New("not a RIFF WAVE file")
	}
	if n := binary.LittleEndian.Uint32(b[4:8]); int64(n) != int64(len(b))-8 {
		return fmt.Errorf("RIFF size %d, file has %d bytes after the header", n, len(b)-8)
	}
	var fmtSeen bool
	for p := 12; p+8 <= len(b); {
		id := string(b[p : p+4])
		size := int(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		body := p + 8
		if size < 0 || body+size > len(b) {
			return fmt.Errorf("chunk %q of %d bytes runs past the end", id, size)
		}
		c := b[body : body+size]
		switch id {
		case "fmt ":
			if size < 16 {
				return fmt.Errorf("fmt chunk of %d bytes", size)
			}
			format := binary.LittleEndian.Uint16(c[0:2])
			channels := binary.LittleEndian.Uint16(c[2:4])
			rate := binary.LittleEndian.Uint32(c[4:8])
			byteRate := binary.LittleEndian.Uint32(c[8:12])
			align := binary.LittleEndian.Uint16(c[12:14])
			bits := binary.LittleEndian.Uint16(c[14:16])
			if format != 1 || channels != 1 || rate != 8000 || bits != 16 || byteRate != 16000 || align != 2 {
				return fmt.Errorf("format %d, %d channels, %d Hz, %d bits, %d bytes/s, align %d; want PCM (1), 1 channel, 8000 Hz, 16 bits, 16000 bytes/s, align 2",
					format, channels, rate, bits, byteRate, align)
			}
			fmtSeen = true
		case "data":
			if !fmtSeen {
				return errors.New("data chunk before fmt chunk")
			}
			if size%2 != 0 {
				return fmt.Errorf("data chunk of %d bytes is not whole 16-bit samples", size)
			}
			if size < 1600 {
				return fmt.Errorf("data chunk of %d bytes, under 0.1 s", size)
			}
			var peak int
			for i := 0; i < size; i += 2 {
				v := int(int16(binary.LittleEndian.Uint16(c[i:])))
				peak = max(peak, v, -v)
			}
			if peak < 1<<12 {
				return fmt.Errorf("peak sample %d: nearly silent", peak)
			}
			return nil
		}
		p = body + size + size%2
	}
	if !fmtSeen {
		return errors.New("no fmt chunk")
	}
	return errors.New("no data chunk")
}

func TestCheckWavRejects(t *testing.T) {
	good, err := os.ReadFile("en/callbackd/goodbye.wav")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkWav(good); err != nil {
		t.Fatalf("good file rejected: %v", err)
	}
	mutate := func(off int, v []byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	// The 44-byte header of the good file with its data chunk emptied.
	empty := append(bytes.Clone(good[:40]), le32(0)...)
	binary.LittleEndian.PutUint32(empty[4:8], uint32(len(empty)-8))
	for name, b := range map[string][]byte{
		"truncated":  good[:len(good)-2],
		"not RIFF":   mutate(0, []byte("RIFX")),
		"stereo":     mutate(22, []byte{2, 0}),
		"16 kHz":     mutate(24, le32(16000)),
		"8-bit":      mutate(34, []byte{8, 0}),
		"mu-law":     mutate(20, []byte{7, 0}),
		"empty data": empty,
	} {
		if err := checkWav(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestChoose(t *testing.T) {
	has := func(lang, name string) bool {
		return (lang == "th" && name == "callbackd/you-have") || (lang != "th" && Has(lang, name))
	}
	for _, tt := range []struct {
		langs   []string
		name    string
		want    string
		missing []string
		ok      bool
	}{
		{[]string{"th", "es"}, "sound:callbackd/enter-pin", "es", []string{"th"}, true},
		{[]string{"th", "es"}, "callbackd/you-have", "th", nil, true},
		{[]string{"", "th", "th", "fr"}, "callbackd/enter-pin", "en", []string{"th", "fr"}, true},
		{[]string{"es"}, "callbackd/no-such-prompt", "en", []string{"es"}, false},
		{[]string{"en", "es"}, "callbackd/no-such-prompt", "en", []string{"en", "es"}, false},
	} {
		got, missing, ok := Choose(has, tt.langs, tt.name)
		if got != tt.want || !slices.Equal(missing, tt.missing) || ok != tt.ok {
			t.Errorf("Choose(%q, %s) = %s %q %v, want %s %q %v", tt.langs, tt.name, got, missing, ok, tt.want, tt.missing, tt.ok)
		}
	}
}
