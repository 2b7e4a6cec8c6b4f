package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// TariffSummary is one tariff as the tariff list shows it. A tariff has
// no currency of its own: its prices are in the currency of the account
// it rates, so Currencies are those of the accounts that use it.
type TariffSummary struct {
	Name       string
	Rates      int64    // prefixes in tariff_rates
	Accounts   int64    // accounts whose tariff it is
	Currencies []string // of those accounts, sorted
}

// ResultCount is how many callback requests made in a period are in one
// status and result (Result is "" while unfinished).
type ResultCount struct {
	Status callback.Status
	Result callback.Result
	Count  int64
}

// HourCount is the first legs (callbacks dialled) that started in one
// hour, and how many of them were answered.
type HourCount struct {
	Hour     time.Time // UTC, on the hour
	Attempts int64
	Answered int64
}

// AccountHistory is what an account has left behind; a deletion is
// refused while any of it is there.
type AccountHistory struct {
	Requests      bool // callback requests of the account or paid by it
	CDRs          bool
	LedgerEntries bool
	AccessNumbers bool // an access number names it (default or internal account)
}

// Empty reports whether there is no history.
func (h AccountHistory) Empty() bool {
	return !h.Requests && !h.CDRs && !h.LedgerEntries && !h.AccessNumbers
}

// what lists the history in words.
func (h AccountHistory) what() string {
	var out []string
	for _, x := range []struct {
		has  bool
		name string
	}{{h.Requests, "callback requests"}, {h.CDRs, "CDRs"}, {h.LedgerEntries, "ledger entries"}, {h.AccessNumbers, "access numbers naming it"}} {
		if x.has {
			out = append(out, x.name)
		}
	}
	return strings.Join(out, ", ")
}

// ConsoleStore is the part of Store behind the tariff list, the
// dashboard's figures and account deletion.
type ConsoleStore interface {
	// ListTariffs lists every tariff named by a rate or an account, by
	// name.
	ListTariffs(ctx context.Context) ([]TariffSummary, error)
	// ListRatesPage returns up to limit rates of tariff with a prefix
	// after afterPrefix, by prefix.
	ListRatesPage(ctx context.Context, tariff, afterPrefix string, limit int) ([]callback.TariffRate, error)
	// RequestsByResult counts the requests created in [from, to) per
	// status and result: from totals kept as requests are written when
	// from and to are whole UTC hours, else in one GROUP BY.
	RequestsByResult(ctx context.Context, from, to time.Time) ([]ResultCount, error)
	// HourlyCallbacks counts the first-leg CDRs that started in [from,
	// to) per UTC hour (hours without any are left out): from totals kept
	// as CDRs are written when from and to are whole UTC hours, else in
	// one GROUP BY.
	HourlyCallbacks(ctx context.Context, from, to time.Time) ([]HourCount, error)
	// CurrencyTotals sums the legs of leg that started in [from, to)
	// (whole UTC hours) per currency: Report's figures summed over its
	// keys, Day and Key left empty, currencies without legs left out.
	CurrencyTotals(ctx context.Context, from, to time.Time, leg callback.Leg) ([]ReportRow, error)
	// RebuildTotals counts the totals of [from, to) (whole UTC hours)
	// again from the CDRs and finished requests (the unfinished ones are
	// counted from their rows when read), and returns how many CDRs and
	// finished requests it counted.
	RebuildTotals(ctx context.Context, from, to time.Time) (cdrs, requests int64, err error)
	// DeleteAccountAudited deletes username with its caller IDs when
	// check passes on the account and its history, read under the
	// account's row lock.
	DeleteAccountAudited(ctx context.Context, username string, check func(a *callback.Account, h AccountHistory) error, audit *AuditEntry) error
}

// ErrHasHistory: the account has requests, CDRs or ledger entries (or an
// access number names it), so it is kept; block it instead.
var ErrHasHistory = errors.New("the account has history")

// HistoryError says what history keeps an account from being deleted.
type HistoryError struct {
	Username string
	History  AccountHistory
}

func (e *HistoryError) Error() string {
	return fmt.Sprintf("account %s has history (%s): it cannot be deleted; block it instead", e.Username, e.History.what())
}

// Is makes errors.Is(err, ErrHasHistory) true.
func (e *HistoryError) Is(target error) bool { return target == ErrHasHistory }

// ListTariffs lists the tariffs with their number of rates and accounts.
func (s *Service) ListTariffs(ctx context.Context, a Actor) ([]TariffSummary, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	return s.Store.ListTariffs(ctx)
}

// ListRatesPage returns a page of a tariff's rates by prefix, after the
// prefix after.
func (s *Service) ListRatesPage(ctx context.Context, a Actor, tariff, after string, limit int) ([]callback.TariffRate, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	if !tariffPattern.MatchString(tariff) {
		return nil, &callback.ValidationError{Field: "tariff", Reason: "1 to 64 letters, digits and ._-"}
	}
	return s.Store.ListRatesPage(ctx, tariff, after, limit)
}

// Activity is the dashboard's figures of the callback requests.
type Activity struct {
	// ByResult counts the requests created on Day (UTC) per status and
	// result.
	Day      time.Time
	ByResult []ResultCount
	// Hours are the 24 hours up to the current one (the oldest first,
	// every hour present): first legs dialled and answered.
	Hours []HourCount
	// Today sums the first legs that started on Day per currency (by
	// currency; those without any left out).
	Today []ReportRow
}

// Activity computes the dashboard's figures at now: today's requests
// by result and first legs per currency, and the first legs per hour of
// the last 24 hours. Each is read from totals kept as the CDRs and
// requests are written: a few hundred rows whatever the traffic.
func (s *Service) Activity(ctx context.Context, a Actor, now time.Time) (*Activity, error) {
	if err := a.Check(PermRead); err != nil {
		return nil, err
	}
	now = now.UTC()
	day := now.Truncate(24 * time.Hour)
	out := &Activity{Day: day}
	var err error
	if out.ByResult, err = s.Store.RequestsByResult(ctx, day, day.Add(24*time.Hour)); err != nil {
		return nil, err
	}
	if out.Today, err = s.Store.CurrencyTotals(ctx, day, day.Add(24*time.Hour), callback.LegA); err != nil {
		return nil, err
	}
	last := now.Truncate(time.Hour)
	first := last.Add(-23 * time.Hour)
	got, err := s.Store.HourlyCallbacks(ctx, first, last.Add(time.Hour))
	if err != nil {
		return nil, err
	}
	byHour := map[int64]HourCount{}
	for _, h := range got {
		byHour[h.Hour.Unix()] = h
	}
	for h := first; !h.After(last); h = h.Add(time.Hour) {
		c := byHour[h.Unix()]
		c.Hour = h
		out.Hours = append(out.Hours, c)
	}
	return out, nil
}

// RebuildTotals counts the dashboard's totals of the hours [from, to)
// again from the CDRs and requests: for rows written with the totals
// triggers off. from and to must be whole UTC hours, at most 366 days
// apart.
func (s *Service) RebuildTotals(ctx context.Context, a Actor, from, to time.Time) (cdrs, requests int64, err error) {
	if err := a.Check(PermWrite); err != nil {
		return 0, 0, err
	}
	if err := CheckRange(from, to); err != nil {
		return 0, 0, err
	}
	for _, t := range []struct {
		field string
		at    time.Time
	}{{"from", from}, {"to", to}} {
		if !t.at.Equal(t.at.Truncate(time.Hour)) {
			return 0, 0, &callback.ValidationError{Field: t.field, Reason: "a whole UTC hour"}
		}
	}
	return s.Store.RebuildTotals(ctx, from, to)
}

// DeleteAccount deletes an account that has no history (no callback
// requests, CDRs or ledger entries, and no access number naming it),
// guarded by ifMatch (AccountETag) when not empty. An account with
// history is refused with a *HistoryError: block it instead.
func (s *Service) DeleteAccount(ctx context.Context, a Actor, username, ifMatch string) error {
	if err := a.Check(PermWrite); err != nil {
		return err
	}
	return s.Store.DeleteAccountAudited(ctx, username, func(acct *callback.Account, h AccountHistory) error {
		if ifMatch != "" && ifMatch != AccountETag(acct) {
			return ErrPreconditionFailed
		}
		if !h.Empty() {
			return &HistoryError{Username: username, History: h}
		}
		return nil
	}, s.audit(a, "account.delete", "account/"+username))
}
