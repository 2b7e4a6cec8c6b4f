package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/callbackd/callbackd/callback"
)

// Every status change of a call is an Update, and every call ends with
// one. At a thousand call ends a second, each in a transaction of its
// own, what the database spends goes to the transaction rather than the
// change: on SQLite each commit writes to the log again the same index
// and table pages the one before wrote; on MariaDB each end is six
// statements (BEGIN, the guarded UPDATE, the history INSERT, the read of
// the request and its webhook, the outbox INSERT, COMMIT), and the
// server's CPU goes to statements. So Updates share transactions, and
// statements, when they come together: the group commit databases do for
// their own log, done here for the statements.
//
// Where the dialect has them share (Dialect.UpdateBatches), at most that
// many transactions of Updates run at once. An Update that finds one free
// runs at once, alone, as an unbatched Update: an idle store adds no
// wait. One that finds none queues; when a transaction ends, the Updates
// queued meanwhile (up to maxUpdateBatch) run together in the next one,
// led by the first of them.
//
// In a batch each member runs its guarded UPDATE, in turn; then the
// history lines of those that matched are one INSERT, their requests and
// webhooks one read, their outbox rows one INSERT, and the requests as
// left, where the outbox did not read them, one read (writeEnds; on a
// database without INSERT ... RETURNING, or for two changes of one
// request, each member's statements in turn). A member whose guarded
// UPDATE matches nothing (its lease lost, its status moved) has written
// nothing, so it fails alone and the others go on. Any other failure
// rolls the whole batch back and every member runs again alone, exactly
// as an unbatched Update, so a fault of one call (a row someone else's
// SQL made unreadable, a trigger refusing it, a panic) stays that call's.
// A batch whose commit answer was lost with its connection is resolved
// member by member, each checking whether its own change took effect.

// maxUpdateBatch bounds the Updates one transaction carries, so a batch
// stays short next to the query timeout.
const maxUpdateBatch = 64

// updateWrite is one Update waiting for, or taking part in, a batch.
type updateWrite struct {
	ctx context.Context
	// write runs the Update's statements in tx when end is nil; its
	// first is the lease-guarded UPDATE, so callback.ErrLeaseLost means
	// nothing was written.
	write func(ctx context.Context, tx *sqlx.Tx) error
	// applied tells, after a lost commit answer, whether write took effect.
	applied func(ctx context.Context, tx *sqlx.Tx) (bool, error)
	// end, when set, is the write in parts, whose last parts a batch's
	// members share (see writeEnds); write is then unused.
	end *endWrite

	wake chan struct{} // closed when next, err and batch are set
	next updateNext
	err  error
	// batch is what the member leads when next is nextLead.
	batch []*updateWrite
}

// endWrite is an Update's write in parts: the guarded UPDATE of its
// request alone, then its history line (and outbox rows), written with
// those of the rest of its batch, then the request as the change left it.
type endWrite struct {
	guard func(ctx context.Context, tx *sqlx.Tx) error
	ev    event
	got   *(*callback.Request)
}

type updateNext int

const (
	nextDone    updateNext = iota // err is the outcome
	nextLead                      // run batch
	nextAlone                     // the batch failed as a whole: run alone
	nextResolve                   // the batch's commit answer was lost
)

// updateBatcher queues the Updates waiting for a transaction.
type updateBatcher struct {
	mu      sync.Mutex
	waiting []*updateWrite
	running int
	// txs and updates count the transactions of Updates and the Updates
	// they carried (UpdateBatching).
	txs, updates atomic.Uint64
}

// UpdateBatching returns how many transactions have carried Updates, and
// how many Updates they carried: updates/txs is the mean batch. (An
// Update run again alone after its batch failed is not counted again.)
func (db *DB) UpdateBatching() (txs, updates uint64) {
	return db.updates.txs.Load(), db.updates.updates.Load()
}

// UpdateQueue returns how many transactions of Updates are running, and
// how many Updates are queued for one.
func (db *DB) UpdateQueue() (running, waiting int) {
	db.updates.mu.Lock()
	defer db.updates.mu.Unlock()
	return db.updates.running, len(db.updates.waiting)
}

// BatchesUpdates reports whether Updates share transactions.
func (db *DB) BatchesUpdates() bool { return db.d.UpdateBatches > 0 }

// runUpdate runs w, in a batch when others are running.
func (db *DB) runUpdate(w *updateWrite) error {
	if db.d.UpdateBatches == 0 {
		return db.alone(w)
	}
	b := &db.updates
	b.mu.Lock()
	if b.running < db.d.UpdateBatches {
		b.running++
		b.mu.Unlock()
		return db.lead(w, []*updateWrite{w})
	}
	w.wake = make(chan struct{})
	b.waiting = append(b.waiting, w)
	b.mu.Unlock()

	// A queued Update waits for its turn at most the query timeout, as it
	// would have waited for a connection, and at most as long as its
	// caller does.
	t := time.NewTimer(db.timeout)
	select {
	case <-w.wake:
		t.Stop()
	case <-w.ctx.Done():
		t.Stop()
		if db.dequeue(w) {
			return w.ctx.Err()
		}
		<-w.wake // taken into a batch already: its outcome follows
	case <-t.C:
		if db.dequeue(w) {
			return db.unavailable(context.DeadlineExceeded)
		}
		<-w.wake
	}
	switch w.next {
	case nextLead:
		return db.lead(w, w.batch)
	case nextAlone:
		return db.alone(w)
	case nextResolve:
		return db.resolveCommit(w.ctx, w.err, db.txOf(w), w.resolver())
	}
	return w.err
}

// dequeue takes w off the queue, reporting whether it was still there.
func (db *DB) dequeue(w *updateWrite) bool {
	b := &db.updates
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.Index(b.waiting, w)
	if i < 0 {
		return false
	}
	b.waiting = slices.Delete(b.waiting, i, i+1)
	return true
}

// lead runs batch, which self is part of, then hands the transaction slot
// on and tells the other members their outcome.
func (db *DB) lead(self *updateWrite, batch []*updateWrite) error {
	if len(batch) == 1 {
		db.updates.txs.Add(1)
		db.updates.updates.Add(1)
		defer db.passOn() // also when the write panics
		return db.alone(self)
	}
	db.runBatch(self.ctx, batch)
	db.passOn()
	for _, w := range batch {
		if w != self {
			close(w.wake)
		}
	}
	switch self.next {
	case nextAlone:
		return db.alone(self)
	case nextResolve:
		return db.resolveCommit(self.ctx, self.err, db.txOf(self), self.resolver())
	}
	return self.err
}

// passOn gives the transaction slot to the Updates queued meanwhile, led
// by the first of them, or frees it.
func (db *DB) passOn() {
	b := &db.updates
	b.mu.Lock()
	if len(b.waiting) == 0 {
		b.running--
		b.mu.Unlock()
		return
	}
	n := min(len(b.waiting), maxUpdateBatch)
	next := slices.Clone(b.waiting[:n])
	rest := copy(b.waiting, b.waiting[n:])
	clear(b.waiting[rest:])
	b.waiting = b.waiting[:rest]
	b.mu.Unlock()
	lead := next[0]
	lead.next, lead.batch = nextLead, next
	close(lead.wake)
}

// runBatch runs batch in one transaction and sets each member's next and
// err. The transaction has the query timeout of its own: the leader's
// caller going away does not fail the others.
func (db *DB) runBatch(parent context.Context, batch []*updateWrite) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), db.timeout)
	defer cancel()
	db.updates.txs.Add(1)
	db.updates.updates.Add(uint64(len(batch)))
	for _, w := range batch {
		w.next, w.err = nextDone, nil
	}
	together := sharesStatements(batch)
	err := db.tryTx(ctx, func(tx *sqlx.Tx) (err error) {
		// A panic becomes an error that rolls the batch back, so that
		// it is raised again where it belongs: in its Update's own
		// goroutine, when that runs again alone, not in the leader's.
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%w: %v", errWritePanicked, p)
			}
		}()
		var ends []*updateWrite
		for _, w := range batch {
			if w.err = w.ctx.Err(); w.err != nil {
				continue // its caller has gone: nothing written for it
			}
			write := db.writeOne
			if together {
				write = guardOnly
			}
			if err := write(ctx, tx, w); err != nil {
				if errors.Is(err, callback.ErrLeaseLost) {
					w.err = err // its UPDATE matched nothing: nothing written
					continue
				}
				return err
			}
			ends = append(ends, w)
		}
		if together {
			return db.writeEnds(ctx, tx, ends)
		}
		return nil
	})
	next := nextDone
	switch {
	case err == nil:
		return
	case ctx.Err() != nil:
		// The database did not answer in time: as for an Update alone,
		// the callers hear it is unavailable.
		err = db.unavailable(err)
	case errors.Is(err, errCommitUnknown):
		next = nextResolve
	default:
		next = nextAlone
	}
	for _, w := range batch {
		w.next, w.err = next, err
	}
}

// sharesStatements reports whether batch's members are all written in
// parts (endWrite), each on a request of its own: then their history
// lines, outbox rows and reads are shared statements (writeEnds).
func sharesStatements(batch []*updateWrite) bool {
	seen := make(map[int64]bool, len(batch))
	for _, w := range batch {
		if w.end == nil || seen[w.end.ev.id] {
			return false
		}
		seen[w.end.ev.id] = true
	}
	return true
}

// writeEnds writes, after their guarded UPDATEs, the history lines of ws
// with their outbox rows, and reads the requests as the changes left them:
// a few statements for all.
func (db *DB) writeEnds(ctx context.Context, tx *sqlx.Tx, ws []*updateWrite) error {
	if len(ws) == 0 {
		return nil
	}
	es := make([]event, len(ws))
	for i, w := range ws {
		es[i] = w.end.ev
	}
	got, err := db.appendEvents(ctx, tx, es)
	if err != nil {
		return err
	}
	var unread []int64
	for i, r := range got {
		if r == nil {
			unread = append(unread, es[i].id)
		}
	}
	if len(unread) > 0 {
		q, args, err := sqlx.In("SELECT "+requestColumns+" FROM callback_requests WHERE i_callback_request IN (?)", unread)
		if err != nil {
			return err
		}
		rs, err := selectRequests(ctx, tx, q, args...)
		if err != nil {
			return err
		}
		byID := make(map[int64]*callback.Request, len(rs))
		for _, r := range rs {
			byID[r.ID] = r
		}
		for i := range got {
			if got[i] == nil {
				if got[i] = byID[es[i].id]; got[i] == nil {
					return fmt.Errorf("request %d: %w", es[i].id, sql.ErrNoRows)
				}
			}
		}
	}
	for i, w := range ws {
		*w.end.got = got[i]
	}
	return nil
}

// errWritePanicked is a member's write that panicked in a batch.
var errWritePanicked = errors.New("update panicked in a batch")

// alone runs w in a transaction of its own, as an Update always did.
func (db *DB) alone(w *updateWrite) error {
	return db.txResolving(w.ctx, db.txOf(w), w.resolver())
}

// writeOne writes w on its own in tx: its guarded UPDATE, then the rest
// as writeEnds does for a batch of one.
func (db *DB) writeOne(ctx context.Context, tx *sqlx.Tx, w *updateWrite) error {
	if w.end == nil {
		return w.write(ctx, tx)
	}
	if err := w.end.guard(ctx, tx); err != nil {
		return err
	}
	return db.writeEnds(ctx, tx, []*updateWrite{w})
}

// guardOnly runs w's guarded UPDATE: the part of a batch's member that is
// its own.
func guardOnly(ctx context.Context, tx *sqlx.Tx, w *updateWrite) error { return w.end.guard(ctx, tx) }

func (db *DB) txOf(w *updateWrite) func(tx *sqlx.Tx) error {
	return func(tx *sqlx.Tx) error { return db.writeOne(w.ctx, tx, w) }
}

func (w *updateWrite) resolver() func(tx *sqlx.Tx) (bool, error) {
	return func(tx *sqlx.Tx) (bool, error) { return w.applied(w.ctx, tx) }
}
