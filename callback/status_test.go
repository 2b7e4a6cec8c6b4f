package callback

import (
	"errors"
	"testing"
)

func TestCheckTransition(t *testing.T) {
	tests := []struct {
		from, to Status
		result   Result
		ok       bool
	}{
		{StatusRequestReceived, StatusFirstLegInitiated, ResultNone, true},
		{StatusRequestReceived, StatusFinished, ResultExpired, true},
		{StatusRequestReceived, StatusFinished, ResultCanceled, true},
		{StatusRequestReceived, StatusFinished, ResultInvalid, true},
		{StatusRequestReceived, StatusFinished, ResultSuccessful, false},
		{StatusRequestReceived, StatusFirstLegConnected, ResultNone, false},
		{StatusRequestReceived, StatusWaitingForRetry, ResultNone, false},
		{StatusFirstLegInitiated, StatusFirstLegConnected, ResultNone, true},
		{StatusFirstLegInitiated, StatusWaitingForRetry, ResultNone, true},
		{StatusFirstLegInitiated, StatusFinished, ResultOutOfRetries, true},
		{StatusFirstLegInitiated, StatusFinished, ResultCanceled, true},
		{StatusFirstLegInitiated, StatusFinished, ResultSuccessful, false},
		{StatusFirstLegInitiated, StatusFinished, ResultFirstLegAborted, false},
		{StatusFirstLegInitiated, StatusSecondLegInitiated, ResultNone, false},
		{StatusFirstLegConnected, StatusSecondLegInitiated, ResultNone, true},
		{StatusFirstLegConnected, StatusFinished, ResultSuccessful, true},
		{StatusFirstLegConnected, StatusFinished, ResultFirstLegAborted, true},
		{StatusFirstLegConnected, StatusFinished, ResultOutOfRetries, false},
		{StatusFirstLegConnected, StatusWaitingForRetry, ResultNone, false},
		{StatusSecondLegInitiated, StatusSecondLegConnected, ResultNone, true},
		{StatusSecondLegInitiated, StatusFinished, ResultSecondLegFailed, true},
		{StatusSecondLegInitiated, StatusFinished, ResultFirstLegAborted, true},
		{StatusSecondLegInitiated, StatusFinished, ResultSuccessful, false},
		{StatusSecondLegConnected, StatusFinished, ResultSuccessful, true},
		{StatusSecondLegConnected, StatusFinished, ResultCanceled, true},
		{StatusSecondLegConnected, StatusFinished, ResultSecondLegFailed, false},
		{StatusWaitingForRetry, StatusFirstLegInitiated, ResultNone, true},
		{StatusWaitingForRetry, StatusFinished, ResultOutOfRetries, true},
		{StatusWaitingForRetry, StatusFinished, ResultExpired, true},
		{StatusWaitingForRetry, StatusFirstLegConnected, ResultNone, false},
		{StatusFinished, StatusFirstLegInitiated, ResultNone, false},
		{StatusFinished, StatusFinished, ResultSuccessful, false},
		{StatusFirstLegInitiated, StatusFirstLegConnected, ResultSuccessful, false}, // result only on Finished
		{StatusFirstLegInitiated, StatusFinished, ResultNone, false},                // Finished needs a result
		{"Ringing", StatusFinished, ResultCanceled, false},
		{StatusRequestReceived, StatusFinished, "Maybe", false},
	}
	for _, tt := range tests {
		err := CheckTransition(tt.from, tt.to, tt.result)
		if (err == nil) != tt.ok {
			t.Errorf("CheckTransition(%q, %q, %q) = %v, want ok=%v", tt.from, tt.to, tt.result, err, tt.ok)
		}
		if err != nil {
			var te *TransitionError
			if !errors.As(err, &te) || !errors.Is(err, ErrInvalid) {
				t.Errorf("CheckTransition(%q, %q, %q) error %v is not a *TransitionError wrapping ErrInvalid", tt.from, tt.to, tt.result, err)
			}
		}
	}
}

// The seed's strings are the product's interface with operators' SQL: a
// typo here breaks their reports.
func TestSeedStrings(t *testing.T) {
	want := map[Status]string{
		StatusRequestReceived: "Request received", StatusFirstLegInitiated: "First leg initiated",
		StatusFirstLegConnected: "First leg connected", StatusSecondLegInitiated: "Second leg initiated",
		StatusSecondLegConnected: "Second leg connected", StatusWaitingForRetry: "Waiting for retry",
		StatusFinished: "Finished",
	}
	for s, w := range want {
		if string(s) != w {
			t.Errorf("status %q, want %q", s, w)
		}
	}
	results := map[Result]string{
		ResultSuccessful: "Successful", ResultOutOfRetries: "Out of retries", ResultExpired: "Expired",
		ResultFirstLegAborted: "First leg aborted", ResultSecondLegFailed: "Second leg failed", ResultCanceled: "Canceled",
	}
	for r, w := range results {
		if string(r) != w {
			t.Errorf("result %q, want %q", r, w)
		}
	}
}

// Every non-terminal status can reach Finished, so no request can be stuck.
func TestEveryStatusCanFinish(t *testing.T) {
	for _, s := range Statuses {
		if s == StatusFinished {
			continue
		}
		if len(finishedFrom[s]) == 0 {
			t.Errorf("status %q has no way to finish", s)
		}
	}
}
