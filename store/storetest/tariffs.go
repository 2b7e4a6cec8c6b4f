package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/callback"
)

var tariffTests = map[string]func(t *testing.T, s callback.Store){
	"Currencies": func(t *testing.T, s callback.Store) {
		for _, c := range []callback.Currency{{Code: "USD", Rate: 1_000_000}, {Code: "EUR", Rate: 920_000}, {Code: "EUR", Rate: 921_500}} {
			if err := s.PutCurrency(t.Context(), c); err != nil {
				t.Fatal(err)
			}
		}
		eur, err := s.GetCurrency(t.Context(), "EUR")
		if err != nil || eur.Rate != 921_500 {
			t.Errorf("EUR: %v %v", eur, err)
		}
		list, err := s.ListCurrencies(t.Context())
		if want := []callback.Currency{{Code: "EUR", Rate: 921_500}, {Code: "USD", Rate: 1_000_000}}; err != nil || !slices.Equal(list, want) {
			t.Errorf("list: %v %v", list, err)
		}
		if _, err := s.GetCurrency(t.Context(), "THB"); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("unknown currency: %v", err)
		}
		if err := s.PutCurrency(t.Context(), callback.Currency{Code: "XXX"}); !errors.Is(err, callback.ErrInvalid) {
			t.Errorf("zero rate: %v", err)
		}
	},

	"ImportRates": func(t *testing.T, s callback.Store) {
		version := func() int64 {
			t.Helper()
			v, err := s.TariffsVersion(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		v0 := version()
		first := []callback.TariffRate{
			{Prefix: "49", Description: "Germany", PricePerMinute: 200, ConnectionFee: 50, FirstIncrement: 60, NextIncrement: 60},
			{Prefix: "4915", Description: "Germany mobile", PricePerMinute: 900, FirstIncrement: 1, NextIncrement: 1},
			{Prefix: "881", PricePerMinute: 99_000, FirstIncrement: 1, NextIncrement: 1, Blocked: true},
		}
		n, err := s.ImportRates(t.Context(), "retail", first, false)
		if err != nil || n != 3 {
			t.Fatalf("import: %d %v", n, err)
		}
		v1 := version()
		if v1 == v0 {
			t.Error("import did not change the tariffs version")
		}
		got, err := s.ListRates(t.Context(), "retail")
		if err != nil || len(got) != 3 {
			t.Fatalf("rates: %v %v", got, err)
		}
		for i := range first {
			first[i].Tariff = "retail"
			mustEqual(t, "rate "+first[i].Prefix, &got[i], &first[i])
		}
		if _, err := s.ImportRates(t.Context(), "wholesale", []callback.TariffRate{{Prefix: "1", PricePerMinute: 10}}, false); err != nil {
			t.Fatal(err)
		}

		// Without replace: existing prefixes take the new values, others stay.
		if _, err := s.ImportRates(t.Context(), "retail", []callback.TariffRate{{Tariff: "retail", Prefix: "49", PricePerMinute: 210, FirstIncrement: 1, NextIncrement: 1}, {Prefix: "33", PricePerMinute: 150}}, false); err != nil {
			t.Fatal(err)
		}
		got, _ = s.ListRates(t.Context(), "retail")
		if prefixes(got) != "33 49 4915 881" || got[1].PricePerMinute != 210 || got[1].Description != "" {
			t.Errorf("merged: %v", got)
		}
		// With replace: only the new rates remain, in this tariff only.
		if _, err := s.ImportRates(t.Context(), "retail", []callback.TariffRate{{Prefix: "44", PricePerMinute: 120}}, true); err != nil {
			t.Fatal(err)
		}
		got, _ = s.ListRates(t.Context(), "retail")
		if prefixes(got) != "44" {
			t.Errorf("replaced: %v", got)
		}
		if other, _ := s.ListRates(t.Context(), "wholesale"); prefixes(other) != "1" {
			t.Errorf("replace touched another tariff: %v", other)
		}
		if v := version(); v <= v1 {
			t.Errorf("version %d after more imports, was %d", v, v1)
		}
		// A large import, in several statements.
		many := make([]callback.TariffRate, 1234)
		for i := range many {
			many[i] = callback.TariffRate{Prefix: fmt.Sprintf("99%05d", i), PricePerMinute: callback.Money(i)}
		}
		if n, err := s.ImportRates(t.Context(), "big", many, true); err != nil || n != len(many) {
			t.Fatalf("big import: %d %v", n, err)
		}
		if got, _ := s.ListRates(t.Context(), "big"); len(got) != len(many) {
			t.Errorf("big tariff has %d rates", len(got))
		}
		// A rate of another tariff is refused, and nothing is written.
		vBefore := version()
		if _, err := s.ImportRates(t.Context(), "retail", []callback.TariffRate{{Tariff: "other", Prefix: "1"}}, true); !errors.Is(err, callback.ErrInvalid) {
			t.Errorf("foreign rate: %v", err)
		}
		if got, _ := s.ListRates(t.Context(), "retail"); prefixes(got) != "44" || version() != vBefore {
			t.Errorf("a refused import changed the tariff: %v", got)
		}
	},
}

func prefixes(rs []callback.TariffRate) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Prefix
	}
	return strings.Join(out, " ")
}
