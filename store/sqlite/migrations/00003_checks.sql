-- Rules the database enforces on callback_requests, so that the SQL client
-- writing a row that can never be read or dialled gets the error, and
-- due_since, which keeps a deferred request's age.
--
-- The 0/1 flags are CHECK constraints of the table since 00001 (and STRICT
-- keeps text out of INTEGER columns). SQLite cannot add a CHECK constraint
-- to an existing table without copying it, so the rules added here are
-- triggers that abort the INSERT or UPDATE with "CHECK constraint failed:
-- <rule>", as a CHECK constraint would: non-negative counters and
-- credit_time, and next_call / creation_time that are timestamps
-- ('YYYY-MM-DD HH:MM:SS[.SSS]', what datetime('now') writes). attempt,
-- callbackd's own fencing token, is checked on INSERT only: the claim
-- updates it on every row it takes, and SQLite compiles an UPDATE trigger
-- into each statement that sets one of its columns. Rows that
-- break them may still exist (written before this migration, or with the
-- triggers dropped); the dispatcher finishes such a row `Invalid request`
-- when it meets it instead of stopping on it.
--
-- due_since is set when a request is put back without being dialled (Max
-- Sessions reached, the account lookup failed, the leg was not placed):
-- the next_call it had then. callback.max_age counts from it, so a request
-- deferred again and again still ends Expired. A new next_call written with
-- a status change (Waiting for retry) clears it.

-- +goose Up
ALTER TABLE callback_requests ADD COLUMN due_since TEXT; -- next_call when the request was first put back undialled (UTC)

-- +goose StatementBegin
CREATE TRIGGER callback_requests_checks_insert BEFORE INSERT ON callback_requests
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: call_count >= 0') WHERE NEW.call_count < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: attempt >= 0') WHERE NEW.attempt < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: credit_time IS NULL OR credit_time >= 0') WHERE NEW.credit_time < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: next_call is a timestamp')
        WHERE NOT (NEW.next_call GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND julianday(NEW.next_call) IS NOT NULL);
    SELECT RAISE(ABORT, 'CHECK constraint failed: creation_time is a timestamp')
        WHERE NOT (NEW.creation_time GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND julianday(NEW.creation_time) IS NOT NULL);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER callback_requests_checks_counters BEFORE UPDATE OF call_count, credit_time ON callback_requests
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: call_count >= 0') WHERE NEW.call_count < 0;
    SELECT RAISE(ABORT, 'CHECK constraint failed: credit_time IS NULL OR credit_time >= 0') WHERE NEW.credit_time < 0;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER callback_requests_checks_times BEFORE UPDATE OF next_call, creation_time ON callback_requests
FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: next_call is a timestamp')
        WHERE NOT (NEW.next_call GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND julianday(NEW.next_call) IS NOT NULL);
    SELECT RAISE(ABORT, 'CHECK constraint failed: creation_time is a timestamp')
        WHERE NOT (NEW.creation_time GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND julianday(NEW.creation_time) IS NOT NULL);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER callback_requests_checks_times;
DROP TRIGGER callback_requests_checks_counters;
DROP TRIGGER callback_requests_checks_insert;
ALTER TABLE callback_requests DROP COLUMN due_since;
