package mysql

import (
	"context"

	"github.com/callbackd/callbackd/store/internal/sqlstore"
)

// OpenAsMySQL opens the store as it runs on a server without INSERT ...
// RETURNING (MySQL), so the suite covers that path on MariaDB too.
func OpenAsMySQL(ctx context.Context, dsn string) (*DB, error) {
	return open(ctx, dsn, Options{}, func(d *sqlstore.Dialect) { d.Returning = false })
}
