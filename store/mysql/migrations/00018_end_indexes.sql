-- What the end of a call writes. Finishing a request (finished 0 -> 1,
-- the lease cleared, the status and result set) rewrites an entry in each
-- of callback_requests' indexes that holds one of those columns.
--
-- callback_requests_creation_result (creation_time, status, result) went
-- with the dashboard's GROUP BY: the dashboard reads request_totals
-- (migration 00015) and counts the unfinished requests of the day from
-- their rows (callback_requests_finished); a count over a range that is
-- not whole hours reads callback_requests_creation. Every finish rewrote
-- its entry.
--
-- (The embedded store also makes its claim, lease and live calls indexes
-- partial to the unfinished rows; MariaDB has no partial indexes.)

-- +goose Up
ALTER TABLE callback_requests DROP INDEX callback_requests_creation_result;

-- +goose Down
ALTER TABLE callback_requests ADD INDEX callback_requests_creation_result (creation_time, status, result);
