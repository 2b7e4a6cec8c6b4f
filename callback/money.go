package callback

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Money is an exact amount in ten-thousandths of a currency unit
// (12.3456 USD is Money(123456)). Telecom rates need sub-cent precision, and
// an int64 keeps every sum and comparison exact; no float64 touches money.
type Money int64

// MoneyScale is how many Money units make one currency unit.
const MoneyScale = 10000

const moneyDecimals = 4

// ParseMoney parses a decimal such as "12.34", "-0.5" or "2". More than four
// decimal places is an error rather than a silent rounding.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("parse money %q: empty", s)
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("parse money %q: no digits", s)
	}
	if len(frac) > moneyDecimals {
		return 0, fmt.Errorf("parse money %q: more than %d decimal places", s, moneyDecimals)
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("parse money %q: not a decimal number", s)
			}
		}
	}
	var w int64
	if whole != "" {
		var err error
		w, err = strconv.ParseInt(whole, 10, 64)
		if err != nil || w > (1<<63-1)/MoneyScale {
			return 0, fmt.Errorf("parse money %q: out of range", s)
		}
	}
	f := int64(0)
	if frac != "" {
		frac += strings.Repeat("0", moneyDecimals-len(frac))
		f, _ = strconv.ParseInt(frac, 10, 64)
	}
	m := Money(w*MoneyScale + f)
	if neg {
		m = -m
	}
	return m, nil
}

// String formats with at least two and at most four decimals: "12.30", "0.0125".
func (m Money) String() string { return string(m.Append(nil)) }

// Append appends m as String formats it to b.
func (m Money) Append(b []byte) []byte {
	v := int64(m)
	if v < 0 {
		b, v = append(b, '-'), -v
	}
	b = strconv.AppendInt(b, v/MoneyScale, 10)
	b = append(b, '.')
	frac := v % MoneyScale // four decimals
	d := [4]byte{byte('0' + frac/1000), byte('0' + frac/100%10), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := len(d)
	for n > 2 && d[n-1] == '0' {
		n--
	}
	return append(b, d[:n]...)
}

// Units splits m into whole units and hundredths (cents), rounding the
// remainder down, for announcements ("12 dollars and 34 cents").
func (m Money) Units() (whole, cents int64) {
	v := int64(m)
	return v / MoneyScale, (v % MoneyScale) / (MoneyScale / 100)
}

// ExchangeRate is an exact exchange rate between currencies (not a
// tariff's price, which is a TariffRate): how many units of a currency one
// unit of the base currency buys, in millionths (1.085 is
// ExchangeRate(1085000)).
type ExchangeRate int64

// ExchangeRateScale is how many ExchangeRate units make 1.
const ExchangeRateScale = 1_000_000

// ParseExchangeRate parses an exchange rate such as "1.085" (at most six
// decimals).
func ParseExchangeRate(s string) (ExchangeRate, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || r.Sign() <= 0 {
		return 0, fmt.Errorf("parse rate %q: not a positive decimal", s)
	}
	r.Mul(r, big.NewRat(ExchangeRateScale, 1))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, fmt.Errorf("parse rate %q: more than 6 decimal places or out of range", s)
	}
	return ExchangeRate(r.Num().Int64()), nil
}

func (r ExchangeRate) String() string {
	whole := int64(r) / ExchangeRateScale
	frac := strings.TrimRight(fmt.Sprintf("%06d", int64(r)%ExchangeRateScale), "0")
	if frac == "" {
		return strconv.FormatInt(whole, 10)
	}
	return fmt.Sprintf("%d.%s", whole, frac)
}

// Convert converts m from a currency whose rate is from to one whose rate is
// to (both against the same base), rounding half away from zero to the
// nearest Money unit. It works in big.Int so no product can overflow.
func Convert(m Money, from, to ExchangeRate) (Money, error) {
	if from <= 0 || to <= 0 {
		return 0, fmt.Errorf("convert %s: non-positive rate: %w", m, ErrInvalid)
	}
	if from == to {
		return m, nil
	}
	num := new(big.Int).Mul(big.NewInt(int64(m)), big.NewInt(int64(to)))
	den := big.NewInt(int64(from))
	q, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	// Round half away from zero: compare 2*|rem| with den.
	rem.Abs(rem).Lsh(rem, 1)
	if rem.Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("convert %s: out of range: %w", m, ErrInvalid)
	}
	return Money(q.Int64()), nil
}

// Amount is money with its currency, as written in options such as the
// seed's Minimum Balance ("2 USD"). An empty Currency means "the account's".
type Amount struct {
	Value    Money
	Currency string
}

// ParseAmount parses "2", "2 USD" or "0.50 EUR".
func ParseAmount(s string) (Amount, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields) > 2 {
		return Amount{}, fmt.Errorf("parse amount %q: want a number and an optional currency code", s)
	}
	v, err := ParseMoney(fields[0])
	if err != nil {
		return Amount{}, err
	}
	a := Amount{Value: v}
	if len(fields) == 2 {
		c := strings.ToUpper(fields[1])
		if !validCurrency(c) {
			return Amount{}, fmt.Errorf("parse amount %q: %q is not a 3-letter currency code", s, fields[1])
		}
		a.Currency = c
	}
	return a, nil
}

func (a Amount) String() string {
	if a.Currency == "" {
		return a.Value.String()
	}
	return a.Value.String() + " " + a.Currency
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}
