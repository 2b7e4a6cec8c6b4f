package callbacktest

import (
	"context"
	"fmt"
	"sync"

	"github.com/callbackd/callbackd/callback"
)

// Script plays one attempt of a call.
type Script func(ctx context.Context, c *callback.Attempt) callback.Outcome

// AnswerBoth walks the call through both legs, answering each: a
// successful callback.
func AnswerBoth(ctx context.Context, c *callback.Attempt) callback.Outcome {
	id := fmt.Sprintf("cbd-%d-%d", c.Request.ID, c.Request.CallCount+1)
	for _, step := range []func() error{
		func() error { return c.FirstLegInitiated(ctx, id+"-a") },
		func() error { return c.FirstLegConnected(ctx) },
		func() error { return c.SecondLegInitiated(ctx, id+"-b") },
		func() error { return c.SecondLegConnected(ctx) },
	} {
		if err := step(); err != nil {
			return callback.Outcome{Result: callback.ResultFirstLegAborted, Reason: err.Error()}
		}
	}
	return callback.Outcome{Result: callback.ResultSuccessful, Cause: callback.CauseNormalClearing}
}

// Dialer is a fake callback.Dialer: it plays the Script set for the
// request's original_cli, AnswerBoth by default, and counts the dials.
type Dialer struct {
	mu      sync.Mutex
	dials   map[int64]int
	scripts map[string]Script
	// Dialed receives each request id as it is dialled (buffered; a full
	// buffer drops ids rather than block the dispatcher).
	Dialed chan int64
}

// NewDialer returns a Dialer whose Dialed channel holds buffer ids.
func NewDialer(buffer int) *Dialer {
	return &Dialer{dials: map[int64]int{}, scripts: map[string]Script{}, Dialed: make(chan int64, buffer)}
}

// Script sets what happens to calls of requests from cli.
func (d *Dialer) Script(cli string, s Script) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.scripts[cli] = s
}

// WaitReady implements callback.Dialer: always ready.
func (d *Dialer) WaitReady(ctx context.Context) error { return ctx.Err() }

// Dial implements callback.Dialer.
func (d *Dialer) Dial(ctx context.Context, c *callback.Attempt) callback.Outcome {
	d.mu.Lock()
	d.dials[c.Request.ID]++
	s := d.scripts[c.Request.OriginalCLI]
	d.mu.Unlock()
	select {
	case d.Dialed <- c.Request.ID:
	default:
	}
	if s == nil {
		s = AnswerBoth
	}
	return s(ctx, c)
}

// Count returns how often request id was dialled.
func (d *Dialer) Count(id int64) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials[id]
}
