// Package mysql is the shared store: callback.Store over MariaDB 10.6+ or
// MySQL 8, through go-sql-driver/mysql. Several callbackd nodes use one
// database; claims lock rows with FOR UPDATE SKIP LOCKED so no two nodes
// dial the same request.
//
// The queries are store/internal/sqlstore's; this package opens the pool,
// applies the MariaDB/MySQL migrations and supplies the dialect.
// Timestamps are DATETIME(3) in UTC: the connection's time_zone is forced
// to +00:00 and time.Time values are read and written in UTC.
package mysql

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/internal/sqlstore"
	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the MariaDB/MySQL store.
type DB struct {
	*sqlstore.DB
}

var _ callback.Store = (*DB)(nil)

// config returns the driver configuration Open uses for dsn: the caller's
// DSN ("user:pass@tcp(host:3306)/callbackd") with the settings the store
// relies on forced on.
func config(dsn string) (*mysql.Config, error) {
	dsn, addrs := splitAddrs(dsn)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse MySQL DSN: %w", err)
	}
	if len(addrs) > 1 {
		cfg.DialFunc = newFailover(addrs).dial
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("parse MySQL DSN: no database name: %w", callback.ErrInvalid)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	// Guarded updates count matched rows, not changed ones: renewing a
	// lease to the expiry it already has must not read as a lost lease.
	cfg.ClientFoundRows = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// DATETIME has no zone; the session's clock (defaults, UTC_TIMESTAMP
	// aside) must agree with the UTC values the store writes.
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	// Placeholders are filled in by the driver, so a query is one round
	// trip instead of prepare, execute and close: a claim transaction is
	// five statements, and round trips are what bounds claims per second.
	// The driver refuses this for the few multi-byte character sets where
	// it would be unsafe; those connections prepare as before. (The hot
	// statements of the trigger path are prepared once per connection and
	// kept, see sqlstore.Dialect.PrepareOnce: one round trip each too.)
	cfg.InterpolateParams = true
	if _, err := mysql.NewConnector(cfg); err != nil {
		cfg.InterpolateParams = false
	}
	return cfg, nil
}

// DefaultMaxConns is how many connections a store keeps to the server.
// Every query of callbackd is short, so a few connections serve the
// dispatcher, the triggers and the HTTP surfaces; more of them only make
// the server switch between threads (on two cores 8 gave about 15 % more
// triggers per second than 32). SetMaxConns changes it.
const DefaultMaxConns = 8

// DefaultQueryTimeout bounds a store call when Options.QueryTimeout is
// zero; the embedded store has the same.
const DefaultQueryTimeout = sqlstore.DefaultQueryTimeout

// SetMaxConns sets how many connections the store may hold open; n <= 0
// keeps the current number.
func (db *DB) SetMaxConns(n int) {
	if n <= 0 {
		return
	}
	db.RawDB().SetMaxOpenConns(n)
	db.RawDB().SetMaxIdleConns(n)
}

// Options are the settings of a store beyond its DSN.
type Options struct {
	// QueryTimeout bounds every store call (database.query_timeout);
	// zero means sqlstore.DefaultQueryTimeout. It is also the connection's
	// read and write timeout and its lock_wait_timeout, unless the DSN sets
	// them, so a server that accepts connections and never answers cannot
	// hold a statement longer than that either.
	QueryTimeout time.Duration
}

// Open connects to the database named in dsn, brings its schema up to date
// and returns the store. The database must exist; the user needs the
// privileges to create tables and triggers in it.
func Open(ctx context.Context, dsn string) (*DB, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (*DB, error) {
	return open(ctx, dsn, o, nil)
}

// open is OpenWith with the dialect, as found for the server, passed
// through adjust when it is not nil.
func open(ctx context.Context, dsn string, o Options, adjust func(*sqlstore.Dialect)) (*DB, error) {
	cfg, err := config(dsn)
	if err != nil {
		return nil, err
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = sqlstore.DefaultQueryTimeout
	}
	// Migrations (and the wait for another process's migration lock) may
	// take longer than any query of the running store, so they run on a
	// pool of their own without the query timeout.
	if err := migrateDSN(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open MySQL %s/%s: %w", cfg.Addr, cfg.DBName, err)
	}
	cfg = cfg.Clone()
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = o.QueryTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = o.QueryTimeout
	}
	if _, ok := cfg.Params["lock_wait_timeout"]; !ok {
		cfg.Params["lock_wait_timeout"] = strconv.Itoa(max(1, int((o.QueryTimeout+time.Second-1)/time.Second)))
	}
	db, err := openPool(cfg)
	if err != nil {
		return nil, err
	}
	vctx, cancel := context.WithTimeout(ctx, o.QueryTimeout)
	defer cancel()
	var version string
	if err := db.QueryRowContext(vctx, "SELECT VERSION()").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("open MySQL %s/%s: server version: %w", cfg.Addr, cfg.DBName, err)
	}
	d := dialect
	d.Returning = hasReturning(version)
	if d.Returning {
		// MariaDB: statements outside transactions read READ COMMITTED
		// too, as the transactions do (Dialect.Isolation). Then the
		// trigger's INSERT ... SELECT (CreateRequestForNewCaller) reads
		// the rows it checks without locking them: under REPEATABLE READ
		// it would take shared gap locks on callback_requests' CLI index,
		// and two such inserts of new callers into one gap wait for each
		// other. MariaDB names the variable tx_isolation in every version
		// (MySQL 8 only transaction_isolation).
		db.Close()
		cfg.Params["tx_isolation"] = "'READ-COMMITTED'"
		if db, err = openPool(cfg); err != nil {
			return nil, err
		}
		// Every connection starts at the isolation the transactions
		// want, so a transaction begins without naming it: the driver
		// would send SET TRANSACTION ISOLATION LEVEL before each one,
		// a round trip more for every write (one in seven statements
		// of the end of a call).
		d.Isolation = sql.LevelDefault
	}
	if adjust != nil {
		adjust(&d)
	}
	return &DB{sqlstore.New(sqlstore.Config{Dialect: d, Writer: db, QueryTimeout: o.QueryTimeout})}, nil
}

// openPool returns the store's connection pool for cfg.
func openPool(cfg *mysql.Config) (*sql.DB, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("open MySQL %s: %w", cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	// Recycled so a fail-over or a server restart is absorbed.
	db.SetMaxOpenConns(DefaultMaxConns)
	db.SetMaxIdleConns(DefaultMaxConns)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// migrateDSN brings the schema of the database cfg names up to date on a
// pool that is closed afterwards.
func migrateDSN(ctx context.Context, cfg *mysql.Config) error {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	if galera, err := isGalera(ctx, db); err != nil {
		return err
	} else if galera {
		// Reads on a Galera node wait for what the cluster committed
		// before them, or goose may miss the version row another node
		// wrote and apply a migration twice.
		db.Close()
		if db, err = syncedDB(cfg); err != nil {
			return err
		}
		defer db.Close()
	}
	return migrate(ctx, db)
}

// hasReturning reports whether the server whose VERSION() is version
// accepts INSERT ... RETURNING: MariaDB does since 10.5, MySQL does not.
func hasReturning(version string) bool {
	if !strings.Contains(strings.ToLower(version), "mariadb") {
		return false
	}
	// "10.11.19-MariaDB-0+deb12u1"; the "5.5.5-" that MariaDB 10 puts
	// before its version in the handshake is dropped should it appear.
	version = strings.TrimPrefix(version, "5.5.5-")
	fields := strings.FieldsFunc(version, func(r rune) bool { return r < '0' || r > '9' })
	if len(fields) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(fields[0])
	minor, err2 := strconv.Atoi(fields[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 10 || major == 10 && minor >= 5
}

func migrate(ctx context.Context, db *sql.DB) error {
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	err = sqlstore.Migrate(ctx, db, goose.DialectMySQL, sub, lockMigrations, triggersAllowed)
	if needSuper(err) {
		return fmt.Errorf("%w: %s", err, needSuperHint)
	}
	return err
}

const needSuperHint = "callbackd's schema has triggers (the request history, the dashboard's totals), and with binary " +
	"logging on the server lets only a user with SUPER or BINLOG ADMIN create them: set log_bin_trust_function_creators=1 " +
	"on the server (or grant BINLOG ADMIN to this user), then start again"

func needSuper(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == errNeedSuper
}

// triggersAllowed runs before pending migrations: on a server whose binary
// log is on, without log_bin_trust_function_creators, it creates a trigger
// on a table of its own to learn whether this user may. A migration that
// stopped at its CREATE TRIGGER would leave the tables it had created,
// which the next run could not create again.
func triggersAllowed(ctx context.Context, db *sql.DB) error {
	var logBin, trust int
	if err := db.QueryRowContext(ctx, "SELECT @@log_bin, @@log_bin_trust_function_creators").Scan(&logBin, &trust); err != nil {
		return fmt.Errorf("read log_bin: %w", err)
	}
	if logBin == 0 || trust == 1 {
		return nil
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS callbackd_trigger_probe (id INT)"); err != nil {
		return fmt.Errorf("trigger probe: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS callbackd_trigger_probe")
	_, err = conn.ExecContext(ctx, "CREATE TRIGGER callbackd_trigger_probe_t BEFORE INSERT ON callbackd_trigger_probe FOR EACH ROW SET NEW.id = NEW.id")
	if needSuper(err) {
		return fmt.Errorf("binary logging is on and this user may not create triggers, so nothing was migrated: %w", err)
	}
	if err != nil {
		return fmt.Errorf("trigger probe: %w", err)
	}
	return nil
}

// errNeedSuper is ER_BINLOG_CREATE_ROUTINE_NEED_SUPER: CREATE TRIGGER by a
// user without SUPER while binary logging is on.
const errNeedSuper = 1419

// lockMigrations takes a named lock (GET_LOCK) per database on a
// connection of its own: a second process opening the store waits for the
// first to finish migrating. The server releases the lock if that
// connection dies with the process.
func lockMigrations(ctx context.Context, db *sql.DB) (func() error, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+migrationLockName+", 300)").Scan(&got); err != nil {
		conn.Close()
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	if got.Int64 != 1 {
		conn.Close()
		return nil, errors.New("migration lock: another process has been migrating this database for 5 minutes")
	}
	return func() error {
		defer conn.Close()
		// The caller's context may be done; the lock must go anyway.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK("+migrationLockName+")"); err != nil {
			return fmt.Errorf("migration unlock: %w", err)
		}
		return nil
	}, nil
}

// migrationLockName hashes the database name because lock names are
// limited to 64 characters.
const migrationLockName = "SHA1(CONCAT('callbackd migrate ', DATABASE()))"

// MySQL server error numbers the store acts on.
const (
	errConCount        = 1040 // ER_CON_COUNT_ERROR: too many connections
	errServerShutdown  = 1053 // ER_SERVER_SHUTDOWN
	errDupEntry        = 1062 // ER_DUP_ENTRY
	errQueryKilled     = 1317 // ER_QUERY_INTERRUPTED
	errLockWaitTimeout = 1205 // ER_LOCK_WAIT_TIMEOUT (also lock_wait_timeout for table locks)
	errDeadlock        = 1213 // ER_LOCK_DEADLOCK
	errReadOnly        = 1290 // ER_OPTION_PREVENTS_STATEMENT (--read-only, a replica)
	errConnKilled      = 1927 // ER_CONNECTION_KILLED (MariaDB)
	errStatementTime   = 1969 // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
	errExecutionTime   = 3024 // ER_QUERY_TIMEOUT (MySQL max_execution_time)
)

func serverError(err error) uint16 {
	var e *mysql.MySQLError
	if errors.As(err, &e) {
		return e.Number
	}
	return 0
}

var dialect = sqlstore.Dialect{
	Name:        "mysql",
	PrepareOnce: true,
	LockRows:    " FOR UPDATE",
	SkipLocked:  " FOR UPDATE SKIP LOCKED",
	Isolation:   sql.LevelReadCommitted,
	// Half the default pool: the Updates of call ends share
	// transactions and statements (see sqlstore.Dialect.UpdateBatches).
	UpdateBatches: DefaultMaxConns / 2,
	Time:          func(t time.Time) any { return t },
	BadTime:       func(col string) string { return col + " < '1970-01-01'" },
	Upsert: func(_, cols []string) string {
		set := make([]string, len(cols))
		for i, c := range cols {
			set[i] = c + " = VALUES(" + c + ")"
		}
		return " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	},
	IsUnique: func(err error) bool { return serverError(err) == errDupEntry },
	IsRetryable: func(err error) bool {
		n := serverError(err)
		return n == errDeadlock || n == errLockWaitTimeout || isAbortedTriggerLoad(err)
	},
	IsUnavailable: func(err error) bool {
		if errors.Is(err, mysql.ErrInvalidConn) {
			return true
		}
		switch serverError(err) {
		case errConCount, errServerShutdown, errQueryKilled, errLockWaitTimeout, errDeadlock, errReadOnly,
			errConnKilled, errStatementTime, errExecutionTime:
			return true
		}
		return false
	},
}
