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

var callerTests = map[string]func(t *testing.T, s callback.Store){
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
