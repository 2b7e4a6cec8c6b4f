// Package auth checks the secrets of accounts for every surface that takes
// them (the web page, the JSON and XML-RPC API, the email and SMS
// triggers): bcrypt passwords, SIP HA1 values and API tokens, compared in
// constant time, with failed attempts rate-limited per account and per
// source, and with the same answer and about the same time for an unknown
// account as for a wrong password, so that accounts cannot be enumerated.
// No secret is ever logged or put in an error.
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

// Authenticator checks account passwords and API tokens.
type Authenticator struct {
	accounts callback.Accounts
	tokens   [][32]byte // SHA-256 of the configured API tokens

	mu       sync.Mutex
	failures map[string]*rate.Limiter
	swept    time.Time
	every    time.Duration
	burst    int
}

// New returns an Authenticator over accounts. apiTokens are the operator's
// API tokens (full access); failures allows burst failed attempts per
// account and per source, then one every `every`.
func New(accounts callback.Accounts, apiTokens []string, every time.Duration, burst int) *Authenticator {
	a := &Authenticator{accounts: accounts, failures: map[string]*rate.Limiter{}, every: every, burst: burst}
	for _, t := range apiTokens {
		if t != "" {
			a.tokens = append(a.tokens, sha256.Sum256([]byte(t)))
		}
	}
	return a
}

// allow reports whether key may try again, without using up a try.
func (a *Authenticator) allow(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.failures[key]
	return !ok || l.Tokens() >= 1
}

// fail records a failure for key.
func (a *Authenticator) fail(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if now.Sub(a.swept) > time.Duration(a.burst)*a.every {
		for k, l := range a.failures {
			if l.TokensAt(now) >= float64(a.burst) {
				delete(a.failures, k)
			}
		}
		a.swept = now
	}
	l, ok := a.failures[key]
	if !ok {
		l = rate.NewLimiter(rate.Every(a.every), a.burst)
		a.failures[key] = l
	}
	l.AllowN(now, 1)
}

// Password checks username and password. source (a client address) is
// limited too, so one client cannot try many accounts.
func (a *Authenticator) Password(ctx context.Context, username, password, source string) (*callback.Account, error) {
	userKey, srcKey := "u:"+username, "s:"+source
	if !a.allow(userKey) || (source != "" && !a.allow(srcKey)) {
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
		a.fail(userKey)
		if source != "" {
			a.fail(srcKey)
		}
		return nil, ErrBadCredentials
	}
	return acct, nil
}

// PIN checks a PIN, for the simple web mode and the IVR. The PIN is looked
// up through the store, which hashes it under the PIN key
// (callback.Accounts.AccountByPIN), so no PIN is compared here; the failure
// limit per source is what stops guessing.
func (a *Authenticator) PIN(ctx context.Context, pin, source string) (*callback.Account, error) {
	srcKey := "s:" + source
	if source != "" && !a.allow(srcKey) {
		return nil, ErrTooManyAttempts
	}
	acct, err := a.accounts.AccountByPIN(ctx, pin)
	if err != nil && !errors.Is(err, callback.ErrNotFound) {
		return nil, fmt.Errorf("authenticate PIN: %w", err)
	}
	if acct == nil || pin == "" || acct.Blocked {
		if source != "" {
			a.fail(srcKey)
		}
		return nil, ErrBadCredentials
	}
	return acct, nil
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
