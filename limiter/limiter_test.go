package limiter

import (
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
