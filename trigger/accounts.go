package trigger

import (
	"context"
	"sync"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// DefaultAccountTTL is how long the Engine counts an account it has read as
// existing. Accounts are never deleted through callbackd; one deleted or
// renamed by SQL within it may still get a request queued, which the
// dispatcher then finishes as an Invalid request.
const DefaultAccountTTL = time.Second

// maxSeenAccounts bounds the accounts the Engine remembers.
const maxSeenAccounts = 10_000

// seenAccounts remembers the accounts the Engine has read, for AccountTTL.
// callback.Service.Create reads the account a request is queued for to
// check that it exists; on the trigger path that account is either the
// caller's, read by the same call a moment earlier, or the access number's
// default or internal account, the same one call after call. Answering
// from here saves that query.
type seenAccounts struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]seenAccount
}

type seenAccount struct {
	a    callback.Account
	read time.Time
}

func newSeenAccounts() *seenAccounts {
	return &seenAccounts{now: time.Now, m: map[string]seenAccount{}}
}

// put remembers a as read now.
func (s *seenAccounts) put(a *callback.Account) {
	if s == nil || a == nil {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[a.Username]; !ok && len(s.m) >= maxSeenAccounts {
		clear(s.m)
	}
	s.m[a.Username] = seenAccount{a: *a, read: now}
}

// get returns a copy of the account username if it was read less than ttl
// ago.
func (s *seenAccounts) get(username string, ttl time.Duration) (*callback.Account, bool) {
	if s == nil || ttl <= 0 {
		return nil, false
	}
	s.mu.Lock()
	e, ok := s.m[username]
	s.mu.Unlock()
	if !ok || s.now().Sub(e.read) >= ttl {
		return nil, false
	}
	a := e.a
	return &a, true
}

// seenAccountStore is the store callback.Service.Create uses on the trigger
// path: GetAccount answers from the accounts the Engine read within ttl and
// remembers what it reads itself; everything else is the Engine's store.
type seenAccountStore struct {
	callback.Store
	seen *seenAccounts
	ttl  time.Duration
}

func (s seenAccountStore) GetAccount(ctx context.Context, username string) (*callback.Account, error) {
	if a, ok := s.seen.get(username, s.ttl); ok {
		return a, nil
	}
	a, err := s.Store.GetAccount(ctx, username)
	if err != nil {
		return nil, err
	}
	s.seen.put(a)
	return a, nil
}

// service returns the Service that queues the trigger's requests: the
// Engine's, with GetAccount answered from the accounts it has seen.
func (e *Engine) service() *callback.Service {
	if e.seen == nil || e.AccountTTL <= 0 {
		return e.Service
	}
	svc := *e.Service
	svc.Store = seenAccountStore{Store: svc.Store, seen: e.seen, ttl: e.AccountTTL}
	return &svc
}
