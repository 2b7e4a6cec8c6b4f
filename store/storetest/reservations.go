package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

func reserve(id int64, leg callback.Leg, channel, username string, amount callback.Money) *callback.Reservation {
	return &callback.Reservation{RequestID: id, Leg: leg, ChannelID: channel, Username: username, Amount: amount}
}

func reservations(t *testing.T, s callback.Store, username string) []*callback.Reservation {
	t.Helper()
	rs, err := s.ListReservations(t.Context(), username)
	if err != nil {
		t.Fatalf("list reservations of %q: %v", username, err)
	}
	return rs
}

func heldBy(t *testing.T, s callback.Store, username string) callback.Money {
	t.Helper()
	var sum callback.Money
	for _, r := range reservations(t, s, username) {
		sum += r.Amount
	}
	return sum
}

var reservationTests = map[string]func(t *testing.T, s callback.Store){
	"SumsAndAnswers": func(t *testing.T, s callback.Store) {
		// What billing asks of a store that pays for many calls of one
		// account: the holds of other requests summed in the database, and
		// an answer recorded without touching the money.
		type sums interface {
			HeldBy(ctx context.Context, username string, exceptRequest int64) (callback.Money, error)
			MarkAnswered(ctx context.Context, rs ...*callback.Reservation) error
		}
		st, ok := s.(sums)
		if !ok {
			t.Fatalf("%T does not sum holds and mark answers", s)
		}
		createAccount(t, s, callback.Account{Username: "alice", Balance: 10_000})
		createAccount(t, s, callback.Account{Username: "bob", Balance: 10_000})
		ctx := t.Context()
		a, b := reserve(1, callback.LegA, "c-1-a", "alice", 1_000), reserve(1, callback.LegB, "c-1-b", "alice", 2_000)
		if err := s.Reserve(ctx, a, b, reserve(2, callback.LegB, "c-2-b", "alice", 3_000), reserve(3, callback.LegB, "c-3-b", "bob", 500)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			user   string
			except int64
			want   callback.Money
		}{{"alice", 0, 6_000}, {"alice", 1, 3_000}, {"alice", 2, 3_000}, {"bob", 0, 500}, {"carol", 0, 0}} {
			if got, err := st.HeldBy(ctx, tc.user, tc.except); err != nil || got != tc.want {
				t.Errorf("HeldBy(%s, except %d) = %s, %v; want %s", tc.user, tc.except, got, err, tc.want)
			}
		}
		at := base.Add(3 * time.Second)
		b.Answered = at
		if err := st.MarkAnswered(ctx, b); err != nil {
			t.Fatal(err)
		}
		for _, r := range reservations(t, s, "alice") {
			want := time.Time{}
			if r.RequestID == 1 && r.Leg == callback.LegB {
				want = at
			}
			if !r.Answered.Equal(want) || (r.RequestID == 1 && r.Leg == callback.LegB && r.Amount != 2_000) {
				t.Errorf("after MarkAnswered: %+v", r)
			}
		}
		// Growing the call's own holds counts only the others' against the
		// balance: 10,000 - 3,000 held by request 2 leaves 7,000.
		if err := s.Reserve(ctx, reserve(1, callback.LegA, "c-1-a", "alice", 2_500), reserve(1, callback.LegB, "c-1-b", "alice", 4_500)); err != nil {
			t.Fatalf("grow both legs to the balance: %v", err)
		}
		if err := s.Reserve(ctx, reserve(1, callback.LegA, "c-1-a", "alice", 2_500), reserve(1, callback.LegB, "c-1-b", "alice", 4_501)); !errors.Is(err, callback.ErrInsufficientFunds) {
			t.Fatalf("grow both legs past the balance: %v", err)
		}
	},
	"AvailableMinusHolds": func(t *testing.T, s callback.Store) {
		createAccount(t, s, callback.Account{Username: "alice", Balance: 10_000})
		createAccount(t, s, callback.Account{Username: "postpaid", Balance: 0, CreditLimit: -5_000})
		ctx := t.Context()
		first := reserve(1, callback.LegB, "c-1-b", "alice", 6_000)
		first.Number, first.Answered = "4930123", base
		if err := s.Reserve(ctx, first); err != nil {
			t.Fatal(err)
		}
		if first.Created.IsZero() {
			t.Error("Created not filled")
		}
		if err := s.Reserve(ctx, reserve(2, callback.LegB, "c-2-b", "alice", 4_001)); !errors.Is(err, callback.ErrInsufficientFunds) {
			t.Fatalf("reserve past the balance: %v, want ErrInsufficientFunds", err)
		}
		if err := s.Reserve(ctx, reserve(2, callback.LegB, "c-2-b", "alice", 4_000)); err != nil {
			t.Fatalf("reserve the rest: %v", err)
		}
		// Reserving a key again replaces its amount: the old one is left out
		// of the check.
		if err := s.Reserve(ctx, reserve(2, callback.LegB, "c-2-b", "alice", 3_000)); err != nil {
			t.Fatalf("shrink a reservation: %v", err)
		}
		if err := s.Reserve(ctx, reserve(2, callback.LegB, "c-2-b", "alice", 4_500)); !errors.Is(err, callback.ErrInsufficientFunds) {
			t.Fatalf("grow a reservation past the balance: %v", err)
		}
		if got := heldBy(t, s, "alice"); got != 9_000 {
			t.Errorf("alice holds %s, want 0.90", got)
		}
		rs := reservations(t, s, "alice")
		if len(rs) != 2 || rs[0].RequestID != 1 || rs[0].Number != "4930123" || !rs[0].Answered.Equal(base) || !rs[1].Answered.IsZero() {
			t.Errorf("reservations: %+v %+v", rs[0], rs[1])
		}
		// The credit limit counts as money.
		if err := s.Reserve(ctx, reserve(3, callback.LegA, "c-3-a", "postpaid", 5_000)); err != nil {
			t.Errorf("postpaid within its credit limit: %v", err)
		}
		if err := s.Reserve(ctx, reserve(4, callback.LegA, "c-4-a", "postpaid", 1)); !errors.Is(err, callback.ErrInsufficientFunds) {
			t.Errorf("postpaid past its credit limit: %v", err)
		}
		if err := s.ReleaseReservation(ctx, 1, callback.LegB, "c-1-b"); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseReservation(ctx, 1, callback.LegB, "c-1-b"); err != nil {
			t.Errorf("release twice: %v", err)
		}
		if got := heldBy(t, s, "alice"); got != 3_000 {
			t.Errorf("alice holds %s after a release, want 0.30", got)
		}
		if all := reservations(t, s, ""); len(all) != 2 {
			t.Errorf("%d reservations in all, want 2", len(all))
		}
	},

	"BatchAllOrNothing": func(t *testing.T, s callback.Store) {
		createAccount(t, s, callback.Account{Username: "default", Balance: 10_000})
		createAccount(t, s, callback.Account{Username: "alice", Balance: 1_000})
		ctx := t.Context()
		a := reserve(5, callback.LegA, "c-5-a", "default", 2_000)
		b := reserve(5, callback.LegB, "c-5-b", "alice", 2_000)
		if err := s.Reserve(ctx, a, b); !errors.Is(err, callback.ErrInsufficientFunds) {
			t.Fatalf("batch with one account short: %v", err)
		}
		if got := reservations(t, s, ""); len(got) != 0 {
			t.Fatalf("a refused batch held %d reservations", len(got))
		}
		b.Amount = 1_000
		bind := reserve(5, callback.LegA, "c-5-a/bind", "alice", 1)
		if err := s.Reserve(ctx, a, b, bind); !errors.Is(err, callback.ErrInsufficientFunds) {
			t.Fatalf("one account asked for more than it has across the batch: %v", err)
		}
		if err := s.Reserve(ctx, a, b); err != nil {
			t.Fatal(err)
		}
		if err := s.Reserve(ctx, reserve(6, callback.LegA, "x", "nobody", 1)); !errors.Is(err, callback.ErrNotFound) {
			t.Errorf("unknown account: %v", err)
		}
		for _, bad := range []*callback.Reservation{
			reserve(7, callback.LegA, "x", "", 1),
			reserve(7, "", "x", "alice", 1),
			reserve(7, callback.LegA, "x", "alice", -1),
		} {
			if err := s.Reserve(ctx, bad); !errors.Is(err, callback.ErrInvalid) {
				t.Errorf("reserve %+v: %v, want ErrInvalid", bad, err)
			}
		}
		if err := s.Reserve(ctx, reserve(8, callback.LegA, "x", "default", 0), reserve(8, callback.LegA, "x", "default", 0)); !errors.Is(err, callback.ErrInvalid) {
			t.Errorf("one key twice in a batch: %v", err)
		}
	},

	"SettleAndRelease": func(t *testing.T, s callback.Store) {
		createAccount(t, s, callback.Account{Username: "alice", Balance: 10_000, Currency: "USD"})
		ctx := t.Context()
		if err := s.Reserve(ctx, reserve(9, callback.LegA, "c-9-a", "alice", 3_000), reserve(9, callback.LegB, "c-9-b", "alice", 5_000),
			reserve(10, callback.LegB, "c-10-b", "alice", 1_000)); err != nil {
			t.Fatal(err)
		}
		cdrs := func() []*callback.CDR {
			return []*callback.CDR{
				{RequestID: 9, Leg: callback.LegA, Account: "alice", ChannelID: "c-9-a", Start: base, Answer: base, End: base.Add(time.Minute), BillSec: 60, Charge: 2_500, Disposition: "ANSWERED"},
				{RequestID: 9, Leg: callback.LegB, Account: "alice", ChannelID: "c-9-b", Start: base, Answer: base, End: base.Add(time.Minute), BillSec: 60, Charge: 4_000, Disposition: "ANSWERED"},
			}
		}
		first := cdrs()
		if err := s.SettleAndRelease(ctx, first); err != nil {
			t.Fatal(err)
		}
		if first[0].ID == 0 || first[0].Charge != 2_500 || first[1].Charge != 4_000 || first[1].Currency != "USD" {
			t.Fatalf("settled: %+v %+v", first[0], first[1])
		}
		if got := balance(t, s, "alice"); got != 3_500 {
			t.Errorf("balance %s, want 0.35", got)
		}
		if rs := reservations(t, s, "alice"); len(rs) != 1 || rs[0].RequestID != 10 {
			t.Fatalf("left held: %+v", rs)
		}
		// Settling again (a restarted process, the recovery of an orphan)
		// charges nothing and releases nothing else.
		again := cdrs()
		again[0].Charge, again[1].Charge = 9_999, 9_999
		if err := s.SettleAndRelease(ctx, again); err != nil {
			t.Fatal(err)
		}
		if again[0].ID != first[0].ID || again[0].Charge != 2_500 || again[1].Charge != 4_000 {
			t.Errorf("second settlement: %+v %+v", again[0], again[1])
		}
		if got := balance(t, s, "alice"); got != 3_500 {
			t.Errorf("balance %s after a second settlement, want 0.35", got)
		}
		if got := heldBy(t, s, "alice"); got != 1_000 {
			t.Errorf("holds %s, want 0.10", got)
		}
		if list, _ := s.ListCDRs(ctx, callback.CDRFilter{RequestID: 9}); len(list) != 2 {
			t.Errorf("%d CDRs, want 2", len(list))
		}
		// Never below the credit limit, whatever the CDR says.
		over := []*callback.CDR{{RequestID: 10, Leg: callback.LegB, Account: "alice", ChannelID: "c-10-b", Start: base, Charge: 50_000}}
		if err := s.SettleAndRelease(ctx, over); err != nil {
			t.Fatal(err)
		}
		if over[0].Charge != 3_500 || balance(t, s, "alice") != 0 || heldBy(t, s, "alice") != 0 {
			t.Errorf("over-charge: charged %s, balance %s, held %s", over[0].Charge, balance(t, s, "alice"), heldBy(t, s, "alice"))
		}
		if err := s.SettleAndRelease(ctx, []*callback.CDR{{RequestID: 11, Leg: callback.LegA, ChannelID: "x"}}); !errors.Is(err, callback.ErrInvalid) {
			t.Errorf("CDR without account: %v", err)
		}
	},

	"ConcurrentReservations": func(t *testing.T, s callback.Store) {
		// Eight calls of one account ask at once for 0.30 each out of 1.00:
		// exactly three may get it, whatever the interleaving.
		createAccount(t, s, callback.Account{Username: "alice", Balance: 10_000})
		const calls, each = 8, callback.Money(3_000)
		var wg sync.WaitGroup
		errs := make([]error, calls)
		start := make(chan struct{})
		for i := range calls {
			wg.Go(func() {
				<-start
				errs[i] = s.Reserve(t.Context(), reserve(int64(100+i), callback.LegB, fmt.Sprintf("c-%d-b", 100+i), "alice", each))
			})
		}
		close(start)
		wg.Wait()
		granted := 0
		for i, err := range errs {
			switch {
			case err == nil:
				granted++
			case !errors.Is(err, callback.ErrInsufficientFunds):
				t.Errorf("call %d: %v", i, err)
			}
		}
		if granted != 3 {
			t.Errorf("%d of %d reservations granted, want 3", granted, calls)
		}
		if got := heldBy(t, s, "alice"); got > 10_000 || got != callback.Money(granted)*each {
			t.Errorf("alice holds %s for %d grants", got, granted)
		}
	},
}
