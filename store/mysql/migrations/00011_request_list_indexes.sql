-- Indexes of the request list's filters (console and admin API), which
-- page by i_callback_request. An InnoDB secondary index ends with the
-- primary key, so (result) is (result, i_callback_request): the first page
-- of a result, alone or with other filters, is read in id order from it,
-- however late in the table the result first appears. Without it the
-- server scans the primary key from the start. (finished) is the same for
-- the unfinished/finished filter: the claim index starts with finished but
-- then orders by lease_owner and next_call, so the server preferred the
-- primary key and, the unfinished rows being the newest, read nearly every
-- row to find them.

-- +goose Up
ALTER TABLE callback_requests
    ADD KEY callback_requests_result (result),
    ADD KEY callback_requests_finished (finished);

-- +goose Down
ALTER TABLE callback_requests
    DROP KEY callback_requests_finished,
    DROP KEY callback_requests_result;
