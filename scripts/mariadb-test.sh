#!/usr/bin/env bash
# Runs a command against a private, throw-away MariaDB instance.
#
#   scripts/mariadb-test.sh go test -race -count=1 ./...
#
# The instance has its own data directory under a temporary directory, its
# own socket, and listens on 127.0.0.1 only, on MARIADB_TEST_PORT (default
# 33306, or the next free port). It never touches a MariaDB the machine
# already runs. The command sees CALLBACKD_TEST_MYSQL_DSN, the DSN of a
# database it may use, and a user allowed to create and drop every database
# named callbackd_*; the store tests create one such database per test.
# The instance is stopped and its directory removed when the script exits,
# whether the command passed, failed or was interrupted.
#
# When MariaDB is not installed it is installed from Debian's packages.
set -euo pipefail

if [[ $# -eq 0 ]]; then
	echo "usage: $0 command [args...]" >&2
	exit 2
fi

log() { echo "mariadb-test: $*" >&2; }

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

if ! find_bin mariadbd mysqld >/dev/null; then
	log "MariaDB is not installed: installing mariadb-server from Debian's packages"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server
fi

MARIADBD=$(find_bin mariadbd mysqld)
INSTALL_DB=$(find_bin mariadb-install-db mysql_install_db)
CLIENT=$(find_bin mariadb mysql)
ADMIN=$(find_bin mariadb-admin mysqladmin)

PORT=${MARIADB_TEST_PORT:-33306}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/callbackd-mariadb.XXXXXX")
DATA=$WORK/data
SOCKET=$WORK/mariadb.sock
PIDFILE=$WORK/mariadb.pid
ERRLOG=$WORK/error.log
SERVER_PID=

# mariadbd refuses to run as root unless told to; as another user it runs
# as that user, which owns the data directory.
USER_ARGS=()
if [[ $(id -u) -eq 0 ]]; then
	USER_ARGS=(--user=root)
fi

cleanup() {
	local rc=$?
	if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		"$ADMIN" --no-defaults --socket="$SOCKET" -uroot shutdown >/dev/null 2>&1 || true
		# A clean shutdown flushes InnoDB in a second or two; if it hangs,
		# the data is thrown away anyway.
		for _ in $(seq 1 100); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$SERVER_PID" 2>/dev/null; then
			kill -9 "$SERVER_PID" 2>/dev/null || true
		fi
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "initialising a data directory in $DATA"
if ! "$INSTALL_DB" --no-defaults --auth-root-authentication-method=normal \
	--datadir="$DATA" "${USER_ARGS[@]}" --skip-test-db >"$WORK/install.log" 2>&1; then
	cat "$WORK/install.log" >&2
	exit 1
fi

# start_server starts mariadbd on $PORT and waits until it accepts
# connections. It returns 2 when the port is taken, so the caller can try the
# next one: binding is the only reliable test of a free port.
start_server() {
	: >"$ERRLOG"
	# Durability settings are relaxed: the data lives as long as the test
	# run, and an fsync per commit would make the tests measure the disk.
	"$MARIADBD" --no-defaults "${USER_ARGS[@]}" \
		--datadir="$DATA" \
		--socket="$SOCKET" \
		--pid-file="$PIDFILE" \
		--log-error="$ERRLOG" \
		--bind-address=127.0.0.1 \
		--port="$PORT" \
		--skip-name-resolve \
		--skip-log-bin \
		--default-time-zone=+00:00 \
		--character-set-server=utf8mb4 \
		--collation-server=utf8mb4_bin \
		--innodb-flush-log-at-trx-commit=0 \
		--innodb-doublewrite=0 \
		--innodb-buffer-pool-size=256M \
		--max-connections=1000 >>"$WORK/stderr.log" 2>&1 &
	SERVER_PID=$!
	log "starting mariadbd (pid $SERVER_PID) on 127.0.0.1:$PORT"
	for _ in $(seq 1 600); do # 60 s
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			wait "$SERVER_PID" 2>/dev/null || true
			SERVER_PID=
			if grep -q "Address already in use" "$ERRLOG"; then
				return 2
			fi
			log "mariadbd exited during startup:"
			cat "$ERRLOG" >&2 || true
			return 1
		fi
		if "$ADMIN" --no-defaults --socket="$SOCKET" -uroot ping >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	log "mariadbd did not accept connections within 60 s:"
	cat "$ERRLOG" >&2 || true
	return 1
}

for _ in $(seq 1 20); do
	rc=0
	start_server || rc=$?
	case $rc in
	0) break ;;
	2)
		log "port $PORT is taken; trying $((PORT + 1))"
		PORT=$((PORT + 1))
		;;
	*) exit 1 ;;
	esac
done
if [[ $rc -ne 0 ]]; then
	log "no free port found up to $PORT"
	exit 1
fi

DB_USER=callbackd
DB_PASS=callbackd
DB_NAME=callbackd_test
"$CLIENT" --no-defaults --socket="$SOCKET" -uroot <<SQL
CREATE DATABASE $DB_NAME;
CREATE USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON \`callbackd\\_%\`.* TO '$DB_USER'@'127.0.0.1';
SQL

export CALLBACKD_TEST_MYSQL_DSN="$DB_USER:$DB_PASS@tcp(127.0.0.1:$PORT)/$DB_NAME"
log "MariaDB ready: CALLBACKD_TEST_MYSQL_DSN=$CALLBACKD_TEST_MYSQL_DSN"

# Not exec: the trap must run after the command to stop the server.
"$@"
