package callback_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/callback/callbacktest"
	"github.com/callbackd/callbackd/store/dbtest"
)

// The dispatcher against rows no request can be, on both real stores: one
// such row must never stop the queue, and an operator is told of it.
func TestPoisonSQLite(t *testing.T) {
	testPoison(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestPoisonMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t)
	testPoison(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

func isMySQL(db *sql.DB) bool {
	return strings.Contains(strings.ToLower(fmt.Sprintf("%T", db.Driver())), "mysql")
}

// execUnchecked runs q as a SQL client for which the schema's checks do not
// hold (MariaDB: check_constraint_checks = 0 and an empty sql_mode; SQLite:
// CHECKs ignored and migration 00003's check triggers dropped for the
// statement), as if the row had been written before those checks existed.
func execUnchecked(t *testing.T, st callback.Store, q string) int64 {
	t.Helper()
	ctx := t.Context()
	db := rawDB(t, st)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	must := func(q string) sql.Result {
		t.Helper()
		res, err := conn.ExecContext(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return res
	}
	var res sql.Result
	if isMySQL(db) {
		must("SET SESSION check_constraint_checks = 0, sql_mode = ''")
		res = must(q)
		must("SET SESSION check_constraint_checks = 1, sql_mode = DEFAULT")
	} else {
		rows, err := conn.QueryContext(ctx, "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'callback_requests_checks%'")
		if err != nil {
			t.Fatal(err)
		}
		var names, sqls []string
		for rows.Next() {
			var n, s string
			if err := rows.Scan(&n, &s); err != nil {
				t.Fatal(err)
			}
			names, sqls = append(names, n), append(sqls, s)
		}
		rows.Close()
		must("PRAGMA ignore_check_constraints = 1")
		for _, n := range names {
			must("DROP TRIGGER " + n)
		}
		res = must(q)
		for _, s := range sqls {
			must(s)
		}
		must("PRAGMA ignore_check_constraints = 0")
	}
	id, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// queueObserver counts what the dispatcher reports.
type queueObserver struct {
	mu          sync.Mutex
	invalid     []callback.InvalidRow
	claimErrors int
}

func (o *queueObserver) Dispatched(*callback.Request, time.Duration) {}

// Concluded wakes waitFinished.
func (o *queueObserver) Concluded(r *callback.Request, out callback.Outcome) {
	concluded.Concluded(r, out)
}

func (o *queueObserver) InvalidRow(r callback.InvalidRow) {
	o.mu.Lock()
	o.invalid = append(o.invalid, r)
	o.mu.Unlock()
	concluded.InvalidRow(r)
}
func (o *queueObserver) ClaimFailed(error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.claimErrors++
}

func (o *queueObserver) counts() ([]int64, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ids []int64
	for _, r := range o.invalid {
		ids = append(ids, r.ID)
	}
	return ids, o.claimErrors
}

func startObserved(t *testing.T, st callback.Store, p callback.Policy, fd *callbacktest.Dialer) (*harness, *queueObserver) {
	t.Helper()
	obs := &queueObserver{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: fd, Policy: p, Node: "n1", Logger: log, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, store: st, dialer: fd, disp: d, cancel: cancel, done: make(chan struct{}),
		svc: &callback.Service{Store: st, Policy: p, Notify: d.Notify}}
	go func() {
		defer close(h.done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("dispatcher: %v", err)
		}
	}()
	t.Cleanup(h.stop)
	return h, obs
}

// waitFor polls cond every 10 ms for at most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testPoison(t *testing.T, open func(t *testing.T) callback.Store) {
	t.Run("OneBadRowDoesNotStopTheQueue", func(t *testing.T) {
		// The two faults seen in production: on SQLite a next_call that is
		// not a time, on MariaDB canceled = 7. Every claim failed on them.
		st := open(t)
		addAccount(t, st, "801", 20)
		fd := callbacktest.NewDialer(100000)
		bad := `next_call = "2000-01-01 garbage"`
		q := `INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('801', '4930999', '2way_12345', '2000-01-01 garbage')`
		if isMySQL(rawDB(t, st)) {
			bad = "canceled = 7"
			q = `INSERT INTO callback_requests (username, original_cli, original_cld, canceled, next_call) VALUES ('801', '4930999', '2way_12345', 7, UTC_TIMESTAMP())`
		}
		badID := execUnchecked(t, st, q)
		h, obs := startObserved(t, st, testPolicy(), fd)
		var good []*callback.Request
		for i := range 5 {
			r := newRequest("801", fmt.Sprintf("49301%02d", i), "2way_12345")
			if err := h.svc.Create(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			good = append(good, r)
		}
		for _, r := range good {
			if got := waitFinished(t, st, r.ID); got.Result != callback.ResultSuccessful {
				t.Errorf("request %d: %s/%s %q", r.ID, got.Status, got.Result, got.LastError)
			}
		}
		got := waitFinished(t, st, badID)
		if got.Result != callback.ResultInvalid || !strings.Contains(got.LastError, bad) || fd.Count(badID) != 0 {
			t.Errorf("the bad row: %s/%s %q, %d dials", got.Status, got.Result, got.LastError, fd.Count(badID))
		}
		ids, claimErrors := obs.counts()
		if !slices.Equal(ids, []int64{badID}) || claimErrors != 0 {
			t.Errorf("reported invalid rows %v and %d claim errors, want [%d] and 0", ids, claimErrors, badID)
		}
		if err := h.disp.QueueReady(t.Context()); err != nil {
			t.Errorf("queue not ready: %v", err)
		}
	})

	t.Run("CreditTimeAboveMaxIsInvalid", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		fd := callbacktest.NewDialer(100000)
		startDispatcher(t, st, testPolicy(), "n1", fd)
		// The largest an INT column holds: 68 years, far above 24 h.
		res, err := rawDB(t, st).ExecContext(t.Context(), `INSERT INTO callback_requests
			(username, original_cli, original_cld, credit_time, next_call) VALUES ('801', '87654321', '2way_12345', 2147483647, CURRENT_TIMESTAMP)`)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		got := waitFinished(t, st, id)
		if got.Result != callback.ResultInvalid || !strings.Contains(got.LastError, "credit_time") || fd.Count(id) != 0 {
			t.Fatalf("got %s/%s %q, %d dials", got.Status, got.Result, got.LastError, fd.Count(id))
		}
	})

	t.Run("NullWhereARequestNeedsAValue", func(t *testing.T) {
		// original_cli may be NULL in the schema, but a request without it
		// calls nobody back.
		st := open(t)
		addAccount(t, st, "801", 2)
		fd := callbacktest.NewDialer(100000)
		startDispatcher(t, st, testPolicy(), "n1", fd)
		res, err := rawDB(t, st).ExecContext(t.Context(), `INSERT INTO callback_requests
			(username, original_cli, original_cld, next_call) VALUES ('801', NULL, '2way_12345', CURRENT_TIMESTAMP)`)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		got := waitFinished(t, st, id)
		if got.Result != callback.ResultInvalid || got.LastError != "original_cli: empty" || fd.Count(id) != 0 {
			t.Fatalf("got %s/%s %q, %d dials", got.Status, got.Result, got.LastError, fd.Count(id))
		}
	})

	t.Run("MaxSessionsBelowNeedEndsExpired", func(t *testing.T) {
		// Max Sessions 1 can never run a callback (it needs 2): each
		// deferral moved next_call, and the age counted from it, so the
		// request stayed Request received for ever.
		st := open(t)
		addAccount(t, st, "801", 1)
		fd := callbacktest.NewDialer(100000)
		p := testPolicy()
		p.MaxAge = 500 * time.Millisecond
		h := startDispatcher(t, st, p, "n1", fd)
		r := newRequest("801", "4930123", "2way_12345")
		if err := h.svc.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		got := waitFinished(t, st, r.ID)
		if got.Result != callback.ResultExpired || fd.Count(r.ID) != 0 {
			t.Fatalf("got %s/%s %q, %d dials", got.Status, got.Result, got.LastError, fd.Count(r.ID))
		}
		hist, err := st.History(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(hist, func(e callback.Event) bool { return strings.Contains(e.Note, "below the 2 a callback needs") }) {
			t.Errorf("no history line says why the request waited: %+v", hist)
		}
	})

	t.Run("QueueNotReadyWhileClaimsFail", func(t *testing.T) {
		st := open(t)
		addAccount(t, st, "801", 2)
		h, obs := startObserved(t, st, testPolicy(), callbacktest.NewDialer(100000))
		waitFor(t, "claiming", func() bool { return h.disp.QueueReady(t.Context()) == nil })
		db := rawDB(t, st)
		if _, err := db.ExecContext(t.Context(), "ALTER TABLE callback_requests RENAME TO callback_requests_away"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "reporting the queue not ready", func() bool { return h.disp.QueueReady(t.Context()) != nil })
		if _, n := obs.counts(); n == 0 {
			t.Error("no claim error counted")
		}
		if _, err := db.ExecContext(t.Context(), "ALTER TABLE callback_requests_away RENAME TO callback_requests"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "ready again", func() bool { return h.disp.QueueReady(t.Context()) == nil })
		r := newRequest("801", "4930555", "2way_12345")
		if err := h.svc.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if got := waitFinished(t, st, r.ID); got.Result != callback.ResultSuccessful {
			t.Fatalf("after the outage: %s/%s", got.Status, got.Result)
		}
	})
}

func TestPolicyRefusesOutOfBoundInput(t *testing.T) {
	p := callback.DefaultPolicy()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		credit int
		next   time.Time
		field  string
	}{
		{1 << 62, time.Time{}, "credit_time"},
		{10_000_000_000, time.Time{}, "credit_time"},
		{86401, time.Time{}, "credit_time"},
		{0, now.Add(-61 * time.Minute), "next_call"},
		{86400, now.Add(-59 * time.Minute), ""},
		{0, now.Add(24 * time.Hour), ""},
	} {
		r := newRequest("801", "4930", "2way_1")
		r.CreditTime, r.NextCall = c.credit, c.next
		err := p.CheckNew(r, now)
		var ve *callback.ValidationError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("credit %d next %s: refused: %v", c.credit, c.next, err)
		case c.field != "" && (!errors.As(err, &ve) || ve.Field != c.field):
			t.Errorf("credit %d next %s: %v, want a ValidationError on %s", c.credit, c.next, err, c.field)
		}
	}
}

func TestAccountMaxSessions(t *testing.T) {
	for n, ok := range map[int]bool{-1: false, 0: true, 1: false, 2: true, 10: true} {
		err := (&callback.Account{MaxSessions: n}).CheckMaxSessions()
		if (err == nil) != ok {
			t.Errorf("Max Sessions %d: %v", n, err)
		}
	}
}
