package tariff

import (
	"math/big"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// BilledSeconds rounds a call's duration up to the rate's increments: at
// least FirstIncrement, then whole NextIncrements. An unanswered call (0 s)
// bills nothing.
func BilledSeconds(r callback.TariffRate, talk time.Duration) int {
	secs := int((talk + time.Second - 1) / time.Second) // started seconds count
	if secs <= 0 {
		return 0
	}
	first := max(r.FirstIncrement, 0)
	next := max(r.NextIncrement, 1)
	if secs <= first {
		return first
	}
	rest := secs - first
	return first + (rest+next-1)/next*next
}

// Charge is the price of a call of talk duration at rate r: the connection
// fee plus billed seconds at the per-minute price, rounded up to the next
// Money unit so that a fraction of a unit is never given away.
func Charge(r callback.TariffRate, talk time.Duration) callback.Money {
	billed := BilledSeconds(r, talk)
	if billed == 0 {
		return 0
	}
	return r.ConnectionFee + perSeconds(r.PricePerMinute, billed)
}

// perSeconds is price * secs / 60 rounded up, exactly.
func perSeconds(price callback.Money, secs int) callback.Money {
	num := new(big.Int).Mul(big.NewInt(int64(price)), big.NewInt(int64(secs)))
	q, m := new(big.Int).QuoRem(num, big.NewInt(60), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return callback.Money(q.Int64())
}

// MaxTalkTime is the longest call that available money pays for when every
// listed rate is charged at once (a callback pays leg A and leg B together,
// seed 002 and 004: "the caller pays for an outbound and an inbound call at
// the same time"). It accounts for connection fees and increments, so that
// Charge of the result, summed over the rates, never exceeds available.
func MaxTalkTime(available callback.Money, rates ...callback.TariffRate) time.Duration {
	if available <= 0 || len(rates) == 0 {
		return 0
	}
	cost := func(secs int) callback.Money {
		var sum callback.Money
		for _, r := range rates {
			sum += Charge(r, time.Duration(secs)*time.Second)
		}
		return sum
	}
	if cost(1) > available {
		return 0
	}
	var perMinute callback.Money
	for _, r := range rates {
		perMinute += r.PricePerMinute
	}
	const cap = 24 * 3600 // a day: nothing free runs longer
	if perMinute <= 0 {
		return cap * time.Second
	}
	// Binary search the largest whole second whose cost fits; cost is
	// monotone in seconds.
	lo, hi := 1, cap
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if cost(mid) <= available {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return time.Duration(lo) * time.Second
}
