package trigger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// DefaultAccessNumberTTL is how long the Engine trusts an access number it
// has read (or found missing) before reading it again. An operator's change
// made by another process, such as the admin CLI, takes effect within it.
const DefaultAccessNumberTTL = time.Second

// maxAccessEntries bounds the cache. Calls to numbers that are no access
// number are cached too, and a dialplan may send any dialled number.
const maxAccessEntries = 10_000

// accessNumberWriter is a store that counts the access-number writes made
// through it (both SQL stores do). The cache drops what it holds when the
// count moves, so a change made by this process is seen by the next call.
type accessNumberWriter interface {
	AccessNumberWrites() uint64
}

// accessCache holds access numbers by dialled number for a short time: the
// options change rarely and every trigger call needs them.
type accessCache struct {
	store  callback.AccessNumbers
	writes accessNumberWriter // nil: only the TTL expires entries
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]accessEntry
}

type accessEntry struct {
	n       *callback.AccessNumber // with defaults applied; nil: not an access number
	fetched time.Time
	writes  uint64 // the store's write count before the read
}

func newAccessCache(st callback.AccessNumbers) *accessCache {
	c := &accessCache{store: st, now: time.Now, entries: map[string]accessEntry{}}
	c.writes, _ = st.(accessNumberWriter)
	return c
}

func (c *accessCache) writeCount() uint64 {
	if c.writes == nil {
		return 0
	}
	return c.writes.AccessNumberWrites()
}

// get returns a copy of number's options with the defaults applied, or
// callback.ErrNotFound. A ttl of zero or less reads the store every time.
// When the store is unavailable and the number was read before, get
// returns the options last read together with the error, so the caller
// can still reject the call with the number's own code.
func (c *accessCache) get(ctx context.Context, number string, ttl time.Duration) (*callback.AccessNumber, error) {
	if ttl <= 0 {
		return c.read(ctx, number)
	}
	writes := c.writeCount()
	c.mu.Lock()
	e, ok := c.entries[number]
	c.mu.Unlock()
	if !ok || e.writes != writes || c.now().Sub(e.fetched) >= ttl {
		fetched := c.now()
		n, err := c.read(ctx, number)
		switch {
		case errors.Is(err, callback.ErrUnavailable) && ok:
			// The store is down: the options last read still say with
			// which code to reject the call, and that it is refused
			// rather than why is what the store could not tell.
			if e.n == nil {
				return nil, fmt.Errorf("access number %s: %w", number, callback.ErrNotFound)
			}
			stale := *e.n
			return &stale, fmt.Errorf("access number %s (options as last read): %w", number, err)
		case err != nil && !errors.Is(err, callback.ErrNotFound):
			return nil, err
		}
		e = accessEntry{n: n, fetched: fetched, writes: writes}
		c.put(number, e)
	}
	if e.n == nil {
		return nil, fmt.Errorf("access number %s: %w", number, callback.ErrNotFound)
	}
	n := *e.n // callers may change their copy
	return &n, nil
}

func (c *accessCache) read(ctx context.Context, number string) (*callback.AccessNumber, error) {
	n, err := c.store.GetAccessNumber(ctx, number)
	if err != nil {
		return nil, err
	}
	n.ApplyDefaults()
	return n, nil
}

func (c *accessCache) put(number string, e accessEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[number]; !ok && len(c.entries) >= maxAccessEntries {
		// Full of numbers read once: start again rather than track ages.
		clear(c.entries)
	}
	c.entries[number] = e
}
