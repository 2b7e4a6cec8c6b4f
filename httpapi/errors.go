package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
)

// The error codes of the API. They are stable: clients branch on them, the
// XML-RPC faults carry them in faultString, and the OpenAPI document lists
// them.
const (
	CodeInvalidRequest       = "invalid_request"        // 400: a field breaks a rule
	CodeMalformedRequest     = "malformed_request"      // 400: the body is not JSON/XML at all
	CodeUnauthenticated      = "unauthenticated"        // 401
	CodeForbidden            = "forbidden"              // 403
	CodeNotFound             = "not_found"              // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeConflict             = "conflict"               // 409
	CodeAccountHasHistory    = "account_has_history"    // 409: an account with history cannot be deleted
	CodePreconditionFailed   = "precondition_failed"    // 412: If-Match names an old version
	CodePreconditionRequired = "precondition_required"  // 428: an update without If-Match
	CodeRequestTooLarge      = "request_too_large"      // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeRateLimited          = "rate_limited"           // 429
	CodeInternal             = "internal_error"         // 500
	CodeUnavailable          = "unavailable"            // 503
)

// Error is an API error as a client sees it. Only Code, Message and Field
// are ever sent; the cause stays in the log.
type Error struct {
	Status  int    // HTTP status
	Code    string // one of the Code constants
	Message string // for a human; never holds a secret
	Field   string // the offending field, when there is one
	// RetryAfter is sent as Retry-After with 429 and 503.
	RetryAfter time.Duration

	cause error
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.cause }

// errorBody is the JSON shape of every error: {"error":{...}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func newError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

func invalid(field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: msg, Field: field}
}

// loginRetryAfter is the Retry-After hint once the Authenticator refuses
// further attempts; it does not expose its refill rate, and a minute is the
// order of it.
const loginRetryAfter = time.Minute

// StoreRetryAfter is the Retry-After hint of a 503 caused by the store: a
// database restart or fail-over is over in about that time.
const StoreRetryAfter = 5 * time.Second

// classify maps any error a handler meets to the API error a client sees.
// It is the one place where the domain's typed errors, the Authenticator's
// and net/http's become statuses and codes; JSON, XML-RPC and the SMS
// webhook all answer through it. Errors it does not know become a 500 whose
// message says nothing of the cause.
func classify(err error) *Error {
	var (
		apiErr *Error
		ve     *callback.ValidationError
		he     *admin.HistoryError
		te     *callback.TransitionError
		mbe    *http.MaxBytesError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &apiErr):
		return apiErr
	case errors.Is(err, callback.ErrUnavailable):
		// The store is down or frozen: nothing was created (or the
		// outcome is unknown, and a retry with the same Idempotency-Key
		// finds the first request).
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "the service is temporarily unavailable; try again later", RetryAfter: StoreRetryAfter, cause: err}
	case errors.As(err, &mbe):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeRequestTooLarge,
			Message: fmt.Sprintf("the body is larger than %d bytes", mbe.Limit), cause: err}
	case errors.As(err, &ve):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: ve.Reason, Field: ve.Field, cause: err}
	case errors.As(err, &he):
		return &Error{Status: http.StatusConflict, Code: CodeAccountHasHistory, Message: he.Error(), cause: err}
	case errors.As(err, &te):
		return &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: fmt.Sprintf("the request is %s and cannot move to %s", te.From, te.To), cause: err}
	case errors.Is(err, admin.ErrPreconditionFailed):
		return &Error{Status: http.StatusPreconditionFailed, Code: CodePreconditionFailed,
			Message: "the object changed since it was read (ETag); read it again and redo the change", cause: err}
	case errors.Is(err, admin.ErrForbidden):
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: err.Error(), cause: err}
	case errors.Is(err, auth.ErrTooManyAttempts):
		return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
			Message: "too many failed attempts; try again later", RetryAfter: loginRetryAfter, cause: err}
	case errors.Is(err, auth.ErrBadCredentials):
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: badCredentials, cause: err}
	case errors.Is(err, callback.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such request", cause: err}
	case errors.Is(err, callback.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "the request conflicts with one that exists", cause: err}
	case errors.Is(err, callback.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the request breaks a rule", cause: err}
	case errors.Is(err, callback.ErrNoDialer), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "the service is not ready; try again later", RetryAfter: 5 * time.Second, cause: err}
	case errors.Is(err, context.Canceled):
		// The client went away; the status is only ever seen in the log.
		return &Error{Status: 499, Code: CodeUnavailable, Message: "request canceled", cause: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", cause: err}
}

// badCredentials is the one message for an unknown account, a wrong
// password and a wrong token, so that accounts cannot be enumerated.
const badCredentials = "invalid credentials"

// setErrorHeaders writes the headers an error status calls for.
func setErrorHeaders(h http.Header, e *Error) {
	switch e.Status {
	case http.StatusUnauthorized:
		h.Add("WWW-Authenticate", `Basic realm="callbackd", charset="UTF-8"`)
		h.Add("WWW-Authenticate", `Bearer realm="callbackd"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if e.RetryAfter > 0 {
			secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
			h.Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		}
	}
}
