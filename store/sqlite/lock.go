package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"time"
)

// SQLite has no named locks, so the migration lock is a row in a table of
// its own: whoever inserts the row holds the lock. The row expires, so a
// process killed while migrating does not block the file for ever; the
// lease is far longer than migrating an embedded database takes. The lock
// statements run outside any transaction on the pool's single writer
// connection, which goose needs for the migrations themselves.
const (
	migrationLease = 2 * time.Minute
	migrationWait  = 5 * time.Minute
	migrationPoll  = 50 * time.Millisecond
	// lockTime has a fixed width, so text order is time order.
	lockTime = "2006-01-02 15:04:05.000"
)

func lockMigrations(ctx context.Context, db *sql.DB) (func() error, error) {
	// The owner names the holder for whoever finds the lock held.
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text())
	ctx, cancel := context.WithTimeout(ctx, migrationWait)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS callbackd_schema_lock (
		id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT NOT NULL, expires TEXT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	for {
		now := time.Now().UTC()
		res, err := db.ExecContext(ctx, `INSERT INTO callbackd_schema_lock (id, owner, expires) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
			WHERE callbackd_schema_lock.expires < ?`,
			owner, now.Add(migrationLease).Format(lockTime), now.Format(lockTime))
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		} else if n == 1 {
			break
		}
		t := time.NewTimer(migrationPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("migration lock: another process is migrating this database: %w", ctx.Err())
		case <-t.C:
		}
	}
	return func() error {
		if _, err := db.ExecContext(context.WithoutCancel(ctx), "DELETE FROM callbackd_schema_lock WHERE owner = ?", owner); err != nil {
			return fmt.Errorf("migration unlock: %w", err)
		}
		return nil
	}, nil
}
