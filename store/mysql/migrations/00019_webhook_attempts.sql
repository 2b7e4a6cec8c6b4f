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
-- notifications are deleted (webhooks.keep): ON DELETE CASCADE.

-- +goose Up
CREATE TABLE webhook_attempts (
    id BIGINT NOT NULL AUTO_INCREMENT,
    delivery_id BIGINT NOT NULL COMMENT 'webhook_outbox.id',
    attempt INT NOT NULL COMMENT '1-based: the outbox row''s attempts when it was made',
    started DATETIME(3) NOT NULL COMMENT 'UTC, when the POST (or the email, the SMS) began',
    finished DATETIME(3) NOT NULL COMMENT 'UTC, when its answer (or its error) came',
    code INT NULL COMMENT 'HTTP status of the answer; NULL: no answer',
    error VARCHAR(1024) NULL COMMENT 'Why it failed, cut to 1000 bytes; NULL: a 2xx answer',
    owner VARCHAR(255) NOT NULL COMMENT 'The node/boot (lease owner) that made it',
    PRIMARY KEY (id),
    KEY webhook_attempts_delivery (delivery_id, id),
    CONSTRAINT webhook_attempts_delivery_fk FOREIGN KEY (delivery_id)
        REFERENCES webhook_outbox (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE webhook_attempts;
