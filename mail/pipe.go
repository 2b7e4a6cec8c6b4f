package mail

import (
	"context"
	"errors"
	"io"

	"github.com/callbackd/callbackd/auth"
)

// Exit codes of `callbackd mail` (sysexits.h), which MTAs such as Postfix's
// pipe(8) and Exim's pipe transport turn into a bounce or a retry.
const (
	ExitOK = 0
	// ExitDataErr (EX_DATAERR): the message holds no well-formed command,
	// or is too large. Bounced with the reason.
	ExitDataErr = 65
	// ExitTempFail (EX_TEMPFAIL): the store could not be reached. The MTA
	// keeps the message and delivers it again later.
	ExitTempFail = 75
	// ExitNoPerm (EX_NOPERM): wrong account or password, too many failed
	// attempts, or refused by a rule. Bounced with the reason.
	ExitNoPerm = 77
)

// ExitCode maps an error of Parse, Handle or Pipe to the exit code of
// `callbackd mail`. Errors it does not know count as temporary, so that the
// MTA keeps the message rather than losing a request.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrNoCommand), errors.Is(err, ErrMalformed), errors.Is(err, ErrTooLarge):
		return ExitDataErr
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrTooManyAttempts), errors.Is(err, ErrRefused):
		return ExitNoPerm
	}
	return ExitTempFail
}

// Pipe reads one message from r, as an MTA hands it to a command, and
// carries it out with h. The sender address (From) is the source failed
// passwords are limited by. The error is nil, or one ExitCode maps; its
// text is meant for the bounce and carries no secret.
func Pipe(ctx context.Context, r io.Reader, h *Handler) error {
	cmd, err := Parse(r)
	if err != nil {
		if !errors.Is(err, ErrNoCommand) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
			err = &unavailableError{err}
		}
		h.log.Warn("email refused", "reason", err.Error(), "source", "pipe")
		return err
	}
	source := cmd.From
	if source == "" {
		source = "pipe"
	}
	if _, err := h.Handle(ctx, cmd, source); err != nil {
		h.log.Warn("email refused", "reason", err.Error(), "account", cmd.Account, "source", source)
		return err
	}
	return nil
}
