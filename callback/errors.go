package callback

import (
	"errors"
	"fmt"
)

// The errors callers branch on with errors.Is. Adapters wrap them with
// context; the HTTP layer maps them to status codes in one place.
var (
	// ErrNotFound: no such request, account, access number or rate.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the row exists already (duplicate username, idempotency key).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input breaks a rule (validation, illegal transition).
	ErrInvalid = errors.New("invalid")
	// ErrLeaseLost: the guarded update matched no row: another node owns the
	// request now, or it was rescued. The holder must stop acting on it.
	ErrLeaseLost = errors.New("lease lost")
	// ErrInsufficientFunds: a charge would take a balance below its credit limit.
	ErrInsufficientFunds = errors.New("insufficient funds")
	// ErrNoDialer: no telephony backend is connected yet; requests wait.
	ErrNoDialer = errors.New("no dialer connected")
	// ErrMaxSessions: the paying account has Max Sessions calls up already.
	ErrMaxSessions = errors.New("max sessions reached")
	// ErrNoCapacity: this node runs as many calls as it may
	// (callback.max_live_calls).
	ErrNoCapacity = errors.New("max live calls reached")
	// ErrNotRunning: the dispatcher is not running (starting or stopping),
	// so it cannot take a call now.
	ErrNotRunning = errors.New("dispatcher not running")
	// ErrUnavailable: the store could not answer: the database is down,
	// unreachable or closed, or a call ran past its deadline
	// (database.query_timeout). Nothing was changed, or the change is
	// unknown; the caller may try again later. Front ends answer it with
	// 503 and Retry-After (HTTP), 451 (SMTP) or the access number's reject.
	ErrUnavailable = errors.New("store unavailable")
)

// ValidationError names the field that is wrong and why, for messages an
// operator or an API client can act on.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// RejectError refuses a call that is on the line, unanswered, with a SIP
// response code: an inbound call sent to the IVR that may not have it
// (the access number's Hangup SIP Response Code, 486 for Max Sessions).
type RejectError struct {
	SIPCode int
	Reason  string
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("call refused with %d: %s", e.SIPCode, e.Reason)
}
