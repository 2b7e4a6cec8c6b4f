-- Operators of the admin API and console, their API tokens, and the audit
-- log of every change they make.
--
-- An operator has a role: admin (everything), support (reads, and cancels
-- callback requests) or reporting (reads only). The password is bcrypt; an
-- API token is 32 random bytes shown once and stored as the hex SHA-256 of
-- its text, so a token is found by one index lookup and a copy of the
-- database holds none.
--
-- audit_log holds one row per change: who, when, what (action), on which
-- object, and the object before and after as JSON (secrets left out). The
-- row is written in the transaction of the change. A change made with an
-- Idempotency-Key keeps the key and the hash of its request, so the same
-- request sent again is answered from the first instead of made twice.

-- +goose Up
CREATE TABLE operators (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'support', 'reporting')),
    password_hash TEXT,                  -- bcrypt; NULL: no password login
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
) STRICT;

CREATE TABLE operator_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    operator TEXT NOT NULL REFERENCES operators (name) ON DELETE CASCADE ON UPDATE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,     -- SHA-256 of the token, hex
    label TEXT,
    created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
) STRICT;

CREATE INDEX operator_tokens_operator ON operator_tokens (operator);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_time TEXT NOT NULL,            -- UTC
    operator TEXT NOT NULL,              -- Who: operators.name, or cli for the command line
    action TEXT NOT NULL,                -- What, e.g. account.update
    object TEXT NOT NULL,                -- On what, e.g. account/801
    before_json TEXT,                    -- The object before; NULL for a creation
    after_json TEXT,                     -- The object after; NULL for a deletion
    idempotency_key TEXT,                -- Idempotency-Key of the request that made the change
    request_hash TEXT                    -- SHA-256 of that request, hex
) STRICT;

CREATE UNIQUE INDEX audit_log_idempotency ON audit_log (operator, idempotency_key);
CREATE INDEX audit_log_object ON audit_log (object, id);
CREATE INDEX audit_log_operator ON audit_log (operator, id);
CREATE INDEX audit_log_time ON audit_log (event_time);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE operator_tokens;
DROP TABLE operators;
