package sqlstore

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// The live calls page (admin.LiveStore): a page of the requests in a live
// status by id, their count, and the legs of the page's requests.

// liveWhere is the WHERE clause of f's account and node, after the status
// and finished conditions the caller puts first.
func liveWhere(f admin.LiveFilter) (string, []any) {
	var where []string
	var args []any
	if f.Account != "" {
		where, args = append(where, "username = ?"), append(args, f.Account)
	}
	if f.Node != "" {
		where, args = append(where, "lease_owner = ?"), append(args, f.Node)
	}
	if len(where) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(where, " AND "), args
}

// liveStatuses is f's status, or every live status.
func liveStatuses(f admin.LiveFilter) []any {
	if f.Status != "" {
		return []any{string(f.Status)}
	}
	var out []any
	for _, st := range admin.LiveStatuses() {
		out = append(out, string(st))
	}
	return out
}

// ListLiveRequests reads, for each live status, the first f.Limit
// unfinished requests after f.AfterID, and merges them by id: each is a
// range already in id order, of callback_requests_status (status, then
// the id) or, for one node, of callback_requests_live (finished, status,
// lease_owner, then the id), so a page costs a few reads of a page each,
// however many calls are up. (One query with status IN (...) would read
// every live row to sort them.)
func (db *DB) ListLiveRequests(ctx context.Context, f admin.LiveFilter) ([]*callback.Request, error) {
	limit := pageLimit(f.Limit)
	extra, extraArgs := liveWhere(f)
	if f.Account != "" {
		// An account's unfinished requests are one range of
		// callback_requests_username (username, finished): read once,
		// not once per status.
		sts := liveStatuses(f)
		q := selectRequest + " WHERE finished = 0 AND status IN " + placeholders(len(sts)) + " AND i_callback_request > ?" + extra +
			" ORDER BY i_callback_request LIMIT ?"
		out, err := selectRequests(ctx, db.r, q, append(append(append(sts, f.AfterID), extraArgs...), limit)...)
		if err != nil {
			return nil, db.fail(err, "list live requests of %s", f.Account)
		}
		return out, nil
	}
	q := selectRequest + " WHERE finished = 0 AND status = ? AND i_callback_request > ?" + extra + " ORDER BY i_callback_request LIMIT ?"
	var out []*callback.Request
	for _, st := range liveStatuses(f) {
		args := append(append([]any{st, f.AfterID}, extraArgs...), limit)
		rs, err := selectRequests(ctx, db.r, q, args...)
		if err != nil {
			return nil, db.fail(err, "list live requests (%s)", st)
		}
		out = append(out, rs...)
	}
	slices.SortFunc(out, func(a, b *callback.Request) int { return cmp.Compare(a.ID, b.ID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// CountLiveRequests counts the unfinished requests in a live status that
// f selects: unless filtered by account, from the callback_requests_live
// index alone.
func (db *DB) CountLiveRequests(ctx context.Context, f admin.LiveFilter) (int64, error) {
	sts := liveStatuses(f)
	extra, extraArgs := liveWhere(f)
	q := "SELECT COUNT(*) FROM callback_requests WHERE finished = 0 AND status IN " + placeholders(len(sts)) + extra
	var n int64
	if err := db.r.GetContext(ctx, &n, q, append(sts, extraArgs...)...); err != nil {
		return 0, db.fail(err, "count live requests")
	}
	return n, nil
}

// RequestReservations returns the reservations of the requests ids, read
// over the table's primary key (request_id, leg, channel_id).
func (db *DB) RequestReservations(ctx context.Context, ids []int64) ([]*callback.Reservation, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q := "SELECT " + reservationColumns + " FROM account_reservations WHERE request_id IN " +
		placeholders(len(ids)) + " ORDER BY request_id, created, leg, channel_id"
	var rows []reservationRow
	if err := db.r.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, db.fail(err, "reservations of %d requests", len(ids))
	}
	out := make([]*callback.Reservation, len(rows))
	for i := range rows {
		out[i] = rows[i].reservation()
	}
	return out, nil
}
