package storetest

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// The poison tests put into callback_requests what a SQL client can write
// there but no request can be: a flag of 7, a next_call that is not a
// time, a zero date, a negative counter, a status the seed does not have.
// One such row must never stop the queue: the claim finishes it Invalid
// request by its id, with last_error naming the column and the value, and
// claims every other row as usual.

// isMySQL reports whether s runs on MariaDB/MySQL (else SQLite).
func isMySQL(t *testing.T, s callback.Store) bool {
	return strings.Contains(strings.ToLower(fmt.Sprintf("%T", raw(t, s).Driver())), "mysql")
}

// writeUnchecked runs query as a SQL client for which the schema's checks
// do not hold: on MariaDB a session with check_constraint_checks = 0 and
// an empty sql_mode (zero dates, truncated values); on SQLite with CHECK
// constraints ignored and the check triggers of migration 00003 dropped
// for the statement and put back after it, as if the row had been written
// before that migration.
func writeUnchecked(t *testing.T, s callback.Store, query string, args ...any) int64 {
	t.Helper()
	ctx := t.Context()
	conn, err := raw(t, s).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exec := func(q string, args ...any) sql.Result {
		t.Helper()
		res, err := conn.ExecContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return res
	}
	var res sql.Result
	if isMySQL(t, s) {
		exec("SET SESSION check_constraint_checks = 0, sql_mode = ''")
		res = exec(query, args...)
		exec("SET SESSION check_constraint_checks = 1, sql_mode = DEFAULT")
	} else {
		rows, err := conn.QueryContext(ctx, "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'callback_requests_checks%'")
		if err != nil {
			t.Fatal(err)
		}
		type trig struct{ name, sql string }
		var trigs []trig
		for rows.Next() {
			var tr trig
			if err := rows.Scan(&tr.name, &tr.sql); err != nil {
				t.Fatal(err)
			}
			trigs = append(trigs, tr)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		exec("PRAGMA ignore_check_constraints = 1")
		for _, tr := range trigs {
			exec("DROP TRIGGER " + tr.name)
		}
		res = exec(query, args...)
		for _, tr := range trigs {
			exec(tr.sql)
		}
		exec("PRAGMA ignore_check_constraints = 0")
	}
	id, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// insertBad inserts a due request for cli with the columns of set (SQL
// literals) in place of a valid row's, unchecked, and returns its id.
func insertBad(t *testing.T, s callback.Store, cli string, set map[string]string) int64 {
	t.Helper()
	cols := map[string]string{
		"username": "'801'", "original_cli": "'" + cli + "'", "original_cld": "'2way_12345'",
		"next_call": "'2030-03-14 15:09:26.000'", "source": "'sql'",
	}
	for k, v := range set {
		cols[k] = v
	}
	var names, vals []string
	for k, v := range cols {
		names = append(names, k)
		vals = append(vals, v)
	}
	return writeUnchecked(t, s, "INSERT INTO callback_requests ("+strings.Join(names, ", ")+") VALUES ("+strings.Join(vals, ", ")+")")
}

// poisonCase is one kind of bad row: the columns it sets, the words
// last_error must hold, and on which stores it can be written at all.
type poisonCase struct {
	name   string
	set    map[string]string
	want   []string // in last_error
	mysql  bool
	sqlite bool
}

var poisonCases = []poisonCase{
	{"NextCallGarbage", map[string]string{"next_call": "'2000-01-01 garbage'"}, []string{"next_call", `"2000-01-01 garbage"`, "not a timestamp"}, false, true},
	{"NextCallZeroDate", map[string]string{"next_call": "'0000-00-00 00:00:00'"}, []string{"next_call", "0000-00-00", "not a timestamp"}, true, true},
	{"CreationTimeZeroDate", map[string]string{"creation_time": "'0000-00-00 00:00:00'"}, []string{"creation_time", "0000-00-00"}, true, true},
	{"SetupTimeGarbage", map[string]string{"setup_time": "'yesterday'"}, []string{"setup_time", `"yesterday"`}, false, true},
	{"SetupTimeZeroDate", map[string]string{"setup_time": "'0000-00-00 00:00:00'"}, []string{"setup_time", "0000-00-00"}, true, true},
	{"DisconnectTimePre1970", map[string]string{"disconnect_time": "'1000-01-01 00:00:00'"}, []string{"disconnect_time", "1000-01-01"}, true, true},
	{"Canceled7", map[string]string{"canceled": "7"}, []string{"canceled = 7", "not 0 or 1"}, true, true},
	{"AnonAcctEnabledMinus1", map[string]string{"anon_acct_enabled": "-1"}, []string{"anon_acct_enabled = -1"}, true, true},
	{"AskPIN2", map[string]string{"ask_pin": "2"}, []string{"ask_pin = 2"}, true, true},
	{"NegativeCallCount", map[string]string{"call_count": "-3"}, []string{"call_count = -3", "negative"}, true, true},
	{"NegativeCreditTime", map[string]string{"credit_time": "-5"}, []string{"credit_time = -5", "negative"}, true, true},
	{"NegativeAttempt", map[string]string{"attempt": "-2"}, []string{"attempt = -2", "negative"}, true, true},
	{"MD5SecretNotHA1", map[string]string{"md5secret": "'abc'"}, []string{"md5secret", "not an HA1"}, true, true},
	{"ResultUnknown", map[string]string{"result": "'Maybe'"}, []string{"result", `"Maybe"`}, true, true},
}

// claimAround inserts the bad row of c, due before a good row, claims, and
// checks that the good row was claimed and the bad one finished Invalid
// request and reported.
func claimAround(t *testing.T, s callback.Store, c poisonCase) {
	badID := insertBad(t, s, "4930999999", c.set)
	good := create(t, s, newRequest("4930111111", base.Add(time.Second)))
	var reported []callback.InvalidRow
	got, err := s.Claim(t.Context(), callback.ClaimParams{Owner: "node-a/1", Now: base.Add(time.Hour), Limit: 10, LeaseFor: time.Minute,
		OnInvalid: func(r callback.InvalidRow) { reported = append(reported, r) }})
	if err != nil {
		t.Fatalf("claim with a bad row (%v) in the queue failed: %v", c.set, err)
	}
	if !slices.Equal(ids(got), []int64{good.ID}) {
		t.Fatalf("claimed %v, want only the good row %d", ids(got), good.ID)
	}
	if got[0].LeaseOwner != "node-a/1" || got[0].Attempt != 1 {
		t.Errorf("the good row: owner %q attempt %d", got[0].LeaseOwner, got[0].Attempt)
	}
	if len(reported) != 1 || reported[0].ID != badID || reported[0].Err != nil {
		t.Fatalf("reported %+v, want row %d finished", reported, badID)
	}
	bad := get(t, s, badID)
	if bad.Status != callback.StatusFinished || bad.Result != callback.ResultInvalid || !bad.Finished || bad.LeaseOwner != "" {
		t.Fatalf("bad row: %s/%s finished=%v owner %q", bad.Status, bad.Result, bad.Finished, bad.LeaseOwner)
	}
	for _, w := range c.want {
		if !strings.Contains(bad.LastError, w) || !strings.Contains(reported[0].Reason, w) {
			t.Errorf("last_error %q (reported %q) does not name %q", bad.LastError, reported[0].Reason, w)
		}
	}
	if c.set["md5secret"] != "" && strings.Contains(bad.LastError, strings.Trim(c.set["md5secret"], "'")) {
		t.Errorf("last_error shows the md5secret: %q", bad.LastError)
	}
	h, err := s.History(t.Context(), badID)
	if err != nil {
		t.Fatal(err)
	}
	if last := h[len(h)-1]; last.Status != callback.StatusFinished || last.Result != callback.ResultInvalid || last.Note != bad.LastError {
		t.Errorf("last history line %+v", last)
	}
	if again := claim(t, s, "node-b/1", base.Add(2*time.Hour), 10); len(again) != 0 {
		t.Errorf("claimed %v again", ids(again))
	}
}

var poisonTests = map[string]func(t *testing.T, s callback.Store){
	"ClaimIsolatesBadRows": func(t *testing.T, s callback.Store) {
		my := isMySQL(t, s)
		for _, c := range poisonCases {
			if my && !c.mysql || !my && !c.sqlite {
				continue
			}
			t.Run(c.name, func(t *testing.T) {
				// A fresh queue each: the rows of one case must not hide
				// another's.
				if _, err := raw(t, s).ExecContext(t.Context(), "DELETE FROM callback_requests"); err != nil {
					t.Fatal(err)
				}
				claimAround(t, s, c)
			})
		}
	},

	"ClaimSkipsARowItCannotFinish": func(t *testing.T, s callback.Store) {
		// A row that can be neither read nor finished (here a trigger
		// refuses every update of it) is reported with the error and passed
		// over; the rows behind it are claimed.
		badID := insertBad(t, s, "4930999999", map[string]string{"canceled": "7", "next_call": "'2030-03-14 15:09:25.000'"})
		if isMySQL(t, s) {
			writeUnchecked(t, s, fmt.Sprintf(`CREATE TRIGGER poison_refuse BEFORE UPDATE ON callback_requests FOR EACH ROW
				BEGIN IF OLD.i_callback_request = %d THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'; END IF; END`, badID))
		} else {
			writeUnchecked(t, s, fmt.Sprintf(`CREATE TRIGGER poison_refuse BEFORE UPDATE ON callback_requests
				WHEN OLD.i_callback_request = %d BEGIN SELECT RAISE(ABORT, 'refused'); END`, badID))
		}
		rs := createDue(t, s, 2)
		now := base.Add(time.Hour)
		var reported []callback.InvalidRow
		p := callback.ClaimParams{Owner: "node-a/1", Now: now, Limit: 1, LeaseFor: time.Minute,
			OnInvalid: func(r callback.InvalidRow) { reported = append(reported, r) }}
		got, err := s.Claim(t.Context(), p)
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		if len(reported) != 1 || reported[0].ID != badID || reported[0].Err == nil || !strings.Contains(reported[0].Reason, "canceled = 7") {
			t.Fatalf("reported %+v, want row %d with the error of its update", reported, badID)
		}
		// Nor is it due for NextDue: the dispatcher would wake for it again
		// and again.
		if next, ok, err := s.NextDue(t.Context()); err != nil || !ok || !next.Equal(rs[0].NextCall) {
			t.Errorf("NextDue = %s, %v, %v; want the first good row's %s", next, ok, err, rs[0].NextCall)
		}
		// Limit 1 was taken by the bad row this time; from now on it is
		// passed over, so each claim gets the next good row.
		for _, want := range rs {
			if len(got) == 1 && got[0].ID == want.ID {
				continue
			}
			got, err = s.Claim(t.Context(), p)
			if err != nil || !slices.Equal(ids(got), []int64{want.ID}) {
				t.Fatalf("claim after the skip: %v, %v; want [%d]", ids(got), err, want.ID)
			}
		}
		if len(reported) != 1 {
			t.Errorf("the skipped row was reported %d times", len(reported))
		}
		if r := get(t, s, badID); r.Finished || r.LeaseOwner != "" {
			t.Errorf("the row that could not be finished: finished=%v owner %q", r.Finished, r.LeaseOwner)
		}
	},

	"ConcurrentClaimsWithBadRows": func(t *testing.T, s callback.Store) {
		// Bad rows among good ones, several claimers: every good row is
		// claimed once, every bad one finished once.
		var bad []int64
		for i := range 20 {
			bad = append(bad, insertBad(t, s, fmt.Sprintf("49309%05d", i), map[string]string{"canceled": "7"}))
		}
		good := createDue(t, s, 60)
		now := base.Add(time.Hour)
		var mu sync.Mutex
		var claimed, reported []int64
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				var invalid int
				p := callback.ClaimParams{Owner: fmt.Sprintf("c%d/1", i), Now: now, Limit: 5, LeaseFor: time.Minute,
					OnInvalid: func(r callback.InvalidRow) {
						invalid++
						mu.Lock()
						reported = append(reported, r.ID)
						mu.Unlock()
					}}
				for {
					invalid = 0
					got, err := s.Claim(t.Context(), p)
					if err != nil {
						errs[i] = err
						return
					}
					if len(got) == 0 && invalid == 0 {
						return
					}
					mu.Lock()
					claimed = append(claimed, ids(got)...)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		slices.Sort(claimed)
		slices.Sort(reported)
		if !slices.Equal(claimed, ids(good)) {
			t.Errorf("claimed %d rows (%v), want the %d good ones", len(claimed), claimed, len(good))
		}
		if !slices.Equal(reported, bad) {
			t.Errorf("reported %v, want %v", reported, bad)
		}
	},

	"NextDueIgnoresBadTimes": func(t *testing.T, s callback.Store) {
		if isMySQL(t, s) {
			insertBad(t, s, "4930999999", map[string]string{"next_call": "'0000-00-00 00:00:00'"})
		} else {
			insertBad(t, s, "4930999999", map[string]string{"next_call": "'2000-01-01 garbage'"})
		}
		if _, _, err := s.NextDue(t.Context()); err != nil {
			t.Fatalf("NextDue with an unreadable next_call: %v", err)
		}
	},

	"RescueSweepsRowsNoClaimCanTake": func(t *testing.T, s callback.Store) {
		// Unleased, unfinished rows that no claim will ever take: a status
		// that is not the seed's, a live status without a lease, finished
		// neither 0 nor 1, and (SQLite) a next_call that sorts after every
		// time. They would stay pending for ever and hold up the caller's
		// next callback.
		sweep := map[int64]string{
			insertBad(t, s, "4930000001", map[string]string{"status": "'Ringing'"}):              `status = "Ringing"`,
			insertBad(t, s, "4930000002", map[string]string{"status": "'Second leg connected'"}): `status = "Second leg connected"`,
			insertBad(t, s, "4930000003", map[string]string{"finished": "7"}):                    "finished = 7",
		}
		if !isMySQL(t, s) {
			sweep[insertBad(t, s, "4930000004", map[string]string{"next_call": "'tomorrow'"})] = `next_call = "tomorrow"`
		}
		keep := create(t, s, newRequest("4930111111", base.Add(time.Hour)))
		var reported []callback.InvalidRow
		if _, err := s.Rescue(t.Context(), callback.RescueParams{Now: base, MaxAttempts: 3, Backoff: time.Second,
			OnInvalid: func(r callback.InvalidRow) { reported = append(reported, r) }}); err != nil {
			t.Fatal(err)
		}
		if len(reported) != len(sweep) {
			t.Errorf("reported %+v, want %d rows", reported, len(sweep))
		}
		for id, want := range sweep {
			r := get(t, s, id)
			if r.Status != callback.StatusFinished || r.Result != callback.ResultInvalid || !r.Finished || !strings.Contains(r.LastError, want) {
				t.Errorf("row %d (%s): %s/%s finished=%v last_error %q", id, want, r.Status, r.Result, r.Finished, r.LastError)
			}
		}
		if r := get(t, s, keep.ID); r.Finished {
			t.Errorf("the sweep finished a good row: %s/%s %q", r.Status, r.Result, r.LastError)
		}
	},

	"PendingForCLIPassesOverBadRows": func(t *testing.T, s callback.Store) {
		// The trigger's "already pending" check must not refuse a caller
		// for ever because of one row that will never call back.
		const cli = "4930123456"
		insertBad(t, s, cli, map[string]string{"status": "'Ringing'"})
		insertBad(t, s, cli, map[string]string{"md5secret": "'abc'"})
		insertBad(t, s, cli, map[string]string{"original_cld": "'nonsense'"})
		insertBad(t, s, cli, map[string]string{"call_count": "-1"})
		if isMySQL(t, s) {
			insertBad(t, s, cli, map[string]string{"next_call": "'0000-00-00 00:00:00'"})
		} else {
			insertBad(t, s, cli, map[string]string{"next_call": "'2000-01-01 garbage'"})
		}
		if r, err := s.PendingForCLI(t.Context(), cli); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("pending = %v, %v; want none: no row here will call back", r, err)
		}
		good := create(t, s, newRequest(cli, base))
		r, err := s.PendingForCLI(t.Context(), cli)
		if err != nil || r.ID != good.ID {
			t.Fatalf("pending = %v, %v; want %d", r, err, good.ID)
		}
		// Waiting since base: too old for a caller asking with a bound
		// after it, so a newer request is the pending one.
		if r, err := s.PendingForCLISince(t.Context(), cli, base.Add(time.Minute)); !errors.Is(err, callback.ErrNotFound) {
			t.Fatalf("pending since base+1m = %v, %v; want none", r, err)
		}
		newer := create(t, s, newRequest(cli, base.Add(2*time.Minute)))
		if r, err := s.PendingForCLISince(t.Context(), cli, base.Add(time.Minute)); err != nil || r.ID != newer.ID {
			t.Fatalf("pending since base+1m = %v, %v; want %d", r, err, newer.ID)
		}
		if r, err := s.PendingForCLISince(t.Context(), cli, base); err != nil || r.ID != good.ID {
			t.Fatalf("pending since base = %v, %v; want %d", r, err, good.ID)
		}
	},

	"DatabaseRefusesBadValues": func(t *testing.T, s callback.Store) {
		// The SQL client that writes the bad row gets the error.
		cases := map[string]string{
			"canceled":          "7",
			"finished":          "2",
			"anon_acct_enabled": "3",
			"call_count":        "-1",
			"attempt":           "-1",
			"credit_time":       "-5",
			"next_call":         "'0000-00-00 00:00:00'",
		}
		if !isMySQL(t, s) {
			cases["next_call"] = "'2000-01-01 garbage'"
			cases["creation_time"] = "'soon'"
		}
		for col, v := range cases {
			_, err := raw(t, s).ExecContext(t.Context(), "INSERT INTO callback_requests (username, original_cli, original_cld, "+col+
				") VALUES ('801', '4930111111', '2way_12345', "+v+")")
			if err == nil {
				t.Errorf("INSERT with %s = %s was accepted", col, v)
			}
		}
		r := create(t, s, newRequest("4930111111", base))
		for col, v := range cases {
			if col == "attempt" && !isMySQL(t, s) {
				continue // SQLite checks attempt on INSERT only (see migration 00003)
			}
			if _, err := raw(t, s).ExecContext(t.Context(), "UPDATE callback_requests SET "+col+" = "+v+
				" WHERE i_callback_request = ?", r.ID); err == nil {
				t.Errorf("UPDATE to %s = %s was accepted", col, v)
			}
		}
		mustEqual(t, "the row after refused updates", get(t, s, r.ID), r)
	},

	"ReleaseKeepsTheAge": func(t *testing.T, s callback.Store) {
		// A request put back undialled (Max Sessions) keeps the time it
		// first became due; a new schedule after a dialled attempt resets it.
		r := create(t, s, newRequest("4930111111", base))
		for i := range 3 {
			_, l := claimOne(t, s, "n/1", base.Add(time.Duration(i)*time.Minute))
			if err := s.Release(t.Context(), l, base.Add(time.Duration(i+1)*time.Minute), "deferred"); err != nil {
				t.Fatal(err)
			}
			got := get(t, s, r.ID)
			if !got.DueSince.Equal(base) || !got.NextCall.Equal(base.Add(time.Duration(i+1)*time.Minute)) {
				t.Fatalf("after deferral %d: due_since %s next_call %s, want due_since %s", i, got.DueSince, got.NextCall, base)
			}
			if want := time.Hour; got.Age(base.Add(time.Hour)) != want {
				t.Errorf("age %s, want %s", got.Age(base.Add(time.Hour)), want)
			}
		}
		c, l := claimOne(t, s, "n/1", base.Add(time.Hour))
		c = update(t, s, l, callback.Change{From: c.Status, To: callback.StatusFirstLegInitiated, CountCall: true})
		c = update(t, s, l, callback.Change{From: c.Status, To: callback.StatusWaitingForRetry, NextCall: base.Add(2 * time.Hour)})
		if !c.DueSince.IsZero() || !c.NextCall.Equal(base.Add(2*time.Hour)) {
			t.Fatalf("after a retry was scheduled: due_since %s next_call %s", c.DueSince, c.NextCall)
		}
	},
}
