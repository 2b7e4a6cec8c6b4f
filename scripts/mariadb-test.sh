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
# It also sees MARIADB_TEST_PID, the server's process id, so a benchmark
# can read the server's CPU time from /proc. The instance is stopped and
# its directory removed when the script exits, whether the command passed,
# failed or was interrupted.
#
# When MariaDB is not installed it is installed from Debian's packages.
set -euo pipefail

LOG_PREFIX=mariadb-test
# shellcheck source=scripts/lib/mariadb.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/mariadb.sh"
usage_if_empty $#

if ! find_bin mariadbd mysqld >/dev/null; then
	log "MariaDB is not installed"
	install_packages mariadb-server
fi
find_mariadb

PORT=${MARIADB_TEST_PORT:-33306}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/callbackd-mariadb.XXXXXX")
DATA=$WORK/data
SOCKET=$WORK/mariadb.sock
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
init_datadir "$WORK" "${USER_ARGS[@]}"

# start_server starts mariadbd on $PORT and waits until it accepts
# connections. It returns 2 when the port is taken, so the caller can try the
# next one: binding is the only reliable test of a free port.
start_server() {
	: >"$ERRLOG"
	server_args "$WORK" "$PORT"
	"$MARIADBD" "${SERVER_ARGS[@]}" "${USER_ARGS[@]}" \
		--skip-log-bin \
		--innodb-buffer-pool-size=256M >>"$WORK/stderr.log" 2>&1 &
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

create_test_db "$SOCKET"

CALLBACKD_TEST_MYSQL_DSN=$(test_dsn "$PORT")
export CALLBACKD_TEST_MYSQL_DSN
MARIADB_TEST_PID=$SERVER_PID
export MARIADB_TEST_PID
log "MariaDB ready: CALLBACKD_TEST_MYSQL_DSN=$CALLBACKD_TEST_MYSQL_DSN"

# Not exec: the trap must run after the command to stop the server.
"$@"
