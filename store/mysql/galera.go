package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// isGalera reports whether the server is a node of a Galera cluster
// (wsrep_on is ON; MySQL has no such variable).
func isGalera(ctx context.Context, db *sql.DB) (bool, error) {
	var name, value string
	err := db.QueryRowContext(ctx, "SHOW VARIABLES LIKE 'wsrep_on'").Scan(&name, &value)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("wsrep_on: %w", err)
	}
	return strings.EqualFold(value, "ON"), nil
}

// syncedDB opens a pool on cfg whose reads see every transaction the
// cluster committed before them (wsrep_sync_wait = 1).
func syncedDB(cfg *mysql.Config) (*sql.DB, error) {
	cfg = cfg.Clone()
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["wsrep_sync_wait"] = "1"
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// errParse is ER_PARSE_ERROR.
const errParse = 1064

// isAbortedTriggerLoad reports the error a Galera node returns when a
// transaction is aborted by a conflicting write set from another node
// while the statement is loading the table's triggers: the interrupted
// parse is reported as a syntax error in a trigger body ("Trigger '...'
// has an error in its body"). The schema's triggers parse, so this is the
// conflict, and the transaction is run again like any other deadlock.
func isAbortedTriggerLoad(err error) bool {
	var e *mysql.MySQLError
	return errors.As(err, &e) && e.Number == errParse && strings.Contains(e.Message, "has an error in its body")
}
