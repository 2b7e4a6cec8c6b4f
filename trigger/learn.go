package trigger

import (
	"context"
	"errors"
	"fmt"

	"github.com/callbackd/callbackd/callback"
)

// What LearnCLI did with a caller's number after a PIN login.
const (
	LearnAdded      = "added"       // the number is now a CLI of the account
	LearnKnown      = "known"       // the number already identifies the account
	LearnOtherOwner = "other-owner" // the number identifies another account: left as it is
	LearnOff        = "off"         // the access number does not add (anumberhandling 0 or 2)
	LearnNoNumber   = "no-number"   // no access number, or no usable caller number
)

// addsCLI says whether Mizu's anumberhandling adds the numbers of callers
// who log in with a PIN: 1 (only add) and 3 (add and accept).
func addsCLI(h int) bool { return h == 1 || h == 3 }

// LearnCLI is Mizu's "add" of anumberhandling (seed 003): after a caller
// logged in with a PIN on accessNumber, the caller's number cli becomes a
// CLI of username (account_clis), so that on an access number that
// accepts known numbers (anumberhandling 2 or 3) the next call is
// recognised without a PIN. It adds only when the access number's
// anumberhandling is 1 or 3. It is idempotent, and a number that already
// identifies another account (its username, associated number or CLI) is
// left to that account: a PIN login never takes a number from its owner.
// The result is one of the Learn* constants; errors are store failures.
func (e *Engine) LearnCLI(ctx context.Context, accessNumber, cli, username string) (string, error) {
	if accessNumber == "" || cli == "" || username == "" {
		return LearnNoNumber, nil
	}
	n, err := e.Store.GetAccessNumber(ctx, accessNumber)
	switch {
	case errors.Is(err, callback.ErrNotFound):
		return LearnNoNumber, nil
	case err != nil:
		return "", fmt.Errorf("look up access number %q: %w", accessNumber, err)
	}
	n.ApplyDefaults()
	if !addsCLI(n.ANumberHandling) {
		return LearnOff, nil
	}
	for attempt := 0; attempt < 2; attempt++ {
		owner, err := e.Store.AccountByCLI(ctx, cli)
		switch {
		case err == nil && owner.Username == username:
			return LearnKnown, nil
		case err == nil:
			return LearnOtherOwner, nil
		case !errors.Is(err, callback.ErrNotFound):
			return "", fmt.Errorf("look up CLI %s: %w", cli, err)
		}
		err = e.Store.AddCLI(ctx, callback.AccountCLI{CLI: cli, Username: username})
		switch {
		case err == nil:
			return LearnAdded, nil
		case !errors.Is(err, callback.ErrConflict):
			return "", fmt.Errorf("add CLI %s to account %s: %w", cli, username, err)
		}
		// Another call added the number in between: look again to say whose it is.
	}
	return LearnOtherOwner, nil
}

// PINLogin is called once a caller has logged in with a PIN in the IVR
// (the calling card's Options.OnPINLogin): it runs LearnCLI for the
// request's access number and caller number and logs what it did. A
// failure is logged and does not affect the call.
func (e *Engine) PINLogin(ctx context.Context, r *callback.Request, acct *callback.Account) {
	log := e.Log.With("access_number", r.AccessNumber, "cli", r.OriginalCLI, "account", acct.Username)
	what, err := e.LearnCLI(ctx, r.AccessNumber, r.OriginalCLI, acct.Username)
	switch {
	case err != nil:
		log.Warn("anumberhandling: could not add the caller's number to the account", "err", err)
	case what == LearnAdded:
		log.Info("anumberhandling: the caller's number is now a CLI of the account")
	case what == LearnOtherOwner:
		log.Info("anumberhandling: the caller's number belongs to another account; not added")
	}
}
