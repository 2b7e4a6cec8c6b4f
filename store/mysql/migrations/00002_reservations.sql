-- Money held for legs in progress (callback.Reservation).
--
-- A call reserves what its granted talk time costs before it dials the
-- destination, so that two calls of one account cannot together spend more
-- than balance - credit_limit. Reserve locks the account row (SELECT ... FOR
-- UPDATE) before it sums the holds, so concurrent reservations of one
-- account are checked one after the other. The reservation is deleted in
-- the transaction that writes the leg's CDR. One left behind by a process
-- that died mid-call is settled by billing's recovery once the request is
-- finished, from number, answered and the request's disconnect_time.

-- +goose Up
CREATE TABLE account_reservations (
    request_id BIGINT NOT NULL COMMENT 'callback_requests.i_callback_request',
    leg VARCHAR(2) NOT NULL COMMENT 'A: the callback leg; B: the destination',
    channel_id VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'Asterisk channel id, as in the leg''s CDR',
    username VARCHAR(255) NOT NULL COMMENT 'Whose money is held',
    number VARCHAR(64) NULL COMMENT 'The number the leg calls',
    amount BIGINT NOT NULL COMMENT 'Money held: 1/10000 of the account currency',
    created DATETIME(3) NOT NULL DEFAULT (UTC_TIMESTAMP(3)) COMMENT 'UTC',
    answered DATETIME(3) NULL COMMENT 'UTC; NULL while the leg rings',
    PRIMARY KEY (request_id, leg, channel_id),
    KEY account_reservations_username (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE account_reservations;
