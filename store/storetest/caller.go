package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// CallerLookup is the triggers' one-round-trip question about a caller:
// the account AccountByCLI finds and the request PendingForCLISince
// returns, nil for either that is not there. Both stores implement it.
type CallerLookup interface {
	CallerByCLI(ctx context.Context, cli string, since time.Time) (*callback.Account, *callback.Request, error)
}

// agreesWithTwoLookups checks that CallerByCLI answers for cli what
// AccountByCLI and PendingForCLISince answer, for each since.
func agreesWithTwoLookups(t *testing.T, s callback.Store, step, cli string, since ...time.Time) {
	t.Helper()
	cl, ok := s.(CallerLookup)
	if !ok {
		t.Fatalf("%T has no CallerByCLI", s)
	}
	wantA, err := s.AccountByCLI(t.Context(), cli)
	if errors.Is(err, callback.ErrNotFound) {
		wantA, err = nil, nil
	}
	if err != nil {
		t.Fatalf("%s: account by CLI: %v", step, err)
	}
	for _, at := range since {
		wantR, err := s.PendingForCLISince(t.Context(), cli, at)
		if errors.Is(err, callback.ErrNotFound) {
			wantR, err = nil, nil
		}
		if err != nil {
			t.Fatalf("%s: pending since %s: %v", step, at, err)
		}
		gotA, gotR, err := cl.CallerByCLI(t.Context(), cli, at)
		if err != nil {
			t.Fatalf("%s: caller by CLI since %s: %v", step, at, err)
		}
		if !reflect.DeepEqual(gotA, wantA) {
			t.Errorf("%s: account %+v, want %+v", step, gotA, wantA)
		}
		if !reflect.DeepEqual(gotR, wantR) {
			t.Errorf("%s, since %s: pending %+v, want %+v", step, at, gotR, wantR)
		}
	}
}

// NewCallerCreator is the triggers' insert of a new caller's request
// with the checks that it is one (see sqlstore's CreateRequestForNewCaller);
// a store whose database has no INSERT ... RETURNING (MySQL) never inserts
// through it.
type NewCallerCreator interface {
	CreateRequestForNewCaller(ctx context.Context, r *callback.Request, cli string, accounts bool) (bool, error)
	CreatesForNewCallers() bool
}

var callerTests = map[string]func(t *testing.T, s callback.Store){
	"CreateRequestForNewCallerOnlyForNewCallers": func(t *testing.T, s callback.Store) {
		nc, ok := s.(NewCallerCreator)
		if !ok {
			t.Fatalf("%T has no CreateRequestForNewCaller", s)
		}
		count := func(cli string) int {
			t.Helper()
			rs, err := s.ListRequests(t.Context(), callback.RequestFilter{CLI: cli, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return len(rs)
		}
		try := func(step, cli string, accounts, want bool) {
			t.Helper()
			want = want && nc.CreatesForNewCallers()
			before := count(cli)
			r := newRequest(cli, base)
			got, err := nc.CreateRequestForNewCaller(t.Context(), r, cli, accounts)
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			after := count(cli)
			switch {
			case got != want:
				t.Fatalf("%s: inserted=%v, want %v", step, got, want)
			case !got && after != before:
				t.Fatalf("%s: not inserted, yet %d rows for %s where there were %d", step, after, cli, before)
			case !got:
				return
			case after != before+1 || r.ID == 0:
				t.Fatalf("%s: inserted, %d rows where there were %d, id %d", step, after, before, r.ID)
			}
			stored, err := s.GetRequest(t.Context(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(stored, r) {
				t.Errorf("%s: returned %+v, stored %+v", step, r, stored)
			}
		}
		try("new caller", "4930100", true, true)
		try("a request pending", "4930100", true, false)
		try("a request pending, accounts not asked", "4930100", false, false)

		// Rows that are over (canceled, finished) hold nothing back.
		insertBad(t, s, "4930200", map[string]string{"canceled": "1"})
		insertBad(t, s, "4930200", map[string]string{"finished": "1", "status": "'Finished'", "result": "'Expired'"})
		try("only rows that are over", "4930200", true, true)
		// An unfinished row that would never call back holds it back: the
		// trigger reads it and decides.
		insertBad(t, s, "4930300", map[string]string{"status": "'Ringing'"})
		try("an unfinished row", "4930300", true, false)

		// An account for the CLI, each way AccountByCLI finds one.
		createAccount(t, s, callback.Account{Username: "4930400"})
		createAccount(t, s, callback.Account{Username: "mia", AssociatedNumber: "4930500"})
		createAccount(t, s, callback.Account{Username: "max", AssociatedNumber: "+4930600"})
		createAccount(t, s, callback.Account{Username: "abe"})
		if err := s.AddCLI(t.Context(), callback.AccountCLI{CLI: "4930700", Username: "abe"}); err != nil {
			t.Fatal(err)
		}
		for _, cli := range []string{"4930400", "4930500", "4930600", "4930700"} {
			try("an account for "+cli, cli, true, false)
			try("an account for "+cli+", accounts not asked", cli, false, true)
		}
	},
	"CallerByCLIAgreesWithTheTwoLookups": func(t *testing.T, s callback.Store) {
		const cli = "4930123456"
		sinces := []time.Time{{}, base.Add(-time.Minute), base.Add(time.Minute)}
		agreesWithTwoLookups(t, s, "nothing known", cli, sinces...)

		// The account the CLI map names, then one whose associated number
		// is the CLI with a + (it comes first), blocked and with money.
		createAccount(t, s, callback.Account{Username: "abe"})
		if err := s.AddCLI(t.Context(), callback.AccountCLI{CLI: cli, Username: "abe"}); err != nil {
			t.Fatal(err)
		}
		agreesWithTwoLookups(t, s, "CLI map", cli, sinces...)
		createAccount(t, s, callback.Account{Username: "mia", AssociatedNumber: "+" + cli, Currency: "EUR",
			Balance: 1234, CreditLimit: -500, MaxSessions: 3, Language: "de", Tariff: "t1", DailyCap: 9999, Blocked: true})
		agreesWithTwoLookups(t, s, "associated number", cli, sinces...)

		// Rows that will never call back, more of them than one read
		// takes, and a canceled and a finished one.
		insertBad(t, s, cli, map[string]string{"status": "'Ringing'"})
		insertBad(t, s, cli, map[string]string{"md5secret": "'abc'"})
		insertBad(t, s, cli, map[string]string{"original_cld": "'nonsense'"})
		insertBad(t, s, cli, map[string]string{"call_count": "-1"})
		insertBad(t, s, cli, map[string]string{"canceled": "1"})
		insertBad(t, s, cli, map[string]string{"finished": "1", "status": "'Finished'", "result": "'Expired'"})
		agreesWithTwoLookups(t, s, "rows that never call back", cli, sinces...)

		// The request that will: found past the bad rows; too old for a
		// later bound, where a newer one is the pending one.
		create(t, s, newRequest(cli, base))
		agreesWithTwoLookups(t, s, "a request waiting since base", cli, sinces...)
		create(t, s, newRequest(cli, base.Add(2*time.Minute)))
		agreesWithTwoLookups(t, s, "and a newer one", cli, sinces...)

		// Another caller: a request and no account; and an account named
		// after the number.
		const other = "4930654321"
		create(t, s, newRequest(other, base))
		agreesWithTwoLookups(t, s, "request without account", other, sinces...)
		createAccount(t, s, callback.Account{Username: other})
		agreesWithTwoLookups(t, s, "account named by the CLI", other, sinces...)
	},
}
