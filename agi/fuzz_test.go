package agi

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// transcriptSeeds splits the testdata transcripts into the environment
// block Asterisk sent and the reply lines that followed it.
func transcriptSeeds(f *testing.F) (envs [][]byte, replies []string) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		f.Fatalf("no transcripts: %v", err)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		var env bytes.Buffer
		inEnv := true
		for line := range strings.SplitSeq(string(data), "\n") {
			text, ok := strings.CutPrefix(line, "<")
			if !ok {
				continue
			}
			text = strings.TrimPrefix(text, " ")
			if inEnv {
				env.WriteString(text + "\n")
				inEnv = text != ""
				continue
			}
			replies = append(replies, text)
		}
		envs = append(envs, env.Bytes())
	}
	return envs, replies
}

func FuzzEnvReader(f *testing.F) {
	envs, _ := transcriptSeeds(f)
	for _, e := range envs {
		f.Add(e)
		f.Add(e[:len(e)/2])
		f.Add(bytes.ReplaceAll(e, []byte(": "), []byte(" ")))
	}
	f.Add([]byte("agi_request: x\nagi_channel: y\nagi_arg_127: z\n\n"))
	f.Add([]byte("agi_request: x\r\nagi_channel: y\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxLine, maxLines = 256, 64
		lines, err := readEnvBlock(bufio.NewReaderSize(bytes.NewReader(data), maxLine), maxLine, maxLines)
		if len(lines) > maxLines {
			t.Fatalf("%d lines read, limit %d", len(lines), maxLines)
		}
		if err != nil {
			return
		}
		env, err := ParseEnv(lines)
		if err != nil {
			return
		}
		if len(env.Vars) != len(lines) || len(env.Args) >= maxArgs {
			t.Fatalf("env %+v from %d lines", env, len(lines))
		}
		if v, ok := env.Lookup("agi_channel"); !ok || v != env.Channel {
			t.Fatalf("agi_channel %q vs Channel %q", v, env.Channel)
		}
	})
}

func FuzzParseReply(f *testing.F) {
	_, replies := transcriptSeeds(f)
	for _, r := range replies {
		f.Add(r)
	}
	for _, r := range []string{"200 result=1 (a (b) c) endpos=3", "200 result=1 (speech) endpos=0 results=2 x y", "200 result= (timeout)", "520-x"} {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseReply(line)
		if err != nil {
			return
		}
		if r.Code < 100 || r.Code > 999 || len(r.Lines) != 1 || r.Lines[0] != line {
			t.Fatalf("ParseReply(%q) = %+v", line, r)
		}
		if r.Code == CodeSuccess && !strings.HasPrefix(line, "200 result="+r.ResultText) {
			t.Fatalf("ParseReply(%q) result %q", line, r.ResultText)
		}
		if r.Data != "" && !strings.Contains(line, "("+r.Data+")") {
			t.Fatalf("ParseReply(%q) data %q not in the line", line, r.Data)
		}
	})
}

func FuzzArgs(f *testing.F) {
	for _, s := range []string{`VERBOSE "a b" 3`, `SET VARIABLE X "a \"b\""`, `NOOP \\ "" x`, "EXEC Dial PJSIP/a,30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words := ParseArgs(s)
		if len(words) >= maxArgs {
			t.Fatalf("%d words", len(words))
		}
		if len(words) == 0 {
			return
		}
		line, err := FormatCommand(words...)
		if err != nil {
			return
		}
		if back := ParseArgs(line); !slices.Equal(back, words) {
			t.Fatalf("%q -> %q -> %q -> %q", s, words, line, back)
		}
	})
}
