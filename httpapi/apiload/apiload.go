// Package apiload drives callbackd's JSON API with create-request calls and
// measures throughput and latency. It is the engine of the callbackd-load
// command and of httpapi's benchmark; it talks to a callbackd over HTTP
// only, and only on the loopback interface, because every call it makes
// queues a real callback.
package apiload

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds on a run: the load is meant for a benchmark, not a flood.
const (
	MaxRequests    = 1_000_000
	MaxConcurrency = 1024
	MaxDuration    = 10 * time.Minute
)

// Config describes a run.
type Config struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8080; its host
	// must be a loopback address or localhost.
	URL string
	// Token is an operator API token.
	Token string
	// Username is the account the requests are created for.
	Username string
	// Requests is how many create calls to make (at most MaxRequests).
	Requests int
	// Concurrency is how many calls are in flight at once.
	Concurrency int
	// Duration stops the run early (default and at most MaxDuration).
	Duration time.Duration
	// Destination is the 2-way destination of every request.
	Destination string
}

// Report is the outcome of a run.
type Report struct {
	Requests int         // calls made
	OK       int         // 201 or 200 answers
	Failed   int         // other answers and transport errors
	Codes    map[int]int // answers by status; 0 counts transport errors
	Elapsed  time.Duration
	P50      time.Duration
	P90      time.Duration
	P99      time.Duration
	Max      time.Duration
	// FirstError is the first failure seen, for the operator to act on.
	FirstError string
}

// RequestsPerSecond is the throughput of successful calls.
func (r Report) RequestsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

func (r Report) String() string {
	return fmt.Sprintf("requests %d  ok %d  failed %d  elapsed %s  %.0f requests/s  p50 %s  p90 %s  p99 %s  max %s",
		r.Requests, r.OK, r.Failed, r.Elapsed.Round(time.Millisecond), r.RequestsPerSecond(),
		r.P50.Round(10*time.Microsecond), r.P90.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond),
		r.Max.Round(10*time.Microsecond))
}

// ErrNotLoopback refuses a URL whose host is not on this machine.
var ErrNotLoopback = errors.New("refusing a host that is not a loopback address")

// CheckURL accepts http(s) URLs whose host is a loopback IP or localhost.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: want http or https", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return u, nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("url %q: %w", raw, ErrNotLoopback)
	}
	return u, nil
}

// loopbackOnly refuses, at connect time, any address that is not loopback,
// so that "localhost" resolving elsewhere cannot send the load away.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("connect %s: %w", address, ErrNotLoopback)
	}
	return nil
}

func (c *Config) check() (*url.URL, error) {
	u, err := CheckURL(c.URL)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Token == "":
		return nil, errors.New("an operator API token is required")
	case c.Username == "":
		return nil, errors.New("a username is required")
	case c.Requests < 1 || c.Requests > MaxRequests:
		return nil, fmt.Errorf("requests %d: want 1 to %d", c.Requests, MaxRequests)
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return nil, fmt.Errorf("concurrency %d: want 1 to %d", c.Concurrency, MaxConcurrency)
	case c.Duration < 0 || c.Duration > MaxDuration:
		return nil, fmt.Errorf("duration %s: want at most %s", c.Duration, MaxDuration)
	}
	if c.Duration == 0 {
		c.Duration = MaxDuration
	}
	if c.Destination == "" {
		c.Destination = "12345"
	}
	return u, nil
}

// Run makes cfg.Requests create calls with cfg.Concurrency workers and
// reports what it measured. Each call carries an idempotency key of its
// own, as a careful client would, and a callback number unique in the run.
func Run(ctx context.Context, cfg Config) (Report, error) {
	u, err := cfg.check()
	if err != nil {
		return Report{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: loopbackOnly}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConns:        cfg.Concurrency,
		MaxIdleConnsPerHost: cfg.Concurrency,
		IdleConnTimeout:     30 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	endpoint := u.JoinPath("/api/v1/requests").String()
	runID := rand.Text()[:8]

	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, cfg.Requests)
		rep       = Report{Codes: map[int]int{}}
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range cfg.Concurrency {
		wg.Go(func() {
			var body bytes.Buffer
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(cfg.Requests) {
					return
				}
				body.Reset()
				body.WriteString(`{"username":`)
				body.WriteString(strconv.Quote(cfg.Username))
				body.WriteString(`,"original_cli":"9`)
				body.WriteString(fmt.Sprintf("%010d", i))
				body.WriteString(`","destination":`)
				body.WriteString(strconv.Quote(cfg.Destination))
				body.WriteString(`}`)
				t0 := time.Now()
				code, ferr := post(ctx, client, endpoint, cfg.Token, "load-"+runID+"-"+strconv.FormatInt(i, 10), body.Bytes())
				d := time.Since(t0)
				mu.Lock()
				rep.Requests++
				rep.Codes[code]++
				if ferr == nil {
					rep.OK++
					latencies = append(latencies, d)
				} else {
					rep.Failed++
					if rep.FirstError == "" {
						rep.FirstError = ferr.Error()
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	slices.Sort(latencies)
	rep.P50, rep.P90, rep.P99 = pct(latencies, 50), pct(latencies, 90), pct(latencies, 99)
	if n := len(latencies); n > 0 {
		rep.Max = latencies[n-1]
	}
	if rep.OK == 0 && rep.FirstError != "" {
		return rep, fmt.Errorf("no call succeeded: %s", rep.FirstError)
	}
	return rep, nil
}

func post(ctx context.Context, c *http.Client, endpoint, token, key string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Read a bounded prefix for the error, drain the rest so the connection
	// is reused.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(head))
	}
	return resp.StatusCode, nil
}

// pct is the p-th percentile of sorted durations (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}
