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
-- summed on read, as on MariaDB, where they spread the row locks of
-- concurrent call ends.
-- hour is 'YYYY-MM-DD HH' (UTC), the same text on both stores.

-- +goose Up
CREATE TABLE cdr_totals (
    hour TEXT NOT NULL,                 -- UTC hour of start_time, YYYY-MM-DD HH
    leg TEXT NOT NULL,
    currency TEXT NOT NULL,             -- cdrs.currency; empty when NULL
    shard INTEGER NOT NULL,             -- cdrs.id % 32
    attempts INTEGER NOT NULL DEFAULT 0,
    answered INTEGER NOT NULL DEFAULT 0,
    billsec INTEGER NOT NULL DEFAULT 0,
    revenue INTEGER NOT NULL DEFAULT 0, -- Money: sum of cdrs.charge
    PRIMARY KEY (hour, leg, currency, shard)
) STRICT, WITHOUT ROWID;

CREATE TABLE request_totals (
    hour TEXT NOT NULL,                 -- UTC hour of creation_time, YYYY-MM-DD HH
    status TEXT NOT NULL,
    result TEXT NOT NULL,               -- empty when NULL
    shard INTEGER NOT NULL,             -- i_callback_request % 8
    n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, status, result, shard)
) STRICT, WITHOUT ROWID;

-- +goose StatementBegin
CREATE TRIGGER cdrs_totals_insert AFTER INSERT ON cdrs
FOR EACH ROW WHEN NEW.start_time IS NOT NULL
BEGIN
    INSERT INTO cdr_totals (hour, leg, currency, shard, attempts, answered, billsec, revenue)
    VALUES (substr(NEW.start_time, 1, 13), NEW.leg, COALESCE(NEW.currency, ''), NEW.id % 32,
            1, (NEW.answer_time IS NOT NULL), NEW.billsec, NEW.charge)
    ON CONFLICT (hour, leg, currency, shard) DO UPDATE SET attempts = attempts + excluded.attempts,
        answered = answered + excluded.answered, billsec = billsec + excluded.billsec, revenue = revenue + excluded.revenue;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER cdrs_totals_update_old AFTER UPDATE ON cdrs
FOR EACH ROW WHEN OLD.start_time IS NOT NULL AND NOT (OLD.start_time IS NEW.start_time AND OLD.leg IS NEW.leg AND OLD.currency IS NEW.currency AND OLD.id IS NEW.id
    AND (OLD.answer_time IS NULL) = (NEW.answer_time IS NULL) AND OLD.billsec IS NEW.billsec AND OLD.charge IS NEW.charge)
BEGIN
    INSERT INTO cdr_totals (hour, leg, currency, shard, attempts, answered, billsec, revenue)
    VALUES (substr(OLD.start_time, 1, 13), OLD.leg, COALESCE(OLD.currency, ''), OLD.id % 32,
            -1, -(OLD.answer_time IS NOT NULL), -OLD.billsec, -OLD.charge)
    ON CONFLICT (hour, leg, currency, shard) DO UPDATE SET attempts = attempts + excluded.attempts,
        answered = answered + excluded.answered, billsec = billsec + excluded.billsec, revenue = revenue + excluded.revenue;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER cdrs_totals_update_new AFTER UPDATE ON cdrs
FOR EACH ROW WHEN NEW.start_time IS NOT NULL AND NOT (OLD.start_time IS NEW.start_time AND OLD.leg IS NEW.leg AND OLD.currency IS NEW.currency AND OLD.id IS NEW.id
    AND (OLD.answer_time IS NULL) = (NEW.answer_time IS NULL) AND OLD.billsec IS NEW.billsec AND OLD.charge IS NEW.charge)
BEGIN
    INSERT INTO cdr_totals (hour, leg, currency, shard, attempts, answered, billsec, revenue)
    VALUES (substr(NEW.start_time, 1, 13), NEW.leg, COALESCE(NEW.currency, ''), NEW.id % 32,
            1, (NEW.answer_time IS NOT NULL), NEW.billsec, NEW.charge)
    ON CONFLICT (hour, leg, currency, shard) DO UPDATE SET attempts = attempts + excluded.attempts,
        answered = answered + excluded.answered, billsec = billsec + excluded.billsec, revenue = revenue + excluded.revenue;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER cdrs_totals_delete AFTER DELETE ON cdrs
FOR EACH ROW WHEN OLD.start_time IS NOT NULL
BEGIN
    INSERT INTO cdr_totals (hour, leg, currency, shard, attempts, answered, billsec, revenue)
    VALUES (substr(OLD.start_time, 1, 13), OLD.leg, COALESCE(OLD.currency, ''), OLD.id % 32,
            -1, -(OLD.answer_time IS NOT NULL), -OLD.billsec, -OLD.charge)
    ON CONFLICT (hour, leg, currency, shard) DO UPDATE SET attempts = attempts + excluded.attempts,
        answered = answered + excluded.answered, billsec = billsec + excluded.billsec, revenue = revenue + excluded.revenue;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER callback_requests_totals_insert AFTER INSERT ON callback_requests
FOR EACH ROW WHEN NEW.finished = 1
BEGIN
    INSERT INTO request_totals (hour, status, result, shard, n)
    VALUES (substr(NEW.creation_time, 1, 13), NEW.status, COALESCE(NEW.result, ''), NEW.i_callback_request % 8, 1)
    ON CONFLICT (hour, status, result, shard) DO UPDATE SET n = n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER callback_requests_totals_update AFTER UPDATE OF status, result, creation_time, finished ON callback_requests
FOR EACH ROW WHEN (OLD.finished = 1 OR NEW.finished = 1)
    AND NOT (OLD.status IS NEW.status AND OLD.result IS NEW.result AND OLD.creation_time IS NEW.creation_time
    AND OLD.i_callback_request IS NEW.i_callback_request AND OLD.finished IS NEW.finished)
BEGIN
    INSERT INTO request_totals (hour, status, result, shard, n)
    SELECT substr(OLD.creation_time, 1, 13), OLD.status, COALESCE(OLD.result, ''), OLD.i_callback_request % 8, -1
    WHERE OLD.finished = 1
    ON CONFLICT (hour, status, result, shard) DO UPDATE SET n = n + excluded.n;
    INSERT INTO request_totals (hour, status, result, shard, n)
    SELECT substr(NEW.creation_time, 1, 13), NEW.status, COALESCE(NEW.result, ''), NEW.i_callback_request % 8, 1
    WHERE NEW.finished = 1
    ON CONFLICT (hour, status, result, shard) DO UPDATE SET n = n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER callback_requests_totals_delete AFTER DELETE ON callback_requests
FOR EACH ROW WHEN OLD.finished = 1
BEGIN
    INSERT INTO request_totals (hour, status, result, shard, n)
    VALUES (substr(OLD.creation_time, 1, 13), OLD.status, COALESCE(OLD.result, ''), OLD.i_callback_request % 8, -1)
    ON CONFLICT (hour, status, result, shard) DO UPDATE SET n = n + excluded.n;
END;
-- +goose StatementEnd

-- The backfill: one pass over each table (what is committed when the
-- migration runs; `callbackd cdr rebuild-totals` recounts a range later).
INSERT INTO cdr_totals (hour, leg, currency, shard, attempts, answered, billsec, revenue)
SELECT substr(start_time, 1, 13), leg, COALESCE(currency, ''), id % 32,
       COUNT(*), SUM(answer_time IS NOT NULL), SUM(billsec), SUM(charge)
FROM cdrs WHERE start_time IS NOT NULL
GROUP BY 1, 2, 3, 4;

INSERT INTO request_totals (hour, status, result, shard, n)
SELECT substr(creation_time, 1, 13), status, COALESCE(result, ''), i_callback_request % 8, COUNT(*)
FROM callback_requests WHERE finished = 1
GROUP BY 1, 2, 3, 4;

-- +goose Down
DROP TRIGGER callback_requests_totals_delete;
DROP TRIGGER callback_requests_totals_update;
DROP TRIGGER callback_requests_totals_insert;
DROP TRIGGER cdrs_totals_delete;
DROP TRIGGER cdrs_totals_update_new;
DROP TRIGGER cdrs_totals_update_old;
DROP TRIGGER cdrs_totals_insert;
DROP TABLE request_totals;
DROP TABLE cdr_totals;
