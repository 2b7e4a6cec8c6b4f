package billing

import (
	"context"
	"time"
)

// SweepInterval is how often Sweep settles the calls whose end no process
// saw.
const SweepInterval = time.Minute

// Sweep settles, every interval (SweepInterval when not positive), the
// calls whose end no process saw (a node killed mid-call): their
// reservations are charged from the answer to the request's disconnect
// time. It returns when ctx is done.
func (b *Biller) Sweep(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = SweepInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if n, err := b.RecoverAll(ctx); err != nil {
				b.log.Error("settling calls whose end was not seen failed", "err", err)
			} else if n > 0 {
				b.log.Info("settled calls whose end was not seen", "count", n)
			}
		}
	}
}
