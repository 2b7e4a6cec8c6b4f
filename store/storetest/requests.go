package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// seedInsert is seed 001's example, verbatim: what an operator's script
// sends to schedule a 2-way callback.
const seedInsert = `INSERT INTO callback_requests (username, authname, md5secret, original_cli, original_cld) VALUES ('801', '902', '<md5secret>', '87654321', '2way_12345')`

// seedInsertNoAuthname is the same without authname, which the seed says
// may be omitted.
const seedInsertNoAuthname = `INSERT INTO callback_requests (username, md5secret, original_cli, original_cld) VALUES ('801', '<md5secret>', '87654321', '2way_12345')`

var requestTests = map[string]func(t *testing.T, s callback.Store){
	"RoundTripEveryField": func(t *testing.T, s callback.Store) {
		want := callback.Request{
			Username: "801", Authname: "902", MD5Secret: callback.HA1("902", "example.com", "secret"),
			OriginalCLI: "87654321", OriginalSetCLI: "12125550100", OriginalCLD: "2way_12345",
			TwowayCLI: "12125550101", TwowayAuthname: "903", TwowayMD5Secret: callback.HA1("903", "example.com", "s"),
			CallID: "cb-1-a", TwowayCallID: "cb-1-b",
			NextCall: base, CallCount: 2, Canceled: true, CreditTime: 600, AnonAcctEnabled: true,
			DefaultUserUsed: true, Finished: true, Status: callback.StatusFinished, Result: callback.ResultSuccessful,
			CreationTime: base.Add(-time.Hour), SetupTime: base.Add(time.Second), ConnectTime: base.Add(2 * time.Second),
			DisconnectTime: base.Add(3 * time.Second), Attempt: 3, LeaseOwner: "node-a/1234",
			LeaseExpires: base.Add(time.Minute), LastCause: 17, LastSIPCode: 486,
			LastError: "busy", Source: callback.SourceWeb, AccessNumber: "18005550100", Payer: "alice", Language: "th",
			AskPIN: true, RequestKey: "key-1", Destination: "12345",
		}
		r := want
		create(t, s, &r)
		if r.ID == 0 {
			t.Fatal("CreateRequest left ID 0")
		}
		want.ID = r.ID
		mustEqual(t, "request as created", &r, &want)
		mustEqual(t, "request as read", get(t, s, r.ID), &want)
		byKey, err := s.GetRequestByKey(t.Context(), "key-1")
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "request by key", byKey, &want)
	},

	"RoundTripNulls": func(t *testing.T, s callback.Store) {
		// Only what a request cannot do without; every other field is
		// NULL, zero or the column's default.
		r := create(t, s, &callback.Request{Username: "801", OriginalCLI: "87654321", NextCall: base})
		want := callback.Request{
			ID: r.ID, Username: "801", Authname: "801", OriginalCLI: "87654321", NextCall: base,
			Status: callback.StatusRequestReceived, CreationTime: r.CreationTime, Source: callback.SourceSQL,
		}
		mustEqual(t, "request", get(t, s, r.ID), &want)
		// The request as created is the row as stored: the database's
		// defaults and the username as authname included.
		mustEqual(t, "request as created", r, &want)
		if r.CreationTime.IsZero() {
			t.Error("creation_time not filled in")
		}
		var nulls int
		err := raw(t, s).QueryRowContext(t.Context(), `SELECT COUNT(*) FROM callback_requests WHERE i_callback_request = ?
			AND md5secret IS NULL AND result IS NULL AND credit_time IS NULL AND setup_time IS NULL
			AND connect_time IS NULL AND disconnect_time IS NULL AND lease_owner IS NULL AND lease_expires IS NULL
			AND last_cause IS NULL AND last_sip_code IS NULL AND last_error IS NULL AND request_key IS NULL
			AND call_id IS NULL AND payer IS NULL`, r.ID).Scan(&nulls)
		if err != nil {
			t.Fatal(err)
		}
		if nulls != 1 {
			t.Error("empty fields were not stored as SQL NULL")
		}
	},

	"CreateFillsDefaultsAndHistory": func(t *testing.T, s callback.Store) {
		// Nothing but what the seed's INSERT gives: next_call, status,
		// source and creation_time come from the column defaults.
		before := time.Now().UTC().Add(-time.Minute)
		r := &callback.Request{Username: "801", MD5Secret: "<md5secret>", OriginalCLI: "87654321",
			OriginalCLD: "2way_12345", AnonAcctEnabled: true}
		create(t, s, r)
		stored := get(t, s, r.ID)
		mustEqual(t, "request as created", r, stored)
		if r.Status != callback.StatusRequestReceived || r.Source != callback.SourceSQL || r.Authname != "801" ||
			r.CreationTime.Before(before) || !r.NextCall.Equal(r.CreationTime.Add(5*time.Second)) {
			t.Errorf("defaults not filled in: %+v", r)
		}
		h, err := s.History(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h[0].Status != callback.StatusRequestReceived || !h[0].Time.Equal(r.CreationTime) ||
			h[0].Note != "request created (source sql)" {
			t.Errorf("history = %+v, want the creation written by the database", h)
		}
		// A refused insert leaves no row and no history behind.
		dup := newRequest("4930111111", base)
		dup.RequestKey = "k"
		create(t, s, dup)
		again := newRequest("4930222222", base)
		again.RequestKey = "k"
		if err := s.CreateRequest(t.Context(), again); !errors.Is(err, callback.ErrConflict) {
			t.Fatalf("duplicate key: %v, want ErrConflict", err)
		}
		if again.ID != 0 {
			t.Errorf("refused request got id %d", again.ID)
		}
		var events int
		if err := raw(t, s).QueryRowContext(t.Context(), "SELECT COUNT(*) FROM callback_request_events").Scan(&events); err != nil {
			t.Fatal(err)
		}
		if events != 2 {
			t.Errorf("%d history rows, want 2 (one per request created)", events)
		}
	},

	"SeedInsertVerbatim": func(t *testing.T, s callback.Store) {
		before := time.Now().UTC()
		if _, err := raw(t, s).ExecContext(t.Context(), seedInsert); err != nil {
			t.Fatalf("seed 001's INSERT: %v", err)
		}
		rs, err := s.ListRequests(t.Context(), callback.RequestFilter{})
		if err != nil || len(rs) != 1 {
			t.Fatalf("list: %d rows, %v", len(rs), err)
		}
		r := rs[0]
		want := callback.Request{
			ID: r.ID, Username: "801", Authname: "902", MD5Secret: "<md5secret>", OriginalCLI: "87654321",
			OriginalCLD: "2way_12345", NextCall: r.CreationTime.Add(5 * time.Second), AnonAcctEnabled: true,
			Status: callback.StatusRequestReceived, CreationTime: r.CreationTime, Source: callback.SourceSQL,
		}
		mustEqual(t, "row inserted by SQL", r, &want)
		// The database's clock wrote creation_time; allow for a clock that
		// is not quite the test's.
		if d := r.CreationTime.Sub(before); d < -time.Minute || d > time.Minute {
			t.Errorf("creation_time %s is not about now (%s): not UTC?", r.CreationTime, before)
		}
		// Delay Before Callback: due 5 s after creation, not before.
		if got := claim(t, s, "n", r.CreationTime.Add(5*time.Second-time.Millisecond), 10); len(got) != 0 {
			t.Errorf("claimed %d rows before the 5 s delay", len(got))
		}
		if got := claim(t, s, "n", r.CreationTime.Add(5*time.Second), 10); len(got) != 1 {
			t.Errorf("claimed %d rows once due, want 1", len(got))
		}
		h, err := s.History(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h[0].Status != callback.StatusRequestReceived || !h[0].Time.Equal(r.CreationTime) {
			t.Errorf("history of a row inserted by SQL = %+v, want its creation", h)
		}
	},

	"SeedInsertWithoutAuthname": func(t *testing.T, s callback.Store) {
		if _, err := raw(t, s).ExecContext(t.Context(), seedInsertNoAuthname); err != nil {
			t.Fatalf("INSERT without authname: %v", err)
		}
		rs, err := s.ListRequests(t.Context(), callback.RequestFilter{})
		if err != nil || len(rs) != 1 {
			t.Fatalf("list: %d rows, %v", len(rs), err)
		}
		if rs[0].Authname != "801" {
			t.Errorf("authname = %q, want the username 801", rs[0].Authname)
		}
		// An explicit authname is kept.
		r := create(t, s, &callback.Request{Username: "801", Authname: "905", OriginalCLI: "1", NextCall: base})
		if r.Authname != "905" {
			t.Errorf("authname = %q, want 905", r.Authname)
		}
		// CreateRequest without one stores the username, as SQL clients get.
		r = create(t, s, &callback.Request{Username: "802", OriginalCLI: "2", NextCall: base})
		if got := get(t, s, r.ID); r.Authname != "802" || got.Authname != "802" {
			t.Errorf("authname = %q, stored %q, want the username 802", r.Authname, got.Authname)
		}
	},

	"IdempotencyKey": func(t *testing.T, s callback.Store) {
		a := newRequest("4930111111", base)
		a.RequestKey = "order-17"
		create(t, s, a)
		b := newRequest("4930222222", base)
		b.RequestKey = "order-17"
		if err := s.CreateRequest(t.Context(), b); !errors.Is(err, callback.ErrConflict) {
			t.Fatalf("second request with the key: %v, want ErrConflict", err)
		}
		// Requests without a key never conflict.
		create(t, s, newRequest("4930333333", base))
		create(t, s, newRequest("4930333333", base))
		got, err := s.GetRequestByKey(t.Context(), "order-17")
		if err != nil || got.ID != a.ID {
			t.Fatalf("by key: %v, %v", got, err)
		}
		if _, err := s.GetRequestByKey(t.Context(), "order-18"); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("unknown key: %v, want ErrNotFound", err)
		}
	},

	"NotFound": func(t *testing.T, s callback.Store) {
		if _, err := s.GetRequest(t.Context(), 4242); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("GetRequest: %v", err)
		}
		if _, err := s.History(t.Context(), 4242); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("History: %v", err)
		}
		if _, err := s.Cancel(t.Context(), 4242, base); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("Cancel: %v", err)
		}
		if _, err := s.PendingForCLI(t.Context(), "4930111111"); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("PendingForCLI: %v", err)
		}
	},

	"ListRequests": func(t *testing.T, s callback.Store) {
		rs := createDue(t, s, 5)
		other := newRequest("4930999999", base)
		other.Username, other.Source = "alice", callback.SourceSMS
		create(t, s, other)
		r, l := claimOne(t, s, "n", base)
		update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFinished, Result: callback.ResultInvalid})

		list := func(f callback.RequestFilter) []int64 {
			t.Helper()
			got, err := s.ListRequests(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			return ids(got)
		}
		yes, no := true, false
		for _, c := range []struct {
			name string
			f    callback.RequestFilter
			want []int64
		}{
			{"all", callback.RequestFilter{}, append(ids(rs), other.ID)},
			{"username", callback.RequestFilter{Username: "alice"}, []int64{other.ID}},
			{"source", callback.RequestFilter{Source: callback.SourceSMS}, []int64{other.ID}},
			{"cli", callback.RequestFilter{CLI: rs[2].OriginalCLI}, []int64{rs[2].ID}},
			{"finished", callback.RequestFilter{Finished: &yes}, []int64{rs[0].ID}},
			{"unfinished", callback.RequestFilter{Finished: &no, Limit: 2}, []int64{rs[1].ID, rs[2].ID}},
			{"status", callback.RequestFilter{Status: callback.StatusFinished}, []int64{rs[0].ID}},
			{"result", callback.RequestFilter{Result: callback.ResultInvalid}, []int64{rs[0].ID}},
			{"page", callback.RequestFilter{AfterID: rs[2].ID, Limit: 2}, []int64{rs[3].ID, rs[4].ID}},
		} {
			if got := list(c.f); !slices.Equal(got, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	},

	"PendingForCLI": func(t *testing.T, s callback.Store) {
		const cli = "4930123456"
		if _, err := s.PendingForCLI(t.Context(), cli); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("no request yet: %v", err)
		}
		first := create(t, s, newRequest(cli, base))
		second := create(t, s, newRequest(cli, base))
		got, err := s.PendingForCLI(t.Context(), cli)
		if err != nil || got.ID != first.ID {
			t.Fatalf("pending = %v, %v; want the oldest, %d", got, err, first.ID)
		}
		// Finished and canceled requests no longer call back.
		if _, err := s.Cancel(t.Context(), first.ID, base); err != nil {
			t.Fatal(err)
		}
		got, err = s.PendingForCLI(t.Context(), cli)
		if err != nil || got.ID != second.ID {
			t.Fatalf("pending after cancel = %v, %v; want %d", got, err, second.ID)
		}
		r, l := claimOne(t, s, "n", base)
		if r.ID != second.ID {
			t.Fatalf("claimed %d", r.ID)
		}
		if _, err := s.Cancel(t.Context(), second.ID, base); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PendingForCLI(t.Context(), cli); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("a held request canceled from outside is still pending: %v", err)
		}
		update(t, s, l, callback.Change{From: r.Status, To: callback.StatusFinished, Result: callback.ResultCanceled})
		if _, err := s.PendingForCLI(t.Context(), cli); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("after finishing: %v", err)
		}
	},
}
