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
// per surface over all sources (see Limits).
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"github.com/callbackd/callbackd/callback"
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

// failures counts failed attempts per key under one Limit.
type failures struct {
	lim   Limit
	m     map[string]*rate.Limiter
	swept time.Time
}

func newFailures(l Limit) *failures {
	if l.Burst <= 0 {
		l.Burst = 1
	}
	if l.Every <= 0 {
		l.Every = time.Minute
	}
	return &failures{lim: l, m: map[string]*rate.Limiter{}}
}

// allow reports whether key may try again, without using up a try.
func (f *failures) allow(key string) bool {
	l, ok := f.m[key]
	return !ok || l.Tokens() >= 1
}

// has reports whether key has failures on record (a key whose budget is
// full again is forgotten by the sweep).
func (f *failures) has(key string, now time.Time) bool {
	l, ok := f.m[key]
	return ok && l.TokensAt(now) < float64(f.lim.Burst)
}

// fail records a failure for key. Keys whose budget is full again are
// dropped once per interval, so the maps hold only recent failures however
// many keys guessers make up.
func (f *failures) fail(key string, now time.Time) {
	if now.Sub(f.swept) > f.lim.Every {
		for k, l := range f.m {
			if l.TokensAt(now) >= float64(f.lim.Burst) {
				delete(f.m, k)
			}
		}
		f.swept = now
	}
	l, ok := f.m[key]
	if !ok {
		l = rate.NewLimiter(rate.Every(f.lim.Every), f.lim.Burst)
		f.m[key] = l
	}
	l.AllowN(now, 1)
}

// Authenticator checks account passwords, PINs and API tokens.
type Authenticator struct {
	accounts callback.Accounts
	tokens   [][32]byte // SHA-256 of the configured API tokens

	mu                              sync.Mutex
	pairs, sources, accts, surfaces *failures
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
	a.pairs, a.sources = newFailures(l.PerPair), newFailures(l.PerSource)
	a.accts, a.surfaces = newFailures(l.PerAccount), newFailures(l.PerSurface)
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

// allowed reports whether at may be tried now.
func (a *Authenticator) allowed(at attempt) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case at.pair != "" && !a.pairs.allow(at.pair),
		at.source != "" && !a.sources.allow(at.source),
		at.surface != "" && !a.surfaces.allow(at.surface):
		return false
	case at.pair != "" && a.pairs.has(at.pair, time.Now()) && !a.accts.allow(at.account):
		// Only a source that has failed on this account already is held
		// to the account's cap.
		return false
	}
	return true
}

// failed records a failed check.
func (a *Authenticator) failed(at attempt) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if at.pair != "" {
		a.pairs.fail(at.pair, now)
		a.accts.fail(at.account, now)
	}
	if at.source != "" {
		a.sources.fail(at.source, now)
	}
	if at.surface != "" {
		a.surfaces.fail(at.surface, now)
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
	if !a.allowed(at) {
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
		a.failed(at)
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
	if !a.allowed(at) {
		return nil, ErrTooManyAttempts
	}
	acct, err := a.accounts.AccountByPIN(ctx, pin)
	if err != nil && !errors.Is(err, callback.ErrNotFound) {
		return nil, fmt.Errorf("authenticate PIN: %w", err)
	}
	if acct == nil || pin == "" || acct.Blocked {
		a.failed(at)
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
