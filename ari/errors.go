package ari

import (
	"errors"
	"fmt"
	"net/http"
)

// The errors callers branch on with errors.Is. An *HTTPError matches the
// sentinel of its status class; a transport failure before the request left
// this process matches ErrUnreachable.
var (
	// ErrNotFound: 404, the channel, bridge, playback or object is gone.
	ErrNotFound = errors.New("ari: not found")
	// ErrConflict: 409, e.g. a channelId already in use, or a channel not in
	// Stasis.
	ErrConflict = errors.New("ari: conflict")
	// ErrUnprocessable: 422, e.g. a channel added to a bridge while not in
	// Stasis.
	ErrUnprocessable = errors.New("ari: unprocessable")
	// ErrBadRequest: 400, Asterisk refused the arguments.
	ErrBadRequest = errors.New("ari: bad request")
	// ErrForbidden: 403, e.g. a dynamic configuration write to an object type
	// that sorcery.conf backs with a read-only wizard.
	ErrForbidden = errors.New("ari: forbidden")
	// ErrServer: 5xx. On an originate, Asterisk's 500 "Allocation failed"
	// means no channel was created.
	ErrServer = errors.New("ari: server error")
	// ErrUnreachable: the request never reached Asterisk (connection refused,
	// no route): it certainly had no effect.
	ErrUnreachable = errors.New("ari: Asterisk unreachable")

	// ErrFirstLegGone: leg A hung up or vanished while a sub-application
	// was using it.
	ErrFirstLegGone = errors.New("first leg hung up")
	// ErrNoInput: CollectDigits saw no digit before its timeout.
	ErrNoInput = errors.New("no digits entered")
)

// HTTPError is a non-2xx answer of the ARI REST interface.
type HTTPError struct {
	Method  string
	Path    string
	Status  int
	Message string // Asterisk's "message" (or "error") field, when it sent one
}

func (e *HTTPError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
}

// Is maps the status to the sentinel errors above.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrUnprocessable:
		return e.Status == http.StatusUnprocessableEntity
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrServer:
		return e.Status >= 500
	}
	return false
}

// LegFailedError says why a leg ended before it was answered.
type LegFailedError struct {
	Channel string
	Cause   int    // Q.850 cause from ChannelDestroyed (0: unknown)
	SIPCode int    // SIP response when Asterisk reported it (tech_cause), else 0
	Reason  string // cause text or what went wrong
}

func (e *LegFailedError) Error() string {
	if e.SIPCode != 0 {
		return fmt.Sprintf("channel %s failed: cause %d (%s), SIP %d", e.Channel, e.Cause, e.Reason, e.SIPCode)
	}
	return fmt.Sprintf("channel %s failed: cause %d (%s)", e.Channel, e.Cause, e.Reason)
}

// PlaybackError reports media Asterisk could not play (a missing sound file).
type PlaybackError struct {
	Channel  string
	Playback string
	Media    []string
}

func (e *PlaybackError) Error() string {
	return fmt.Sprintf("playback %s on %s failed: %v", e.Playback, e.Channel, e.Media)
}
