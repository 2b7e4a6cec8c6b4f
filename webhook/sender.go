package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// Observer is told what the sender does, for metrics.
type Observer interface {
	// Attempted is called once per attempt with its outcome: delivered,
	// retry (due again later) or failed (given up); delay is, for a
	// delivered row, the time from the status change to the 2xx answer.
	Attempted(state State, delay time.Duration)
	// QueueDepth reports the pending rows, every few seconds.
	QueueDepth(n int)
}

// Options configure a Sender. Zero values take the defaults named.
type Options struct {
	Store Store
	// URL, Secret and Events are the global webhook; URL "" means none.
	URL    string
	Secret string
	Events Events
	// Owner names this process's leases ("<node>/<boot>"); OwnerPrefix
	// ("<node>/") finds the leases of this node's previous runs, which are
	// taken back at start.
	Owner       string
	OwnerPrefix string

	Workers    int           // concurrent POSTs: 16
	Timeout    time.Duration // one POST, connect to last byte: 10s
	Poll       time.Duration // how often due rows are looked for when idle: 100ms
	RetryFor   time.Duration // retry window from the change (or a resend): 24h
	BackoffMin time.Duration // the first retry's delay: 5s
	BackoffMax time.Duration // the longest delay between attempts: 1h
	Keep       time.Duration // delivered and failed rows are deleted after this: 168h
	UserAgent  string        // callbackd

	// Reply configures the replies to email and SMS requesters.
	Reply ReplyOptions

	Client   *http.Client // nil: one with Timeout that follows no redirect
	Logger   *slog.Logger
	Observer Observer
	Now      func() time.Time
}

// DefaultOptions returns the defaults of the sender's settings.
func DefaultOptions() Options {
	return Options{Events: EventsAll, Workers: 16, Timeout: 10 * time.Second, Poll: 100 * time.Millisecond,
		RetryFor: 24 * time.Hour, BackoffMin: 5 * time.Second, BackoffMax: time.Hour, Keep: 7 * 24 * time.Hour}
}

func (o *Options) defaults() {
	def := DefaultOptions()
	for _, f := range []struct {
		v *time.Duration
		d time.Duration
	}{{&o.Timeout, def.Timeout}, {&o.Poll, def.Poll}, {&o.RetryFor, def.RetryFor}, {&o.BackoffMin, def.BackoffMin},
		{&o.BackoffMax, def.BackoffMax}, {&o.Keep, def.Keep}} {
		if *f.v <= 0 {
			*f.v = f.d
		}
	}
	if o.Workers <= 0 {
		o.Workers = def.Workers
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	if o.UserAgent == "" {
		o.UserAgent = "callbackd"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer that is not 2xx
		}, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: o.Workers,
			IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: o.Timeout, ForceAttemptHTTP2: true}}
	}
}

// Sender POSTs the outbox's due rows, and the rows this process writes,
// handed over by the store (Local). See the package documentation.
type Sender struct {
	o   Options
	log *slog.Logger

	// taken counts the rows this sender has held (claimed, or reserved
	// for a hand-over and not given back), sent those whose POST is over
	// and written those whose outcome is recorded: taken-sent are in
	// flight, taken-written not yet recorded. Both are bounded.
	taken, sent, written atomic.Int64
	// local holds the rows handed over, for the workers; its room is the
	// in-flight limit, which reservations never pass, so Hand never waits.
	local   chan *Delivery
	wake    chan struct{}
	running atomic.Bool
	short   atomic.Bool // the claim loop waits for room
}

var _ Local = (*Sender)(nil)

// NewSender checks o and returns a sender.
func NewSender(o Options) (*Sender, error) {
	o.defaults()
	switch {
	case o.Store == nil:
		return nil, errors.New("webhook sender: no store")
	case o.Owner == "":
		return nil, errors.New("webhook sender: no lease owner")
	}
	if o.URL != "" {
		if err := CheckURL(o.URL); err != nil {
			return nil, fmt.Errorf("webhooks.url: %w", err)
		}
		if len(o.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("webhooks.secret: at least %d bytes are needed to sign notifications to webhooks.url", MinSecretBytes)
		}
	}
	if _, err := ParseEvents(string(o.Events)); err != nil {
		return nil, fmt.Errorf("webhooks.events: %w", err)
	}
	s := &Sender{o: o, log: o.Logger.With("component", "webhook"), wake: make(chan struct{}, 1)}
	s.local = make(chan *Delivery, s.inFlight())
	return s, nil
}

// Reserve takes a place for a row the store is about to write, while the
// sender runs and has room for it in flight and in its outcomes to write.
func (s *Sender) Reserve(now time.Time) (string, time.Time, bool) {
	if !s.running.Load() {
		return "", time.Time{}, false
	}
	for range 100 {
		t := s.taken.Load()
		if int(t-s.sent.Load()) >= s.inFlight() || int(t-s.written.Load()) >= maxUnwritten {
			return "", time.Time{}, false
		}
		if s.taken.CompareAndSwap(t, t+1) {
			return s.o.Owner, now.Add(s.lease()), true
		}
	}
	return "", time.Time{}, false // contended: the row is claimed instead
}

// Hand queues a committed row written under a reservation.
func (s *Sender) Hand(d *Delivery) {
	select {
	case s.local <- d:
	default:
		// Cannot happen while reservations hold the limit; the row stays
		// leased and is sent again when its lease expires.
		s.taken.Add(-1)
		s.log.Warn("webhook: a notification handed over found no room; it is sent when its lease expires", "delivery_id", d.ID)
	}
}

// Unreserve gives back the place of a row that was not committed.
func (s *Sender) Unreserve() { s.taken.Add(-1); s.roomFreed() }

// Wake makes the sender look for due rows now.
func (s *Sender) Wake() { s.signal() }

// roomFreed wakes the claim loop when it waits for room; otherwise the
// loop sleeps until its poll or a Wake, so that a busy sender does not
// look for due rows after every POST.
func (s *Sender) roomFreed() {
	if s.short.Load() {
		s.signal()
	}
}

func (s *Sender) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// inFlight is how many claimed rows a sender holds at most: sent, queued
// for a worker, or with their outcome being written.
func (s *Sender) inFlight() int { return 4 * s.o.Workers }

// lease is how long a claimed row is this sender's: long enough for every
// row held to wait its turn for a worker and be POSTed (a timeout each),
// with room to record the outcome. A row still held after that (the node
// died) is due again for any node.
func (s *Sender) lease() time.Duration {
	return time.Duration(s.inFlight()/s.o.Workers+1)*s.o.Timeout + 10*time.Second
}

// maxUnwritten bounds the outcomes waiting to be recorded: past it the
// sender takes nothing more until the writer catches up. The outcomes
// are written in batches that queue for the store's writer with the
// calls' own writes; when the calls keep it busy (SQLite at its limit),
// seconds of outcomes wait, and a smaller bound would send the node's
// new rows through claims that wait in the same queue. A process killed
// then sends these notifications again (at least once).
const maxUnwritten = 4096

// depthEvery is how often the queue depth is counted.
const depthEvery = 5 * time.Second

// pruneEvery is how often old rows are deleted, pruneBatch at a time.
const (
	pruneEvery = time.Minute
	pruneBatch = 1000
)

// Run sends until ctx is done. Store errors are logged and retried; it
// returns nil when ctx ends. Deliveries in flight then are abandoned: their
// rows stay pending under a lease, which the next run of this node takes
// back at once (another node's sender after the lease expires), so they are
// sent again.
func (s *Sender) Run(ctx context.Context) error {
	if s.o.OwnerPrefix != "" {
		n, err := s.o.Store.TakeBackDeliveries(ctx, s.o.OwnerPrefix, s.o.Owner, s.o.Now())
		switch {
		case err != nil:
			s.log.Error("webhook: taking back the notifications a previous run left in flight failed; they are sent once their lease expires", "err", err)
		case n > 0:
			s.log.Info("webhook: notifications a previous run of this node left in flight are due again", "count", n)
		}
	}
	s.log.Info("webhook sender running", "global_url", Redact(s.o.URL), "events", s.o.Events, "workers", s.o.Workers,
		"timeout", s.o.Timeout, "retry_for", s.o.RetryFor)

	jobs := make(chan *Delivery)
	results := make(chan Outcome, maxUnwritten)
	done := make(chan struct{}) // closed when every result is written
	// The claim loop and the store's hand-overs count rows taken; workers
	// count rows sent, the writer rows recorded. A worker frees its row's
	// place for the next claim as soon as its POST is over, so the writes
	// (on SQLite, queued behind the calls' own) do not pace the sending;
	// up to maxUnwritten outcomes may wait for the writer.
	var wg sync.WaitGroup
	for range s.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var d *Delivery
				select {
				case d = <-s.local:
				case j, ok := <-jobs:
					if !ok {
						return
					}
					d = j
				}
				out, ok := s.deliver(ctx, d)
				if !ok {
					out = Outcome{ID: -1}
				}
				results <- out
				s.sent.Add(1)
				s.roomFreed()
			}
		}()
	}
	go func() {
		s.writeResults(ctx, results, func(n int) { s.written.Add(int64(n)); s.roomFreed() })
		close(done)
	}()
	// From here the store hands this sender the rows this process writes.
	s.running.Store(true)
	s.o.Store.SetLocalSender(s)

	limit := s.inFlight()
	// A claim waits for an eighth of the places to be free: at a high
	// rate rows are then claimed (a read, then a write transaction) eight
	// or more at a time, not one per POST done, and the claims leave the
	// database to the calls' own writes. An idle sender has every place.
	claimFrom := max(1, limit/8)
	poll := time.NewTicker(s.o.Poll)
	defer poll.Stop()
	var lastDepth, lastPrune time.Time
	// The loop looks for due rows at the poll, on a Wake, when room came
	// back while it waited for room, and after a full claim.
	for ctx.Err() == nil {
		now := s.o.Now()
		if now.Sub(lastDepth) >= depthEvery {
			lastDepth = now
			s.reportDepth(ctx)
		}
		if now.Sub(lastPrune) >= pruneEvery {
			lastPrune = now
			s.prune(ctx, now)
		}
		// Marked short before room is counted, so a place freed while
		// it is counted still wakes the loop.
		s.short.Store(true)
		taken := s.taken.Load()
		inFlight := int(taken - s.sent.Load())
		unwritten := int(taken - s.written.Load())
		room := min(limit-inFlight, maxUnwritten-unwritten)
		if room >= claimFrom {
			s.short.Store(false)
		}
		var ds []*Delivery
		if room >= claimFrom && s.due(ctx, now) {
			// The places are taken before the claim, so hand-overs
			// meanwhile do not pass the limit; the unused are given back.
			s.taken.Add(int64(room))
			var err error
			ds, err = s.o.Store.ClaimDeliveries(ctx, ClaimParams{Owner: s.o.Owner, Now: now, Limit: room, LeaseFor: s.lease()})
			if err != nil && ctx.Err() == nil {
				s.log.Error("webhook: claiming due notifications failed; trying again", "err", err)
			}
			s.taken.Add(int64(len(ds) - room))
		}
		// Hand the claimed rows to the workers. Rows not handed out when
		// ctx ends stay leased and are sent again.
		for i := 0; i < len(ds) && ctx.Err() == nil; {
			select {
			case jobs <- ds[i]:
				i++
			case <-ctx.Done():
			}
		}
		if room > 0 && len(ds) == room {
			continue // a full claim: more may be due now
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-poll.C:
		}
	}
	// Rows handed over from now on, or not yet sent, stay leased to this
	// run: the next run of this node takes them back at once.
	s.running.Store(false)
	s.o.Store.SetLocalSender(nil)
	close(jobs)
	wg.Wait()
	close(results)
	<-done
	s.log.Info("webhook sender stopped")
	return nil
}

// due reports whether a row may be due at now, by a read (no write
// transaction, so no write lock on SQLite, while nothing is due). A failed
// read says yes (the claim then reports the store's error), unless it
// failed because ctx ended.
func (s *Sender) due(ctx context.Context, now time.Time) bool {
	next, ok, err := s.o.Store.NextDelivery(ctx)
	return err != nil && ctx.Err() == nil || ok && !next.After(now)
}

// writeResults records outcomes as they come, as many as have come in one
// transaction, and reports each batch written to wrote. A store that fails
// is tried again; on the way out (ctx done) what remains is written with a
// short deadline of its own, and what cannot be written is sent again
// later.
func (s *Sender) writeResults(ctx context.Context, results <-chan Outcome, wrote func(n int)) {
	var batch []Outcome
	flush := func() {
		var outs []Outcome
		for _, o := range batch {
			if o.ID > 0 {
				outs = append(outs, o)
			}
		}
		for try := 0; len(outs) > 0; try++ {
			wctx, cancel := ctx, context.CancelFunc(func() {})
			if ctx.Err() != nil {
				wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			}
			_, err := s.o.Store.FinishDeliveries(wctx, outs)
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil || try >= 20 {
				s.log.Error("webhook: recording delivery outcomes failed; those notifications are sent again", "count", len(outs), "err", err)
				break
			}
			s.log.Warn("webhook: recording delivery outcomes failed; trying again", "count", len(outs), "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(try+1) * 100 * time.Millisecond):
			}
		}
		wrote(len(batch))
		batch = batch[:0]
	}
	for o := range results {
		batch = append(batch, o)
	drain:
		for len(batch) < 256 {
			select {
			case o, ok := <-results:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		flush()
	}
}

// deliver sends d once and returns its outcome; false when ctx ended
// first (the row is left to be sent again).
func (s *Sender) deliver(ctx context.Context, d *Delivery) (Outcome, bool) {
	out := Outcome{ID: d.ID, Owner: s.o.Owner, Attempts: d.Attempts, Started: s.o.Now()}
	log := s.log.With("delivery_id", d.ID, "request_id", d.RequestID, "status", d.Status, "attempt", d.Attempts)
	var code int
	var err error
	switch d.Channel {
	case ChannelEmail, ChannelSMS:
		log = log.With("reply", d.Channel, "to", d.Address, "via", replyTarget(s.o.Reply, d.Channel))
		if d.Channel == ChannelEmail {
			err = s.sendEmail(ctx, d)
		} else {
			code, err = s.sendSMS(ctx, d)
		}
	default:
		target, secret := s.o.URL, s.o.Secret
		if d.Account != "" {
			target, secret = d.URL, d.Secret
			log = log.With("account", d.Account)
		}
		switch {
		case target == "" && d.Account != "":
			err = fmt.Errorf("%w: account %s has no webhook any more", errNotConfigured, d.Account)
		case target == "":
			err = fmt.Errorf("%w: no global webhook: webhooks.url is not set", errNotConfigured)
		default:
			log = log.With("url", Redact(target))
			code, err = s.post(ctx, target, secret, d)
		}
	}
	if ctx.Err() != nil {
		return out, false
	}
	now := s.o.Now()
	out.At, out.Code = now, code
	if errors.Is(err, errNotConfigured) {
		out.State = StateFailed
		out.Error = whCut(strings.TrimPrefix(err.Error(), errNotConfigured.Error()+": "), 1000)
		log.Error("webhook notification failed: nowhere to send it; configure it, then resend it", "err", out.Error,
			"resend_with", fmt.Sprintf("callbackd webhook resend %d", d.ID))
		s.observe(out, d)
		return out, true
	}
	if err == nil {
		out.State = StateDelivered
		log.Debug("webhook delivered", "code", code, "delay", now.Sub(d.Created))
		s.observe(out, d)
		return out, true
	}
	out.Error = whCut(err.Error(), 1000)
	deadline := d.Queued.Add(s.o.RetryFor)
	if !now.Before(deadline) {
		out.State = StateFailed
		log.Error("webhook notification failed: no 2xx answer within webhooks.retry_for; fix the receiver, then resend it",
			"code", code, "err", out.Error, "retry_for", s.o.RetryFor, "resend_with", fmt.Sprintf("callbackd webhook resend %d", d.ID))
		s.observe(out, d)
		return out, true
	}
	out.State = StatePending
	out.NextAttempt = now.Add(s.backoff(now.Sub(d.Queued)))
	if out.NextAttempt.After(deadline) {
		out.NextAttempt = deadline // one last try at the window's end
	}
	log.Warn("webhook delivery failed; retrying", "code", code, "err", out.Error, "next_attempt", out.NextAttempt.UTC().Format(time.RFC3339))
	s.observe(out, d)
	return out, true
}

// backoff is the wait before the next attempt of a row that has been
// failing for elapsed: as long as it has been failing, so the waits
// double (BackoffMin, BackoffMin, 2×, 4×, ...), up to BackoffMax, less up
// to a fifth at random so that rows that failed together spread out.
func (s *Sender) backoff(elapsed time.Duration) time.Duration {
	d := min(max(elapsed, s.o.BackoffMin), s.o.BackoffMax)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

func (s *Sender) observe(out Outcome, d *Delivery) {
	if s.o.Observer == nil {
		return
	}
	var delay time.Duration
	if out.State == StateDelivered {
		delay = out.At.Sub(d.Created)
	}
	s.o.Observer.Attempted(out.State, delay)
}

// post sends d to target; nil error means a 2xx answer.
func (s *Sender) post(ctx context.Context, target, secret string, d *Delivery) (int, error) {
	typ := TypeStatusChanged
	if d.Status == callback.StatusFinished {
		typ = TypeFinished
	}
	return s.postJSON(ctx, target, secret, d.ID, typ, d.Payload)
}

// postJSON POSTs body to target, signed with secret; nil error means a
// 2xx answer.
func (s *Sender) postJSON(ctx context.Context, target, secret string, id int64, typ string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.o.UserAgent)
	req.Header.Set(DeliveryHeader, fmt.Sprint(id))
	req.Header.Set(EventHeader, typ)
	req.Header.Set(SignatureHeader, Sign([]byte(secret), s.o.Now(), body))
	resp, err := s.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is logged beside, redacted
		}
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, nil
	}
	msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if t := strings.TrimSpace(string(snippet)); t != "" {
		msg += ": " + strings.Join(strings.Fields(t), " ")
	}
	return resp.StatusCode, errors.New(msg)
}

func (s *Sender) reportDepth(ctx context.Context) {
	n, err := s.o.Store.CountDeliveries(ctx, StatePending)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("webhook: counting pending notifications failed", "err", err)
		}
		return
	}
	if s.o.Observer != nil {
		s.o.Observer.QueueDepth(n)
	}
}

// prune deletes rows older than Keep, a batch at a time while batches come
// back full.
func (s *Sender) prune(ctx context.Context, now time.Time) {
	total := 0
	for range 100 {
		n, err := s.o.Store.PruneDeliveries(ctx, now.Add(-s.o.Keep), pruneBatch)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("webhook: deleting old notifications failed", "err", err)
			}
			break
		}
		if n < pruneBatch {
			break
		}
	}
	if total > 0 {
		s.log.Info("webhook: old notifications deleted", "count", total, "keep", s.o.Keep)
	}
}

// Redact drops the userinfo and the query of a URL for the logs and the
// admin surfaces: either may hold a token.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return s
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "..."
	}
	return u.String()
}

func whCut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
