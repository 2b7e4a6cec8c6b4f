-- Abuse limits shared by every callbackd node on this database (F1): one
-- token bucket per limit and key, kept as its theoretical arrival time
-- (GCRA). A bucket of burst B refilling one token every E admits a call at
-- now when tat - now <= (B - 1) * E, and then moves tat to
-- max(tat, now) + E; a row whose tat has passed is a full bucket, and is
-- deleted by callbackd now and then.

-- +goose Up
CREATE TABLE rate_limits (
    name VARCHAR(64) NOT NULL COMMENT 'Which limit: trigger.cli, trigger.account, trigger.source, ...',
    k VARCHAR(255) NOT NULL COMMENT 'The key counted: a caller ID, an account, a source address',
    tat BIGINT NOT NULL COMMENT 'Theoretical arrival time, ms since 1970 UTC',
    PRIMARY KEY (name, k),
    KEY rate_limits_tat (tat)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE rate_limits;
