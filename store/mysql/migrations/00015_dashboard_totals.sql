-- The console's dashboard reads totals kept as the data is written, not
-- a GROUP BY over a day of CDRs and requests:
--   cdr_totals: per UTC hour of start_time, leg and currency, the legs
--     started (attempts), answered, billed seconds and charges (revenue,
--     Money); CDRs without a start time are not counted, as in reports.
--   request_totals: per UTC hour of creation_time, status and result,
--     how many finished requests (finished = 1) are in it now. The
--     unfinished ones (the queue and the live calls: few) are counted
--     from their rows when read, so a request's status changes while it
--     runs write nothing here; only its finishing does.
-- Triggers keep them, inside the statement that writes the CDR or the
-- request, so a rollback takes both back and a row written by any SQL
-- client (an operator's INSERT, UPDATE or DELETE) is counted too.
-- Each key has shards (a CDR's id modulo 32, a request's modulo 8),
-- summed on read, so concurrent call ends do not all wait on one row
-- lock.
-- hour is 'YYYY-MM-DD HH' (UTC), the same text on both stores.

-- +goose Up
CREATE TABLE IF NOT EXISTS cdr_totals (
    hour CHAR(13) NOT NULL COMMENT 'UTC hour of start_time, YYYY-MM-DD HH',
    leg VARCHAR(2) NOT NULL,
    currency VARCHAR(8) NOT NULL COMMENT 'cdrs.currency; empty when NULL',
    shard TINYINT NOT NULL COMMENT 'cdrs.id % 32',
    attempts BIGINT NOT NULL DEFAULT 0,
    answered BIGINT NOT NULL DEFAULT 0,
    billsec BIGINT NOT NULL DEFAULT 0,
    revenue BIGINT NOT NULL DEFAULT 0 COMMENT 'Money: sum of cdrs.charge',
    PRIMARY KEY (hour, leg, currency, shard)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS request_totals (
    hour CHAR(13) NOT NULL COMMENT 'UTC hour of creation_time, YYYY-MM-DD HH',
    status VARCHAR(64) NOT NULL,
    result VARCHAR(64) NOT NULL COMMENT 'empty when NULL',
    shard TINYINT NOT NULL COMMENT 'i_callback_request % 8',
    n BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, status, result, shard)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

DROP TRIGGER IF EXISTS cdrs_totals_insert;

-- +goose StatementBegin
CREATE TRIGGER cdrs_totals_insert AFTER INSERT ON cdrs
FOR EACH ROW
BEGIN
    IF NEW.start_time IS NOT NULL THEN
        INSERT INTO cdr_totals (hour, leg, currency, shard, attempts, answered, billsec, revenue)
        VALUES (DATE_FORMAT(NEW.start_time, '%Y-%m-%d %H'), NEW.leg, COALESCE(NEW.currency, ''), NEW.id % 32,
                1, NEW.answer_time IS NOT NULL, NEW.billsec, NEW.charge)
        ON DUPLICATE KEY UPDATE attempts = attempts + 1, answered = answered + (NEW.answer_time IS NOT NULL),
            billsec = billsec + NEW.billsec, revenue = revenue + NEW.charge;
    END IF;
END;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS cdrs_totals_update;

-- +goose StatementBegin
CREATE TRIGGER cdrs_totals_update AFTER UPDATE ON cdrs
FOR EACH ROW
BEGIN
    IF NOT (OLD.start_time <=> NEW.start_time AND OLD.leg <=> NEW.leg AND OLD.currency <=> NEW.currency AND OLD.id <=> NEW.id
            AND (OLD.answer_time IS NULL) = (NEW.answer_time IS NULL) AND OLD.billsec <=> NEW.billsec AND OLD.charge <=> NEW.charge) THEN
        IF OLD.start_time IS NOT NULL THEN
            INSERT INTO cdr_totals (hour, leg, currency, shard, attempts, answered, billsec, revenue)
            VALUES (DATE_FORMAT(OLD.start_time, '%Y-%m-%d %H'), OLD.leg, COALESCE(OLD.currency, ''), OLD.id % 32,
                    -1, -(OLD.answer_time IS NOT NULL), -OLD.billsec, -OLD.charge)
            ON DUPLICATE KEY UPDATE attempts = attempts - 1, answered = answered - (OLD.answer_time IS NOT NULL),
                billsec = billsec - OLD.billsec, revenue = revenue - OLD.charge;
        END IF;
        IF NEW.start_time IS NOT NULL THEN
            INSERT INTO cdr_totals (hour, leg, currency, shard, attempts, answered, billsec, revenue)
            VALUES (DATE_FORMAT(NEW.start_time, '%Y-%m-%d %H'), NEW.leg, COALESCE(NEW.currency, ''), NEW.id % 32,
                    1, NEW.answer_time IS NOT NULL, NEW.billsec, NEW.charge)
            ON DUPLICATE KEY UPDATE attempts = attempts + 1, answered = answered + (NEW.answer_time IS NOT NULL),
                billsec = billsec + NEW.billsec, revenue = revenue + NEW.charge;
        END IF;
    END IF;
END;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS cdrs_totals_delete;

-- +goose StatementBegin
CREATE TRIGGER cdrs_totals_delete AFTER DELETE ON cdrs
FOR EACH ROW
BEGIN
    IF OLD.start_time IS NOT NULL THEN
        INSERT INTO cdr_totals (hour, leg, currency, shard, attempts, answered, billsec, revenue)
        VALUES (DATE_FORMAT(OLD.start_time, '%Y-%m-%d %H'), OLD.leg, COALESCE(OLD.currency, ''), OLD.id % 32,
                -1, -(OLD.answer_time IS NOT NULL), -OLD.billsec, -OLD.charge)
        ON DUPLICATE KEY UPDATE attempts = attempts - 1, answered = answered - (OLD.answer_time IS NOT NULL),
            billsec = billsec - OLD.billsec, revenue = revenue - OLD.charge;
    END IF;
END;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS callback_requests_totals_insert;

-- +goose StatementBegin
CREATE TRIGGER callback_requests_totals_insert AFTER INSERT ON callback_requests
FOR EACH ROW
BEGIN
    IF NEW.finished = 1 THEN
        INSERT INTO request_totals (hour, status, result, shard, n)
        VALUES (DATE_FORMAT(NEW.creation_time, '%Y-%m-%d %H'), NEW.status, COALESCE(NEW.result, ''), NEW.i_callback_request % 8, 1)
        ON DUPLICATE KEY UPDATE n = n + 1;
    END IF;
END;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS callback_requests_totals_update;

-- +goose StatementBegin
CREATE TRIGGER callback_requests_totals_update AFTER UPDATE ON callback_requests
FOR EACH ROW
BEGIN
    IF (OLD.finished = 1 OR NEW.finished = 1)
            AND NOT (OLD.status <=> NEW.status AND OLD.result <=> NEW.result AND OLD.creation_time <=> NEW.creation_time
            AND OLD.i_callback_request <=> NEW.i_callback_request AND OLD.finished <=> NEW.finished) THEN
        IF OLD.finished = 1 THEN
            INSERT INTO request_totals (hour, status, result, shard, n)
            VALUES (DATE_FORMAT(OLD.creation_time, '%Y-%m-%d %H'), OLD.status, COALESCE(OLD.result, ''), OLD.i_callback_request % 8, -1)
            ON DUPLICATE KEY UPDATE n = n - 1;
        END IF;
        IF NEW.finished = 1 THEN
            INSERT INTO request_totals (hour, status, result, shard, n)
            VALUES (DATE_FORMAT(NEW.creation_time, '%Y-%m-%d %H'), NEW.status, COALESCE(NEW.result, ''), NEW.i_callback_request % 8, 1)
            ON DUPLICATE KEY UPDATE n = n + 1;
        END IF;
    END IF;
END;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS callback_requests_totals_delete;

-- +goose StatementBegin
CREATE TRIGGER callback_requests_totals_delete AFTER DELETE ON callback_requests
FOR EACH ROW
BEGIN
    IF OLD.finished = 1 THEN
        INSERT INTO request_totals (hour, status, result, shard, n)
        VALUES (DATE_FORMAT(OLD.creation_time, '%Y-%m-%d %H'), OLD.status, COALESCE(OLD.result, ''), OLD.i_callback_request % 8, -1)
        ON DUPLICATE KEY UPDATE n = n - 1;
    END IF;
END;
-- +goose StatementEnd

-- A MariaDB/MySQL migration is not one transaction (DDL commits on its
-- own): when a statement above is refused (CREATE TRIGGER needs SUPER or
-- BINLOG ADMIN while binary logging is on, unless
-- log_bin_trust_function_creators is set), the migration is run again
-- from the start once that is fixed. Hence IF NOT EXISTS, DROP TRIGGER IF
-- EXISTS, and the totals emptied before the backfill.
DELETE FROM cdr_totals;
DELETE FROM request_totals;

-- The backfill: one pass over each table (what is committed when the
-- migration runs; `callbackd cdr rebuild-totals` recounts a range later).
INSERT INTO cdr_totals (hour, leg, currency, shard, attempts, answered, billsec, revenue)
SELECT DATE_FORMAT(start_time, '%Y-%m-%d %H'), leg, COALESCE(currency, ''), id % 32,
       COUNT(*), SUM(answer_time IS NOT NULL), SUM(billsec), SUM(charge)
FROM cdrs WHERE start_time IS NOT NULL
GROUP BY 1, 2, 3, 4;

INSERT INTO request_totals (hour, status, result, shard, n)
SELECT DATE_FORMAT(creation_time, '%Y-%m-%d %H'), status, COALESCE(result, ''), i_callback_request % 8, COUNT(*)
FROM callback_requests WHERE finished = 1
GROUP BY 1, 2, 3, 4;

-- +goose Down
DROP TRIGGER callback_requests_totals_delete;
DROP TRIGGER callback_requests_totals_update;
DROP TRIGGER callback_requests_totals_insert;
DROP TRIGGER cdrs_totals_delete;
DROP TRIGGER cdrs_totals_update;
DROP TRIGGER cdrs_totals_insert;
DROP TABLE request_totals;
DROP TABLE cdr_totals;
