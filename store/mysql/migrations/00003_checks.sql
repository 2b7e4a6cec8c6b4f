-- Rules the database enforces on callback_requests, so that the SQL client
-- writing a row that can never be read or dialled gets the error, and
-- due_since, which keeps a deferred request's age.
--
-- The CHECK constraints hold on MariaDB 10.6+ and MySQL 8.0.16+: the 0/1
-- flags, non-negative counters and credit_time, and no zero or pre-1970
-- next_call / creation_time. Rows that break them may still exist (written
-- before this migration, with check_constraint_checks = 0, or on a server
-- that ignores CHECK): the dispatcher finishes such a row `Invalid request`
-- when it meets it instead of stopping on it. On MariaDB the constraints
-- are added without checking the rows already there, so this migration
-- never fails on them; MySQL checks existing rows and refuses the
-- migration, naming the constraint, until they are fixed.
--
-- due_since is set when a request is put back without being dialled (Max
-- Sessions reached, the account lookup failed, the leg was not placed):
-- the next_call it had then. callback.max_age counts from it, so a request
-- deferred again and again still ends Expired. A new next_call written with
-- a status change (Waiting for retry) clears it.

-- +goose Up
/*M! SET STATEMENT check_constraint_checks = 0 FOR */
ALTER TABLE callback_requests
    ADD COLUMN due_since DATETIME(3) NULL COMMENT 'next_call when the request was first put back undialled (UTC); max_age counts from it',
    ADD CONSTRAINT callback_requests_canceled CHECK (canceled IN (0, 1)),
    ADD CONSTRAINT callback_requests_finished CHECK (finished IN (0, 1)),
    ADD CONSTRAINT callback_requests_anon_acct_enabled CHECK (anon_acct_enabled IN (0, 1)),
    ADD CONSTRAINT callback_requests_default_user_used CHECK (default_user_used IN (0, 1)),
    ADD CONSTRAINT callback_requests_ask_pin CHECK (ask_pin IN (0, 1)),
    ADD CONSTRAINT callback_requests_call_count CHECK (call_count >= 0),
    ADD CONSTRAINT callback_requests_attempt CHECK (attempt >= 0),
    ADD CONSTRAINT callback_requests_credit_time CHECK (credit_time IS NULL OR credit_time >= 0),
    ADD CONSTRAINT callback_requests_next_call CHECK (next_call >= '1970-01-01'),
    ADD CONSTRAINT callback_requests_creation_time CHECK (creation_time >= '1970-01-01');

-- +goose Down
ALTER TABLE callback_requests
    DROP CONSTRAINT callback_requests_canceled,
    DROP CONSTRAINT callback_requests_finished,
    DROP CONSTRAINT callback_requests_anon_acct_enabled,
    DROP CONSTRAINT callback_requests_default_user_used,
    DROP CONSTRAINT callback_requests_ask_pin,
    DROP CONSTRAINT callback_requests_call_count,
    DROP CONSTRAINT callback_requests_attempt,
    DROP CONSTRAINT callback_requests_credit_time,
    DROP CONSTRAINT callback_requests_next_call,
    DROP CONSTRAINT callback_requests_creation_time,
    DROP COLUMN due_since;
