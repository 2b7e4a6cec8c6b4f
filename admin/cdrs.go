package admin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/callbackd/callbackd/callback"
)

// CDRColumns are the columns of the CDR export, in order. Times are UTC
// RFC 3339 with milliseconds (empty when not reached); charge is the money
// debited, a decimal in the currency's units.
var CDRColumns = []string{
	"id",          // CDR id
	"request_id",  // callback request (i_callback_request)
	"leg",         // A: the call to the user; B: the call to the destination
	"account",     // who pays the leg
	"number",      // the number called
	"caller_id",   // the caller ID presented
	"channel_id",  // Asterisk channel id
	"start",       // when the leg was dialled
	"answer",      // when it answered; empty when it did not
	"end",         // when it ended
	"billsec",     // billed seconds after the tariff's increments
	"disposition", // ANSWERED, BUSY, NO ANSWER, FAILED
	"cause",       // Q.850 cause
	"sip_code",    // SIP response code of a failure
	"prefix",      // tariff prefix that rated the leg
	"charge",      // money debited, e.g. 0.1250
	"currency",    // ISO 4217
}

// exportFlushRows is how many rows the export buffers before it flushes
// them to the client.
const exportFlushRows = 1000

// maxExportRange bounds an export's time range.
const maxExportRange = 366 * 24 * time.Hour

// CheckRange checks an export's or a report's [from, to).
func CheckRange(from, to time.Time) error {
	switch {
	case from.IsZero():
		return &callback.ValidationError{Field: "from", Reason: "required"}
	case to.IsZero():
		return &callback.ValidationError{Field: "to", Reason: "required"}
	case !to.After(from):
		return &callback.ValidationError{Field: "to", Reason: "must be after from"}
	case to.Sub(from) > maxExportRange:
		return &callback.ValidationError{Field: "to", Reason: "at most 366 days after from"}
	}
	return nil
}

// ExportCDRs writes the CDRs of f as CSV (a header row of CDRColumns, then
// one row per CDR by start time) to w as they are read, flushing every
// exportFlushRows rows (and through flush, when not nil, to the client),
// so an export of any size holds a batch at most (1,000 rows). It returns the number
// of rows written.
func (s *Service) ExportCDRs(ctx context.Context, a Actor, f CDRFilter, w io.Writer, flush func()) (int64, error) {
	if err := a.Check(PermRead); err != nil {
		return 0, err
	}
	if err := CheckRange(f.From, f.To); err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, exportBuffer)
	line := make([]byte, 0, 512)
	for i, col := range CDRColumns {
		if i > 0 {
			line = append(line, ',')
		}
		line = appendCSVField(line, col)
	}
	if _, err := bw.Write(append(line, '\n')); err != nil {
		return 0, fmt.Errorf("export CDRs: %w", err)
	}
	var n int64
	err := s.Store.EachCDR(ctx, f, func(c *callback.CDR) error {
		line = appendCDR(line[:0], c)
		if _, err := bw.Write(line); err != nil {
			return err
		}
		n++
		if n%exportFlushRows == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
			if flush != nil {
				flush()
			}
		}
		return nil
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return n, fmt.Errorf("export CDRs: %w", err)
	}
	if flush != nil {
		flush()
	}
	return n, nil
}

// exportBuffer is the export's write buffer: room for the rows between
// two flushes, so each flush is one write to the client.
const exportBuffer = 256 << 10

// appendCDR appends c as one CSV record, in CDRColumns order, ending in a
// newline: what encoding/csv's Writer writes for the same fields, built
// without a string per field.
func appendCDR(b []byte, c *callback.CDR) []byte {
	b = strconv.AppendInt(b, c.ID, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, c.RequestID, 10)
	b = append(b, ',')
	for _, s := range []string{string(c.Leg), c.Account, c.Number, c.CallerID, c.ChannelID} {
		b = appendCSVField(b, s)
		b = append(b, ',')
	}
	for _, t := range []time.Time{c.Start, c.Answer, c.End} {
		if !t.IsZero() {
			b = appendCSVTime(b, t)
		}
		b = append(b, ',')
	}
	b = strconv.AppendInt(b, int64(c.BillSec), 10)
	b = append(b, ',')
	b = appendCSVField(b, c.Disposition)
	b = append(b, ',')
	for _, v := range []int{c.Cause, c.SIPCode} {
		if v != 0 {
			b = strconv.AppendInt(b, int64(v), 10)
		}
		b = append(b, ',')
	}
	b = appendCSVField(b, c.Prefix)
	b = append(b, ',')
	b = c.Charge.Append(b)
	b = append(b, ',')
	b = appendCSVField(b, c.Currency)
	return append(b, '\n')
}

// csvTimeLayout is the export's time format: UTC, RFC 3339, milliseconds.
const csvTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// appendCSVTime appends t in csvTimeLayout, in UTC: what AppendFormat
// writes (the milliseconds truncated), digit by digit instead of through
// the layout's parser, for years 0 to 9999.
func appendCSVTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, csvTimeLayout)
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / int(time.Millisecond)
	return append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// appendCSVField appends s as encoding/csv's Writer (comma, LF) writes a
// field: as it is, or quoted, with its quotes doubled, when it holds a
// comma, a quote or a line break, starts with a space, or is \. .
func appendCSVField(b []byte, s string) []byte {
	if !csvNeedsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// csvNeedsQuotes is encoding/csv's fieldNeedsQuotes for a comma.
func csvNeedsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s == `\.` {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	if s[0] < utf8.RuneSelf {
		return unicode.IsSpace(rune(s[0]))
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// ListCDRs returns a page of CDRs, newest first.
func (s *Service) ListCDRs(ctx context.Context, a Actor, f CDRFilter) ([]*callback.CDR, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return nil, &callback.ValidationError{Field: "to", Reason: "must be after from"}
	}
	if f.Leg != "" && f.Leg != callback.LegA && f.Leg != callback.LegB {
		return nil, &callback.ValidationError{Field: "leg", Reason: "want A or B"}
	}
	return s.Store.ListCDRsPage(ctx, f)
}

// Report sums the CDRs of f per day, f.By and currency.
func (s *Service) Report(ctx context.Context, a Actor, f ReportFilter) ([]ReportRow, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if err := CheckRange(f.From, f.To); err != nil {
		return nil, err
	}
	if !f.By.Valid() {
		return nil, &callback.ValidationError{Field: "by", Reason: fmt.Sprintf("%q: want account, access_number or prefix", f.By)}
	}
	if f.Leg != "" && f.Leg != callback.LegA && f.Leg != callback.LegB {
		return nil, &callback.ValidationError{Field: "leg", Reason: "want A or B"}
	}
	return s.Store.Report(ctx, f)
}
