-- What the end of a call writes. Finishing a request (finished 0 -> 1,
-- the lease cleared, the status and result set) rewrote an entry in ten
-- of callback_requests' indexes, each a page of the write-ahead log in
-- the end's commit; the embedded store's single writer writes those pages
-- one commit after another, so the pages per end bound the ends per
-- second.
--
-- Three indexes are read only for unfinished requests, and every query
-- that reads them says finished = 0 in its text: the claim and the next
-- due time (lease_owner IS NULL, next_call), the rescue and the canceled
-- rows a node holds (lease_owner, lease_expires), and the live calls
-- page (status, lease_owner). As partial indexes WHERE finished = 0 (the
-- same columns as before, finished first, so the planner weighs them as
-- before) they hold the unfinished rows only: a finish removes the row's
-- entry and writes none in the finished half, which nothing read (one
-- page an end instead of up to two), and the indexes stay as small as the
-- queue and the live calls. The finished index (finished) keeps answering
-- the request list's finished/unfinished filter and the sweep for rows
-- whose finished is neither 0 nor 1.
--
-- Two indexes are read only for a value their column has once the row is
-- set: the requests paid by an account (payer = ?; payer is NULL unless
-- another account pays leg A) and the request list's result filter
-- (result = ?; result is NULL until the request has one). As partial
-- indexes WHERE the column IS NOT NULL, a request without a payer has no
-- entry to rewrite when it finishes, and a finish adds the entry of its
-- result without removing a NULL one first (in a large table the NULL
-- entries and those of a result are on different pages). SQLite uses
-- such an index for any comparison of the column with a value.
--
-- callback_requests_creation_result (creation_time, status, result) went
-- with the dashboard's GROUP BY: the dashboard reads request_totals
-- (migration 00015) and counts the unfinished requests of the day from
-- their rows; a count over a range that is not whole hours reads
-- callback_requests_creation. Every finish rewrote its entry.

-- +goose Up
DROP INDEX callback_requests_creation_result;
DROP INDEX callback_requests_claim;
CREATE INDEX callback_requests_claim ON callback_requests (finished, lease_owner, next_call) WHERE finished = 0;
DROP INDEX callback_requests_lease;
CREATE INDEX callback_requests_lease ON callback_requests (finished, lease_expires) WHERE finished = 0;
DROP INDEX callback_requests_live;
CREATE INDEX callback_requests_live ON callback_requests (finished, status, lease_owner) WHERE finished = 0;
DROP INDEX callback_requests_payer;
CREATE INDEX callback_requests_payer ON callback_requests (payer, finished) WHERE payer IS NOT NULL;
DROP INDEX callback_requests_result;
CREATE INDEX callback_requests_result ON callback_requests (result) WHERE result IS NOT NULL;

-- +goose Down
DROP INDEX callback_requests_result;
CREATE INDEX callback_requests_result ON callback_requests (result);
DROP INDEX callback_requests_payer;
CREATE INDEX callback_requests_payer ON callback_requests (payer, finished);
DROP INDEX callback_requests_live;
CREATE INDEX callback_requests_live ON callback_requests (finished, status, lease_owner);
DROP INDEX callback_requests_lease;
CREATE INDEX callback_requests_lease ON callback_requests (finished, lease_expires);
DROP INDEX callback_requests_claim;
CREATE INDEX callback_requests_claim ON callback_requests (finished, lease_owner, next_call);
CREATE INDEX callback_requests_creation_result ON callback_requests (creation_time, status, result);
