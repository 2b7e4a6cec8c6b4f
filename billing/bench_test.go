package billing_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/tariff"
)

// BenchmarkAdmitOneAccount measures the admission of 800 2-way callbacks
// paid by one account, all at once: each checks both numbers and the
// money and reserves its first slice on the shared account, as the ARI
// controller does before placing leg A; then each is settled as a call of
// 10 s. It reports the admissions' latency and rate and checks that the
// CDRs took exactly what the balance lost and that nothing is left held.
//
//	go test -run '^$' -bench AdmitOneAccount -benchtime 1x ./billing/
//
// The MariaDB half runs under scripts/mariadb-test.sh.
func BenchmarkAdmitOneAccount(b *testing.B) {
	b.Run("store=sqlite", func(b *testing.B) { admitOneAccount(b, dbtest.SQLite(b)) })
	b.Run("store=mariadb", func(b *testing.B) { admitOneAccount(b, dbtest.MySQL(b)) })
}

func admitOneAccount(b *testing.B, st callback.Store) {
	const n = 800
	ctx := b.Context()
	if _, err := st.ImportRates(ctx, "retail", []callback.TariffRate{rate("1", "0.60", "0", 1, 1), rate("44", "1.20", "0", 1, 1)}, true); err != nil {
		b.Fatal(err)
	}
	if err := st.CreateAccount(ctx, &callback.Account{Username: "payer", Balance: money("100000"), Currency: "USD", Tariff: "retail"}); err != nil {
		b.Fatal(err)
	}
	bl := billing.New(st, tariff.NewCache(st, time.Minute), billing.Options{})
	for i := range b.N {
		lat := make([]time.Duration, n)
		calls := make([]*billing.Bill, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k := range n {
			wg.Go(func() {
				r := callback.Request{ID: int64(i*n + k + 1), Username: "payer", OriginalCLI: fmt.Sprintf("1555%06d", k), OriginalCLD: "2way_4420123"}
				<-start
				t0 := time.Now()
				calls[k], errs[k] = bl.Admit(ctx, r, fmt.Sprintf("c-%d-a", r.ID), fmt.Sprintf("c-%d-b", r.ID), nil)
				lat[k] = time.Since(t0)
			})
		}
		before, err := st.GetAccount(ctx, "payer")
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		t0 := time.Now()
		close(start)
		wg.Wait()
		elapsed := time.Since(t0)
		b.StopTimer()
		refused := 0
		for _, err := range errs {
			if err != nil {
				refused++
				b.Logf("refused: %v", err)
			}
		}
		// Settle every call as 10 s of talk.
		var charged callback.Money
		answered := time.Now().Add(-time.Minute)
		for k, c := range calls {
			if errs[k] != nil {
				continue
			}
			c.LegAAnswered(answered)
			c.Answered(ctx, answered)
			cdrs, err := c.Settle(ctx, billing.End{A: answered.Add(10 * time.Second), B: answered.Add(10 * time.Second)})
			if err != nil {
				b.Fatal(err)
			}
			for _, cdr := range cdrs {
				charged += cdr.Charge
			}
		}
		after, err := st.GetAccount(ctx, "payer")
		if err != nil {
			b.Fatal(err)
		}
		held, err := st.ListReservations(ctx, "")
		if err != nil {
			b.Fatal(err)
		}
		if before.Balance-after.Balance != charged || len(held) != 0 || charged != money("0.30")*callback.Money(n-refused) {
			b.Errorf("balance %s -> %s, CDRs charged %s, %d reservations left", before.Balance, after.Balance, charged, len(held))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "admit-p50-ms")
		b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "admit-p99-ms")
		b.ReportMetric(float64(lat[n-1].Microseconds())/1000, "admit-max-ms")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "admits/s")
		b.ReportMetric(float64(refused), "refused")
	}
}
