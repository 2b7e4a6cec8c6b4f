package agitest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Bounds on a load run, so a typo cannot turn a benchmark into a flood.
const (
	MaxLoadSessions    = 1_000_000
	MaxLoadConcurrency = 1000
	defaultLoadTimeout = 5 * time.Minute
	keptErrors         = 10
)

// LoadOptions configures Load.
type LoadOptions struct {
	Sessions    int // calls to place in all
	Concurrency int // calls in flight at once; default 1
	// CallFactory returns call i (0-based); nil dials the same default call
	// every time.
	CallFactory func(i int) Call
	// Check judges a finished call; a non-nil error counts it as failed.
	// Nil accepts every call the server closed.
	Check func(*Transcript) error
	// Timeout bounds the whole run; default 5 minutes.
	Timeout time.Duration
}

// LoadResult summarises a load run.
type LoadResult struct {
	Sessions  int           // calls placed
	Succeeded int           // calls the server closed and Check accepted
	Failed    int           // everything else
	Errors    []error       // the first few failures
	Elapsed   time.Duration // wall time of the run
	Latency   Latency       // whole-call durations of successful calls
}

// Latency is a summary of call durations.
type Latency struct {
	Min, P50, P90, P99, Max, Mean time.Duration
}

// PerSecond is the rate of successful calls.
func (r LoadResult) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Succeeded) / r.Elapsed.Seconds()
}

// Load places opts.Sessions calls to the FastAGI server at addr (a loopback
// address), opts.Concurrency at a time. It stops early when ctx ends or the
// timeout runs out; calls not placed then count as neither success nor
// failure.
func Load(ctx context.Context, addr string, opts LoadOptions) (LoadResult, error) {
	if err := checkLoopback(addr); err != nil {
		return LoadResult{}, fmt.Errorf("agitest load: %w", err)
	}
	if opts.Sessions < 1 || opts.Sessions > MaxLoadSessions {
		return LoadResult{}, fmt.Errorf("agitest load: sessions %d not in 1..%d", opts.Sessions, MaxLoadSessions)
	}
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	if opts.Concurrency > MaxLoadConcurrency {
		return LoadResult{}, fmt.Errorf("agitest load: concurrency %d above %d", opts.Concurrency, MaxLoadConcurrency)
	}
	opts.Concurrency = min(opts.Concurrency, opts.Sessions)
	if opts.Timeout <= 0 {
		opts.Timeout = defaultLoadTimeout
	}
	factory := opts.CallFactory
	if factory == nil {
		factory = func(int) Call { return Call{} }
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	type outcome struct {
		d   time.Duration
		err error
	}
	jobs := make(chan int)
	results := make(chan outcome, opts.Concurrency)
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Go(func() {
			for i := range jobs {
				t, err := Dial(ctx, addr, factory(i))
				if err == nil && opts.Check != nil {
					err = opts.Check(t)
				}
				if err != nil {
					err = fmt.Errorf("call %d: %w", i, err)
				}
				var d time.Duration
				if t != nil {
					d = t.Duration
				}
				results <- outcome{d: d, err: err}
			}
		})
	}
	start := time.Now()
	go func() {
		defer close(jobs)
		for i := range opts.Sessions {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	res := LoadResult{}
	durations := make([]time.Duration, 0, opts.Sessions)
	for o := range results {
		res.Sessions++
		if o.err != nil {
			res.Failed++
			if len(res.Errors) < keptErrors {
				res.Errors = append(res.Errors, o.err)
			}
			continue
		}
		res.Succeeded++
		durations = append(durations, o.d)
	}
	res.Elapsed = time.Since(start)
	res.Latency = summarise(durations)
	if err := ctx.Err(); err != nil && res.Sessions < opts.Sessions {
		return res, fmt.Errorf("agitest load: stopped after %d of %d calls: %w", res.Sessions, opts.Sessions, err)
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("agitest load: %d of %d calls failed: %w", res.Failed, res.Sessions, errors.Join(res.Errors...))
	}
	return res, nil
}

func summarise(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	at := func(p float64) time.Duration {
		// Nearest rank: the smallest value with at least p of the sample
		// at or below it.
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ds[min(max(i, 0), len(ds)-1)]
	}
	return Latency{
		Min:  ds[0],
		P50:  at(0.50),
		P90:  at(0.90),
		P99:  at(0.99),
		Max:  ds[len(ds)-1],
		Mean: sum / time.Duration(len(ds)),
	}
}
