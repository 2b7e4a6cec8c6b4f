package callback_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/callback/callbacktest"
	"github.com/callbackd/callbackd/store/dbtest"
)

func TestLeaseEndsWithItsCallSQLite(t *testing.T) {
	testLeaseEndsWithItsCall(t, dbtest.SQLite(t))
}

func TestLeaseEndsWithItsCallMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t) // skips (or fails under CI) without a server
	testLeaseEndsWithItsCall(t, dbtest.MySQL(t))
}

// renewRace holds the first lease renewal back until the call's outcome
// is written, as a renewal pass over many live calls does for the calls
// that end while it runs.
type renewRace struct {
	callback.Store
	renewing  chan struct{} // closed when the first renewal begins
	concluded chan struct{} // closed when the request's outcome is written
	renewed   chan struct{} // closed when the first renewal returned
	first     sync.Once
	done      sync.Once
}

func (s *renewRace) Renew(ctx context.Context, l callback.Lease, until time.Time) error {
	held := false
	s.first.Do(func() { held = true })
	if !held {
		return s.Store.Renew(ctx, l, until)
	}
	close(s.renewing)
	select {
	case <-s.concluded:
	case <-ctx.Done():
	}
	err := s.Store.Renew(ctx, l, until)
	close(s.renewed)
	return err
}

func (s *renewRace) Update(ctx context.Context, l callback.Lease, c callback.Change) (*callback.Request, error) {
	r, err := s.Store.Update(ctx, l, c)
	if err == nil && c.To == callback.StatusFinished {
		s.done.Do(func() { close(s.concluded) })
	}
	return r, err
}

// warnings keeps the messages logged at WARN and above.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

// testLeaseEndsWithItsCall: a renewal that meets a lease its call gave up
// by finishing is not "lease lost" and logs no WARN.
func testLeaseEndsWithItsCall(t *testing.T, st callback.Store) {
	ctx := context.Background()
	if err := st.CreateAccount(ctx, &callback.Account{Username: "801", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	race := &renewRace{Store: st, renewing: make(chan struct{}), concluded: make(chan struct{}), renewed: make(chan struct{})}
	dialer := callbacktest.NewDialer(100000)
	dialer.Script("87654321", func(ctx context.Context, c *callback.Attempt) callback.Outcome {
		out := callbacktest.AnswerBoth(ctx, c)
		// The conversation ends while a renewal pass is under way.
		select {
		case <-race.renewing:
		case <-ctx.Done():
		}
		return out
	})
	warn := &warnings{}
	d, err := callback.NewDispatcher(callback.DispatcherOptions{Store: race, Dialer: dialer, Policy: testPolicy(), Node: "n1", Logger: slog.New(warn)})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		if err := d.Run(rctx); err != nil {
			t.Errorf("dispatcher: %v", err)
		}
	}()
	svc := &callback.Service{Store: race, Policy: testPolicy(), Notify: d.Notify}
	r := callback.NewRequest(callback.SourceAPI)
	r.Username, r.OriginalCLI, r.OriginalCLD = "801", "87654321", "2way_12345"
	if err := svc.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	select {
	case <-race.renewed:
	case <-time.After(20 * time.Second):
		t.Fatal("no lease renewal while the call was up")
	}
	cancel()
	<-ran
	got, err := st.GetRequest(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Result != callback.ResultSuccessful {
		t.Fatalf("got %s/%s", got.Status, got.Result)
	}
	warn.mu.Lock()
	defer warn.mu.Unlock()
	for _, m := range warn.msgs {
		if strings.Contains(m, "lease") {
			t.Errorf("logged %q for a call that ended normally", m)
		}
	}
}
