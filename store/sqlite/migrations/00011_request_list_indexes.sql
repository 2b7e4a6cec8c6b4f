-- Indexes of the request list's filters (console and admin API), which
-- page by i_callback_request (the rowid). A SQLite index ends with the
-- rowid, so (result) reads the first page of a result, alone or with other
-- filters, in id order, however late in the table the result first
-- appears; (finished) does the same for the unfinished/finished filter,
-- where the claim index would read all of them and sort.

-- +goose Up
CREATE INDEX callback_requests_result ON callback_requests (result);
CREATE INDEX callback_requests_finished ON callback_requests (finished);

-- +goose Down
DROP INDEX callback_requests_finished;
DROP INDEX callback_requests_result;
