package sqlstore

import (
	"testing"
	"time"
)

// TestParseStoreTimeAgreesWithTimeParse: the fast path reads exactly what
// time.Parse reads in the store's own form, and hands every other text to
// the layouts.
func TestParseStoreTimeAgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{
		"2030-01-01 00:00:07.000", "2026-12-31 23:59:59.999", "2028-02-29 12:00:00.123", "0001-01-01 00:00:00.000",
		"2027-02-29 12:00:00.000", "2030-04-31 00:00:00.000", "2030-13-01 00:00:00.000", "2030-00-10 00:00:00.000",
		"2030-01-01 24:00:00.000", "2030-01-01 00:60:00.000", "2030-01-01 00:00:60.000", "2030-01-01T00:00:07.000",
		"2030-01-01 00:00:07.0000", "2030-01-01 00:00:07", "2030-01-01 0a:00:07.000", "2030-01-01 00:00:07,000", "",
	} {
		want, err := time.Parse("2006-01-02 15:04:05.000", s)
		got, ok := parseStoreTime(s)
		switch {
		case ok && err != nil:
			t.Errorf("%q: read as %v, time.Parse refuses it: %v", s, got, err)
		case ok && !got.Equal(want):
			t.Errorf("%q: read as %v, time.Parse reads %v", s, got, want)
		case !ok && err == nil && s[19] == '.':
			t.Errorf("%q: not read, time.Parse reads %v", s, want)
		}
		var tm Time
		if err := tm.Scan(s); err == nil && ok && !tm.Time.Equal(got) {
			t.Errorf("%q: Scan reads %v, want %v", s, tm.Time, got)
		}
	}
}
