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
    id BIGINT NOT NULL AUTO_INCREMENT,
    name VARCHAR(64) NOT NULL,
    role VARCHAR(16) NOT NULL COMMENT 'admin, support or reporting',
    password_hash VARCHAR(255) NULL COMMENT 'bcrypt; NULL: no password login',
    disabled TINYINT(1) NOT NULL DEFAULT 0,
    created DATETIME(3) NOT NULL DEFAULT (UTC_TIMESTAMP(3)) COMMENT 'UTC',
    PRIMARY KEY (id),
    UNIQUE KEY operators_name (name),
    CONSTRAINT operators_role CHECK (role IN ('admin', 'support', 'reporting')),
    CONSTRAINT operators_disabled CHECK (disabled IN (0, 1))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE operator_tokens (
    id BIGINT NOT NULL AUTO_INCREMENT,
    operator VARCHAR(64) NOT NULL COMMENT 'operators.name',
    token_hash CHAR(64) NOT NULL COMMENT 'SHA-256 of the token, hex',
    label VARCHAR(255) NULL,
    created DATETIME(3) NOT NULL DEFAULT (UTC_TIMESTAMP(3)) COMMENT 'UTC',
    PRIMARY KEY (id),
    UNIQUE KEY operator_tokens_hash (token_hash),
    KEY operator_tokens_operator (operator),
    CONSTRAINT operator_tokens_operator_fk FOREIGN KEY (operator)
        REFERENCES operators (name) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE audit_log (
    id BIGINT NOT NULL AUTO_INCREMENT,
    event_time DATETIME(3) NOT NULL COMMENT 'UTC',
    operator VARCHAR(64) NOT NULL COMMENT 'Who: operators.name, or cli for the command line',
    action VARCHAR(64) NOT NULL COMMENT 'What, e.g. account.update',
    object VARCHAR(255) NOT NULL COMMENT 'On what, e.g. account/801',
    before_json MEDIUMTEXT NULL COMMENT 'The object before; NULL for a creation',
    after_json MEDIUMTEXT NULL COMMENT 'The object after; NULL for a deletion',
    idempotency_key VARCHAR(128) NULL COMMENT 'Idempotency-Key of the request that made the change',
    request_hash CHAR(64) NULL COMMENT 'SHA-256 of that request, hex',
    PRIMARY KEY (id),
    UNIQUE KEY audit_log_idempotency (operator, idempotency_key),
    KEY audit_log_object (object, id),
    KEY audit_log_operator (operator, id),
    KEY audit_log_time (event_time)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE audit_log;
DROP TABLE operator_tokens;
DROP TABLE operators;
