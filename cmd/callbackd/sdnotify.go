package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// notifier speaks systemd's service notification protocol (sd_notify(3)):
// datagrams such as "READY=1" to the unix socket named by $NOTIFY_SOCKET.
// Without the variable (not started by systemd with Type=notify) every
// call does nothing.
type notifier struct {
	socket   string
	watchdog time.Duration // WATCHDOG_USEC, when it is meant for this process
}

func newNotifier(environ []string, pid int) notifier {
	var n notifier
	var usec, wpid string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET":
			n.socket = v
		case "WATCHDOG_USEC":
			usec = v
		case "WATCHDOG_PID":
			wpid = v
		}
	}
	if u, err := strconv.ParseInt(usec, 10, 64); err == nil && u > 0 && (wpid == "" || wpid == strconv.Itoa(pid)) {
		n.watchdog = time.Duration(u) * time.Microsecond
	}
	return n
}

// notify sends one state, e.g. "READY=1\nSTATUS=serving".
func (n notifier) notify(state string) error {
	if n.socket == "" {
		return nil
	}
	addr := n.socket
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	return nil
}

// keepAlive sends WATCHDOG=1 at half the watchdog interval until ctx is
// done, so systemd restarts a process that stopped running. It does not
// depend on the store: a database outage must not make systemd kill the
// calls in progress (the store is watched by /readyz and
// callbackd_store_up).
func (n notifier) keepAlive(ctx context.Context, failed func(error)) {
	if n.socket == "" || n.watchdog <= 0 {
		return
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.notify("WATCHDOG=1"); err != nil {
			failed(err)
		}
	}
}
