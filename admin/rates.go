package admin

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/callback"
)

// ParseRatesCSV parses a rates CSV:
// prefix,price_per_minute,connection_fee,first_increment,next_increment[,description[,blocked]]
// with an optional header row. Every error names its line; one bad line
// refuses the whole file.
func ParseRatesCSV(in io.Reader, tariff string) ([]callback.TariffRate, error) {
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	var out []callback.TariffRate
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("rates CSV: %w", err)
		}
		if line == 1 && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "prefix") {
			continue
		}
		if len(rec) < 5 || len(rec) > 7 {
			return nil, fmt.Errorf("rates CSV line %d: want prefix,price_per_minute,connection_fee,first_increment,next_increment[,description[,blocked]]", line)
		}
		tr := callback.TariffRate{Tariff: tariff, Prefix: strings.TrimPrefix(strings.TrimSpace(rec[0]), "+")}
		if tr.Prefix == "" || strings.Trim(tr.Prefix, "0123456789") != "" {
			return nil, fmt.Errorf("rates CSV line %d: prefix %q is not digits", line, rec[0])
		}
		if tr.PricePerMinute, err = callback.ParseMoney(rec[1]); err != nil {
			return nil, fmt.Errorf("rates CSV line %d: price_per_minute: %w", line, err)
		}
		if tr.ConnectionFee, err = callback.ParseMoney(rec[2]); err != nil {
			return nil, fmt.Errorf("rates CSV line %d: connection_fee: %w", line, err)
		}
		if tr.FirstIncrement, err = strconv.Atoi(strings.TrimSpace(rec[3])); err != nil || tr.FirstIncrement < 0 {
			return nil, fmt.Errorf("rates CSV line %d: first_increment %q is not a number of seconds", line, rec[3])
		}
		if tr.NextIncrement, err = strconv.Atoi(strings.TrimSpace(rec[4])); err != nil || tr.NextIncrement < 1 {
			return nil, fmt.Errorf("rates CSV line %d: next_increment %q is not a positive number of seconds", line, rec[4])
		}
		if len(rec) > 5 {
			tr.Description = strings.TrimSpace(rec[5])
		}
		if len(rec) > 6 {
			if tr.Blocked, err = strconv.ParseBool(strings.TrimSpace(rec[6])); err != nil {
				return nil, fmt.Errorf("rates CSV line %d: blocked %q is not true/false", line, rec[6])
			}
		}
		out = append(out, tr)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("rates CSV: no rates")
	}
	return out, nil
}

// RateColumns are the columns of a rates CSV, as ExportRates writes them
// and ParseRatesCSV reads them.
var RateColumns = []string{"prefix", "price_per_minute", "connection_fee", "first_increment", "next_increment", "description", "blocked"}

// ImportRates parses a rates CSV and writes it into tariff in one
// transaction (replacing the tariff's rates when replace): a bad line
// names the line and nothing is imported.
func (s *Service) ImportRates(ctx context.Context, a Actor, tariff string, in io.Reader, replace bool) (int, error) {
	if err := a.Check(PermWrite); err != nil {
		return 0, err
	}
	if !tariffPattern.MatchString(tariff) {
		return 0, &callback.ValidationError{Field: "tariff", Reason: "1 to 64 letters, digits and ._-"}
	}
	rates, err := ParseRatesCSV(in, tariff)
	if err != nil {
		return 0, &callback.ValidationError{Field: "csv", Reason: err.Error()}
	}
	return s.Store.ImportRatesAudited(ctx, tariff, rates, replace, s.audit(a, "tariff.import", "tariff/"+tariff))
}

// ExportRates writes a tariff's rates as CSV (RateColumns).
func (s *Service) ExportRates(ctx context.Context, a Actor, tariff string, w io.Writer) error {
	if err := a.Check(PermRead); err != nil {
		return err
	}
	rates, err := s.Store.ListRates(ctx, tariff)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(RateColumns)
	for _, r := range rates {
		_ = cw.Write([]string{r.Prefix, r.PricePerMinute.String(), r.ConnectionFee.String(), strconv.Itoa(r.FirstIncrement),
			strconv.Itoa(r.NextIncrement), r.Description, strconv.FormatBool(r.Blocked)})
	}
	cw.Flush()
	return cw.Error()
}

// ListRates lists a tariff's rates by prefix.
func (s *Service) ListRates(ctx context.Context, a Actor, tariff string) ([]callback.TariffRate, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	return s.Store.ListRates(ctx, tariff)
}

// PutCurrency sets a currency's exchange rate against the base currency.
func (s *Service) PutCurrency(ctx context.Context, a Actor, code, rate string) (callback.Currency, error) {
	if err := a.Check(PermWrite); err != nil {
		return callback.Currency{}, err
	}
	c := strings.ToUpper(code)
	if am, err := callback.ParseAmount("0 " + c); err != nil || am.Currency != c {
		return callback.Currency{}, &callback.ValidationError{Field: "code", Reason: fmt.Sprintf("%q is not a 3-letter ISO 4217 code", code)}
	}
	r, err := callback.ParseRate(rate)
	if err != nil {
		return callback.Currency{}, &callback.ValidationError{Field: "rate", Reason: err.Error()}
	}
	cur := callback.Currency{Code: c, Rate: r}
	return cur, s.Store.PutCurrencyAudited(ctx, cur, s.audit(a, "currency.set", "currency/"+c))
}

// ListCurrencies lists the currencies.
func (s *Service) ListCurrencies(ctx context.Context, a Actor) ([]callback.Currency, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	return s.Store.ListCurrencies(ctx)
}
