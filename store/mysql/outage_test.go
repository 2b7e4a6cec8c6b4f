package mysql_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/mysql"
)

// proxy forwards TCP connections to a MariaDB server until it is stopped,
// which cuts every connection, as a server restart or a network failure
// would.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
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
			p.wg.Go(func() { io.Copy(up, c); up.Close() })
			p.wg.Go(func() { io.Copy(c, up); c.Close() })
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
	if _, err := db.GetRequest(ctx, r.ID); err == nil || errors.Is(err, callback.ErrNotFound) {
		t.Fatalf("get with the database gone: %v, want a connection error", err)
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
