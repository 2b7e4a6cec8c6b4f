package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/callback/callbacktest"
)

func TestCreateAndGet(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newEnv(t, open(t))
		tests := []struct {
			name     string
			body     string
			cred     cred
			username string
			cld      string
			dest     string
		}{
			{"operator 2-way by destination", `{"username":"alice","original_cli":"4930111222","destination":"+4420123456"}`, asOperator, "alice", "2way_+4420123456", "+4420123456"},
			{"operator 2-way by original_cld", `{"username":"bob","original_cli":"87654321","original_cld":"2way_12345"}`, asOperator, "bob", "2way_12345", "12345"},
			{"account calling card", `{"original_cli":"4930111222"}`, asAlice, "alice", "callingcard", ""},
			{"account names itself", `{"username":"bob","original_cli":"4917012345","original_cld":"callingcard_en_th","credit_time":600,"original_set_cli":"4930999"}`, asBob, "bob", "callingcard_en_th", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.postJSON("/api/v1/requests", tt.body, tt.cred)
				if r.status != http.StatusCreated {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				v := r.view(t)
				if got := r.header.Get("Location"); got != "/api/v1/requests/"+strconv.FormatInt(v.ID, 10) {
					t.Errorf("Location %q", got)
				}
				if v.Username != tt.username || v.OriginalCLD != tt.cld || v.Destination != tt.dest ||
					v.Status != string(callback.StatusRequestReceived) || v.Source != string(callback.SourceAPI) || v.Finished {
					t.Errorf("created %+v", v)
				}
				// The owner and the operator see it with its history.
				for _, c := range []cred{tt.cred, asOperator} {
					g := e.get(fmt.Sprintf("/api/v1/requests/%d", v.ID), c)
					if g.status != http.StatusOK {
						t.Fatalf("get: %d %s", g.status, g.body)
					}
					gv := g.view(t)
					if gv.ID != v.ID || len(gv.History) == 0 || gv.History[0].Status != string(callback.StatusRequestReceived) {
						t.Errorf("get %+v", gv)
					}
				}
			})
		}

		t.Run("another account's request reads as absent", func(t *testing.T) {
			v := e.create(`{"original_cli":"4930111222"}`, asAlice)
			r := e.get(fmt.Sprintf("/api/v1/requests/%d", v.ID), asBob)
			if r.status != http.StatusNotFound || r.apiErr(t).Code != CodeNotFound {
				t.Fatalf("%d %s", r.status, r.body)
			}
			missing := e.get("/api/v1/requests/999999", asBob)
			if missing.status != http.StatusNotFound || missing.apiErr(t) != r.apiErr(t) {
				t.Errorf("a missing request and another's read differently: %s vs %s", missing.body, r.body)
			}
		})
		t.Run("an account creates for itself only", func(t *testing.T) {
			r := e.postJSON("/api/v1/requests", `{"username":"bob","original_cli":"4930111222"}`, asAlice)
			if r.status != http.StatusForbidden || r.apiErr(t).Code != CodeForbidden {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
		t.Run("an operator names the account", func(t *testing.T) {
			r := e.postJSON("/api/v1/requests", `{"original_cli":"4930111222"}`, asOperator)
			if r.status != http.StatusBadRequest || r.apiErr(t).Field != "username" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
		t.Run("unknown account", func(t *testing.T) {
			r := e.postJSON("/api/v1/requests", `{"username":"nobody","original_cli":"4930111222"}`, asOperator)
			if r.status != http.StatusBadRequest || r.apiErr(t).Field != "username" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	})
}

func TestIdempotency(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newEnv(t, open(t))
		body := `{"username":"alice","original_cli":"4930111222","destination":"12345"}`
		key := header("Idempotency-Key", "order-7781")
		first := e.postJSON("/api/v1/requests", body, asOperator, key)
		if first.status != http.StatusCreated {
			t.Fatalf("first: %d %s", first.status, first.body)
		}
		again := e.postJSON("/api/v1/requests", body, asOperator, key)
		if again.status != http.StatusOK {
			t.Fatalf("retry: %d %s", again.status, again.body)
		}
		if a, b := first.view(t), again.view(t); a.ID != b.ID || b.RequestKey != "order-7781" {
			t.Errorf("retry gave %+v, first %+v", b, a)
		}
		// The account itself retrying with the same key is the same request.
		self := e.postJSON("/api/v1/requests", `{"original_cli":"4930111222","destination":"12345"}`, asAlice, key)
		if self.status != http.StatusOK || self.view(t).ID != first.view(t).ID {
			t.Errorf("account retry: %d %s", self.status, self.body)
		}
		// The key in the body works like the header.
		inBody := e.postJSON("/api/v1/requests", `{"username":"alice","original_cli":"4930111222","destination":"12345","request_key":"order-7781"}`, asOperator)
		if inBody.status != http.StatusOK || inBody.view(t).ID != first.view(t).ID {
			t.Errorf("key in body: %d %s", inBody.status, inBody.body)
		}
		diff := e.postJSON("/api/v1/requests", `{"username":"alice","original_cli":"4930111222","destination":"999"}`, asOperator, key)
		if diff.status != http.StatusConflict || diff.apiErr(t).Field != "request_key" {
			t.Errorf("same key, other request: %d %s", diff.status, diff.body)
		}
		// Keys are per account: bob's order-7781 is another request.
		bob := e.postJSON("/api/v1/requests", `{"original_cli":"4917012345","destination":"12345"}`, asBob, key)
		if bob.status != http.StatusCreated || bob.view(t).ID == first.view(t).ID {
			t.Errorf("bob: %d %s", bob.status, bob.body)
		}
		if n := e.count(); n != 2 {
			t.Errorf("%d requests stored, want 2", n)
		}
		bad := e.postJSON("/api/v1/requests", body, asOperator, header("Idempotency-Key", "has space"))
		if bad.status != http.StatusBadRequest || bad.apiErr(t).Field != "request_key" {
			t.Errorf("bad key: %d %s", bad.status, bad.body)
		}
	})
}

// TestIdempotencyConcurrent sends the same keyed POST at once from several
// clients: one request exists afterwards, one answer is 201, the rest 200.
func TestIdempotencyConcurrent(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newEnv(t, open(t))
		const n = 8
		codes := make([]int, n)
		ids := make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r := e.postJSON("/api/v1/requests", `{"username":"alice","original_cli":"4930111222"}`, asOperator, header("Idempotency-Key", "same"))
				codes[i] = r.status
				if r.status < 300 {
					ids[i] = r.view(t).ID
				}
			})
		}
		wg.Wait()
		slices.Sort(codes)
		if codes[0] != http.StatusOK && codes[0] != http.StatusCreated || slices.Index(codes, http.StatusCreated) < 0 ||
			slices.ContainsFunc(codes, func(c int) bool { return c != http.StatusOK && c != http.StatusCreated }) {
			t.Fatalf("codes %v", codes)
		}
		if strings.Count(fmt.Sprint(codes), "201") != 1 {
			t.Errorf("codes %v: want one 201", codes)
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Errorf("ids %v", ids)
			}
		}
		if c := e.count(); c != 1 {
			t.Errorf("%d requests stored", c)
		}
	})
}

func TestListPaging(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newEnv(t, open(t))
		var aliceIDs []int64
		for i := range 7 {
			v := e.create(fmt.Sprintf(`{"original_cli":"49301112%02d"}`, i), asAlice)
			aliceIDs = append(aliceIDs, v.ID)
		}
		bobReq := e.create(`{"original_cli":"4917012345"}`, asBob)

		var got []int64
		path := "/api/v1/requests?limit=3"
		pages := 0
		for path != "" {
			pages++
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			r := e.get(path, asAlice)
			if r.status != http.StatusOK {
				t.Fatalf("%s: %d %s", path, r.status, r.body)
			}
			var page ListView
			r.json(t, &page)
			for _, v := range page.Requests {
				got = append(got, v.ID)
			}
			path = ""
			if page.Next != "" {
				path = "/api/v1/requests?limit=3&after=" + page.Next
			}
		}
		if !slices.Equal(got, aliceIDs) || pages != 3 {
			t.Errorf("alice paged %v in %d pages, want %v in 3", got, pages, aliceIDs)
		}

		filters := []struct {
			query string
			cred  cred
			want  int
		}{
			{"", asOperator, 8},
			{"username=bob", asOperator, 1},
			{"cli=4917012345", asOperator, 1},
			{"cli=4917012345", asAlice, 0},
			{"status=" + url.QueryEscape(string(callback.StatusRequestReceived)), asOperator, 8},
			{"finished=true", asOperator, 0},
			{"finished=false&username=alice", asOperator, 7},
			{"result=Successful", asOperator, 0},
		}
		for _, f := range filters {
			r := e.get("/api/v1/requests?"+f.query, f.cred)
			var page ListView
			r.json(t, &page)
			if r.status != http.StatusOK || len(page.Requests) != f.want {
				t.Errorf("?%s: %d, %d requests, want %d", f.query, r.status, len(page.Requests), f.want)
			}
		}
		_ = bobReq

		bad := []struct {
			query, field string
			status       int
		}{
			{"status=Sleeping", "status", 400},
			{"result=Maybe", "result", 400},
			{"limit=0", "limit", 400},
			{"limit=501", "limit", 400},
			{"after=abc", "after", 400},
			{"finished=perhaps", "finished", 400},
			{"color=red", "color", 400},
			{"limit=1&limit=2", "limit", 400},
			{"username=bob", "", 403},
		}
		for _, b := range bad {
			r := e.get("/api/v1/requests?"+b.query, asAlice)
			if r.status != b.status || r.apiErr(t).Field != b.field {
				t.Errorf("?%s: %d %s", b.query, r.status, r.body)
			}
		}
	})
}

func TestCancel(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newEnv(t, open(t))
		later := time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339)
		v := e.create(`{"original_cli":"4930111222","next_call":"`+later+`"}`, asAlice)

		other := e.postJSON(fmt.Sprintf("/api/v1/requests/%d/cancel", v.ID), "", asBob)
		if other.status != http.StatusNotFound {
			t.Fatalf("bob canceling alice's: %d %s", other.status, other.body)
		}
		for i, c := range []cred{asAlice, asOperator} {
			r := e.postJSON(fmt.Sprintf("/api/v1/requests/%d/cancel", v.ID), "", c)
			if r.status != http.StatusOK {
				t.Fatalf("cancel %d: %d %s", i, r.status, r.body)
			}
			cv := r.view(t)
			if !cv.Finished || !cv.Canceled || cv.Status != string(callback.StatusFinished) || cv.Result != string(callback.ResultCanceled) {
				t.Errorf("after cancel %d: %+v", i, cv)
			}
		}
		g := e.get(fmt.Sprintf("/api/v1/requests/%d", v.ID), asAlice).view(t)
		last := g.History[len(g.History)-1]
		if last.Status != string(callback.StatusFinished) || last.Result != string(callback.ResultCanceled) {
			t.Errorf("history %+v", g.History)
		}
		if r := e.postJSON("/api/v1/requests/999999/cancel", "", asOperator); r.status != http.StatusNotFound {
			t.Errorf("cancel missing: %d", r.status)
		}
		if r := e.postJSON("/api/v1/requests/abc/cancel", "", asOperator); r.status != http.StatusBadRequest || r.apiErr(t).Field != "id" {
			t.Errorf("cancel abc: %d %s", r.status, r.body)
		}
	})
}

func TestEndToEndDispatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		st := open(t)
		done := callbacktest.NewConcluded()
		p := callback.DefaultPolicy()
		p.DelayBeforeCallback = 0
		p.ScanInterval = 50 * time.Millisecond
		p.Lease = 3 * time.Second
		p.ShutdownGrace = time.Second
		d, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: callbacktest.NewDialer(4), Policy: p, Node: "e2e", Observer: done,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, st, func(o *Options) { o.Service.Policy, o.Service.Notify = p, d.Notify })
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			if err := d.Run(ctx); err != nil {
				t.Errorf("dispatcher: %v", err)
			}
		}()
		t.Cleanup(func() { cancel(); <-stopped })

		v := e.create(`{"original_cli":"4930111222","destination":"4420123456"}`, asAlice)
		if r := done.WaitConcluded(t, 1)[0]; r.ID != v.ID {
			t.Fatalf("concluded %d, created %d", r.ID, v.ID)
		}
		g := e.get(fmt.Sprintf("/api/v1/requests/%d", v.ID), asAlice).view(t)
		if !g.Finished || g.Status != string(callback.StatusFinished) || g.Result != string(callback.ResultSuccessful) || g.CallCount != 1 {
			t.Fatalf("after dispatch: %+v", g)
		}
		var seen []string
		for _, h := range g.History {
			if len(seen) == 0 || seen[len(seen)-1] != h.Status {
				seen = append(seen, h.Status)
			}
		}
		want := []string{"Request received", "First leg initiated", "First leg connected", "Second leg initiated", "Second leg connected", "Finished"}
		if !slices.Equal(seen, want) {
			t.Errorf("history %v, want %v", seen, want)
		}
		r := e.postJSON(fmt.Sprintf("/api/v1/requests/%d/cancel", v.ID), "", asAlice)
		if r.status != http.StatusConflict || r.apiErr(t).Code != CodeConflict {
			t.Errorf("canceling a finished request: %d %s", r.status, r.body)
		}
	})
}
