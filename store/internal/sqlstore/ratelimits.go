package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// TakeToken takes a token from the bucket of limit name and key, shared by
// every process on this database: burst tokens at once, then one every
// every. It reports whether there was one; a refused call takes nothing.
// The bucket is one row (rate_limits). A bucket with a token costs one
// statement: an UPDATE that moves the row only where it has one, atomic
// under the row's lock, so nodes racing for the last token get it once. A
// new key (or a bucket swept because it was full) costs a second, its
// INSERT; a refused call three (the UPDATE again after the INSERT found
// the row, which another node may just have made). Times are now's, the
// caller's clock: nodes sharing a database keep their clocks in step
// (NTP), as their leases already require.
func (db *DB) TakeToken(ctx context.Context, name, key string, every time.Duration, burst int, now time.Time) (bool, error) {
	if every <= 0 {
		return true, nil
	}
	key = bucketKey(key)
	nowMS := now.UnixMilli()
	everyMS, slack := gcra(every, burst)
	take := func() (bool, error) {
		n, err := db.execCount(ctx, db.w, takeToken, nowMS, everyMS, nowMS+everyMS, name, key, nowMS+slack)
		return n > 0, err
	}
	ok, err := take()
	if err == nil && !ok {
		// No row, or no token in it.
		_, err = db.execCount(ctx, db.w, newBucket, name, key, nowMS+everyMS)
		switch {
		case err == nil:
			ok = true
		case db.d.IsUnique(err):
			ok, err = take()
		}
	}
	if err != nil {
		return false, db.fail(err, "rate limit %s", name)
	}
	db.sweepLimits(ctx, now)
	return ok, nil
}

// takeToken moves a bucket's theoretical arrival time (GCRA) one interval
// on, from now when it is past, where it is at most the slack ahead of
// now: there is a token. Its arguments: now, the interval, now plus the
// interval, name, key, now plus the slack.
const takeToken = `UPDATE rate_limits SET tat = CASE WHEN tat > ? THEN tat + ? ELSE ? END
	WHERE name = ? AND k = ? AND tat <= ?`

// newBucket is a full bucket's row with the first token taken.
const newBucket = "INSERT INTO rate_limits (name, k, tat) VALUES (?, ?, ?)"

// PeekToken reads the bucket of limit name and key without taking from
// it: whether it has a token (TakeToken would succeed) and whether it is
// full (nothing taken from it is still missing). It reads the row without
// locking it: the limits that peek (failed logins) take their tokens
// through TakeToken, which decides races.
func (db *DB) PeekToken(ctx context.Context, name, key string, every time.Duration, burst int, now time.Time) (token, full bool, err error) {
	if every <= 0 {
		return true, true, nil
	}
	var tat int64
	err = db.r.GetContext(ctx, &tat, "SELECT tat FROM rate_limits WHERE name = ? AND k = ?", name, bucketKey(key))
	if errors.Is(err, sql.ErrNoRows) {
		return true, true, nil
	}
	if err != nil {
		return false, false, db.fail(err, "rate limit %s", name)
	}
	_, slack := gcra(every, burst)
	nowMS := now.UnixMilli()
	return tat-nowMS <= slack, tat <= nowMS, nil
}

// bucketKey is key as rate_limits holds it: keys longer than the column
// are hashed.
func bucketKey(key string) string {
	if len(key) <= 255 {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// gcra returns a bucket's interval in milliseconds and its slack: how far
// ahead of now its theoretical arrival time may be for a token to be
// there ((burst - 1) intervals).
func gcra(every time.Duration, burst int) (everyMS, slack int64) {
	everyMS = max(every.Milliseconds(), 1)
	return everyMS, int64(max(burst, 1)-1) * everyMS
}

// limitSweepEvery is how often a store deletes the buckets that are full
// again (their tat has passed), which TakeToken treats like no row.
const limitSweepEvery = time.Minute

// limitSweep remembers when this store last swept rate_limits.
type limitSweep struct {
	mu   sync.Mutex
	last time.Time
}

func (db *DB) sweepLimits(ctx context.Context, now time.Time) {
	s := &db.limitSweep
	s.mu.Lock()
	if s.last.IsZero() {
		s.last = now
	}
	due := now.Sub(s.last) >= limitSweepEvery
	if due {
		s.last = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	// A failed sweep costs only space until the next one.
	_, _ = db.w.ExecContext(ctx, "DELETE FROM rate_limits WHERE tat < ?", now.UnixMilli())
}
