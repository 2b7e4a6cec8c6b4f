package agitest

import (
	"testing"
	"time"
)

func TestParseTimelen(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1", time.Second, true},
		{" 3", 3 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{".25", 250 * time.Millisecond, true},
		{"250ms", 250 * time.Millisecond, true},
		{"250 MS", 250 * time.Millisecond, true},
		{"2s", 2 * time.Second, true},
		{"2m", 2 * time.Minute, true},
		{"1h", time.Hour, true},
		{"1e1", 10 * time.Second, true},
		{"0.0004", 0, true},
		{"0", 0, true},
		{"-2", -2 * time.Second, true},
		{"2 s trailing", 2 * time.Second, true},
		{"", 0, false},
		{"soon", 0, false},
		{"1 sec", 0, false},
		{"1e", 0, false},
		{"1x", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseTimelen(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseTimelen(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
