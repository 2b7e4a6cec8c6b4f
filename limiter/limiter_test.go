package limiter

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestKeyedIsBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	k := New(Limit{Every: time.Minute, Burst: 2}, 10, func() time.Time { return now })
	for i := range 10 {
		if ok, _ := k.Take("addr" + strconv.Itoa(i)); !ok {
			t.Fatalf("key %d refused", i)
		}
	}
	if ok, wait := k.Take("newcomer"); ok || wait <= 0 {
		t.Errorf("a key beyond the bound was admitted while all are active")
	}
	if k.Len() > 10 {
		t.Errorf("%d keys tracked", k.Len())
	}
	// Once the buckets have refilled they are forgotten and room is made.
	now = now.Add(5 * time.Minute)
	if ok, _ := k.Take("newcomer"); !ok {
		t.Error("refused after the others refilled")
	}
	if k.Len() != 1 {
		t.Errorf("%d keys after the sweep", k.Len())
	}
	// The bucket itself: 2 at once, then wait.
	k.Take("newcomer")
	if ok, wait := k.Take("newcomer"); ok || wait <= 0 || wait > time.Minute {
		t.Errorf("third take: %v %s", ok, wait)
	}
	off := New(Limit{}, 1, time.Now)
	for range 5 {
		if ok, _ := off.Take("x"); !ok {
			t.Fatal("a zero limit limits")
		}
	}
}

func TestAllowPassesEmptyKeys(t *testing.T) {
	now := time.Unix(1e9, 0)
	k := New(Limit{Every: time.Hour, Burst: 1}, 0, func() time.Time { return now })
	for range 3 {
		if !k.Allow("") {
			t.Fatal("an empty key was limited")
		}
	}
	if !k.Allow("a") || k.Allow("a") {
		t.Fatal("burst of one not kept")
	}
	if !k.Has("b") || k.Has("a") {
		t.Fatal("Has does not tell a full bucket from an empty one")
	}
	if k.Len() != 1 {
		t.Fatalf("%d keys tracked", k.Len())
	}
}

// Peek reads a bucket without taking from it: a token there or not, and
// whether anything taken is still missing.
func TestPeekTakesNothing(t *testing.T) {
	now := time.Unix(1e9, 0)
	k := New(Limit{Every: time.Minute, Burst: 2}, 0, func() time.Time { return now })
	if got := k.Peek(t.Context(), "a"); got != (Level{Token: true, Full: true}) {
		t.Fatalf("untouched bucket: %+v", got)
	}
	k.Take("a")
	for range 3 {
		if got := k.Peek(t.Context(), "a"); got != (Level{Token: true, Full: false}) {
			t.Fatalf("one of 2 taken: %+v", got)
		}
	}
	k.Take("a")
	if got := k.Peek(t.Context(), "a"); got != (Level{}) {
		t.Fatalf("both taken: %+v", got)
	}
	now = now.Add(2 * time.Minute)
	if got := k.Peek(t.Context(), "a"); got != (Level{Token: true, Full: true}) {
		t.Fatalf("refilled: %+v", got)
	}
	if got := New(Limit{}, 0, nil).Peek(t.Context(), "a"); got != (Level{Token: true, Full: true}) {
		t.Fatalf("a limit that is off: %+v", got)
	}
}

// fakeShared is a store's buckets: tokens left per key, or failing.
type fakeShared struct {
	left map[string]int
	err  error
}

func (f *fakeShared) TakeToken(_ context.Context, _, key string, _ time.Duration, _ int, _ time.Time) (bool, error) {
	if f.err != nil {
		return false, f.err
	}
	if f.left[key] == 0 {
		return false, nil
	}
	f.left[key]--
	return true, nil
}

func (f *fakeShared) PeekToken(_ context.Context, _, key string, _ time.Duration, burst int, _ time.Time) (bool, bool, error) {
	if f.err != nil {
		return false, false, f.err
	}
	return f.left[key] > 0, f.left[key] == burst, nil
}

// Shared, Take and Peek ask the store and leave the node's own buckets
// alone; when the store fails, the node's own buckets answer.
func TestSharedTakeAndPeek(t *testing.T) {
	s := &fakeShared{left: map[string]int{"a": 1}}
	k := New(Limit{Every: time.Minute, Burst: 1}, 0, nil)
	k.Share("test", s)
	if got := k.Peek(t.Context(), "a"); got != (Level{Token: true, Full: true}) {
		t.Fatalf("shared, untouched: %+v", got)
	}
	if ok, _ := k.Take("a"); !ok {
		t.Fatal("the shared token refused")
	}
	if ok, wait := k.Take("a"); ok || wait != time.Minute {
		t.Fatalf("the shared bucket spent: %v, %v; want refused, retry after the interval", ok, wait)
	}
	if got := k.Peek(t.Context(), "a"); got != (Level{}) {
		t.Fatalf("shared, spent: %+v", got)
	}
	if k.Len() != 0 {
		t.Fatalf("%d keys in the node's own buckets while the store answers", k.Len())
	}
	s.err = errors.New("store unavailable")
	if got := k.Peek(t.Context(), "a"); got != (Level{Token: true, Full: true}) {
		t.Fatalf("store down, the node's own bucket: %+v", got)
	}
	if ok, _ := k.Take("a"); !ok {
		t.Fatal("store down: the node's own token refused")
	}
	if ok, _ := k.Take("a"); ok {
		t.Fatal("store down: the node's own bucket allowed more than its burst")
	}
}
