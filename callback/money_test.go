package callback

import "testing"

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in   string
		want Money
		err  bool
	}{
		{"12.34", 123400, false},
		{"0.0125", 125, false},
		{"-0.5", -5000, false},
		{"2", 20000, false},
		{"+3.1", 31000, false},
		{".5", 5000, false},
		{"1.", 10000, false},
		{"0.00001", 0, true},
		{"", 0, true},
		{"-", 0, true},
		{".", 0, true},
		{"1e3", 0, true},
		{"1,5", 0, true},
		{"99999999999999999999", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseMoney(tt.in)
		if (err != nil) != tt.err || (!tt.err && got != tt.want) {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d, err=%v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestMoneyString(t *testing.T) {
	for m, want := range map[Money]string{123400: "12.34", 125: "0.0125", -5000: "-0.50", 0: "0.00", 10001: "1.0001"} {
		if got := m.String(); got != want {
			t.Errorf("Money(%d).String() = %q, want %q", int64(m), got, want)
		}
		back, err := ParseMoney(m.String())
		if err != nil || back != m {
			t.Errorf("round trip of %d: %d, %v", int64(m), back, err)
		}
	}
}

func TestConvert(t *testing.T) {
	usd, _ := ParseExchangeRate("1")
	eur, _ := ParseExchangeRate("0.92")
	gbp, _ := ParseExchangeRate("0.785")
	tests := []struct {
		m        Money
		from, to ExchangeRate
		want     Money
	}{
		{20000, usd, eur, 18400},  // 2 USD = 1.84 EUR
		{18400, eur, usd, 20000},  // and back
		{10000, eur, gbp, 8533},   // 1 EUR = 0.853260... GBP, rounded half away from zero
		{-10000, eur, gbp, -8533}, // negative balances round symmetrically
		{5, usd, usd, 5},
	}
	for _, tt := range tests {
		got, err := Convert(tt.m, tt.from, tt.to)
		if err != nil || got != tt.want {
			t.Errorf("Convert(%d, %s, %s) = %d, %v; want %d", int64(tt.m), tt.from, tt.to, int64(got), err, int64(tt.want))
		}
	}
	if _, err := Convert(1, 0, usd); err == nil {
		t.Error("Convert with a zero rate succeeded")
	}
}

func TestParseAmount(t *testing.T) {
	a, err := ParseAmount("2 usd")
	if err != nil || a.Value != 20000 || a.Currency != "USD" {
		t.Fatalf("ParseAmount(2 usd) = %+v, %v", a, err)
	}
	if a, err := ParseAmount("0.5"); err != nil || a.Currency != "" || a.Value != 5000 {
		t.Fatalf("ParseAmount(0.5) = %+v, %v", a, err)
	}
	for _, bad := range []string{"", "2 US", "2 USD extra", "two USD", "2 U5D"} {
		if _, err := ParseAmount(bad); err == nil {
			t.Errorf("ParseAmount(%q) succeeded", bad)
		}
	}
}

func TestParseRate(t *testing.T) {
	if r, err := ParseExchangeRate("1.085"); err != nil || r != 1085000 || r.String() != "1.085" {
		t.Fatalf("ParseExchangeRate(1.085) = %d (%s), %v", int64(r), r, err)
	}
	for _, bad := range []string{"0", "-1", "abc", "0.0000001"} {
		if _, err := ParseExchangeRate(bad); err == nil {
			t.Errorf("ParseExchangeRate(%q) succeeded", bad)
		}
	}
}
