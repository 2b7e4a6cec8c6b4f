package admin

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// csvRecord is the CDR export's record built field by field and written by
// encoding/csv: what appendCDR must write byte for byte.
func csvRecord(t *testing.T, c *callback.CDR) string {
	t.Helper()
	tm := func(v time.Time) string {
		if v.IsZero() {
			return ""
		}
		return v.UTC().Format(csvTimeLayout)
	}
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write([]string{strconv.FormatInt(c.ID, 10), strconv.FormatInt(c.RequestID, 10), string(c.Leg), c.Account, c.Number,
		c.CallerID, c.ChannelID, tm(c.Start), tm(c.Answer), tm(c.End), strconv.Itoa(c.BillSec), c.Disposition, num(c.Cause),
		num(c.SIPCode), c.Prefix, c.Charge.String(), c.Currency}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return buf.String()
}

func TestAppendCDRWritesWhatEncodingCSVWrites(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 678e6, time.FixedZone("CET", 3600))
	for _, c := range []*callback.CDR{
		{ID: 1, RequestID: 2, Leg: callback.LegA, Account: "801", Number: "4930123456", CallerID: "4930999", ChannelID: "chan-1",
			Start: start, Answer: start.Add(7 * time.Second), End: start.Add(70 * time.Second), BillSec: 63, Disposition: "ANSWERED",
			Cause: 16, Prefix: "4930", Charge: 1250, Currency: "USD"},
		{ID: 3, RequestID: 4, Leg: callback.LegB, Disposition: "NO ANSWER", SIPCode: 486, Charge: -10001},
		{ID: 5, Account: `a,b`, Number: `say "hi"`, CallerID: " lead", ChannelID: "line\nbreak", Prefix: `\.`, Currency: "cr\r",
			Disposition: "\tTAB", Charge: 123456789},
		{ID: 6, Account: "ünïcode", Number: "\u00a0nbsp", CallerID: `\..`, Charge: 10000},
	} {
		got := string(appendCDR(nil, c))
		if want := csvRecord(t, c); got != want {
			t.Errorf("CDR %d:\n got %q\nwant %q", c.ID, got, want)
		}
	}
}

func TestAppendCSVTimeWritesWhatAppendFormatWrites(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("west", -9*3600-30*60)}
	times := []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 2, 3, 4, 5, 6, 7, time.UTC),
		time.Date(999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2030, 1, 2, 3, 4, 5, 678e6, time.UTC),
		time.Date(2028, 2, 29, 12, 0, 0, 1e6-1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
	}
	// A year of times a few hours and some nanoseconds apart.
	for i, v := 0, time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC); i < 3000; i++ {
		v = v.Add(3*time.Hour + 7*time.Minute + 11*time.Second + time.Duration(i*7919)*time.Microsecond + 13)
		times = append(times, v)
	}
	for _, v := range times {
		for _, z := range zones {
			in := v.In(z)
			if got, want := string(appendCSVTime([]byte("x"), in)), "x"+in.UTC().Format(csvTimeLayout); got != want {
				t.Fatalf("appendCSVTime(%v) = %q, want %q", in, got, want)
			}
		}
	}
}
