-- Money held for legs in progress (callback.Reservation).
--
-- A call reserves what its granted talk time costs before it dials the
-- destination, so that two calls of one account cannot together spend more
-- than balance - credit_limit. Reserve runs in a write transaction, which
-- BEGIN IMMEDIATE serialises, so concurrent reservations of one account are
-- checked one after the other. The reservation is deleted in the
-- transaction that writes the leg's CDR. One left behind by a process that
-- died mid-call is settled by billing's recovery once the request is
-- finished, from number, answered and the request's disconnect_time.

-- +goose Up
CREATE TABLE account_reservations (
    request_id INTEGER NOT NULL,         -- callback_requests.i_callback_request
    leg TEXT NOT NULL,                   -- A: the callback leg; B: the destination
    channel_id TEXT NOT NULL DEFAULT '', -- Asterisk channel id, as in the leg's CDR
    username TEXT NOT NULL,              -- Whose money is held
    number TEXT,                         -- The number the leg calls
    amount INTEGER NOT NULL,             -- Money held: 1/10000 of the account currency
    created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')), -- UTC
    answered TEXT,                       -- UTC; NULL while the leg rings
    PRIMARY KEY (request_id, leg, channel_id)
) STRICT;

CREATE INDEX account_reservations_username ON account_reservations (username);

-- +goose Down
DROP TABLE account_reservations;
