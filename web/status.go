package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/callbackd/callbackd/callback"
)

// step is one stage of a callback on the status page.
type step struct {
	Label string
	State string // "done", "current", "todo", "skipped" or "failed"
}

// The stages shown, in order. The seed's statuses map onto them in
// stageOf; the words are for the person being called, not the operator.
var stages = []string{"Request received", "Calling you", "Connected", "Calling the other party", "Connected", "Finished"}

type statusPage struct {
	base
	Headline    string
	Detail      string
	Steps       []step
	Finished    bool
	Success     bool
	Number      maskedNumber // the number called back
	Destination maskedNumber // the other party; empty for the calling card
	Every       string       // how often the page reloads, in words
	Again       string
}

// stageOf returns the index in stages of a request's status, and the
// headline and detail shown for it.
func stageOf(r *callback.Request, maxAttempts int) (int, string, string) {
	switch r.Status {
	case callback.StatusRequestReceived:
		return 0, "Request received", "We will call you in a moment. Keep your phone at hand."
	case callback.StatusWaitingForRetry:
		return 1, "Calling you", fmt.Sprintf("We could not reach you on attempt %d of %d. We will try again shortly.", r.CallCount, maxAttempts)
	case callback.StatusFirstLegInitiated:
		return 1, "Calling you", "Your phone should ring now. Please answer it."
	case callback.StatusFirstLegConnected:
		return 2, "Connected", "You answered. Please stay on the line."
	case callback.StatusSecondLegInitiated:
		return 3, "Calling the other party", "Please stay on the line while we connect you."
	case callback.StatusSecondLegConnected:
		return 4, "Connected", "You are connected. Enjoy your call."
	}
	what := map[callback.Result]string{
		callback.ResultSuccessful:      "successful",
		callback.ResultOutOfRetries:    "could not reach you",
		callback.ResultExpired:         "too late to call you",
		callback.ResultFirstLegAborted: "you hung up before the other party answered",
		callback.ResultSecondLegFailed: "could not reach the other party",
		callback.ResultCanceled:        "canceled",
		callback.ResultInvalid:         "the call could not be placed",
	}[r.Result]
	if what == "" {
		what = strings.ToLower(string(r.Result))
	}
	detail := map[callback.Result]string{
		callback.ResultSuccessful:      "Your call has ended. Thank you.",
		callback.ResultOutOfRetries:    fmt.Sprintf("We called %d times but nobody answered. You can ask for a new callback.", r.CallCount),
		callback.ResultExpired:         "The request waited too long to be placed. You can ask for a new callback.",
		callback.ResultFirstLegAborted: "The call ended before the other party answered. You can ask for a new callback.",
		callback.ResultSecondLegFailed: "The other party was busy or did not answer. You can ask for a new callback.",
		callback.ResultCanceled:        "The callback was canceled.",
		callback.ResultInvalid:         "Please contact us if this happens again.",
	}[r.Result]
	return 5, "Finished: " + what, detail
}

// maskedNumber is a number with all but its last digits hidden: the status
// link may be shared or seen over a shoulder.
type maskedNumber struct {
	Hidden bool
	Last   string
}

func mask(n string) maskedNumber {
	if n == "" {
		return maskedNumber{}
	}
	if len(n) <= 3 {
		return maskedNumber{Last: n}
	}
	return maskedNumber{Hidden: true, Last: n[len(n)-3:]}
}

func (p *page) status(w http.ResponseWriter, r *http.Request) {
	id, ok := p.keys.parseStatusToken(r.PathValue("token"))
	if !ok {
		p.message(w, http.StatusNotFound, "Status not found",
			"This status link is not valid. Check that you copied the whole link.", "/", "Request a callback")
		return
	}
	req, err := p.store.GetRequest(r.Context(), id)
	switch {
	case errors.Is(err, callback.ErrNotFound):
		p.message(w, http.StatusNotFound, "Status not found", "We have no callback for this link any more.", "/", "Request a callback")
		return
	case err != nil:
		p.log.Error("status page: read request failed", "request_id", id, "err", err)
		w.Header().Set("Retry-After", "5")
		p.message(w, http.StatusServiceUnavailable, "Status not available",
			"We cannot show the status just now. Reload this page in a moment.", r.URL.Path, "Reload")
		return
	}
	stage, headline, detail := stageOf(req, p.svc.Policy.MaxAttempts)
	data := statusPage{
		base: p.base(headline), Headline: headline, Detail: detail,
		Finished: req.Status == callback.StatusFinished, Success: req.Result == callback.ResultSuccessful,
		Number: mask(req.OriginalCLI), Destination: mask(req.Destination), Again: "/",
	}
	reached := stage - 1
	if data.Finished {
		reached = reachedBefore(req)
	}
	for i, label := range stages {
		st := "todo"
		switch {
		case i <= reached:
			st = "done"
		case i < stage && data.Finished:
			st = "skipped"
		case i == stage && data.Finished && !data.Success:
			st = "failed"
		case i == stage && data.Finished:
			st = "done"
		case i == stage:
			st = "current"
		}
		data.Steps = append(data.Steps, step{Label: label, State: st})
	}
	if !data.Finished {
		data.Refresh = max(1, int(p.o.Refresh.Seconds()))
		data.Every = "second"
		if data.Refresh > 1 {
			data.Every = fmt.Sprintf("%d seconds", data.Refresh)
		}
	}
	p.render(w, http.StatusOK, "status", data)
}

// reachedBefore returns the last stage a finished request got through, so
// that a failed callback does not show stages it never reached as done.
func reachedBefore(r *callback.Request) int {
	switch r.Result {
	case callback.ResultSuccessful:
		return 4
	case callback.ResultSecondLegFailed:
		return 3
	case callback.ResultFirstLegAborted:
		if r.TwowayCallID != "" {
			return 3
		}
		return 2
	}
	switch {
	case !r.ConnectTime.IsZero():
		return 2
	case r.CallCount > 0:
		return 1
	}
	return 0
}
