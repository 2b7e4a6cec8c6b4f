package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// The live calls page: pages by id while calls start and end, its
// filters, its count, and the legs of a page's requests.
func init() {
	adminTests["LiveCallsPaging"] = testLiveCallsPaging
	adminTests["LiveCallsFilters"] = testLiveCallsFilters
}

// liveCall is a request claimed by a node and moved to a live status.
type liveCall struct {
	r *callback.Request
	l callback.Lease
}

// startCall creates a request of username, claims it as node and takes
// it through the live statuses up to to.
func startCall(t *testing.T, s callback.Store, username, node, cli string, to callback.Status) liveCall {
	t.Helper()
	r := newRequest(cli, base)
	r.Username = username
	create(t, s, r)
	got, l := claimOne(t, s, node, base.Add(time.Second))
	if got.ID != r.ID {
		t.Fatalf("claimed request %d, want %d", got.ID, r.ID)
	}
	cur := update(t, s, l, callback.Change{From: got.Status, To: callback.StatusFirstLegInitiated, CountCall: true, SetupTime: base})
	for _, st := range admin.LiveStatuses()[1:] {
		if cur.Status == to {
			break
		}
		cur = update(t, s, l, callback.Change{From: cur.Status, To: st})
	}
	return liveCall{r: cur, l: l}
}

// endCall finishes a live call with the first result its status may end
// with.
func endCall(t *testing.T, s callback.Store, c liveCall) {
	t.Helper()
	cur := get(t, s, c.r.ID)
	for _, res := range callback.Results {
		if callback.CheckTransition(cur.Status, callback.StatusFinished, res) == nil {
			update(t, s, c.l, callback.Change{From: cur.Status, To: callback.StatusFinished, Result: res})
			return
		}
	}
	t.Fatalf("request %d in %s cannot finish", cur.ID, cur.Status)
}

func livePage(t *testing.T, s admin.Store, f admin.LiveFilter) []int64 {
	t.Helper()
	rs, err := s.ListLiveRequests(t.Context(), f)
	if err != nil {
		t.Fatalf("list live requests %+v: %v", f, err)
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		if !r.Status.Live() || r.Finished {
			t.Errorf("request %d listed live: %s finished=%v", r.ID, r.Status, r.Finished)
		}
		ids[i] = r.ID
	}
	return ids
}

func liveCount(t *testing.T, s admin.Store, f admin.LiveFilter) int64 {
	t.Helper()
	n, err := s.CountLiveRequests(t.Context(), f)
	if err != nil {
		t.Fatalf("count live requests %+v: %v", f, err)
	}
	return n
}

// testLiveCallsPaging reads the live calls 3 at a time while, between
// pages, a call already listed ends, a call not yet listed ends, and a new
// one starts: every call up throughout is listed once, in id order, none
// twice, and the count is the live calls at the end.
func testLiveCallsPaging(t *testing.T, s admin.Store) {
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD", Balance: 100_000})
	sts := admin.LiveStatuses()
	var calls []liveCall
	for i := range 10 {
		calls = append(calls, startCall(t, s, "801", "node-a/1", fmt.Sprintf("49301%03d", i), sts[i%len(sts)]))
	}
	// Requests not live: one waiting to be dialled, one finished.
	create(t, s, newRequest("4930200", base.Add(time.Hour)))
	endCall(t, s, startCall(t, s, "801", "node-a/1", "4930201", callback.StatusSecondLegConnected))
	if n := liveCount(t, s, admin.LiveFilter{}); n != 10 {
		t.Fatalf("count = %d, want 10", n)
	}

	ended := map[int64]bool{}
	var started []int64
	var seen []int64
	var after int64
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatalf("more than 10 pages: %v", seen)
		}
		ids := livePage(t, s, admin.LiveFilter{AfterID: after, Limit: 3})
		if len(ids) > 3 {
			t.Fatalf("page of %d rows, limit 3", len(ids))
		}
		if !slices.IsSorted(ids) {
			t.Errorf("page not by id: %v", ids)
		}
		seen = append(seen, ids...)
		if len(ids) < 3 {
			break
		}
		after = ids[len(ids)-1]
		if page == 0 {
			// One listed ends, one not yet listed ends, a new one starts.
			endCall(t, s, calls[0])
			endCall(t, s, calls[7])
			ended[calls[0].r.ID], ended[calls[7].r.ID] = true, true
			started = append(started, startCall(t, s, "801", "node-a/1", "4930300", callback.StatusFirstLegConnected).r.ID)
		}
	}
	count := map[int64]int{}
	for _, id := range seen {
		count[id]++
		if count[id] > 1 {
			t.Errorf("request %d listed twice: %v", id, seen)
		}
	}
	for _, c := range calls {
		if !ended[c.r.ID] && count[c.r.ID] != 1 {
			t.Errorf("request %d, up throughout, listed %d times: %v", c.r.ID, count[c.r.ID], seen)
		}
	}
	if count[calls[7].r.ID] != 0 {
		t.Errorf("request %d ended before its page and was listed: %v", calls[7].r.ID, seen)
	}
	if count[started[0]] != 1 {
		t.Errorf("request %d started during the paging, after the cursor, not listed: %v", started[0], seen)
	}
	if n := liveCount(t, s, admin.LiveFilter{}); n != 9 {
		t.Errorf("count = %d, want 9 (10 - 2 ended + 1 started)", n)
	}
	all := livePage(t, s, admin.LiveFilter{Limit: 100})
	if int64(len(all)) != liveCount(t, s, admin.LiveFilter{}) {
		t.Errorf("listed %d, counted %d", len(all), liveCount(t, s, admin.LiveFilter{}))
	}
	// Paging past the last call is an empty page.
	if ids := livePage(t, s, admin.LiveFilter{AfterID: all[len(all)-1]}); len(ids) != 0 {
		t.Errorf("after the last: %v", ids)
	}
}

// testLiveCallsFilters checks each filter (live status, account, node, and
// together) against the calls made, the count against the list, and that
// the legs read are those of the page's requests alone.
func testLiveCallsFilters(t *testing.T, s admin.Store) {
	ctx := t.Context()
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD", Balance: 100_000})
	createAccount(t, s, callback.Account{Username: "802", Currency: "USD", Balance: 100_000})
	sts := admin.LiveStatuses()
	type made struct {
		id      int64
		status  callback.Status
		account string
		node    string
	}
	var all []made
	for i := range 12 {
		acct, node := "801", "node-a/1"
		if i%3 == 0 {
			acct = "802"
		}
		if i%2 == 0 {
			node = "node-b/1"
		}
		c := startCall(t, s, acct, node, fmt.Sprintf("49302%03d", i), sts[i%len(sts)])
		all = append(all, made{c.r.ID, c.r.Status, acct, node})
		if err := s.Reserve(ctx, &callback.Reservation{RequestID: c.r.ID, Leg: callback.LegA, ChannelID: fmt.Sprintf("a-%d", i),
			Username: acct, Number: c.r.OriginalCLI, Amount: 10, Created: base}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []admin.LiveFilter{
		{},
		{Status: callback.StatusFirstLegConnected},
		{Status: callback.StatusSecondLegConnected},
		{Account: "802"},
		{Node: "node-b/1"},
		{Account: "801", Node: "node-a/1", Status: callback.StatusSecondLegInitiated},
		{Account: "nobody"},
	} {
		var want []int64
		for _, m := range all {
			if (f.Status == "" || m.status == f.Status) && (f.Account == "" || m.account == f.Account) && (f.Node == "" || m.node == f.Node) {
				want = append(want, m.id)
			}
		}
		f.Limit = 100
		got := livePage(t, s, f)
		if !slices.Equal(got, want) {
			t.Errorf("%+v: listed %v, want %v", f, got, want)
		}
		if n := liveCount(t, s, f); n != int64(len(want)) {
			t.Errorf("%+v: counted %d, want %d", f, n, len(want))
		}
		// The same by pages of 2, after the cursor.
		var paged []int64
		for f.AfterID, f.Limit = 0, 2; ; {
			ids := livePage(t, s, f)
			paged = append(paged, ids...)
			if len(ids) < 2 || len(paged) > len(want) {
				break
			}
			f.AfterID = ids[len(ids)-1]
		}
		if !slices.Equal(paged, want) {
			t.Errorf("%+v: paged %v, want %v", f, paged, want)
		}
	}
	page := []int64{all[1].id, all[4].id}
	legs, err := s.RequestReservations(ctx, page)
	if err != nil {
		t.Fatal(err)
	}
	var of []int64
	for _, l := range legs {
		of = append(of, l.RequestID)
	}
	if !slices.Equal(of, page) {
		t.Errorf("legs of %v: %v", page, of)
	}
	if legs, err := s.RequestReservations(ctx, nil); err != nil || len(legs) != 0 {
		t.Errorf("legs of no request: %v, %v", legs, err)
	}
}
