package console

import (
	"encoding/csv"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// alice creates account alice when missing.
func (s *system) alice(t *testing.T) {
	t.Helper()
	if _, err := s.st.GetAccount(t.Context(), "alice"); err != nil {
		if err := s.st.CreateAccount(t.Context(), &callback.Account{Username: "alice", Currency: "USD", Balance: 10 * callback.MoneyScale, MaxSessions: 2}); err != nil {
			t.Fatal(err)
		}
	}
}

// newRequest queues a callback of account alice.
func (s *system) newRequest(t *testing.T, cli string) *callback.Request {
	t.Helper()
	s.alice(t)
	r := &callback.Request{Username: "alice", OriginalCLI: cli, Destination: "4930999", NextCall: time.Now().Add(-time.Second), Source: callback.SourceAPI}
	if err := s.st.CreateRequest(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// liveCall makes r a call in progress held by node-1.
func (s *system) liveCall(t *testing.T, r *callback.Request) {
	t.Helper()
	ctx := t.Context()
	claimed, err := s.st.Claim(ctx, callback.ClaimParams{Owner: "node-1/boot", Now: time.Now().Add(time.Second), Limit: 1, LeaseFor: time.Minute})
	if err != nil || len(claimed) != 1 || claimed[0].ID != r.ID {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	l := callback.Lease{RequestID: r.ID, Attempt: claimed[0].Attempt, Owner: "node-1/boot"}
	if _, err := s.st.Update(ctx, l, callback.Change{From: callback.StatusRequestReceived, To: callback.StatusFirstLegInitiated,
		SetupTime: time.Now().Add(-5 * time.Second), CountCall: true}); err != nil {
		t.Fatal(err)
	}
}

// settle writes n leg-A CDRs of alice from start, one a minute, every
// other one answered for 30 s at 0.0100 USD.
func (s *system) settle(t *testing.T, start time.Time, n int) {
	t.Helper()
	s.alice(t)
	var cdrs []*callback.CDR
	for i := range n {
		c := &callback.CDR{RequestID: int64(i + 1), Leg: callback.LegA, Account: "alice", Number: "4930999", ChannelID: fmt.Sprintf("ch%d", i),
			Start: start.Add(time.Duration(i) * time.Minute), End: start.Add(time.Duration(i)*time.Minute + 40*time.Second), Prefix: "4930",
			Disposition: "NO ANSWER", Currency: "USD"}
		if i%2 == 0 {
			c.Answer, c.BillSec, c.Charge, c.Disposition = c.Start.Add(10*time.Second), 30, 100, "ANSWERED"
		}
		cdrs = append(cdrs, c)
	}
	if err := s.st.Settle(t.Context(), cdrs); err != nil {
		t.Fatal(err)
	}
}

func TestDashboard(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		s.liveCall(t, s.newRequest(t, "4930111222"))
		s.settle(t, time.Now().UTC().Truncate(24*time.Hour), 4)
		b, _ := s.signedIn(admin.RoleReporting)
		body := b.get("/admin/").body
		// 4 callbacks, 2 answered, ASR 50 %, ACD 30 s, revenue 0.0200.
		for _, want := range []string{`<span id="live">1</span>`, "<td>USD</td><td>4</td><td>2</td><td>2</td><td>50.00 %</td><td>30</td>", "0.02"} {
			if !strings.Contains(body, want) {
				t.Errorf("dashboard lacks %q:\n%s", want, body)
			}
		}
	})
}

func TestRequests(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		r1 := s.newRequest(t, "4930111222")
		r2 := s.newRequest(t, "4930111333")
		b, token := s.signedIn(admin.RoleAdmin)
		list := b.get("/admin/requests?username=alice").body
		if !strings.Contains(list, "4930111222") || !strings.Contains(list, "4930111333") {
			t.Fatalf("list:\n%s", list)
		}
		if res := b.get("/admin/requests?status=Nonsense"); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `href="#f-status"`) {
			t.Fatalf("bad status: %d", res.code)
		}
		if b := b.get("/admin/requests?status=" + url.QueryEscape("Finished")).body; strings.Contains(b, "4930111222") {
			t.Fatal("the status filter")
		}
		if res := b.post(fmt.Sprintf("/admin/requests/%d/cancel", r1.ID), url.Values{"csrf": {token}}); res.code != http.StatusSeeOther {
			t.Fatalf("cancel: %d\n%s", res.code, res.body)
		}
		canceled := b.get("/admin/requests?result=Canceled").body
		if !strings.Contains(canceled, "4930111222") || strings.Contains(canceled, "4930111333") {
			t.Fatalf("the result filter:\n%s", canceled)
		}
		if res := b.get("/admin/requests?result=Nonsense"); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `href="#f-result"`) {
			t.Fatalf("bad result: %d", res.code)
		}
		page := b.get(fmt.Sprintf("/admin/requests/%d", r1.ID)).body
		if !strings.Contains(page, `<dd id="result">Canceled</dd>`) || !strings.Contains(page, "Request received") {
			t.Fatalf("detail with history:\n%s", page)
		}
		if res := b.post(fmt.Sprintf("/admin/requests/%d/retry", r2.ID), url.Values{"csrf": {token}}); res.code != http.StatusSeeOther {
			t.Fatalf("retry: %d\n%s", res.code, res.body)
		}
		// A finished request cannot be retried.
		if res := b.post(fmt.Sprintf("/admin/requests/%d/retry", r1.ID), url.Values{"csrf": {token}}); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, "finished") {
			t.Fatalf("retry a finished one: %d\n%s", res.code, res.body)
		}
		if res := b.get("/admin/requests/999999"); res.code != http.StatusNotFound {
			t.Fatalf("no such request: %d", res.code)
		}
		audit := b.get("/admin/audit").body
		if !strings.Contains(audit, fmt.Sprintf("request/%d", r1.ID)) || !strings.Contains(audit, "request.retry") {
			t.Fatalf("audit:\n%s", audit)
		}
	})
}

func TestLiveCalls(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		r := s.newRequest(t, "4930111222")
		s.liveCall(t, r)
		b, token := s.signedIn(admin.RoleSupport)
		page := b.get("/admin/calls").body
		if !strings.Contains(page, "node-1/boot") || !strings.Contains(page, fmt.Sprintf("/admin/calls/%d/hangup", r.ID)) {
			t.Fatalf("calls:\n%s", page)
		}
		if res := b.post(fmt.Sprintf("/admin/calls/%d/hangup", r.ID), url.Values{"csrf": {token}}); res.code != http.StatusSeeOther || res.location != "/admin/calls?done=hungup" {
			t.Fatalf("hang up: %d %s", res.code, res.location)
		}
		held, err := s.st.CanceledHeld(t.Context(), "node-1/boot")
		if err != nil || len(held) != 1 || held[0] != r.ID {
			t.Errorf("the holding node is not told: %v %v", held, err)
		}
	})
}

// TestLiveCallsPages pages the live calls 50 at a time with the count of
// all of them, filters them by status and node, refuses a status that is
// not live, and hangs up a call of the second page; the dashboard shows
// the count.
func TestLiveCallsPages(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		var ids []int64
		for i := range pageSize + 2 {
			r := s.newRequest(t, fmt.Sprintf("49301%05d", i))
			s.liveCall(t, r)
			ids = append(ids, r.ID)
		}
		s.newRequest(t, "4930222333") // waits: not live
		b, token := s.signedIn(admin.RoleSupport)
		hangups := regexp.MustCompile(`action="/admin/calls/(\d+)/hangup"`)
		listed := func(body string) []string {
			var out []string
			for _, m := range hangups.FindAllStringSubmatch(body, -1) {
				out = append(out, m[1])
			}
			return out
		}
		first := b.get("/admin/calls")
		total := fmt.Sprintf("%d calls in progress.", pageSize+2)
		if first.code != http.StatusOK || !strings.Contains(first.body, total) {
			t.Fatalf("first page: %d\n%s", first.code, first.body)
		}
		next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(first.body)
		if next == nil {
			t.Fatalf("no next page link:\n%s", first.body)
		}
		second := b.get("/admin/calls" + html.UnescapeString(next[1]))
		if second.code != http.StatusOK || !strings.Contains(second.body, total) || strings.Contains(second.body, `rel="next"`) {
			t.Fatalf("second page: %d\n%s", second.code, second.body)
		}
		got := append(listed(first.body), listed(second.body)...)
		var want []string
		for _, id := range ids {
			want = append(want, strconv.FormatInt(id, 10))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("listed %v, want %v", got, want)
		}
		if dash := b.get("/admin/"); !strings.Contains(dash.body, fmt.Sprintf(`<span id="live">%d</span>`, pageSize+2)) {
			t.Errorf("dashboard:\n%s", dash.body)
		}

		filtered := fmt.Sprintf("%d calls in progress matching the filter.", pageSize+2)
		if p := b.get("/admin/calls?status=" + url.QueryEscape(string(callback.StatusFirstLegInitiated)) + "&node=node-1/boot"); !strings.Contains(p.body, filtered) || len(listed(p.body)) != pageSize {
			t.Errorf("status and node:\n%s", p.body)
		}
		if p := b.get("/admin/calls?node=node-1/boot&after=" + want[pageSize-1]); !strings.Contains(p.body, filtered) || strings.Join(listed(p.body), " ") != strings.Join(want[pageSize:], " ") {
			t.Errorf("node, after the first page:\n%s", p.body)
		}
		if p := b.get("/admin/calls?node=node-2/boot"); !strings.Contains(p.body, "0 calls in progress matching the filter.") || len(listed(p.body)) != 0 {
			t.Errorf("another node's calls:\n%s", p.body)
		}
		if p := b.get("/admin/calls?status=Finished"); p.code != http.StatusUnprocessableEntity || !strings.Contains(p.body, "not a live status") {
			t.Errorf("status Finished: %d\n%s", p.code, p.body)
		}

		// Hung up from the second page of a filtered list, the console
		// comes back to that page and filter; a "back" that is not the
		// page's own query (another path, another host, unknown keys)
		// goes to the first page.
		back := regexp.MustCompile(`name="back" value="([^"]*)"`).FindStringSubmatch(second.body)
		if back == nil || html.UnescapeString(back[1]) != "after="+want[pageSize-1] {
			t.Fatalf("second page's hang-up forms: back %q, want after=%s\n%s", back, want[pageSize-1], second.body)
		}
		last := ids[len(ids)-1]
		if res := b.post(fmt.Sprintf("/admin/calls/%d/hangup", last), url.Values{"csrf": {token}, "back": {"node=node-1%2Fboot&after=" + want[pageSize-1]}}); res.code != http.StatusSeeOther ||
			res.location != "/admin/calls?after="+want[pageSize-1]+"&node=node-1%2Fboot&done=hungup" {
			t.Fatalf("hang up from the second page: %d %s", res.code, res.location)
		}
		// The page it comes back to hangs up back to itself again.
		again := b.get(fmt.Sprintf("/admin/calls?after=%s&node=node-1%%2Fboot&done=hungup", want[pageSize-1]))
		if m := regexp.MustCompile(`name="back" value="([^"]*)"`).FindStringSubmatch(again.body); m == nil || html.UnescapeString(m[1]) != "after="+want[pageSize-1]+"&node=node-1%2Fboot" {
			t.Errorf("the page after a hang-up: back %q, want its filter and cursor", m)
		}
		held, err := s.st.CanceledHeld(t.Context(), "node-1/boot")
		if err != nil || len(held) != 1 || held[0] != last {
			t.Errorf("the holding node is not told: %v %v", held, err)
		}
		for i, bad := range []string{"https://evil.example/x", "//evil.example", "/admin/accounts", "x=1&after=2", "after=zz", "after=1%0d%0aSet-Cookie:a", "status=Finished"} {
			if res := b.post(fmt.Sprintf("/admin/calls/%d/hangup", ids[i]), url.Values{"csrf": {token}, "back": {bad}}); res.code != http.StatusSeeOther ||
				res.location != "/admin/calls?done=hungup" {
				t.Errorf("hang up with back %q: %d %s, want the first page", bad, res.code, res.location)
			}
		}
	})
}

func TestCDRs(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		s.settle(t, day, 60)
		b, _ := s.signedIn(admin.RoleReporting)
		page := b.get("/admin/cdrs?from=2026-03-01&to=2026-03-01&account=alice")
		if page.code != http.StatusOK || strings.Count(page.body, "<td>ANSWERED</td>")+strings.Count(page.body, "<td>NO ANSWER</td>") != pageSize || !strings.Contains(page.body, `rel="next"`) {
			t.Fatalf("CDRs page: %d\n%s", page.code, page.body)
		}
		if res := b.get("/admin/cdrs?from=2026-03-02&to=2026-03-01"); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `href="#f-to"`) {
			t.Fatalf("to before from: %d\n%s", res.code, res.body)
		}
		if res := b.get("/admin/cdrs?from=yesterday"); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `href="#f-from"`) {
			t.Fatalf("bad from: %d", res.code)
		}
		if !strings.Contains(page.body, `href="/admin/cdrs.csv?account=alice&amp;from=2026-03-01&amp;to=2026-03-01"`) {
			t.Fatalf("no export link:\n%s", page.body)
		}
		res := b.get("/admin/cdrs.csv?account=alice&from=2026-03-01&to=2026-03-01")
		recs, err := csv.NewReader(strings.NewReader(res.body)).ReadAll()
		if res.code != http.StatusOK || err != nil || len(recs) != 61 || strings.Join(recs[0], ",") != strings.Join(admin.CDRColumns, ",") {
			t.Fatalf("export: %d %v %d rows", res.code, err, len(recs))
		}
	})
}

func TestAccessNumbers(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		b, token := s.signedIn(admin.RoleAdmin)
		form := b.get("/admin/access-numbers").body
		v := url.Values{"csrf": {token}, "number": {"4930124"}, "trigger": {"ani"}, "sub_app": {"callingcard"}, "language": {"en"},
			"iscallback": {"1"}, "ivrauthentication": {"0"}}
		if !strings.Contains(form, `id="f-number"`) {
			t.Fatalf("no form:\n%s", form)
		}
		res := b.post("/admin/access-numbers", v)
		if res.code != http.StatusSeeOther {
			t.Fatalf("create: %d\n%s", res.code, res.body)
		}
		if !strings.Contains(b.get("/admin/access-numbers").body, "<td>4930124</td>") {
			t.Fatal("not listed")
		}
		if res := b.post("/admin/access-numbers", v); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `id="e-number"`) {
			t.Fatalf("duplicate: %d\n%s", res.code, res.body)
		}
		v.Set("number", "4930125")
		v.Set("trigger", "telepathy")
		if res := b.post("/admin/access-numbers", v); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `aria-invalid="true"`) {
			t.Fatalf("bad trigger: %d\n%s", res.code, res.body)
		}
		v.Set("trigger", "ani")
		v.Set("iscallback", "x")
		if res := b.post("/admin/access-numbers", v); res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `id="e-iscallback"`) {
			t.Fatalf("bad iscallback: %d\n%s", res.code, res.body)
		}
		if !strings.Contains(b.get("/admin/audit").body, "access_number.create") {
			t.Fatal("not audited")
		}
	})
}

// TestRoles: reporting reads every page and posts nothing; support may
// cancel and hang up only; neither sees the forms it may not send.
func TestRoles(t *testing.T) {
	eachStore(t, func(t *testing.T, s *system) {
		r := s.newRequest(t, "4930111222")
		if err := s.st.CreateAccount(t.Context(), &callback.Account{Username: "bob", Currency: "USD"}); err != nil {
			t.Fatal(err)
		}
		posts := []string{"/admin/accounts", "/admin/accounts/bob/topup", "/admin/accounts/bob/block", "/admin/access-numbers",
			fmt.Sprintf("/admin/requests/%d/retry", r.ID)}
		for _, role := range []admin.Role{admin.RoleReporting, admin.RoleSupport} {
			b, token := s.signedIn(role)
			for _, p := range []string{"/admin/", "/admin/accounts", "/admin/accounts/bob", "/admin/requests", fmt.Sprintf("/admin/requests/%d", r.ID),
				"/admin/calls", "/admin/cdrs", "/admin/access-numbers", "/admin/audit"} {
				res := b.get(p)
				if res.code != http.StatusOK {
					t.Errorf("%s GET %s: %d", role, p, res.code)
				}
				if strings.Contains(res.body, `method="post" action="/admin/accounts"`) || strings.Contains(res.body, "/topup") || strings.Contains(res.body, `/retry"`) {
					t.Errorf("%s sees a form it may not send on %s", role, p)
				}
			}
			for _, p := range posts {
				v := newAccountForm(token, "mallory")
				v.Set("amount", "5")
				v.Set("reason", "x")
				v.Set("number", "4930126")
				if res := b.post(p, v); res.code != http.StatusForbidden {
					t.Errorf("%s POST %s: %d", role, p, res.code)
				}
			}
		}
		b, token := s.signedIn(admin.RoleReporting)
		if res := b.post(fmt.Sprintf("/admin/requests/%d/cancel", r.ID), url.Values{"csrf": {token}}); res.code != http.StatusForbidden {
			t.Errorf("reporting cancels: %d", res.code)
		}
		b, token = s.signedIn(admin.RoleSupport)
		if !strings.Contains(b.get(fmt.Sprintf("/admin/requests/%d", r.ID)).body, "/cancel") {
			t.Error("support sees no cancel button")
		}
		if res := b.post(fmt.Sprintf("/admin/requests/%d/cancel", r.ID), url.Values{"csrf": {token}}); res.code != http.StatusSeeOther {
			t.Errorf("support cancels: %d", res.code)
		}
		if a, _ := s.st.GetAccount(t.Context(), "bob"); a.Blocked || a.Balance != 0 {
			t.Errorf("bob changed: %+v", a)
		}
		if _, err := s.st.GetAccount(t.Context(), "mallory"); err == nil {
			t.Error("mallory was created")
		}
	})
}

func itoa64(n int64) string { return fmt.Sprint(n) }

// spread writes first-leg CDRs over the 24 hours before now, a few an
// hour and most answered, as a day of traffic looks on the dashboard.
func (s *system) spread(t *testing.T, now time.Time) {
	t.Helper()
	s.alice(t)
	var cdrs []*callback.CDR
	for h := range 24 {
		start := now.Truncate(time.Hour).Add(-time.Duration(h) * time.Hour)
		n := 2 + (h*7)%9
		for i := range n {
			c := &callback.CDR{RequestID: int64(1000 + h*20 + i), Leg: callback.LegA, Account: "alice", Number: "4930999",
				ChannelID: fmt.Sprintf("spread-%d-%d", h, i), Start: start.Add(time.Duration(i) * time.Minute),
				End: start.Add(time.Duration(i)*time.Minute + 40*time.Second), Prefix: "4930", Disposition: "NO ANSWER", Currency: "USD"}
			if i%3 != 2 {
				c.Answer, c.BillSec, c.Charge, c.Disposition = c.Start.Add(10*time.Second), 30, 100, "ANSWERED"
			}
			cdrs = append(cdrs, c)
		}
	}
	if err := s.st.Settle(t.Context(), cdrs); err != nil {
		t.Fatal(err)
	}
}
