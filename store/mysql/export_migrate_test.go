package mysql

import (
	"context"
	"database/sql"
	"io/fs"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
)

// MigrateUpTo applies the migrations up to version to the database of dsn
// and returns a handle on it, as an older callbackd would have left it.
func MigrateUpTo(ctx context.Context, dsn string, version int64) (*sql.DB, error) {
	cfg, err := config(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectMySQL, db, sub,
		goose.WithTableName("callbackd_schema_version"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
