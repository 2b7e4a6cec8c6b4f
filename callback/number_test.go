package callback

import (
	"errors"
	"testing"
)

func TestNormalizeCLI(t *testing.T) {
	tests := []struct {
		cli, pres, region, area string
		want                    string
		bad                     bool
	}{
		{"801", "0", "", "", "801", false},
		{"87654321", "", "", "", "87654321", false},
		{"+4930123456", "0", "DE", "", "4930123456", false},
		{"030 123456", "0", "DE", "", "4930123456", false},
		{"0049 30 123456", "0", "DE", "", "4930123456", false},
		{"00420212345678", "", "CZ", "", "420212345678", false},
		{"602123456", "", "CZ", "", "420602123456", false},
		{"1234567", "", "DE", "30", "49301234567", false},
		{"+1 (650) 253-0000", "", "US", "", "16502530000", false},
		{"unknown", "0", "DE", "", "", true},
		{"Anonymous", "0", "", "", "", true},
		{"", "0", "", "", "", true},
		{"4930123456", "33", "DE", "", "", true}, // presentation prohibited
		{"sip:bob@example", "0", "", "", "", true},
		{"12ab", "0", "", "", "", true},
		{"1", "0", "", "", "", true},
		{"+", "0", "", "", "", true},
		{"12+34", "0", "", "", "", true},
		{"12", "0", "DE", "", "", true},
	}
	for _, tt := range tests {
		got, err := NormalizeCLI(tt.cli, tt.pres, tt.region, tt.area)
		if tt.bad {
			var ce *CLIError
			if !errors.As(err, &ce) {
				t.Errorf("NormalizeCLI(%q, %q, %q) = %q, %v; want a CLIError", tt.cli, tt.pres, tt.region, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeCLI(%q, %q, %q, %q) = %q, %v; want %q", tt.cli, tt.pres, tt.region, tt.area, got, err, tt.want)
		}
	}
}

func FuzzNormalizeCLI(f *testing.F) {
	for _, s := range []string{"801", "+4930123456", "030 123456", "unknown", "0049 (30) 1-2", "+"} {
		f.Add(s, "DE")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, cli, region string) {
		got, err := NormalizeCLI(cli, "0", region, "")
		if err == nil {
			for _, c := range got {
				if c < '0' || c > '9' {
					t.Fatalf("NormalizeCLI(%q, %q) = %q: not digits", cli, region, got)
				}
			}
		}
	})
}
