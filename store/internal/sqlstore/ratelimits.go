package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// TakeToken takes a token from the bucket of limit name and key, shared by
// every process on this database: burst tokens at once, then one every
// every. It reports whether there was one; a refused call takes nothing.
// The bucket is one row (rate_limits), read and written in one transaction
// under its row lock, so nodes racing for the last token get it once.
// Times are now's, the caller's clock: nodes sharing a database keep their
// clocks in step (NTP), as their leases already require.
func (db *DB) TakeToken(ctx context.Context, name, key string, every time.Duration, burst int, now time.Time) (bool, error) {
	if every <= 0 {
		return true, nil
	}
	key = bucketKey(key)
	nowMS := now.UnixMilli()
	everyMS, slack := gcra(every, burst)
	var ok bool
	err := db.tx(ctx, func(tx *sqlx.Tx) error {
		ok = false
		for range 2 {
			var tat int64
			err := tx.GetContext(ctx, &tat, "SELECT tat FROM rate_limits WHERE name = ? AND k = ?"+db.d.LockRows, name, key)
			if errors.Is(err, sql.ErrNoRows) {
				// A full bucket. Another node may be creating the row
				// too: the loser of the insert reads the winner's row
				// under its lock and counts from there.
				_, err = tx.ExecContext(ctx, "INSERT INTO rate_limits (name, k, tat) VALUES (?, ?, ?)", name, key, nowMS+everyMS)
				if db.d.IsUnique(err) {
					continue
				}
				ok = err == nil
				return err
			}
			if err != nil {
				return err
			}
			tat = max(tat, nowMS)
			if tat-nowMS > slack {
				return nil
			}
			ok = true
			_, err = tx.ExecContext(ctx, "UPDATE rate_limits SET tat = ? WHERE name = ? AND k = ?", tat+everyMS, name, key)
			return err
		}
		return fmt.Errorf("rate limit %s: bucket %q neither found nor created", name, key)
	})
	if err != nil {
		return false, db.fail(err, "rate limit %s", name)
	}
	db.sweepLimits(ctx, now)
	return ok, nil
}

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
