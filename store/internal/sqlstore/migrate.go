package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// MigrationLock serialises migrations between processes: Lock returns once
// this process holds the lock, with the function that releases it.
type MigrationLock func(ctx context.Context, db *sql.DB) (release func() error, err error)

// Migrate applies the migrations in fsys (goose SQL files at its root) to
// db while holding lock, so two processes starting at once apply each
// migration exactly once.
//
// The lock is taken around the whole goose run rather than handed to goose
// as its session locker: goose's Up first checks for pending migrations
// without its locker and creates its version table there, which on MySQL
// (where DDL commits at once) lets a concurrent process see the table
// before its first row and fail with "missing zero version migration".
//
// The applied versions are kept in callbackd_schema_version, a name of our
// own so that a database shared with another goose-migrated application
// keeps the two histories apart.
//
// before, when not nil, runs under the lock when migrations are pending,
// before the first: a check that refuses what would fail half-way.
func Migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, fsys fs.FS, lock MigrationLock, before func(context.Context, *sql.DB) error) (err error) {
	p, err := goose.NewProvider(dialect, db, fsys,
		goose.WithTableName("callbackd_schema_version"),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	release, err := lock(ctx, db)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if rerr := release(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("migrate: %w", rerr))
		}
	}()
	if before != nil {
		pending, err := p.HasPending(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if pending {
			if err := before(ctx, db); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
