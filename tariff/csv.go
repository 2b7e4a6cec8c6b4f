package tariff

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/callback"
)

// ParseRatesCSV parses a rates CSV (prefix, price_per_minute,
// connection_fee, first_increment, next_increment[, description[,
// blocked]], an optional header line) into the rates of tariff; every
// error names its line.
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
