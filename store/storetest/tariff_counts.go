package storetest

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// The rates' count each import keeps for the tariff list.
func init() {
	adminTests["TariffRateCounts"] = testTariffRateCounts
	adminTests["TariffRateCountsConcurrentImports"] = testTariffRateCountsConcurrent
}

// rateCounts is the tariff list's rates per tariff.
func rateCounts(t *testing.T, s admin.Store) map[string]int64 {
	t.Helper()
	ts, err := s.ListTariffs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, tr := range ts {
		out[tr.Name] = tr.Rates
	}
	return out
}

func prefixRates(prefixes ...string) []callback.TariffRate {
	var out []callback.TariffRate
	for _, p := range prefixes {
		out = append(out, callback.TariffRate{Prefix: p, PricePerMinute: 10, FirstIncrement: 1, NextIncrement: 1})
	}
	return out
}

// testTariffRateCounts follows a tariff's count through imports that add,
// overwrite, replace and empty it, with and without their audit entry.
func testTariffRateCounts(t *testing.T, s admin.Store) {
	ctx := t.Context()
	for _, step := range []struct {
		rates   []string
		replace bool
		audited bool
		want    int64 // 0: not listed
	}{
		{[]string{"1", "44", "4930"}, false, false, 3},
		{[]string{"44", "33"}, false, true, 4}, // 44 overwritten, 33 added
		{[]string{"7"}, true, true, 1},
		{[]string{"7", "8"}, false, false, 2},
		{nil, true, false, 0},
		{[]string{"1"}, false, false, 1},
		{nil, true, true, 0},
	} {
		var err error
		if step.audited {
			_, err = s.ImportRatesAudited(ctx, "retail", prefixRates(step.rates...), step.replace, auditOf("ann", "tariff.import", "tariff/retail"))
		} else {
			_, err = s.ImportRates(ctx, "retail", prefixRates(step.rates...), step.replace)
		}
		if err != nil {
			t.Fatal(err)
		}
		got := rateCounts(t, s)
		listed, err := s.ListRates(ctx, "retail")
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := got["retail"]; n != step.want || ok != (step.want > 0) || int64(len(listed)) != step.want {
			t.Errorf("after importing %v (replace %v): listed with %d rates (%v), %d rates stored; want %d", step.rates, step.replace, n, ok, len(listed), step.want)
		}
	}
	// The audit entry of an import says how many rates there were and are.
	if _, err := s.ImportRatesAudited(ctx, "retail", prefixRates("1", "2"), false, auditOf("ann", "tariff.import", "tariff/retail")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportRatesAudited(ctx, "retail", prefixRates("3"), false, auditOf("ann", "tariff.import", "tariff/retail")); err != nil {
		t.Fatal(err)
	}
	e := lastAudit(t, s)
	var before, after struct{ Rates int64 }
	if json.Unmarshal(e.Before, &before) != nil || json.Unmarshal(e.After, &after) != nil || before.Rates != 2 || after.Rates != 3 {
		t.Errorf("audit before %s after %s, want rates 2 then 3", e.Before, e.After)
	}
	// A tariff an account names but without rates is listed with 0.
	createAccount(t, s, callback.Account{Username: "801", Currency: "USD", Tariff: "empty"})
	if got := rateCounts(t, s); got["empty"] != 0 || got["retail"] != 3 || len(got) != 2 {
		t.Errorf("tariffs %v", got)
	}
}

// testTariffRateCountsConcurrent imports disjoint rates into one tariff
// from several goroutines at once: the count is all of them.
func testTariffRateCountsConcurrent(t *testing.T, s admin.Store) {
	const imports, each = 6, 50
	var wg sync.WaitGroup
	errs := make(chan error, imports)
	for i := range imports {
		wg.Go(func() {
			var ps []string
			for j := range each {
				ps = append(ps, fmt.Sprintf("%d%03d", i+1, j))
			}
			if _, err := s.ImportRates(t.Context(), "retail", prefixRates(ps...), false); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := rateCounts(t, s); got["retail"] != imports*each {
		t.Errorf("count %d, want %d", got["retail"], imports*each)
	}
}

// RateCountsMigrationCountsOlderRates checks that rates written before
// migration 00017 are counted by it: old is the database migrated up to
// 00014, and open migrates it to the end and opens the store; the tariff
// list shows the rates before any import.
func RateCountsMigrationCountsOlderRates(t *testing.T, old *sql.DB, open func() (admin.Store, io.Closer, error)) {
	t.Helper()
	if _, err := old.ExecContext(t.Context(), `INSERT INTO tariff_rates (tariff, prefix) VALUES ('retail', '1'), ('retail', '44'), ('retail', '4930'), ('wholesale', '1')`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	st, closer, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	got, err := st.ListTariffs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "retail" || got[0].Rates != 3 || got[1].Name != "wholesale" || got[1].Rates != 1 {
		t.Errorf("tariffs %+v, want retail 3, wholesale 1", got)
	}
}
