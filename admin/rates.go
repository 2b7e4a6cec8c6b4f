package admin

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/callback"
	tariffs "github.com/callbackd/callbackd/tariff"
)

// RateColumns are the columns of a rates CSV, as ExportRates writes them
// and tariff.ParseRatesCSV reads them.
var RateColumns = []string{"prefix", "price_per_minute", "connection_fee", "first_increment", "next_increment", "description", "blocked"}

// MaxRatesCSV bounds a rates CSV sent to be imported: a full
// international tariff is a few tens of thousands of lines.
const MaxRatesCSV = 16 << 20

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
	rates, err := tariffs.ParseRatesCSV(in, tariff)
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
	r, err := callback.ParseExchangeRate(rate)
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
