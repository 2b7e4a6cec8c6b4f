package trigger

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/callback/callbacktest"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/tariff"
)

// countingStore counts the reads the caches are meant to save. It embeds
// the SQLite store itself, so the store's count of access-number writes
// reaches the Engine as it does in production.
type countingStore struct {
	*sqlite.DB
	accessReads  atomic.Int64
	accountReads atomic.Int64
}

func (s *countingStore) GetAccessNumber(ctx context.Context, number string) (*callback.AccessNumber, error) {
	s.accessReads.Add(1)
	return s.DB.GetAccessNumber(ctx, number)
}

func (s *countingStore) GetAccount(ctx context.Context, username string) (*callback.Account, error) {
	s.accountReads.Add(1)
	return s.DB.GetAccount(ctx, username)
}

type cacheFixture struct {
	t     *testing.T
	path  string
	store *countingStore
	eng   *Engine
	clock *callbacktest.Clock
	calls int
}

func newCacheFixture(t *testing.T) *cacheFixture {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "callbackd.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := &countingStore{DB: db}
	for _, a := range []callback.Account{
		{Username: "default", Currency: "USD", Balance: 100 * callback.MoneyScale},
		{Username: "alice", Currency: "USD", Balance: 10 * callback.MoneyScale},
	} {
		if err := st.CreateAccount(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddCLI(ctx, callback.AccountCLI{CLI: "4930111111", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := &callback.Service{Store: st, Policy: callback.DefaultPolicy()}
	eng := NewEngine(st, svc, tariff.NewCache(st, time.Second), Limits{}, log)
	c := callbacktest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	eng.access.now = c.Now
	eng.seen.now = c.Now
	f := &cacheFixture{t: t, path: path, store: st, eng: eng, clock: c}
	f.put(callback.AccessNumber{Number: "18005550100", DefaultAccountUsername: "default", HangupSIPCode: 486})
	return f
}

func (f *cacheFixture) put(n callback.AccessNumber) {
	f.t.Helper()
	n.ANumberHandling = callback.DefaultANumberHandling
	n.ApplyDefaults()
	if err := f.store.PutAccessNumber(f.t.Context(), &n); err != nil {
		f.t.Fatal(err)
	}
}

// ring runs one ANI trigger from a new caller ID unless cli is given.
func (f *cacheFixture) ring(number string, cli ...string) Decision {
	f.t.Helper()
	f.calls++
	c := InboundCall{Kind: callback.TriggerANI, CLI: fmt.Sprintf("49400%06d", f.calls), Number: number}
	if len(cli) > 0 {
		c.CLI = cli[0]
	}
	d, err := f.eng.Handle(f.t.Context(), c)
	if err != nil {
		f.t.Fatalf("ring %s from %s: %v", number, c.CLI, err)
	}
	return d
}

func (f *cacheFixture) reads(wantAccess, wantAccount int64) {
	f.t.Helper()
	if got := f.store.accessReads.Load(); got != wantAccess {
		f.t.Errorf("access number read %d times, want %d", got, wantAccess)
	}
	if got := f.store.accountReads.Load(); got != wantAccount {
		f.t.Errorf("account read %d times, want %d", got, wantAccount)
	}
}

func TestAccessNumberCache(t *testing.T) {
	f := newCacheFixture(t)
	if d := f.ring("18005550100"); d.Action != ActionCallback || d.SIPCode != 486 {
		t.Fatalf("first call: %+v", d)
	}
	f.ring("18005550100")
	f.reads(1, 1)

	// Past the TTL the number is read again.
	f.clock.Add(DefaultAccessNumberTTL)
	f.ring("18005550100")
	f.reads(2, 2)

	// A change written through this process's store is seen by the next
	// call, TTL or not.
	f.put(callback.AccessNumber{Number: "18005550100", DefaultAccountUsername: "default", HangupSIPCode: 480})
	if d := f.ring("18005550100"); d.SIPCode != 480 {
		t.Errorf("after a change here: SIP %d, want 480", d.SIPCode)
	}
	f.reads(3, 2)

	// A change made by another process (another handle on the file) is
	// seen once the TTL has passed.
	other, err := sqlite.Open(t.Context(), f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	n := callback.AccessNumber{Number: "18005550100", DefaultAccountUsername: "default", HangupSIPCode: 403}
	n.ApplyDefaults()
	if err := other.PutAccessNumber(t.Context(), &n); err != nil {
		t.Fatal(err)
	}
	if d := f.ring("18005550100"); d.SIPCode != 480 {
		t.Errorf("within the TTL: SIP %d, want the cached 480", d.SIPCode)
	}
	f.clock.Add(DefaultAccessNumberTTL)
	if d := f.ring("18005550100"); d.SIPCode != 403 {
		t.Errorf("after the TTL: SIP %d, want 403", d.SIPCode)
	}
	f.reads(4, 3)

	// A number that is none is remembered as such, and adding it here is
	// seen at once.
	for range 2 {
		if d := f.ring("18005550111"); d.SIPCode != 404 {
			t.Fatalf("unknown number: %+v", d)
		}
	}
	f.reads(5, 3)
	f.put(callback.AccessNumber{Number: "18005550111", DefaultAccountUsername: "default"})
	if d := f.ring("18005550111"); d.Action != ActionCallback {
		t.Errorf("number added here: %+v", d)
	}
	f.reads(6, 3)

	// What the cache hands out is a copy.
	n1, _, err := f.eng.accessNumber(t.Context(), InboundCall{Number: "18005550111"})
	if err != nil {
		t.Fatal(err)
	}
	n1.HangupSIPCode = 410
	n2, _, err := f.eng.accessNumber(t.Context(), InboundCall{Number: "18005550111"})
	if err != nil || n2.HangupSIPCode != callback.DefaultHangupSIPCode {
		t.Errorf("cached number changed through a copy: %+v %v", n2, err)
	}

	// Without a TTL every call reads the number.
	f.eng.AccessNumberTTL = 0
	f.ring("18005550100")
	f.ring("18005550100")
	f.reads(8, 3)
}

func TestSeenAccounts(t *testing.T) {
	f := newCacheFixture(t)
	// The default account is read by the first call's Service.Create and
	// counts as existing for the TTL.
	f.ring("18005550100")
	f.ring("18005550100")
	f.reads(1, 1)
	f.clock.Add(max(DefaultAccountTTL, DefaultAccessNumberTTL))
	f.ring("18005550100")
	f.reads(2, 2)

	// A known caller's account, just read by the CLI lookup, is not read
	// again to queue its request.
	if d := f.ring("18005550100", "4930111111"); d.Action != ActionCallback || d.Request == nil || d.Request.Username != "alice" {
		t.Fatalf("known caller: %+v", d)
	}
	f.reads(2, 2)

	// A default account that does not exist is looked for on every call,
	// so creating it takes effect at once.
	f.put(callback.AccessNumber{Number: "18005550100", DefaultAccountUsername: "later"})
	for range 2 {
		d := f.ring("18005550100")
		if d.Action != ActionReject || !strings.Contains(d.Reason, `no account "later"`) {
			t.Fatalf("missing default account: %+v", d)
		}
	}
	f.reads(3, 4)
	if err := f.store.CreateAccount(t.Context(), &callback.Account{Username: "later", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	if d := f.ring("18005550100"); d.Action != ActionCallback {
		t.Errorf("default account created: %+v", d)
	}
	f.reads(3, 5)

	// Without a TTL the account is read for every request.
	f.eng.AccountTTL = 0
	f.ring("18005550100")
	f.ring("18005550100")
	f.reads(3, 7)
}
