// Package auth checks the secrets of accounts for every surface that takes
// them (the web page, the JSON and XML-RPC API, the email and SMS
// triggers, the IVR's PIN entry): bcrypt passwords, PINs (looked up by
// their keyed hash), SIP HA1 values and API tokens, compared in constant
// time, with the same answer and about the same time for an unknown
// account as for a wrong password, so that accounts cannot be enumerated.
// No secret is ever logged or put in an error.
//
// Failed attempts lock out the pair of account and source, not the
// account: guessers cannot lock the owner out. They are also limited per
// source, more slowly per account for the sources that failed on it, and
// per surface over all sources (see Limits). Those budgets are counted in
// the process, or, with ShareLimits, in the database every node shares.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
)

// The errors callers branch on. Both read the same to a client on purpose.
var (
	// ErrBadCredentials: unknown account, wrong password, or no password set.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrTooManyAttempts: too many failures for this account or source.
	ErrTooManyAttempts = errors.New("too many failed attempts; try again later")
)

// Cost is the bcrypt cost of stored passwords.
const Cost = bcrypt.DefaultCost

// HashPassword returns the bcrypt hash to store.
func HashPassword(password string) (string, error) {
	if len(password) > 72 {
		return "", fmt.Errorf("hash password: longer than 72 bytes: %w", callback.ErrInvalid)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), Cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when the account does not exist, so that
// an unknown username costs the same bcrypt time as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("callbackd-no-such-account"), Cost)

// Limits are the budgets of failed attempts. Each is a burst of failures,
// then one more per interval.
type Limits struct {
	// PerPair limits failures per (account, source): that source is locked
	// out of that account, and no one else is (http.login_burst/_every).
	PerPair Limit
	// PerSource limits failures per source over all accounts, so one client
	// cannot try many accounts (the same burst and interval).
	PerSource Limit
	// PerAccount is a slower cap per account over all sources. It holds
	// back only sources that have failed on the account already: a source
	// with no failures there still gets in with the right password, so
	// guessers cannot lock the owner out (auth.account_failures_*).
	PerAccount Limit
	// PerSurface is a budget of failures over all sources and accounts on
	// one surface (the web page, the IVR, email; see Surface), so many
	// sources that guess once each are slowed too
	// (auth.surface_failures_*). Password checks made on the
	// Authenticator itself (the API) have none.
	PerSurface Limit
}

// Limit is a burst of failures, then one per Every.
type Limit struct {
	Every time.Duration
	Burst int
}

// DefaultLogin is the default budget of failed logins per (account,
// source) and per source: 5, then one a minute (http.login_burst/_every).
func DefaultLogin() Limit { return Limit{Every: time.Minute, Burst: 5} }

// DefaultLimits are the budgets for a per-(account, source) limit of burst
// failures, then one per every.
func DefaultLimits(every time.Duration, burst int) Limits {
	return Limits{
		PerPair:    Limit{Every: every, Burst: burst},
		PerSource:  Limit{Every: every, Burst: burst},
		PerAccount: Limit{Every: 5 * time.Minute, Burst: 20},
		PerSurface: Limit{Every: 15 * time.Second, Burst: 20},
	}
}

// The surfaces with a budget of their own (Surface).
const (
	SurfaceWeb   = "web"   // the web callback page
	SurfaceIVR   = "ivr"   // PIN entry in the calling card
	SurfaceEmail = "email" // the email trigger
)

// newFailures returns the buckets that count failed attempts per key
// under l: a token bucket per key from which each failure takes a token
// (limiter.Keyed, held in the nodes' database once shared). Its keys are
// not bounded: full buckets are forgotten, so it holds only recent
// failures however many keys guessers make up.
func newFailures(l Limit) *limiter.Keyed {
	if l.Burst <= 0 {
		l.Burst = 1
	}
	if l.Every <= 0 {
		l.Every = time.Minute
	}
	return limiter.New(limiter.Limit{Every: l.Every, Burst: l.Burst}, math.MaxInt, nil)
}

// budgets are an Authenticator's buckets of failures.
type budgets struct {
	pairs, sources, accts, surfaces *limiter.Keyed
}

// Authenticator checks account passwords, PINs and API tokens.
type Authenticator struct {
	accounts callback.Accounts
	tokens   [][32]byte // SHA-256 of the configured API tokens

	mu      sync.Mutex
	limits  Limits
	shared  limiter.SharedBuckets // nil: failures are counted by this process alone
	prefix  string                // of the shared buckets' names
	budgets atomic.Pointer[budgets]
}

// New returns an Authenticator over accounts. apiTokens are the operator's
// API tokens (full access); failures allows burst failed attempts per
// (account, source) and per source, then one every `every`, with the
// other budgets of DefaultLimits (SetLimits changes them).
func New(accounts callback.Accounts, apiTokens []string, every time.Duration, burst int) *Authenticator {
	a := &Authenticator{accounts: accounts}
	a.SetLimits(DefaultLimits(every, burst))
	for _, t := range apiTokens {
		if t != "" {
			a.tokens = append(a.tokens, sha256.Sum256([]byte(t)))
		}
	}
	return a
}

// SetLimits replaces the budgets of failed attempts, forgetting the
// failures counted so far. It is meant for setting up, before use.
func (a *Authenticator) SetLimits(l Limits) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.limits = l
	a.build()
}

// ShareLimits counts the failures in s, the database every node shares
// (limiter.Keyed.Share), so N nodes allow one budget per account, source
// and surface, not N: under the names auth.pair, auth.source,
// auth.account and auth.surface. Peeks need s to be a
// limiter.SharedPeeker. When s does not answer within 2 s, this node's
// own count decides for that check. It is meant for setting up, before
// use; the failures counted so far are forgotten.
func (a *Authenticator) ShareLimits(s limiter.SharedBuckets) { a.share("auth", s) }

func (a *Authenticator) share(prefix string, s limiter.SharedBuckets) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.prefix, a.shared = prefix, s
	a.build()
}

// build puts new buckets of a.limits in place, shared in a.shared; a.mu
// is held.
func (a *Authenticator) build() {
	b := &budgets{pairs: newFailures(a.limits.PerPair), sources: newFailures(a.limits.PerSource),
		accts: newFailures(a.limits.PerAccount), surfaces: newFailures(a.limits.PerSurface)}
	if a.shared != nil {
		b.pairs.Share(a.prefix+".pair", a.shared)
		b.sources.Share(a.prefix+".source", a.shared)
		b.accts.Share(a.prefix+".account", a.shared)
		b.surfaces.Share(a.prefix+".surface", a.shared)
	}
	a.budgets.Store(b)
}

// attempt is what one check is counted under.
type attempt struct {
	pair, source, account, surface string // "" where it does not apply
}

func (at attempt) keys(username, source, surface string) attempt {
	if username != "" {
		at.pair = username + "\x00" + source
		at.account = username
	}
	at.source = source
	at.surface = surface
	return at
}

// allowed reports whether at may be tried now. Shared, each budget looked
// at is a read of the database, in order, stopping at the first spent.
func (a *Authenticator) allowed(ctx context.Context, at attempt) bool {
	b := a.budgets.Load()
	var pair limiter.Level
	if at.pair != "" {
		if pair = b.pairs.Peek(ctx, at.pair); !pair.Token {
			return false
		}
	}
	switch {
	case at.source != "" && !b.sources.Peek(ctx, at.source).Token,
		at.surface != "" && !b.surfaces.Peek(ctx, at.surface).Token:
		return false
	case at.pair != "" && !pair.Full && !b.accts.Peek(ctx, at.account).Token:
		// Only a source that has failed on this account already is held
		// to the account's cap.
		return false
	}
	return true
}

// failed records a failed check: a token taken from each of its budgets
// that has one left.
func (a *Authenticator) failed(ctx context.Context, at attempt) {
	b := a.budgets.Load()
	if at.pair != "" {
		b.pairs.TakeContext(ctx, at.pair)
		b.accts.TakeContext(ctx, at.account)
	}
	if at.source != "" {
		b.sources.TakeContext(ctx, at.source)
	}
	if at.surface != "" {
		b.surfaces.TakeContext(ctx, at.surface)
	}
}

// Password checks username and password. Failures lock out the pair of
// account and source (a client address), and are limited per source (one
// client trying many accounts) and, more slowly, per account for the
// sources that failed on it: the right password from a source with no
// failures on the account is not refused.
func (a *Authenticator) Password(ctx context.Context, username, password, source string) (*callback.Account, error) {
	return a.password(ctx, username, password, source, "")
}

func (a *Authenticator) password(ctx context.Context, username, password, source, surface string) (*callback.Account, error) {
	at := attempt{}.keys(username, source, surface)
	if !a.allowed(ctx, at) {
		return nil, ErrTooManyAttempts
	}
	acct, err := a.accounts.GetAccount(ctx, username)
	if err != nil && !errors.Is(err, callback.ErrNotFound) {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	hash := dummyHash
	if acct != nil && acct.PasswordHash != "" {
		hash = []byte(acct.PasswordHash)
	}
	cmpErr := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if acct == nil || acct.PasswordHash == "" || cmpErr != nil || acct.Blocked {
		a.failed(ctx, at)
		return nil, ErrBadCredentials
	}
	return acct, nil
}

// PIN checks a PIN, for callers without a surface of their own. The PIN
// is looked up through the store, which hashes it under the PIN key
// (callback.Accounts.AccountByPIN), so no PIN is compared here. A PIN
// names no account until it is right, so failures are limited per source
// and, on a Surface, over all sources.
func (a *Authenticator) PIN(ctx context.Context, pin, source string) (*callback.Account, error) {
	return a.pin(ctx, pin, source, "")
}

func (a *Authenticator) pin(ctx context.Context, pin, source, surface string) (*callback.Account, error) {
	at := attempt{}.keys("", source, surface)
	if !a.allowed(ctx, at) {
		return nil, ErrTooManyAttempts
	}
	acct, err := a.accounts.AccountByPIN(ctx, pin)
	if err != nil && !errors.Is(err, callback.ErrNotFound) {
		return nil, fmt.Errorf("authenticate PIN: %w", err)
	}
	if acct == nil || pin == "" || acct.Blocked {
		a.failed(ctx, at)
		return nil, ErrBadCredentials
	}
	return acct, nil
}

// Surface is the Authenticator as one surface (SurfaceWeb, SurfaceIVR,
// SurfaceEmail) uses it: besides the Authenticator's limits, the failures
// of all sources on the surface share one budget (Limits.PerSurface), so
// that guessing from many sources, one guess each, is slowed too. When it
// is spent every check on the surface is refused with ErrTooManyAttempts
// until it refills, the right PIN or password included.
type Surface struct {
	a    *Authenticator
	name string
}

// Surface returns the Authenticator as the surface name uses it.
func (a *Authenticator) Surface(name string) *Surface { return &Surface{a: a, name: name} }

// PIN is Authenticator.PIN under the surface's budget.
func (s *Surface) PIN(ctx context.Context, pin, source string) (*callback.Account, error) {
	return s.a.pin(ctx, pin, source, s.name)
}

// Password is Authenticator.Password under the surface's budget.
func (s *Surface) Password(ctx context.Context, username, password, source string) (*callback.Account, error) {
	return s.a.password(ctx, username, password, source, s.name)
}

// Token reports whether token is one of the operator's API tokens, in time
// independent of which token matched or where they differ.
func (a *Authenticator) Token(token string) bool {
	if token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	ok := 0
	for _, t := range a.tokens {
		ok |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	return ok == 1
}

// CheckHA1 compares a SIP HA1 (md5secret) with the one computed from a
// password, in constant time.
func CheckHA1(ha1, username, realm, password string) bool {
	return subtle.ConstantTimeCompare([]byte(ha1), []byte(callback.HA1(username, realm, password))) == 1
}
