package webhook

import (
	"testing"
	"time"
)

// The wait before a retry is as long as the row has been failing (so the
// waits double), at least BackoffMin and at most BackoffMax, less up to a
// fifth at random.
func TestBackoffDoubles(t *testing.T) {
	s := &Sender{o: Options{BackoffMin: 5 * time.Second, BackoffMax: time.Hour}}
	elapsed := time.Duration(0)
	var waits []time.Duration
	for range 40 {
		d := s.backoff(elapsed)
		want := min(max(elapsed, 5*time.Second), time.Hour)
		if d > want || d < want*4/5 {
			t.Fatalf("backoff after %s failing = %s, want %s less at most a fifth", elapsed, d, want)
		}
		waits = append(waits, d)
		elapsed += d
	}
	// Within a day the waits reach the cap: a day holds some 30 attempts.
	n := 0
	for total := time.Duration(0); n < len(waits) && total < 24*time.Hour; n++ {
		total += waits[n]
	}
	if n < 20 || n > 40 {
		t.Errorf("%d attempts in the first day (waits %v)", n, waits[:10])
	}
}
