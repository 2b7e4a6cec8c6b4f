package agitest

import (
	"slices"
	"testing"
)

// separateArgs splits as main/app.c's __ast_app_separate_args does.
func TestSeparateArgs(t *testing.T) {
	for _, tt := range []struct {
		in    string
		delim byte
		n     int
		want  []string
	}{
		{"a,b,c", ',', 99, []string{"a", "b", "c"}},
		{"a,", ',', 99, []string{"a", ""}},
		{`a,"b,c",d`, ',', 99, []string{"a", "b,c", "d"}},
		{`a,f(b,c),[d,e]`, ',', 99, []string{"a", "f(b,c)", "[d,e]"}},
		{`a\,b,c\\d,\"`, ',', 99, []string{"a,b", `c\d`, `"`}},
		// Two fields: the value is the rest, untouched.
		{`NAME=v=w\,"x"`, '=', 2, []string{"NAME", `v=w\,"x"`}},
		{"NAME=", '=', 2, []string{"NAME", ""}},
		{"NAME", '=', 2, []string{"NAME"}},
	} {
		if got := separateArgs(tt.in, tt.delim, true, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("separateArgs(%q, %q) = %q, want %q", tt.in, tt.delim, got, tt.want)
		}
	}
}
