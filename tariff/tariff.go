// Package tariff rates destinations: a longest-prefix table over a tariff's
// rates, kept in memory and reloaded when the store says the rates changed,
// and the billing arithmetic on top of it (increments, connection fee,
// maximum talk time). It reads rates through callback.Tariffs and holds no
// other state.
package tariff

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// Table is an immutable longest-prefix index over one tariff's rates.
type Table struct {
	rates  map[string]callback.TariffRate
	maxLen int
}

// NewTable indexes rates by prefix; a later duplicate prefix wins.
func NewTable(rates []callback.TariffRate) *Table {
	t := &Table{rates: make(map[string]callback.TariffRate, len(rates))}
	for _, r := range rates {
		t.rates[r.Prefix] = r
		t.maxLen = max(t.maxLen, len(r.Prefix))
	}
	return t
}

// Len is the number of prefixes.
func (t *Table) Len() int { return len(t.rates) }

// Lookup returns the rate of the longest prefix of number (digits, an
// optional leading + is ignored). A map probe per candidate length keeps it
// allocation-free and independent of the table's size.
func (t *Table) Lookup(number string) (callback.TariffRate, bool) {
	number = strings.TrimPrefix(number, "+")
	for n := min(len(number), t.maxLen); n > 0; n-- {
		if r, ok := t.rates[number[:n]]; ok {
			return r, true
		}
	}
	return callback.TariffRate{}, false
}

// Cache keeps one Table per tariff and reloads them all when the store's
// tariff version changes, checking the version at most once per MaxAge.
type Cache struct {
	store  callback.Tariffs
	maxAge time.Duration

	mu      sync.Mutex
	version int64
	checked time.Time
	tables  map[string]*Table
}

// DefaultCheckInterval is how often a Cache looks for rate changes unless
// told otherwise (limits.tariff_cache_check).
const DefaultCheckInterval = 5 * time.Second

// NewCache returns a cache over store that rechecks the version every maxAge.
func NewCache(store callback.Tariffs, maxAge time.Duration) *Cache {
	return &Cache{store: store, maxAge: maxAge, tables: map[string]*Table{}}
}

// Table returns the table of tariff name, loading it when needed.
func (c *Cache) Table(ctx context.Context, name string) (*Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= c.maxAge {
		v, err := c.store.TariffsVersion(ctx)
		if err != nil {
			return nil, fmt.Errorf("tariff version: %w", err)
		}
		if v != c.version {
			c.tables = map[string]*Table{}
			c.version = v
		}
		c.checked = time.Now()
	}
	if t, ok := c.tables[name]; ok {
		return t, nil
	}
	rates, err := c.store.ListRates(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("load tariff %q: %w", name, err)
	}
	t := NewTable(rates)
	c.tables[name] = t
	return t, nil
}

// Lookup rates number in tariff name.
func (c *Cache) Lookup(ctx context.Context, name, number string) (callback.TariffRate, bool, error) {
	t, err := c.Table(ctx, name)
	if err != nil {
		return callback.TariffRate{}, false, err
	}
	r, ok := t.Lookup(number)
	return r, ok, nil
}
