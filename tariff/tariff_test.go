package tariff

import (
	"fmt"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

func rate(prefix, perMin, fee string, first, next int) callback.TariffRate {
	p, _ := callback.ParseMoney(perMin)
	f, _ := callback.ParseMoney(fee)
	return callback.TariffRate{Prefix: prefix, PricePerMinute: p, ConnectionFee: f, FirstIncrement: first, NextIncrement: next}
}

func TestLookupLongestPrefix(t *testing.T) {
	tab := NewTable([]callback.TariffRate{rate("4", "1", "0", 1, 1), rate("49", "2", "0", 1, 1), rate("4930", "3", "0", 1, 1), rate("870", "9", "0", 1, 1)})
	for number, want := range map[string]string{"4930123": "4930", "+4989": "49", "41": "4", "870772": "870", "1": "", "": ""} {
		r, ok := tab.Lookup(number)
		if got := r.Prefix; got != want || ok != (want != "") {
			t.Errorf("Lookup(%q) = %q, %v; want %q", number, got, ok, want)
		}
	}
}

func TestBilledSecondsAndCharge(t *testing.T) {
	tests := []struct {
		r      callback.TariffRate
		talk   time.Duration
		billed int
		charge string
	}{
		{rate("1", "0.60", "0", 60, 60), 0, 0, "0.00"},
		{rate("1", "0.60", "0", 60, 60), 1 * time.Second, 60, "0.60"},
		{rate("1", "0.60", "0", 60, 60), 61 * time.Second, 120, "1.20"},
		{rate("1", "0.60", "0", 60, 1), 61 * time.Second, 61, "0.61"},
		{rate("1", "0.60", "0", 30, 6), 31 * time.Second, 36, "0.36"},
		{rate("1", "0.60", "0.10", 1, 1), 1500 * time.Millisecond, 2, "0.12"},
		{rate("1", "0.0125", "0", 1, 1), 7 * time.Second, 7, "0.0015"}, // 0.00145833.. rounds up
		{rate("1", "0", "0.25", 0, 1), 10 * time.Second, 10, "0.25"},
	}
	for i, tt := range tests {
		if got := BilledSeconds(tt.r, tt.talk); got != tt.billed {
			t.Errorf("%d: BilledSeconds = %d, want %d", i, got, tt.billed)
		}
		if got := Charge(tt.r, tt.talk).String(); got != tt.charge {
			t.Errorf("%d: Charge = %s, want %s", i, got, tt.charge)
		}
	}
}

func TestMaxTalkTime(t *testing.T) {
	a := rate("1", "0.08", "0", 60, 60)   // leg A: 8 cents/min
	b := rate("234", "0.20", "0", 60, 60) // leg B: 20 cents/min, seed 004's example
	ten, _ := callback.ParseMoney("10")
	got := MaxTalkTime(ten, a, b)
	// 10 / 0.28 = 35.7 minutes; per-minute increments bill 35 whole minutes.
	if got < 35*time.Minute || got >= 36*time.Minute {
		t.Fatalf("MaxTalkTime = %s, want 35 minutes and change", got)
	}
	if total := Charge(a, got) + Charge(b, got); total > ten {
		t.Fatalf("charge for max talk time %s exceeds the balance", total)
	}
	if MaxTalkTime(0, a, b) != 0 || MaxTalkTime(-5, a) != 0 {
		t.Fatal("no money must mean no talk time")
	}
	fee := rate("1", "0.60", "5", 1, 1)
	if got := MaxTalkTime(callback.Money(4*callback.MoneyScale), fee); got != 0 {
		t.Fatalf("connection fee above the balance: %s, want 0", got)
	}
	for bal := callback.Money(1); bal < 3*callback.MoneyScale; bal += 997 {
		d := MaxTalkTime(bal, a, b)
		if Charge(a, d)+Charge(b, d) > bal {
			t.Fatalf("balance %s: %s costs more", bal, d)
		}
		if next := d + time.Second; d > 0 && Charge(a, next)+Charge(b, next) <= bal {
			t.Fatalf("balance %s: %s is not the maximum", bal, d)
		}
	}
}

// BenchmarkRating measures a rating plus talk-time computation over a
// 100,000-prefix tariff, as the calling card does for every destination.
func BenchmarkRating(b *testing.B) {
	rates := make([]callback.TariffRate, 0, 100_000)
	for i := range 100_000 {
		rates = append(rates, rate(fmt.Sprintf("%d", 100000+i*7), "0.05", "0.01", 30, 6))
	}
	tab := NewTable(rates)
	legA := rate("1", "0.02", "0", 60, 60)
	bal := callback.Money(123456)
	numbers := make([]string, 1024)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("%d%07d", 100000+(i*7919%100_000)*7, i)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		r, ok := tab.Lookup(numbers[i&1023])
		if ok {
			_ = MaxTalkTime(bal, legA, r)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

func BenchmarkLookup(b *testing.B) {
	rates := make([]callback.TariffRate, 0, 100_000)
	for i := range 100_000 {
		rates = append(rates, rate(fmt.Sprintf("%d", 100000+i*7), "0.05", "0.01", 30, 6))
	}
	tab := NewTable(rates)
	i := 0
	for b.Loop() {
		tab.Lookup(fmt.Sprintf("%d1234567", 100000+(i%100_000)*7))
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}
