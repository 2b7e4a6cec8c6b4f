# shellcheck shell=bash
# What scripts/mariadb-test.sh and scripts/galera-test.sh share, sourced by
# both: finding (and, when missing, installing) MariaDB, a fresh data
# directory, the server options of a throw-away instance on 127.0.0.1, and
# the test database and user that CALLBACKD_TEST_MYSQL_DSN names.
#
# The sourcing script sets LOG_PREFIX (the name its messages start with)
# before sourcing, and runs with set -euo pipefail.

log() { echo "$LOG_PREFIX: $*" >&2; }

# usage_if_empty exits with the usage line when the script was given no
# command to run.
usage_if_empty() {
	if [[ $1 -eq 0 ]]; then
		echo "usage: $0 command [args...]" >&2
		exit 2
	fi
}

# sudo only when we are not root: CI and containers run as root without it.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	else
		sudo "$@"
	fi
}

# find_bin prints the path of the first of the given programs that exists.
# Debian keeps the server in /usr/sbin, which a normal user's PATH may lack.
find_bin() {
	local name
	for name in "$@"; do
		if command -v "$name" >/dev/null 2>&1; then
			command -v "$name"
			return 0
		fi
		if [[ -x /usr/sbin/$name ]]; then
			echo "/usr/sbin/$name"
			return 0
		fi
	done
	return 1
}

# install_packages installs the given Debian packages.
install_packages() {
	log "installing $* from Debian's packages"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

# find_mariadb sets MARIADBD, INSTALL_DB, CLIENT and ADMIN.
find_mariadb() {
	MARIADBD=$(find_bin mariadbd mysqld)
	INSTALL_DB=$(find_bin mariadb-install-db mysql_install_db)
	CLIENT=$(find_bin mariadb mysql)
	ADMIN=$(find_bin mariadb-admin mysqladmin)
}

# init_datadir <dir> [args...] creates the system tables in <dir>/data;
# args are more options of mariadb-install-db (--user=...). Its output
# goes to <dir>/install.log, shown on failure.
init_datadir() {
	local dir=$1
	shift
	mkdir -p "$dir/data"
	if ! "$INSTALL_DB" --no-defaults --auth-root-authentication-method=normal \
		--datadir="$dir/data" "$@" --skip-test-db >"$dir/install.log" 2>&1; then
		cat "$dir/install.log" >&2
		exit 1
	fi
}

# server_args <dir> <port> sets SERVER_ARGS, the options of a mariadbd
# whose data, socket, pid file and error log are under <dir>, listening
# on 127.0.0.1:<port>. Durability settings are relaxed: the data lives as
# long as the test run, and an fsync per commit would make the tests
# measure the disk. The caller adds its own (memory, replication).
server_args() {
	local dir=$1 port=$2
	SERVER_ARGS=(--no-defaults
		--datadir="$dir/data"
		--socket="$dir/mariadb.sock"
		--pid-file="$dir/mariadb.pid"
		--log-error="$dir/error.log"
		--bind-address=127.0.0.1
		--port="$port"
		--skip-name-resolve
		--default-time-zone=+00:00
		--character-set-server=utf8mb4
		--collation-server=utf8mb4_bin
		--innodb-flush-log-at-trx-commit=0
		--innodb-doublewrite=0
		--max-connections=1000)
}

# The test database and its user: allowed to create and drop every
# database named callbackd_*, as the store tests do one per test.
DB_USER=callbackd
DB_PASS=callbackd
DB_NAME=callbackd_test

# create_test_db <socket> creates DB_NAME and DB_USER through the server
# of <socket> (on Galera, DDL and account statements replicate).
create_test_db() {
	"$CLIENT" --no-defaults --socket="$1" -uroot <<SQL
CREATE DATABASE $DB_NAME;
CREATE USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON \`callbackd\\_%\`.* TO '$DB_USER'@'127.0.0.1';
SQL
}

# test_dsn <port> prints the DSN of the test database on 127.0.0.1:<port>.
test_dsn() {
	echo "$DB_USER:$DB_PASS@tcp(127.0.0.1:$1)/$DB_NAME"
}
