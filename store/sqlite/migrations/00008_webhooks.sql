-- Webhooks: the outbox of status notifications and the accounts' own
-- webhooks.
--
-- A row of webhook_outbox is written in the transaction that changes a
-- request's status (the one that appends the history line), one per
-- webhook to notify: the global one (account NULL) and the request's
-- account's (account_webhooks); and, when an email or SMS request ends,
-- one for the reply to its requester (channel email or sms). A change
-- that rolls back leaves no row; a committed one always has its rows,
-- whatever happens to the process afterwards. The sender claims due rows with a lease like the queue's,
-- POSTs payload and marks the row delivered, or due again later, or failed
-- once its retry window (webhooks.retry_for from queued) has passed.

-- +goose Up
CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL,         -- callback_requests.i_callback_request
    event_id INTEGER NOT NULL,           -- callback_request_events.id of the change: the same for every webhook told of it
    channel TEXT NOT NULL DEFAULT 'webhook' CHECK (channel IN ('webhook', 'email', 'sms')), -- webhook, or a reply to the requester
    account TEXT,                        -- Whose webhook: NULL the global one (webhooks.url), else account_webhooks.username
    address TEXT,                        -- A reply's recipient: the email address or the SMS number
    status TEXT NOT NULL,                -- The request's status after the change
    result TEXT,                         -- Its result after the change
    payload TEXT NOT NULL,               -- The JSON body, as of the change
    created TEXT NOT NULL,               -- UTC, when the change was committed
    queued TEXT NOT NULL,                -- UTC, start of the retry window: created, or the last resend
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0, -- POSTs tried: the fencing token of the sender's updates
    next_attempt TEXT NOT NULL,          -- UTC, when a pending row is due
    lease_owner TEXT,                    -- Node/boot sending it now; NULL when free
    lease_expires TEXT,                  -- The lease is void after this
    last_code INTEGER,                   -- HTTP status of the latest attempt; NULL: no answer
    last_error TEXT,                     -- Why the latest attempt failed
    delivered TEXT                       -- UTC, when a 2xx answer came
) STRICT;

-- Claim: state = 'pending' AND next_attempt <= ? ORDER BY next_attempt.
CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_attempt);
CREATE INDEX webhook_outbox_request ON webhook_outbox (request_id);

-- An account's own webhook, told of its requests' status changes.
CREATE TABLE account_webhooks (
    username TEXT PRIMARY KEY REFERENCES accounts (username) ON DELETE CASCADE ON UPDATE CASCADE,
    url TEXT NOT NULL,                   -- http:// or https:// URL the notifications are POSTed to
    secret TEXT NOT NULL,                -- HMAC-SHA-256 key of the Callbackd-Signature header
    events TEXT NOT NULL DEFAULT 'all' CHECK (events IN ('all', 'final')) -- all: every status change; final: only Finished
) STRICT;

-- The address an email request came from, for the reply when it ends
-- (webhooks.reply_email).
CREATE TABLE request_replies (
    request_id INTEGER PRIMARY KEY REFERENCES callback_requests (i_callback_request) ON DELETE CASCADE,
    address TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE request_replies;
DROP TABLE account_webhooks;
DROP TABLE webhook_outbox;
