-- Every attempt of a webhook notification. webhook_outbox keeps one row
-- per notification with a count of its attempts and the latest outcome
-- (last_code, last_error); webhook_attempts keeps a row per attempt, so an
-- operator sees what each one got (the console's notification page, GET
-- /api/v1/admin/webhooks/deliveries/{id}).
--
-- The sender writes an attempt's row in the transaction that records its
-- outcome on the outbox row, and only when that record is made: an
-- outcome under a lost lease writes neither. A resend keeps the rows of
-- the earlier attempts. The rows go with their notification when old
-- notifications are deleted (webhooks.keep): ON DELETE CASCADE, with the
-- store's foreign keys on.

-- +goose Up
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES webhook_outbox (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,            -- 1-based: the outbox row's attempts when it was made
    started TEXT NOT NULL,               -- UTC, when the POST (or the email, the SMS) began
    finished TEXT NOT NULL,              -- UTC, when its answer (or its error) came
    code INTEGER,                        -- HTTP status of the answer; NULL: no answer
    error TEXT,                          -- Why it failed, cut to 1000 bytes; NULL: a 2xx answer
    owner TEXT NOT NULL                  -- The node/boot (lease owner) that made it
) STRICT;

-- A notification's attempts, in order.
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
