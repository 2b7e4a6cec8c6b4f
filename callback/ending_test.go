package callback

import (
	"testing"
	"time"
)

// TestEndAttempt is the table of every way an attempt ends: each status an
// attempt can stop in, with and without a final result, canceled, inbound,
// and with attempts left or not. Every ending it gives is one the state
// machine allows.
func TestEndAttempt(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const backoff = 10 * time.Second
	retry := now.Add(backoff)
	tests := []struct {
		name string
		in   AttemptEnd
		want Ending
	}{
		{"never dialled, from the queue", AttemptEnd{From: StatusRequestReceived}, Ending{Status: StatusRequestReceived}},
		{"never dialled, from a retry", AttemptEnd{From: StatusWaitingForRetry, CallCount: 1}, Ending{Status: StatusWaitingForRetry}},
		{"invalid before dialling", AttemptEnd{From: StatusRequestReceived, Result: ResultInvalid}, Ending{Status: StatusFinished, Result: ResultInvalid}},
		{"canceled before dialling", AttemptEnd{From: StatusWaitingForRetry, Canceled: true}, Ending{Status: StatusFinished, Result: ResultCanceled}},
		{"first leg not answered, attempts left", AttemptEnd{From: StatusFirstLegInitiated, CallCount: 1, MaxAttempts: 3},
			Ending{Status: StatusWaitingForRetry, NextCall: retry}},
		{"first leg not answered, last attempt", AttemptEnd{From: StatusFirstLegInitiated, CallCount: 3, MaxAttempts: 3},
			Ending{Status: StatusFinished, Result: ResultOutOfRetries}},
		{"first leg not answered, past the last attempt", AttemptEnd{From: StatusFirstLegInitiated, CallCount: 4, MaxAttempts: 3},
			Ending{Status: StatusFinished, Result: ResultOutOfRetries}},
		{"inbound caller gave up", AttemptEnd{From: StatusFirstLegInitiated, Inbound: true, CallCount: 1, MaxAttempts: 3},
			Ending{Status: StatusFinished, Result: ResultCanceled}},
		{"first leg canceled while ringing", AttemptEnd{From: StatusFirstLegInitiated, Canceled: true, CallCount: 1, MaxAttempts: 3},
			Ending{Status: StatusFinished, Result: ResultCanceled}},
		{"first leg up, no result", AttemptEnd{From: StatusFirstLegConnected}, Ending{Status: StatusFinished, Result: ResultFirstLegAborted}},
		{"second leg dialling, no result", AttemptEnd{From: StatusSecondLegInitiated}, Ending{Status: StatusFinished, Result: ResultFirstLegAborted}},
		{"legs connected, no result", AttemptEnd{From: StatusSecondLegConnected}, Ending{Status: StatusFinished, Result: ResultSuccessful}},
		{"second leg failed", AttemptEnd{From: StatusSecondLegInitiated, Result: ResultSecondLegFailed},
			Ending{Status: StatusFinished, Result: ResultSecondLegFailed}},
		{"first leg aborted by the dialer", AttemptEnd{From: StatusFirstLegConnected, Result: ResultFirstLegAborted},
			Ending{Status: StatusFinished, Result: ResultFirstLegAborted}},
		{"successful", AttemptEnd{From: StatusSecondLegConnected, Result: ResultSuccessful}, Ending{Status: StatusFinished, Result: ResultSuccessful}},
		{"canceled with the legs connected", AttemptEnd{From: StatusSecondLegConnected, Canceled: true},
			Ending{Status: StatusFinished, Result: ResultCanceled}},
		{"a result wins over canceled", AttemptEnd{From: StatusSecondLegConnected, Result: ResultSuccessful, Canceled: true},
			Ending{Status: StatusFinished, Result: ResultSuccessful}},
	}
	for _, tt := range tests {
		tt.in.Now, tt.in.Backoff = now, backoff
		got := EndAttempt(tt.in)
		if got.Status != tt.want.Status || got.Result != tt.want.Result || !got.NextCall.Equal(tt.want.NextCall) {
			t.Errorf("%s: %q/%q next %s; want %q/%q next %s", tt.name, got.Status, got.Result, got.NextCall,
				tt.want.Status, tt.want.Result, tt.want.NextCall)
		}
		if got.Why == "" {
			t.Errorf("%s: no reason given", tt.name)
		}
		if got.Status != tt.in.From {
			if err := CheckTransition(tt.in.From, got.Status, got.Result); err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
		}
	}
}
