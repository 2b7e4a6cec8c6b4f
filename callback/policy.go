package callback

import (
	"fmt"
	"time"
)

// Policy holds the scheduling options. Names in comments are the seed's
// (Sippy ANI Callback "Advanced parameters"); defaults are the seed's except
// Scan Interval, where callbackd polls every second instead of five and fires
// at next_call in between. The yaml tags are the configuration keys of the
// callback section (callback.max_attempts), each the field's name in
// snake case.
type Policy struct {
	DelayBeforeCallback time.Duration `yaml:"delay_before_callback"` // "Delay Before Callback": 5 s
	BackoffInterval     time.Duration `yaml:"backoff_interval"`      // "Backoff Interval": 10 s
	MaxAttempts         int           `yaml:"max_attempts"`          // "Max # Of Callback Attempts": 3
	Timeout             time.Duration `yaml:"timeout"`               // "Timeout" (time to wait for answer): 300 s
	ScanInterval        time.Duration `yaml:"scan_interval"`         // "Scan Interval": 1 s (seed: 5 s)
	MaxAge              time.Duration `yaml:"max_age"`               // requests older than this finish Expired: 1 h
	Lease               time.Duration `yaml:"lease"`                 // a claim's lease, renewed while the call lives: 30 s
	RescueInterval      time.Duration `yaml:"rescue_interval"`       // how often expired leases are returned: 5 s
	MaxLiveCalls        int           `yaml:"max_live_calls"`        // global limit of callbacks in progress: 500
	ShutdownGrace       time.Duration `yaml:"shutdown_grace"`        // live calls may finish this long on SIGTERM: 30 s
	// MaxCreditTime bounds credit_time: a request asking for more is
	// refused (or, inserted by SQL, finished Invalid request): 24 h. 0
	// means no bound.
	MaxCreditTime time.Duration `yaml:"max_credit_time"`
}

// DefaultPolicy returns the defaults above.
func DefaultPolicy() Policy {
	return Policy{
		DelayBeforeCallback: 5 * time.Second,
		BackoffInterval:     10 * time.Second,
		MaxAttempts:         3,
		Timeout:             300 * time.Second,
		ScanInterval:        time.Second,
		MaxAge:              time.Hour,
		Lease:               30 * time.Second,
		RescueInterval:      5 * time.Second,
		MaxLiveCalls:        500,
		ShutdownGrace:       30 * time.Second,
		MaxCreditTime:       24 * time.Hour,
	}
}

// Validate reports options that cannot work.
func (p Policy) Validate() error {
	switch {
	case p.DelayBeforeCallback < 0:
		return fmt.Errorf("delay before callback %s is negative: %w", p.DelayBeforeCallback, ErrInvalid)
	case p.BackoffInterval <= 0:
		return fmt.Errorf("backoff interval %s must be positive: %w", p.BackoffInterval, ErrInvalid)
	case p.MaxAttempts < 1:
		return fmt.Errorf("max attempts %d must be at least 1: %w", p.MaxAttempts, ErrInvalid)
	case p.Timeout <= 0:
		return fmt.Errorf("answer timeout %s must be positive: %w", p.Timeout, ErrInvalid)
	case p.ScanInterval <= 0:
		return fmt.Errorf("scan interval %s must be positive: %w", p.ScanInterval, ErrInvalid)
	case p.Lease < 3*time.Second:
		return fmt.Errorf("lease %s must be at least 3s: %w", p.Lease, ErrInvalid)
	case p.RescueInterval <= 0:
		return fmt.Errorf("rescue interval %s must be positive: %w", p.RescueInterval, ErrInvalid)
	case p.MaxLiveCalls < 1:
		return fmt.Errorf("max live calls %d must be at least 1: %w", p.MaxLiveCalls, ErrInvalid)
	case p.MaxCreditTime < 0:
		return fmt.Errorf("max credit time %s is negative: %w", p.MaxCreditTime, ErrInvalid)
	case p.MaxAge < 0:
		return fmt.Errorf("max age %s is negative: %w", p.MaxAge, ErrInvalid)
	}
	return nil
}
