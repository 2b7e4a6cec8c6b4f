-- Webhooks: the outbox of status notifications and the accounts' own
-- webhooks.
--
-- A row of webhook_outbox is written in the transaction that changes a
-- request's status (the one that appends the history line), one per
-- webhook to notify: the global one (account NULL) and the request's
-- account's (account_webhooks); and, when an email or SMS request ends,
-- one for the reply to its requester (channel email or sms). A change
-- that rolls back leaves no row; a committed one always has its rows,
-- whatever happens to the process afterwards. The sender claims due rows
-- with a lease like the queue's (FOR UPDATE SKIP LOCKED, so nodes pass
-- over each other's rows), sends it and marks the row delivered, or due
-- again later, or failed once its retry window (webhooks.retry_for from
-- queued) has passed.

-- +goose Up
CREATE TABLE webhook_outbox (
    id BIGINT NOT NULL AUTO_INCREMENT,
    request_id BIGINT NOT NULL COMMENT 'callback_requests.i_callback_request',
    event_id BIGINT NOT NULL COMMENT 'callback_request_events.id of the change: the same for every webhook told of it',
    channel VARCHAR(8) NOT NULL DEFAULT 'webhook' COMMENT 'webhook, or a reply to the requester: email or sms',
    account VARCHAR(255) NULL COMMENT 'Whose webhook: NULL the global one (webhooks.url), else account_webhooks.username',
    address VARCHAR(320) NULL COMMENT 'A reply''s recipient: the email address or the SMS number',
    status VARCHAR(64) NOT NULL COMMENT 'The request''s status after the change',
    result VARCHAR(64) NULL COMMENT 'Its result after the change',
    payload MEDIUMTEXT NOT NULL COMMENT 'The JSON body, as of the change',
    created DATETIME(3) NOT NULL COMMENT 'UTC, when the change was committed',
    queued DATETIME(3) NOT NULL COMMENT 'UTC, start of the retry window: created, or the last resend',
    state VARCHAR(16) NOT NULL DEFAULT 'pending',
    attempts INT NOT NULL DEFAULT 0 COMMENT 'POSTs tried: the fencing token of the sender''s updates',
    next_attempt DATETIME(3) NOT NULL COMMENT 'UTC, when a pending row is due',
    lease_owner VARCHAR(255) NULL COMMENT 'Node/boot sending it now; NULL when free',
    lease_expires DATETIME(3) NULL COMMENT 'The lease is void after this',
    last_code INT NULL COMMENT 'HTTP status of the latest attempt; NULL: no answer',
    last_error VARCHAR(1024) NULL COMMENT 'Why the latest attempt failed',
    delivered DATETIME(3) NULL COMMENT 'UTC, when a 2xx answer came',
    PRIMARY KEY (id),
    KEY webhook_outbox_due (state, next_attempt),
    KEY webhook_outbox_request (request_id),
    CONSTRAINT webhook_outbox_state CHECK (state IN ('pending', 'delivered', 'failed')),
    CONSTRAINT webhook_outbox_channel CHECK (channel IN ('webhook', 'email', 'sms'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE account_webhooks (
    username VARCHAR(255) NOT NULL,
    url VARCHAR(2048) NOT NULL COMMENT 'http:// or https:// URL the notifications are POSTed to',
    secret VARCHAR(255) NOT NULL COMMENT 'HMAC-SHA-256 key of the Callbackd-Signature header',
    events VARCHAR(8) NOT NULL DEFAULT 'all' COMMENT 'all: every status change; final: only Finished',
    PRIMARY KEY (username),
    CONSTRAINT account_webhooks_events CHECK (events IN ('all', 'final')),
    CONSTRAINT account_webhooks_account_fk FOREIGN KEY (username)
        REFERENCES accounts (username) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The address an email request came from, for the reply when it ends
-- (webhooks.reply_email).
CREATE TABLE request_replies (
    request_id BIGINT NOT NULL,
    address VARCHAR(320) NOT NULL,
    PRIMARY KEY (request_id),
    CONSTRAINT request_replies_request_fk FOREIGN KEY (request_id)
        REFERENCES callback_requests (i_callback_request) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE request_replies;
DROP TABLE account_webhooks;
DROP TABLE webhook_outbox;
