-- Two reads of the console and the admin API.
--
-- The live calls page counts the unfinished requests in a live status
-- (of one node when filtered by node) and reads a page of them per status
-- by id. callback_requests_live holds (finished, status, lease_owner) and,
-- as every SQLite index, the rowid (the request id): the count is read
-- from the index alone, and a page of one node's calls in one status is a
-- range of it already in id order. A page of all nodes' calls in one status is the range of
-- callback_requests_status (status, then the id).
--
-- The tariff list shows how many rates each tariff has. Counted with GROUP
-- BY over tariff_rates, that reads every rate of every tariff (the whole
-- (tariff, prefix) index) at each view. The import keeps each tariff's
-- count in tariff_rate_counts instead, in the transaction that writes its
-- rates (as it bumps tariffs_version), so the list reads one row per
-- tariff. A tariff without rates has no row.

-- +goose Up
CREATE INDEX callback_requests_live ON callback_requests (finished, status, lease_owner);

CREATE TABLE tariff_rate_counts (
    tariff TEXT NOT NULL PRIMARY KEY,
    rates INTEGER NOT NULL -- rows of tariff_rates with this tariff, as of the last import
) STRICT;

INSERT INTO tariff_rate_counts (tariff, rates) SELECT tariff, COUNT(*) FROM tariff_rates GROUP BY tariff;

-- +goose Down
DROP TABLE tariff_rate_counts;
DROP INDEX callback_requests_live;
