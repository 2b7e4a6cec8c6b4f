package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/callbackd/callbackd/callback"
)

// PINOf checks that pin is the PIN of the account username: where the
// caller is identified already (Mizu ivrauthentication 4, A number and
// PIN) a PIN is a second factor, not a login. A PIN of another account, or
// of none, is a failed attempt: it counts against the source, the pair of
// username and source, and username's cap over all sources.
func (a *Authenticator) PINOf(ctx context.Context, pin, username, source string) (*callback.Account, error) {
	return a.pinOf(ctx, pin, username, source, "")
}

// PINOf is Authenticator.PINOf under the surface's budget.
func (s *Surface) PINOf(ctx context.Context, pin, username, source string) (*callback.Account, error) {
	return s.a.pinOf(ctx, pin, username, source, s.name)
}

func (a *Authenticator) pinOf(ctx context.Context, pin, username, source, surface string) (*callback.Account, error) {
	at := attempt{}.keys(username, source, surface)
	if username == "" {
		return nil, ErrBadCredentials
	}
	if !a.allowed(ctx, at) {
		return nil, ErrTooManyAttempts
	}
	acct, err := a.accounts.AccountByPIN(ctx, pin)
	if err != nil && !errors.Is(err, callback.ErrNotFound) {
		return nil, fmt.Errorf("authenticate PIN: %w", err)
	}
	if acct == nil || pin == "" || acct.Blocked || acct.Username != username {
		a.failed(ctx, at)
		return nil, ErrBadCredentials
	}
	return acct, nil
}
