package mysql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// A DSN may name several servers, comma-separated, in its address:
//
//	callbackd:secret@tcp(db1:3306,db2:3306,db3:3306)/callbackd
//
// the nodes of a MariaDB Galera cluster, or a primary and its standby
// behind no proxy. Every new connection goes to the server the last one
// reached (the first listed, to begin with); when that server refuses or
// does not answer within its share of the connect timeout, the next is
// tried, and so on around the list. Connections already open stay where
// they are until they fail; the pool then opens new ones, which land on
// the server that answers. So all the connections of one process use one
// server at a time, and a process moves to a surviving node as soon as its
// node dies.

// splitAddrs takes the address list out of dsn: it returns dsn with only
// the first address and every address of the list, each with a port. A
// DSN with one address is returned as it is, with no list.
func splitAddrs(dsn string) (string, []string) {
	slash := strings.LastIndex(dsn, "/")
	if slash < 0 {
		return dsn, nil
	}
	open := strings.LastIndex(dsn[:slash], "@tcp(")
	if open < 0 || !strings.HasSuffix(dsn[:slash], ")") {
		return dsn, nil
	}
	list := dsn[open+len("@tcp(") : slash-1]
	if !strings.Contains(list, ",") {
		return dsn, nil
	}
	var addrs []string
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(a, "3306")
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return dsn, nil
	}
	return dsn[:open] + "@tcp(" + addrs[0] + ")" + dsn[slash:], addrs
}

// failover dials the first server of addrs that answers, starting with the
// one that answered last.
type failover struct {
	addrs []string
	log   *slog.Logger

	mu  sync.Mutex
	cur int
}

func newFailover(addrs []string) *failover {
	return &failover{addrs: addrs, log: slog.Default().With("component", "store")}
}

// dial is the driver's DialFunc: the address it is given is ignored.
func (f *failover) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	f.mu.Lock()
	start := f.cur
	f.mu.Unlock()
	var errs []error
	var d net.Dialer
	for i := range f.addrs {
		n := (start + i) % len(f.addrs)
		// Each server left gets an equal share of the time left, so a
		// server that swallows packets cannot use up the whole connect
		// timeout.
		actx, cancel := ctx, context.CancelFunc(func() {})
		if deadline, ok := ctx.Deadline(); ok {
			share := time.Until(deadline) / time.Duration(len(f.addrs)-i)
			actx, cancel = context.WithTimeout(ctx, share)
		}
		conn, err := d.DialContext(actx, network, f.addrs[n])
		cancel()
		if err == nil {
			if n != start {
				f.mu.Lock()
				moved := f.cur != n
				f.cur = n
				f.mu.Unlock()
				if moved {
					f.log.Warn("database: moved to another server of database.mysql_dsn",
						"from", f.addrs[start], "to", f.addrs[n], "err", errors.Join(errs...))
				}
			}
			return conn, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", f.addrs[n], err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}
