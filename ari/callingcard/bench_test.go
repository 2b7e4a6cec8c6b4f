package callingcard_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/mysql"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/tariff"
)

// node is one callbackd: its own store handle, simulated Asterisk,
// controller and dispatcher.
type node struct {
	st interface {
		callback.Store
		RawDB() *sql.DB
	}
	sim  *aritest.Sim
	ctl  *ari.Controller
	disp *callback.Dispatcher
}

// reservedAt records when the money of each request was first reserved,
// from the "money reserved" log line the biller writes.
type reservedAt struct {
	mu    sync.Mutex
	first map[int64]time.Time
	warns map[int64][]string // warnings and errors logged for a request
}

type reservedHandler struct {
	rec   *reservedAt
	attrs []slog.Attr
}

func (h reservedHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h reservedHandler) WithGroup(string) slog.Handler                { return h }
func (h reservedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return reservedHandler{rec: h.rec, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h reservedHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		for _, a := range h.attrs {
			if a.Key == "request_id" {
				msg := r.Message
				r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
				h.rec.mu.Lock()
				h.rec.warns[a.Value.Int64()] = append(h.rec.warns[a.Value.Int64()], msg)
				h.rec.mu.Unlock()
			}
		}
		return nil
	}
	if r.Message != "money reserved" {
		return nil
	}
	for _, a := range h.attrs {
		if a.Key == "request_id" {
			id := a.Value.Int64()
			h.rec.mu.Lock()
			if _, ok := h.rec.first[id]; !ok {
				h.rec.first[id] = r.Time
			}
			h.rec.mu.Unlock()
		}
	}
	return nil
}

// finished counts finished requests of both nodes.
type finished struct {
	mu   sync.Mutex
	reqs map[int64]*callback.Request
	all  chan struct{}
	n    int
}

func (f *finished) Dispatched(*callback.Request, time.Duration) {}
func (f *finished) Concluded(r *callback.Request, _ callback.Outcome) {
	if !r.Finished {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := *r
	f.reqs[r.ID] = &cp
	if len(f.reqs) == f.n {
		close(f.all)
	}
}

// BenchmarkOneAccountManyCalls is issue 11's scenario: 800 2-way
// callbacks paid by one account, due at once, on two nodes sharing one
// store, the users answering after 1-2 s and each destination talking for
// 2 s. It reports, from each user's answer (the simulated Asterisk's
// StasisStart of leg A), how long until the call's money was reserved
// (0 when it was reserved before the user was rung) and until the
// destination was dialled; how late leg A was placed against next_call
// (the admission is on that path); the results; and checks that the CDRs
// took from the account exactly what its balance lost and that no money
// is left held. Run it with -benchtime=1x:
//
//	go test -run '^$' -bench OneAccountManyCalls -benchtime 1x ./ari/callingcard/
//
// The MariaDB half runs under scripts/mariadb-test.sh.
func BenchmarkOneAccountManyCalls(b *testing.B) {
	b.Run("store=sqlite", func(b *testing.B) {
		// One embedded store shared by both nodes' controllers and
		// dispatchers: SQLite is a single-host database.
		var shared *sqlite.DB
		oneAccountManyCalls(b, func() (*sqlite.DB, error) {
			if shared != nil {
				return shared, nil
			}
			var err error
			shared, err = sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "callbackd.db"))
			return shared, err
		})
	})
	b.Run("store=mariadb", func(b *testing.B) {
		dsn := dbtest.MySQLDSN(b)
		oneAccountManyCalls(b, func() (*mysql.DB, error) { return mysql.Open(context.Background(), dsn) })
	})
}

func oneAccountManyCalls[S interface {
	callback.Store
	RawDB() *sql.DB
	Close() error
}](b *testing.B, open func() (S, error)) {
	const (
		n    = 800
		dest = "4420123"
		lead = 3 * time.Second
	)
	for range b.N {
		ctx, cancel := context.WithCancel(context.Background())
		rec := &reservedAt{first: map[int64]time.Time{}, warns: map[int64][]string{}}
		done := &finished{reqs: map[int64]*callback.Request{}, all: make(chan struct{}), n: n}
		p := callback.DefaultPolicy()
		p.DelayBeforeCallback = 0
		p.MaxAttempts = 1
		p.MaxLiveCalls = 2 * n
		p.Lease = time.Minute
		p.ScanInterval = time.Second
		p.Timeout = 10 * time.Second
		p.ShutdownGrace = 5 * time.Second
		var nodes []*node
		var wg sync.WaitGroup
		for i := range 2 {
			st, err := open()
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 || any(st) != any(nodes[0].st) {
				b.Cleanup(func() { st.Close() })
			}
			if i == 0 {
				if _, err := st.ImportRates(ctx, "retail", testRates, true); err != nil {
					b.Fatal(err)
				}
				if err := st.CreateAccount(ctx, &callback.Account{Username: "payer", Balance: money("100000"), Currency: "USD", Tariff: "retail"}); err != nil {
					b.Fatal(err)
				}
			}
			sim := aritest.NewT(b)
			for k := range n {
				sim.Phone(cli(k), aritest.Answer(time.Second+time.Duration(k%1000)*time.Millisecond))
			}
			sim.Phone(dest, aritest.Answer(5*time.Millisecond).ThenHangup(2*time.Second, aritest.CauseNormalClearing))
			log := slog.New(reservedHandler{rec: rec})
			biller := billing.New(st, tariff.NewCache(st, time.Minute), billing.Options{Logger: log})
			user, pass := sim.Credentials()
			ctl, err := ari.New(ari.WithURL(sim.URL()), ari.WithCredentials(user, pass), ari.WithLogger(log), ari.WithMaxChannels(0),
				ari.WithApp(callback.SubAppTwoWay, ari.TwoWay{Biller: biller, BusyPrompts: true}))
			if err != nil {
				b.Fatal(err)
			}
			d, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: ctl, Policy: p, Node: "node" + strconv.Itoa(i+1),
				Logger: slog.New(slog.DiscardHandler), Observer: done})
			if err != nil {
				b.Fatal(err)
			}
			nodes = append(nodes, &node{st: st, sim: sim, ctl: ctl, disp: d})
			wg.Go(func() { ctl.Run(ctx) })
			wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
			if err := ctl.WaitReady(wctx); err != nil {
				b.Fatal(err)
			}
			wcancel()
		}
		st := nodes[0].st
		due := time.Now().Add(lead)
		tx, err := st.RawDB().Begin()
		if err != nil {
			b.Fatal(err)
		}
		for k := range n {
			if _, err := tx.Exec(`INSERT INTO callback_requests (username, original_cli, original_cld, next_call) VALUES ('payer', ?, ?, ?)`,
				cli(k), "2way_"+dest, due.UTC().Format("2006-01-02 15:04:05.000")); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		if late := time.Since(due); late > 0 {
			b.Fatalf("inserting took %s longer than the lead", late)
		}
		before := balance(b, st, "payer")
		b.ResetTimer()
		for _, nd := range nodes {
			wg.Go(func() { nd.disp.Run(ctx) })
		}
		select {
		case <-done.all:
		case <-time.After(5 * time.Minute):
			b.Fatalf("%d of %d requests finished", len(done.reqs), n)
		}
		b.StopTimer()
		cancel()
		wg.Wait()

		results := map[callback.Result]int{}
		for _, r := range done.reqs {
			results[r.Result]++
		}
		var toMoney, toB, toA, dueToMoney []time.Duration
		rec.mu.Lock()
		for _, at := range rec.first {
			dueToMoney = append(dueToMoney, at.Sub(due))
		}
		rec.mu.Unlock()
		before0 := 0
		for _, nd := range nodes {
			for _, q := range nd.sim.Requests() {
				if q.Method != "POST" {
					continue
				}
				switch q.Path {
				case "/ari/channels":
					toA = append(toA, q.Received.Sub(due))
				case "/ari/channels/create":
					a := q.Query.Get("originator")
					id, _ := strconv.ParseInt(legIDRequest(a), 10, 64)
					answered := answerOf(nd.sim, a)
					if answered.IsZero() {
						continue
					}
					toB = append(toB, q.Received.Sub(answered))
					rec.mu.Lock()
					at, ok := rec.first[id]
					rec.mu.Unlock()
					if ok {
						d := at.Sub(answered)
						if d <= 0 {
							before0++
						}
						toMoney = append(toMoney, max(d, 0))
					}
				}
			}
		}
		// The periodic sweep settles calls whose settlement failed.
		swept, err := billing.New(st, tariff.NewCache(st, time.Minute), billing.Options{}).RecoverAll(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		// Money: what the CDRs took is what the balance lost; nothing held.
		var charged callback.Money
		for _, r := range done.reqs {
			cdrs, err := st.ListCDRs(context.Background(), callback.CDRFilter{RequestID: r.ID})
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range cdrs {
				charged += c.Charge
			}
			if r.Result == callback.ResultSuccessful && len(cdrs) != 2 {
				b.Errorf("request %d: %d CDRs, want one per leg", r.ID, len(cdrs))
			}
		}
		after := balance(b, st, "payer")
		held, err := st.ListReservations(context.Background(), "")
		if err != nil {
			b.Fatal(err)
		}
		for _, h := range held {
			r := done.reqs[h.RequestID]
			b.Logf("held: %+v; request %s/%s %q; logged %q", h, r.Status, r.Result, r.LastError, rec.warns[h.RequestID])
		}
		if before-after != charged || len(held) != 0 {
			b.Errorf("balance %s -> %s (lost %s), CDRs charged %s, %d reservations left", before, after, before-after, charged, len(held))
		}
		report := func(d []time.Duration, name string) {
			if len(d) == 0 {
				return
			}
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"-p50-ms")
			b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, name+"-p99-ms")
			b.ReportMetric(float64(d[len(d)-1].Microseconds())/1000, name+"-max-ms")
		}
		report(toMoney, "answer-to-money")
		report(toB, "answer-to-dialB")
		report(dueToMoney, "due-to-money")
		report(toA, "due-to-legA")
		b.ReportMetric(float64(before0), "reserved-before-answer")
		b.ReportMetric(float64(results[callback.ResultSuccessful]), "successful")
		b.ReportMetric(float64(results[callback.ResultFirstLegAborted]), "first-leg-aborted")
		b.ReportMetric(float64(n-results[callback.ResultSuccessful]-results[callback.ResultFirstLegAborted]), "other-results")
		b.ReportMetric(float64(before-after)/float64(callback.MoneyScale), "charged-USD")
		b.ReportMetric(float64(swept), "legs-settled-by-sweep")
		if results[callback.ResultSuccessful] != n {
			b.Logf("results %v", results)
		}
	}
}

func cli(k int) string { return fmt.Sprintf("1555%06d", k) }

// legIDRequest is the request id in a channel id cbd-<id>-<attempt>-a.
func legIDRequest(ch string) string {
	var id, attempt int64
	var leg string
	if _, err := fmt.Sscanf(ch, "cbd-%d-%d-%s", &id, &attempt, &leg); err != nil {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// answerOf is when the simulated Asterisk answered channel: its
// StasisStart.
func answerOf(sim *aritest.Sim, channel string) time.Time {
	for _, ev := range sim.History(channel) {
		if ev.Type == "StasisStart" {
			return ev.Time
		}
	}
	return time.Time{}
}

func balance(b *testing.B, st callback.Store, u string) callback.Money {
	a, err := st.GetAccount(context.Background(), u)
	if err != nil {
		b.Fatal(err)
	}
	return a.Balance
}
