package mail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
)

// The errors of a command that was read but not carried out, besides
// auth.ErrBadCredentials and auth.ErrTooManyAttempts, which Handle returns
// wrapped.
var (
	// ErrRefused: the account is known but the request is refused by a
	// rule (rate limit, no credit, another callback to the number in
	// progress); the error is a *RefusedError with the reason.
	ErrRefused = errors.New("callback request refused")
	// ErrUnavailable: the store could not be reached; nothing was created
	// and the same message may be sent again later.
	ErrUnavailable = errors.New("callback service temporarily unavailable")
)

// RefusedError says why an authenticated request was refused.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "callback request refused: " + e.Reason }

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// unavailableError wraps a store failure so that callers see ErrUnavailable
// and the cause.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string {
	return "callback service temporarily unavailable: " + e.err.Error()
}
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }
func (e *unavailableError) Unwrap() error        { return e.err }

// Limits are the per-account and per-callback-number limits of email
// requests (F1), on top of the Authenticator's limits on failed passwords.
// Within a set Limits, a Limit with a zero Every is off.
type Limits struct {
	PerAccount limiter.Limit `yaml:"per_account"` // requests per account: 10, then 1 every 30 s
	PerNumber  limiter.Limit `yaml:"per_number"`  // requests per callback number: 5, then 1 a minute
}

// DefaultLimits returns the defaults above.
func DefaultLimits() Limits {
	return Limits{
		PerAccount: limiter.Limit{Every: 30 * time.Second, Burst: 10},
		PerNumber:  limiter.Limit{Every: time.Minute, Burst: 5},
	}
}

// HandlerOptions configures a Handler.
type HandlerOptions struct {
	Service *callback.Service   // creates the requests; its Store is read for duplicates
	Auth    *auth.Authenticator // checks the account's password, under email's own budget of failures (auth.SurfaceEmail)
	Limits  Limits              // the zero Limits takes DefaultLimits
	Logger  *slog.Logger        // default slog.Default()
	// StatusURL, when set, returns the public status page of a request
	// (see web.StatusPath); the SMTP reply and the log carry it.
	StatusURL func(id int64) string
	// SharedLimits, when set, keeps the limits in buckets every node
	// shares (limiter.Keyed.Share: mail.account, mail.number).
	SharedLimits limiter.SharedBuckets
}

// Handler carries out email commands. It is safe for concurrent use.
type Handler struct {
	svc        *callback.Service
	auth       *auth.Surface
	log        *slog.Logger
	statusURL  func(int64) string
	perAccount *limiter.Keyed
	perNumber  *limiter.Keyed
}

// NewHandler checks o and returns a Handler.
func NewHandler(o HandlerOptions) (*Handler, error) {
	if o.Service == nil || o.Service.Store == nil {
		return nil, fmt.Errorf("mail handler: no callback service with a store: %w", callback.ErrInvalid)
	}
	if o.Auth == nil {
		return nil, fmt.Errorf("mail handler: no authenticator: %w", callback.ErrInvalid)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits()
	}
	h := &Handler{
		svc:        o.Service,
		auth:       o.Auth.Surface(auth.SurfaceEmail),
		log:        o.Logger.With("component", "mail"),
		statusURL:  o.StatusURL,
		perAccount: limiter.New(o.Limits.PerAccount, 0, nil),
		perNumber:  limiter.New(o.Limits.PerNumber, 0, nil),
	}
	h.perAccount.Share("mail.account", o.SharedLimits)
	h.perNumber.Share("mail.number", o.SharedLimits)
	return h, nil
}

// replyStore keeps the address a request came from, for the reply mailed
// when it ends (both SQL stores).
type replyStore interface {
	SetReplyAddress(ctx context.Context, requestID int64, address string) error
}

// Result is a command carried out.
type Result struct {
	Request *callback.Request
	// Duplicate: the request existed already (the same message sent
	// twice, or a callback to the same number for the same account still
	// pending) and no new one was created.
	Duplicate bool
	StatusURL string // "" unless HandlerOptions.StatusURL is set
}

// Handle authenticates cmd's account and creates its request: a 2-way
// callback to SN connected to DN, or the calling card when DN is empty.
// source is what failed passwords are limited by: the SMTP client address,
// or the sender address when the message came through a relay or a pipe.
//
// Either the request is created by one insert, or nothing is: a store
// failure returns ErrUnavailable and the message may be sent again. A
// message sent twice (same Message-ID) yields the first request.
func (h *Handler) Handle(ctx context.Context, cmd Command, source string) (*Result, error) {
	acct, err := h.auth.Password(ctx, cmd.Account, cmd.Password, source)
	switch {
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrTooManyAttempts):
		return nil, fmt.Errorf("account %q: %w", cmd.Account, err)
	case err != nil:
		return nil, &unavailableError{fmt.Errorf("authenticate %q: %w", cmd.Account, err)}
	}
	st := h.svc.Store
	key := requestKey(acct.Username, cmd.MessageID)
	if key != "" {
		r, err := st.GetRequestByKey(ctx, key)
		switch {
		case err == nil:
			return h.result(r, true), nil
		case !errors.Is(err, callback.ErrNotFound):
			return nil, &unavailableError{fmt.Errorf("look up message %s: %w", cmd.MessageID, err)}
		}
	}
	cld := string(callback.SubAppCallingCard)
	if cmd.Destination != "" {
		cld = callback.CLD{App: callback.SubAppTwoWay, Destination: cmd.Destination}.String()
	}
	pending, err := st.PendingForCLI(ctx, cmd.CallbackNumber)
	switch {
	case err == nil && pending.Username == acct.Username && pending.OriginalCLD == cld:
		return h.result(pending, true), nil
	case err == nil:
		return nil, &RefusedError{Reason: fmt.Sprintf("a callback to %s is already in progress; send the request again when it has finished", cmd.CallbackNumber)}
	case !errors.Is(err, callback.ErrNotFound):
		return nil, &unavailableError{fmt.Errorf("pending request for %s: %w", cmd.CallbackNumber, err)}
	}
	if acct.Available() <= 0 {
		return nil, &RefusedError{Reason: fmt.Sprintf("account %q has no credit left", acct.Username)}
	}
	if !h.perNumber.Allow(cmd.CallbackNumber) {
		return nil, &RefusedError{Reason: fmt.Sprintf("too many callbacks to %s; try again in a few minutes", cmd.CallbackNumber)}
	}
	if !h.perAccount.Allow(acct.Username) {
		return nil, &RefusedError{Reason: fmt.Sprintf("too many callbacks for account %q; try again in a few minutes", acct.Username)}
	}

	r := callback.NewRequest(callback.SourceEmail)
	r.Username = acct.Username
	r.OriginalCLI = cmd.CallbackNumber
	r.OriginalCLD = cld
	r.Destination = cmd.Destination
	r.Language = acct.Language
	r.RequestKey = key
	if err := h.svc.Create(ctx, r); err != nil {
		var ve *callback.ValidationError
		switch {
		case errors.Is(err, callback.ErrConflict) && key != "":
			// The same message won a race with itself (an MTA that
			// re-sent while the first delivery was still running).
			if prev, gerr := st.GetRequestByKey(ctx, key); gerr == nil {
				return h.result(prev, true), nil
			}
			return nil, &unavailableError{fmt.Errorf("create request: %w", err)}
		case errors.As(err, &ve) && ve.Field == "username":
			// The account vanished between the password check and the
			// insert: to the sender that reads as a wrong account.
			return nil, fmt.Errorf("account %q: %w", cmd.Account, auth.ErrBadCredentials)
		case errors.As(err, &ve):
			return nil, &FieldError{Field: ve.Field, Reason: ve.Reason}
		default:
			return nil, &unavailableError{fmt.Errorf("create request: %w", err)}
		}
	}
	if rs, ok := st.(replyStore); ok && cmd.From != "" {
		// For the reply when the callback ends (webhooks.reply_email);
		// the request stands without it.
		if err := rs.SetReplyAddress(ctx, r.ID, cmd.From); err != nil {
			h.log.Warn("email callback request queued; its reply address was not kept, so no reply will be mailed",
				"request_id", r.ID, "err", err)
		}
	}
	res := h.result(r, false)
	h.log.Info("email callback request queued", "request_id", r.ID, "account", r.Username,
		"cli", r.OriginalCLI, "cld", r.OriginalCLD, "source", source, "status_url", res.StatusURL)
	return res, nil
}

func (h *Handler) result(r *callback.Request, dup bool) *Result {
	res := &Result{Request: r, Duplicate: dup}
	if h.statusURL != nil {
		res.StatusURL = h.statusURL(r.ID)
	}
	if dup {
		h.log.Info("email callback request already queued", "request_id", r.ID, "account", r.Username, "cli", r.OriginalCLI)
	}
	return res
}

// requestKey is the idempotency key of a message: the same Message-ID for
// the same account is the same request. It is hashed so that the column
// holds a fixed-size value whatever the header's length.
func requestKey(username, messageID string) string {
	messageID = strings.TrimSpace(messageID)
	if messageID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(username + "\x00" + messageID))
	return "email:" + hex.EncodeToString(sum[:20])
}
