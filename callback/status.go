package callback

import (
	"fmt"
	"slices"
)

// Status is the callback_requests.status string. The values are the seed's
// (Sippy "ANI Callback", "Status and result strings") letter for letter,
// because operators' reports and SQL queries match on them.
type Status string

// The statuses of the main flow, in order, and the retry state.
const (
	StatusRequestReceived    Status = "Request received"
	StatusFirstLegInitiated  Status = "First leg initiated"
	StatusFirstLegConnected  Status = "First leg connected"
	StatusSecondLegInitiated Status = "Second leg initiated"
	StatusSecondLegConnected Status = "Second leg connected"
	StatusWaitingForRetry    Status = "Waiting for retry"
	StatusFinished           Status = "Finished"
)

// Statuses lists every status in the seed's order.
var Statuses = []Status{
	StatusRequestReceived, StatusFirstLegInitiated, StatusFirstLegConnected,
	StatusSecondLegInitiated, StatusSecondLegConnected, StatusWaitingForRetry,
	StatusFinished,
}

// Valid reports whether s is one of the seed's statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Live reports whether a call is up or being set up in this status, so that
// a cancel has to hang up channels rather than just close the row.
func (s Status) Live() bool {
	switch s {
	case StatusFirstLegInitiated, StatusFirstLegConnected,
		StatusSecondLegInitiated, StatusSecondLegConnected:
		return true
	}
	return false
}

// Result is the callback_requests.result string; ResultNone is SQL NULL.
type Result string

// The seed's results. ResultInvalid is callbackd's own extension (the seed
// allows applications to add results): a row inserted by SQL that can never
// be dialled (unknown username, empty original_cli, malformed original_cld,
// negative credit_time) is finished with it instead of being retried forever.
const (
	ResultNone            Result = ""
	ResultSuccessful      Result = "Successful"
	ResultOutOfRetries    Result = "Out of retries"
	ResultExpired         Result = "Expired"
	ResultFirstLegAborted Result = "First leg aborted"
	ResultSecondLegFailed Result = "Second leg failed"
	ResultCanceled        Result = "Canceled"
	ResultInvalid         Result = "Invalid request"
)

// Results lists every non-NULL result.
var Results = []Result{
	ResultSuccessful, ResultOutOfRetries, ResultExpired, ResultFirstLegAborted,
	ResultSecondLegFailed, ResultCanceled, ResultInvalid,
}

// Valid reports whether r is NULL or one of the known results.
func (r Result) Valid() bool { return r == ResultNone || slices.Contains(Results, r) }

// transitions is the state machine: for each status, the statuses it may move
// to. Finished is terminal. A status may not move to itself except where an
// update only records data (handled by the caller, not here).
var transitions = map[Status][]Status{
	StatusRequestReceived:    {StatusFirstLegInitiated, StatusFinished},
	StatusWaitingForRetry:    {StatusFirstLegInitiated, StatusFinished},
	StatusFirstLegInitiated:  {StatusFirstLegConnected, StatusWaitingForRetry, StatusFinished},
	StatusFirstLegConnected:  {StatusSecondLegInitiated, StatusFinished},
	StatusSecondLegInitiated: {StatusSecondLegConnected, StatusFinished},
	StatusSecondLegConnected: {StatusFinished},
}

// finishedFrom says which results a request may finish with from each status.
// It encodes the seed's meaning of each result: "Out of retries" only after
// a failed first leg, "First leg aborted" only once the first leg was up and
// before the second connected, and so on.
var finishedFrom = map[Status][]Result{
	StatusRequestReceived:    {ResultExpired, ResultCanceled, ResultInvalid, ResultOutOfRetries},
	StatusWaitingForRetry:    {ResultExpired, ResultCanceled, ResultInvalid, ResultOutOfRetries},
	StatusFirstLegInitiated:  {ResultOutOfRetries, ResultCanceled, ResultInvalid},
	StatusFirstLegConnected:  {ResultSuccessful, ResultFirstLegAborted, ResultSecondLegFailed, ResultCanceled},
	StatusSecondLegInitiated: {ResultFirstLegAborted, ResultSecondLegFailed, ResultCanceled},
	StatusSecondLegConnected: {ResultSuccessful, ResultCanceled},
}

// TransitionError is returned for a move the state machine does not allow.
type TransitionError struct {
	From   Status
	To     Status
	Result Result
}

func (e *TransitionError) Error() string {
	if e.Result != ResultNone {
		return fmt.Sprintf("illegal transition %q -> %q/%q", e.From, e.To, e.Result)
	}
	return fmt.Sprintf("illegal transition %q -> %q", e.From, e.To)
}

// Is makes errors.Is(err, ErrInvalid) true for illegal transitions.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalid }

// CheckTransition returns nil when a request in status from may move to
// status to with result r, and a *TransitionError otherwise. Only Finished
// carries a result; every other status has a NULL result.
func CheckTransition(from, to Status, r Result) error {
	bad := &TransitionError{From: from, To: to, Result: r}
	if !from.Valid() || !to.Valid() || !r.Valid() {
		return bad
	}
	if !slices.Contains(transitions[from], to) {
		return bad
	}
	if to == StatusFinished {
		if !slices.Contains(finishedFrom[from], r) {
			return bad
		}
		return nil
	}
	if r != ResultNone {
		return bad
	}
	return nil
}
