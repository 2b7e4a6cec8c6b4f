package callback

import "time"

// AttemptEnd is what is known when an attempt stops: by the dispatcher,
// which heard the Dialer's Outcome, or by the rescuer, which finds an
// expired lease and knows only the status the row reached.
type AttemptEnd struct {
	From Status // the status the attempt reached
	// Result is the Dialer's final result; ResultNone when the first leg
	// was not answered, or when nobody heard how the call ended (rescue).
	Result Result
	// Canceled is set when the request was canceled while its call ran.
	Canceled bool
	// Inbound is set for the caller's own call (Source IVR): when it ends
	// before it is answered, the caller gave up.
	Inbound     bool
	CallCount   int           // attempts dialled so far, this one included
	MaxAttempts int           // the policy's "Max # Of Callback Attempts"
	Now         time.Time     // when the attempt stopped
	Backoff     time.Duration // the policy's "Backoff Interval"
}

// Ending is where an attempt leaves its request.
type Ending struct {
	Status   Status
	Result   Result
	NextCall time.Time // Waiting for retry only: when the next attempt is due
	// Why says in words which rule applied, for the request's history.
	Why string
}

// EndAttempt is the one rule of how an attempt ends, for the dispatcher
// and the rescuer alike:
//
//   - a final result from the Dialer finishes the request with it
//     (Canceled when the request was canceled and there is none);
//   - a first leg that was not answered is retried after the backoff,
//     unless no attempts are left (Out of retries) or it was the caller's
//     own inbound call (Canceled: the caller gave up);
//   - legs that were connected finish Successful;
//   - a first leg that was up but never connected to the second finishes
//     First leg aborted;
//   - an attempt that never dialled leaves the request where it was, back
//     in the queue (Status is From).
func EndAttempt(a AttemptEnd) Ending {
	res := a.Result
	if res == ResultNone && a.Canceled {
		res = ResultCanceled
	}
	switch {
	case res != ResultNone:
		return Ending{Status: StatusFinished, Result: res, Why: "the call ended " + string(res)}
	case !a.From.Live():
		return Ending{Status: a.From, Why: "nothing was dialled, the request is back in the queue"}
	case a.From == StatusFirstLegInitiated && a.Inbound:
		return Ending{Status: StatusFinished, Result: ResultCanceled, Why: "the caller hung up before the call was answered"}
	case a.From == StatusFirstLegInitiated && a.CallCount >= a.MaxAttempts:
		return Ending{Status: StatusFinished, Result: ResultOutOfRetries, Why: "the attempt was dialled and no attempts are left"}
	case a.From == StatusFirstLegInitiated:
		next := a.Now.Add(a.Backoff)
		return Ending{Status: StatusWaitingForRetry, NextCall: next, Why: "the attempt was dialled, retry at " + next.UTC().Format(time.RFC3339)}
	case a.From == StatusSecondLegConnected:
		return Ending{Status: StatusFinished, Result: ResultSuccessful, Why: "the legs were connected"}
	default:
		return Ending{Status: StatusFinished, Result: ResultFirstLegAborted, Why: "the first leg was up but never connected"}
	}
}
