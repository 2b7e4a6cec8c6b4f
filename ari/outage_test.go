package ari_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/callback"
)

// errOutage is what the store answers while the database is unreachable.
var errOutage = errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")

// answerOutage is a store that cannot record First leg connected, nor
// renew leases, for the first fails tries (all of them when fails < 0),
// as during a database outage that begins as the user answers.
type answerOutage struct {
	callback.Store
	mu    sync.Mutex
	fails int
	tried int
}

// down reports an outage under way: it begins with the first write of
// the answer.
func (o *answerOutage) down() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tried > 0 && (o.fails < 0 || o.tried < o.fails)
}

func (o *answerOutage) Update(ctx context.Context, l callback.Lease, c callback.Change) (*callback.Request, error) {
	if c.To == callback.StatusFirstLegConnected {
		o.mu.Lock()
		down := o.fails < 0 || o.tried < o.fails
		o.tried++
		o.mu.Unlock()
		if down {
			return nil, errOutage
		}
	}
	return o.Store.Update(ctx, l, c)
}

func (o *answerOutage) Renew(ctx context.Context, l callback.Lease, until time.Time) error {
	if o.down() {
		return errOutage
	}
	return o.Store.Renew(ctx, l, until)
}

// TestAnswerRecordedAfterOutage: the database is unreachable when the user
// answers. The user is not hung up on: the write is tried again while the
// lease holds, and once it succeeds the call goes on and is settled like
// any other.
func TestAnswerRecordedAfterOutage(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("87654321", aritest.Answer(5*time.Millisecond))
	sim.Phone("12345", aritest.Answer(5*time.Millisecond))
	p := testPolicy()
	p.MaxAttempts = 1
	outage := &answerOutage{fails: 3}
	e := newEnv(t, sim, withPolicy(p), withStore(func(st callback.Store) callback.Store { outage.Store = st; return outage }))
	e.ready()
	r := e.create(twoWay("87654321", "12345"))
	e.start()
	e.talkThenHangUp(r.ID, 1)
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultSuccessful || got.CallCount != 1 {
		t.Fatalf("got %s/%s after %d calls (%s)", got.Status, got.Result, got.CallCount, got.LastError)
	}
	e.wantHistory(r.ID, successHistory...)
	e.noChannels()
}

// TestAnswerNotRecordedWithinLease: an outage that outlasts the lease ends
// the call, since another node may take the request back; the attempt is
// settled once the database is back.
func TestAnswerNotRecordedWithinLease(t *testing.T) {
	sim := aritest.NewT(t)
	sim.Phone("87654321", aritest.Answer(5*time.Millisecond))
	p := testPolicy()
	p.MaxAttempts = 1
	outage := &answerOutage{fails: -1}
	e := newEnv(t, sim, withPolicy(p), withStore(func(st callback.Store) callback.Store { outage.Store = st; return outage }))
	e.ready()
	r := e.create(twoWay("87654321", "12345"))
	e.start()
	got := e.done.wait(t, r.ID)
	if got.Result != callback.ResultOutOfRetries || !strings.Contains(got.LastError, "could not record the answer") {
		t.Fatalf("got %s/%s (%s)", got.Status, got.Result, got.LastError)
	}
	e.noChannels()
}
