package trigger

import (
	"time"

	"github.com/callbackd/callbackd/limiter"
)

// Limits are the abuse limits of F1. The yaml tags name the configuration
// keys (limits.per_cli_burst, limits.per_cli_every).
type Limits struct {
	PerCLI     limiter.Limit `yaml:"per_cli"`     // triggers per caller ID: 5, then 1 a minute
	PerAccount limiter.Limit `yaml:"per_account"` // callbacks queued per account: 10, then 1 every 30 s
	PerSource  limiter.Limit `yaml:"per_source"`  // triggers per source address (SIP peer, web client): 60, then 1 a second
}

// DefaultLimits returns the defaults above.
func DefaultLimits() Limits {
	return Limits{
		PerCLI:     limiter.Limit{Every: time.Minute, Burst: 5},
		PerAccount: limiter.Limit{Every: 30 * time.Second, Burst: 10},
		PerSource:  limiter.Limit{Every: time.Second, Burst: 60},
	}
}
