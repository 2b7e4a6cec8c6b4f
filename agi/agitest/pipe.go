package agitest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PipeListener is a net.Listener whose connections are in-memory pipes
// (net.Pipe): no socket, no system call, so a benchmark over it measures
// what the server itself spends on a session.
type PipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

// NewPipeListener returns a listener that Dial connects to.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

var errPipeClosed = errors.New("agitest: pipe listener closed")

// Accept returns the server's end of the next Dial.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and Dial.
func (l *PipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the pipe's address.
func (l *PipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// Dial hands the server one end of a new pipe and returns the other.
func (l *PipeListener) Dial(ctx context.Context) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		server.Close()
		client.Close()
		return nil, errPipeClosed
	case <-ctx.Done():
		server.Close()
		client.Close()
		return nil, ctx.Err()
	}
}

// EnvBlock renders call's environment block as Asterisk sends it, blank
// line included, for Replay.
func EnvBlock(call Call) string {
	lines := call.withDefaults("127.0.0.1:4573").env()
	return strings.Join(lines, "\n") + "\n"
}

// Replay plays the cheapest Asterisk a benchmark can have on conn: it
// writes env (EnvBlock), answers each command line with answer(line), and
// returns when the server closes the connection. It keeps no transcript;
// last is the last command line received. At most maxCommands are answered.
func Replay(conn net.Conn, r *bufio.Reader, env string, maxCommands int, answer func(line string) string) (last string, err error) {
	defer conn.Close()
	if _, err := conn.Write([]byte(env)); err != nil {
		return "", fmt.Errorf("agitest replay: write env: %w", err)
	}
	r.Reset(conn)
	for range maxCommands {
		line, err := r.ReadString('\n')
		if err != nil {
			if line == "" && (errors.Is(err, io.EOF) || peerClosed(err)) {
				return last, nil
			}
			return last, fmt.Errorf("agitest replay: read: %w", err)
		}
		last = strings.TrimSuffix(line, "\n")
		if _, err := conn.Write([]byte(answer(last) + "\n")); err != nil {
			return last, fmt.Errorf("agitest replay: write reply: %w", err)
		}
	}
	return last, fmt.Errorf("agitest replay: more than %d commands", maxCommands)
}

// ProcessCPU is the CPU time (user and system) this process has used, for
// benchmarks that report CPU per session.
func ProcessCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
