-- Abuse limits shared by every process on this database (F1): one token
-- bucket per limit and key, kept as its theoretical arrival time (GCRA), in
-- ms since 1970 UTC. See the MariaDB migration of the same number.

-- +goose Up
CREATE TABLE rate_limits (
    name TEXT NOT NULL,
    k TEXT NOT NULL,
    tat INTEGER NOT NULL,
    PRIMARY KEY (name, k)
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);

-- +goose Down
DROP TABLE rate_limits;
