package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/mysql"
	"github.com/callbackd/callbackd/store/storetest"
)

// proxy forwards TCP connections to a MariaDB server until it is stopped,
// which cuts every connection, as a server restart or a network failure
// would.
type proxy struct {
	t      testing.TB
	target string
	addr   string

	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	frozen bool
	wg     sync.WaitGroup
}

// freeze makes the proxy a server that accepts connections and never
// answers: what clients send is read and dropped, and nothing comes back,
// on the connections open already and on new ones.
func (p *proxy) freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

func (p *proxy) isFrozen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frozen
}

// pipe copies from src to dst until either fails, dropping what it reads
// while the proxy is frozen.
func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.isFrozen() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func startProxy(t testing.TB, target string) *proxy {
	p := &proxy{t: t, target: target, addr: "127.0.0.1:0"}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) start() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Go(func() { p.pipe(up, c) })
			p.wg.Go(func() { p.pipe(c, up) })
		}
	})
}

func (p *proxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// A database that goes away makes calls fail with errors, and the pool
// reconnects once it is back, without reopening the store.
func TestDatabaseOutage(t *testing.T) {
	cfg, err := gomysql.ParseDSN(dbtest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, cfg.Addr)
	cfg.Addr = px.addr
	db, err := mysql.Open(t.Context(), cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	r := &callback.Request{Username: "801", OriginalCLI: "87654321", NextCall: time.Now()}
	if err := db.CreateRequest(ctx, r); err != nil {
		t.Fatal(err)
	}

	px.stop()
	if err := db.Ping(ctx); err == nil {
		t.Fatal("ping succeeded with the database gone")
	}
	if _, err := db.Claim(ctx, callback.ClaimParams{Owner: "n/1", Now: time.Now().Add(time.Minute), Limit: 1, LeaseFor: time.Minute}); err == nil {
		t.Fatal("claim succeeded with the database gone")
	}
	if _, err := db.GetRequest(ctx, r.ID); !errors.Is(err, callback.ErrUnavailable) {
		t.Fatalf("get with the database gone: %v, want ErrUnavailable", err)
	}
	if err := db.CreateRequest(ctx, &callback.Request{Username: "801", OriginalCLI: "87654322", NextCall: time.Now()}); !errors.Is(err, callback.ErrUnavailable) {
		t.Fatalf("create with the database gone: %v, want ErrUnavailable", err)
	}
	if _, err := db.GetAccount(ctx, "801"); !errors.Is(err, callback.ErrUnavailable) {
		t.Fatalf("get account with the database gone: %v, want ErrUnavailable", err)
	}

	px.start()
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("ping after the database came back: %v", err)
	}
	got, err := db.Claim(ctx, callback.ClaimParams{Owner: "n/1", Now: time.Now().Add(time.Minute), Limit: 1, LeaseFor: time.Minute})
	if err != nil || len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("claim after the database came back: %v %v", got, err)
	}
}

// testTimeout is the query timeout of the frozen-server tests: shorter
// than the default, so the tests are quick, and long enough for the calls
// that must succeed on a loaded machine. What they check is that a call
// on a frozen server returns at all, and with ErrUnavailable.
const testTimeout = 2 * time.Second

// returns runs call and fails the test when it has not returned long after
// the query timeout (a store without a deadline waits for ever on a frozen
// server).
func returns(t *testing.T, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * testTimeout):
		t.Fatalf("%s: no answer long after the query timeout", what)
		return nil
	}
}

// A server that accepts connections and never answers (a frozen MariaDB,
// a dead network path) costs each store call its query timeout, and the
// call fails with ErrUnavailable, on connections the pool holds already
// and on new ones.
func TestFrozenServer(t *testing.T) {
	cfg, err := gomysql.ParseDSN(dbtest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, cfg.Addr)
	cfg.Addr = px.addr
	db, err := mysql.OpenWith(t.Context(), cfg.FormatDSN(), mysql.Options{QueryTimeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxConns(2)
	ctx := t.Context()
	if err := db.CreateAccount(ctx, &callback.Account{Username: "801", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	px.freeze()
	calls := map[string]func() error{
		"get account":    func() error { _, err := db.GetAccount(ctx, "801"); return err },
		"account by CLI": func() error { _, err := db.AccountByCLI(ctx, "801"); return err },
		"create request": func() error {
			return db.CreateRequest(ctx, &callback.Request{Username: "801", OriginalCLI: "87654321", NextCall: time.Now()})
		},
		// The trigger's statements, kept prepared on each connection.
		"caller by CLI": func() error { _, _, err := db.CallerByCLI(ctx, "801", time.Time{}); return err },
		"create request for a new caller": func() error {
			_, err := db.CreateRequestForNewCaller(ctx, &callback.Request{Username: "801", OriginalCLI: "87654322", NextCall: time.Now()}, "87654322", true)
			return err
		},
		"list requests": func() error { _, err := db.ListRequests(ctx, callback.RequestFilter{Limit: 5}); return err },
		"claim": func() error {
			_, err := db.Claim(ctx, callback.ClaimParams{Owner: "n/1", Now: time.Now(), Limit: 1, LeaseFor: time.Minute})
			return err
		},
		"ping": func() error { return db.Ping(ctx) },
	}
	// More calls at once than the pool has connections: those that wait
	// for a connection are bounded by the deadline too.
	var wg sync.WaitGroup
	for what, call := range calls {
		for range 3 {
			wg.Go(func() {
				if err := returns(t, what, call); !errors.Is(err, callback.ErrUnavailable) {
					t.Errorf("%s on a frozen server: %v, want ErrUnavailable", what, err)
				}
			})
		}
	}
	wg.Wait()
}

// storeAndClient opens the test database as a store with the query
// timeout testTimeout, holding the account 801, and as another SQL client
// (a pool of its own), both closed when the test ends.
func storeAndClient(t *testing.T) (*mysql.DB, *sql.DB, *gomysql.Config) {
	t.Helper()
	dsn := dbtest.MySQLDSN(t)
	db, err := mysql.OpenWith(t.Context(), dsn, mysql.Options{QueryTimeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateAccount(t.Context(), &callback.Account{Username: "801", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := sql.OpenDB(connector)
	t.Cleanup(func() { other.Close() })
	return db, other, cfg
}

// Call ends under another client's table locks (LOCK TABLES on the
// requests and their history) wait for them, alone or queued for a shared
// transaction; past the query timeout each fails with ErrUnavailable and
// none is written; once the lock is gone they go through.
func TestTableLockedUpdates(t *testing.T) {
	db, other, _ := storeAndClient(t)
	storetest.EndsUnderHeldLock(t, db, func() func() {
		conn, err := other.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(t.Context(), "LOCK TABLES callback_requests WRITE, callback_request_events WRITE"); err != nil {
			t.Fatal(err)
		}
		return func() {
			if _, err := conn.ExecContext(context.Background(), "UNLOCK TABLES"); err != nil {
				t.Fatal(err)
			}
			conn.Close()
		}
	})
}

// A table locked by another connection (LOCK TABLES ... WRITE, FLUSH
// TABLES WITH READ LOCK) makes the store's calls on it fail with
// ErrUnavailable after the query timeout, and they work again once the
// lock is gone.
func TestTableLocked(t *testing.T) {
	db, other, _ := storeAndClient(t)
	ctx := t.Context()
	for _, lock := range []struct{ take, release string }{
		{"LOCK TABLES accounts WRITE, callback_requests WRITE", "UNLOCK TABLES"},
		{"FLUSH TABLES WITH READ LOCK", "UNLOCK TABLES"},
	} {
		conn, err := other.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, lock.take); err != nil {
			var me *gomysql.MySQLError
			if errors.As(err, &me) && me.Number == 1227 { // ER_SPECIFIC_ACCESS_DENIED_ERROR: no RELOAD
				t.Logf("%s: the test user may not: %v", lock.take, err)
				conn.Close()
				continue
			}
			t.Fatalf("%s: %v", lock.take, err)
		}
		err = returns(t, "create request", func() error {
			return db.CreateRequest(ctx, &callback.Request{Username: "801", OriginalCLI: "87654321", NextCall: time.Now()})
		})
		if !errors.Is(err, callback.ErrUnavailable) {
			t.Errorf("create request under %s: %v, want ErrUnavailable", lock.take, err)
		}
		err = returns(t, "create request for a new caller", func() error {
			_, err := db.CreateRequestForNewCaller(ctx, &callback.Request{Username: "801", OriginalCLI: "87654323", NextCall: time.Now()}, "87654323", true)
			return err
		})
		if !errors.Is(err, callback.ErrUnavailable) {
			t.Errorf("create request for a new caller under %s: %v, want ErrUnavailable", lock.take, err)
		}
		if _, err := conn.ExecContext(ctx, lock.release); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		r := &callback.Request{Username: "801", OriginalCLI: "87654321", NextCall: time.Now()}
		if err := db.CreateRequest(ctx, r); err != nil {
			t.Fatalf("create request after %s: %v", lock.release, err)
		}
	}
}

// BenchmarkFrozenServer measures how long a store call waits on a server
// that accepts connections and never answers, with the default query
// timeout (database.query_timeout, 5 s), 8 calls at once on a pool of 8
// connections and then 8 more waiting for one:
//
//	scripts/mariadb-test.sh go test -run '^$' -bench FrozenServer -benchtime 2x ./store/mysql/
func BenchmarkFrozenServer(b *testing.B) {
	cfg, err := gomysql.ParseDSN(dbtest.MySQLDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	px := startProxy(b, cfg.Addr)
	cfg.Addr = px.addr
	db, err := mysql.Open(b.Context(), cfg.FormatDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateAccount(b.Context(), &callback.Account{Username: "801", Currency: "USD"}); err != nil {
		b.Fatal(err)
	}
	px.freeze()
	var longest time.Duration
	b.ResetTimer()
	for range b.N {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 2 * mysql.DefaultMaxConns {
			wg.Go(func() {
				start := time.Now()
				_, err := db.GetAccount(b.Context(), "801")
				took := time.Since(start)
				if !errors.Is(err, callback.ErrUnavailable) {
					b.Errorf("get account: %v, want ErrUnavailable", err)
				}
				mu.Lock()
				longest = max(longest, took)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	b.ReportMetric(longest.Seconds(), "longest-s")
}

// The trigger's statements are kept prepared on each connection of the
// pool (sqlstore.Dialect.PrepareOnce). A connection the server has ended
// since (KILL, wait_timeout, a restart) is found when it is taken from the
// pool, and the call runs on a new one with its statements prepared again:
// no call fails for a connection that went away between calls.
func TestTriggerStatementsSurviveKilledConnections(t *testing.T) {
	db, admin, cfg := storeAndClient(t)
	db.SetMaxConns(2)
	ctx := t.Context()
	if err := db.AddCLI(ctx, callback.AccountCLI{CLI: "4930111111", Username: "801"}); err != nil {
		t.Fatal(err)
	}
	var self int64
	if err := admin.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&self); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		// Both connections busy at once, so the pool holds two with the
		// statements kept on each.
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				cli := fmt.Sprintf("49302%02d%03d", round, i)
				r := &callback.Request{Username: "801", OriginalCLI: cli, NextCall: time.Now()}
				if ok, err := db.CreateRequestForNewCaller(ctx, r, cli, true); err != nil || !ok || r.ID == 0 {
					t.Errorf("round %d: new caller %s: ok=%v id=%d err=%v", round, cli, ok, r.ID, err)
				}
				if a, _, err := db.CallerByCLI(ctx, "4930111111", time.Time{}); err != nil || a == nil || a.Username != "801" {
					t.Errorf("round %d: caller by CLI: %+v, %v", round, a, err)
				}
			})
		}
		wg.Wait()
		// The server ends every connection of the store's user but ours.
		rows, err := admin.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> ?", cfg.User, self)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) == 0 {
			t.Fatalf("round %d: no connection of the store to end", round)
		}
		for _, id := range ids {
			if _, err := admin.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err != nil {
				t.Logf("KILL CONNECTION %d: %v", id, err) // it may have ended already
			}
		}
	}
}
