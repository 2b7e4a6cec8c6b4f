package httpapi

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// startLive creates a request of alice, claims it as node and moves it to
// First leg initiated, then on to each status of more.
func (e *adminEnv) startLive(t *testing.T, cli, node string, more ...callback.Status) int64 {
	t.Helper()
	ctx := t.Context()
	req := e.create(fmt.Sprintf(`{"original_cli":%q,"destination":"4930999"}`, cli), asAlice)
	claimed, err := e.store.Claim(ctx, callback.ClaimParams{Owner: node, Now: time.Now().Add(time.Second), Limit: 1, LeaseFor: time.Minute})
	if err != nil || len(claimed) != 1 || claimed[0].ID != req.ID {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	l := callback.Lease{RequestID: req.ID, Attempt: claimed[0].Attempt, Owner: node}
	from := callback.StatusRequestReceived
	for _, to := range append([]callback.Status{callback.StatusFirstLegInitiated}, more...) {
		if _, err := e.store.Update(ctx, l, callback.Change{From: from, To: to, SetupTime: time.Now(), CountCall: from == callback.StatusRequestReceived}); err != nil {
			t.Fatal(err)
		}
		from = to
	}
	return req.ID
}

type liveCallsPage struct {
	Calls []LiveCallView `json:"calls"`
	Total int64          `json:"total"`
	Next  string         `json:"next"`
}

// TestAdminLiveCallsPages pages the live calls by cursor, with each
// filter, and refuses a bad limit, cursor or status naming the field.
func TestAdminLiveCallsPages(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newAdminEnv(t, open(t))
		var ids []int64
		for i := range 5 {
			node, more := "node-1/boot", []callback.Status(nil)
			if i%2 == 1 {
				node, more = "node-2/boot", []callback.Status{callback.StatusFirstLegConnected}
			}
			ids = append(ids, e.startLive(t, fmt.Sprintf("49301112%02d", i), node, more...))
		}
		e.create(`{"original_cli":"4930111299","destination":"4930999"}`, asAlice) // waits: not live

		page := func(query string) liveCallsPage {
			t.Helper()
			var p liveCallsPage
			e.get("/api/v1/admin/calls?"+query, e.asRita).json(t, &p)
			return p
		}
		var got []int64
		q := url.Values{"limit": {"2"}}
		for n := 0; ; n++ {
			if n > 5 {
				t.Fatalf("more than 5 pages: %v", got)
			}
			p := page(q.Encode())
			if p.Total != 5 || len(p.Calls) > 2 {
				t.Fatalf("page %d: total %d, %d calls", n, p.Total, len(p.Calls))
			}
			for _, c := range p.Calls {
				got = append(got, c.Request.ID)
			}
			if p.Next == "" {
				break
			}
			q.Set("after", p.Next)
		}
		if fmt.Sprint(got) != fmt.Sprint(ids) {
			t.Errorf("paged %v, want %v", got, ids)
		}

		for _, tc := range []struct {
			query string
			want  []int64
		}{
			{"node=node-2/boot", []int64{ids[1], ids[3]}},
			{"status=" + url.QueryEscape(string(callback.StatusFirstLegInitiated)), []int64{ids[0], ids[2], ids[4]}},
			{"account=alice&status=" + url.QueryEscape(string(callback.StatusFirstLegConnected)) + "&after=" + fmt.Sprint(ids[1]), []int64{ids[3]}},
			{"account=bob", nil},
		} {
			p := page(tc.query)
			var ids []int64
			for _, c := range p.Calls {
				ids = append(ids, c.Request.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) || p.Next != "" {
				t.Errorf("%s: %v next %q, want %v", tc.query, ids, p.Next, tc.want)
			}
		}
		// The count is of every call the filter selects, not the page's.
		if p := page("node=node-1/boot&limit=1"); p.Total != 3 || len(p.Calls) != 1 || p.Next != fmt.Sprint(ids[0]) {
			t.Errorf("node-1, limit 1: total %d, %d calls, next %q", p.Total, len(p.Calls), p.Next)
		}

		for _, tc := range []struct{ query, field string }{
			{"limit=0", "limit"},
			{"limit=501", "limit"},
			{"limit=ten", "limit"},
			{"after=abc", "after"},
			{"after=-3", "after"},
			{"after=1&after=2", "after"},
			{"status=Finished", "status"},
			{"status=nonsense", "status"},
			{"sort=id", "sort"},
		} {
			if r := e.get("/api/v1/admin/calls?"+tc.query, e.asRita); r.status != 400 || r.apiErr(t).Field != tc.field {
				t.Errorf("%s: %d %s, want 400 naming %s", tc.query, r.status, r.body, tc.field)
			}
		}
	})
}
