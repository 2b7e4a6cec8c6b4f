package admin

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

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
	cw := csv.NewWriter(w)
	if err := cw.Write(CDRColumns); err != nil {
		return 0, fmt.Errorf("export CDRs: %w", err)
	}
	var n int64
	rec := make([]string, len(CDRColumns))
	err := s.Store.EachCDR(ctx, f, func(c *callback.CDR) error {
		cdrRecord(rec, c)
		if err := cw.Write(rec); err != nil {
			return err
		}
		n++
		if n%exportFlushRows == 0 {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			if flush != nil {
				flush()
			}
		}
		return nil
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		return n, fmt.Errorf("export CDRs: %w", err)
	}
	if flush != nil {
		flush()
	}
	return n, nil
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func itoaOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// cdrRecord fills rec, in CDRColumns order, from c.
func cdrRecord(rec []string, c *callback.CDR) {
	rec[0] = strconv.FormatInt(c.ID, 10)
	rec[1] = strconv.FormatInt(c.RequestID, 10)
	rec[2] = string(c.Leg)
	rec[3] = c.Account
	rec[4] = c.Number
	rec[5] = c.CallerID
	rec[6] = c.ChannelID
	rec[7] = csvTime(c.Start)
	rec[8] = csvTime(c.Answer)
	rec[9] = csvTime(c.End)
	rec[10] = strconv.Itoa(c.BillSec)
	rec[11] = c.Disposition
	rec[12] = itoaOrEmpty(c.Cause)
	rec[13] = itoaOrEmpty(c.SIPCode)
	rec[14] = c.Prefix
	rec[15] = c.Charge.String()
	rec[16] = c.Currency
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
