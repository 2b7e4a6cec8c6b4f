package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"
)

// SQLite's query planner chooses indexes by the table statistics that
// ANALYZE keeps in sqlite_stat1; with none it guesses, and over a large
// table a guess can cost seconds (an account's few requests among a
// million found by walking the status index through every Finished row).
// As SQLite's documentation asks of applications that keep their
// connections open, the store runs PRAGMA optimize when it opens and every
// optimizeEvery after that, on the writer, each run bounded by
// analysisLimit rows examined per index so it stays quick on any size.

const (
	optimizeEvery = time.Hour
	analysisLimit = 1000
)

// Optimize refreshes the table statistics the query planner uses (PRAGMA
// optimize, checking every table), as the store does by itself at open and
// every hour.
func (db *DB) Optimize(ctx context.Context) error {
	if _, err := db.writer.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		return fmt.Errorf("sqlite optimize: %w", err)
	}
	return nil
}

// optimizeLoop runs Optimize every optimizeEvery until stop is closed. A
// failure is logged and the next run tries again: the statistics only
// guide the planner, no query depends on them.
func (db *DB) optimizeLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(optimizeEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := db.Optimize(ctx); err != nil {
				slog.Warn("sqlite: refreshing the query planner's statistics failed; trying again in an hour", "err", err)
			}
			cancel()
		}
	}
}

// startOptimizer refreshes the statistics now and starts the hourly runs.
func (db *DB) startOptimizer(ctx context.Context, writer *sql.DB) error {
	db.writer = writer
	if err := db.Optimize(ctx); err != nil {
		return err
	}
	db.stop, db.stopped = make(chan struct{}), make(chan struct{})
	go db.optimizeLoop(db.stop, db.stopped)
	return nil
}

// Close stops the hourly statistics runs and closes the store.
func (db *DB) Close() error {
	if db.stop != nil {
		close(db.stop)
		<-db.stopped
		db.stop = nil
	}
	return db.DB.Close()
}
