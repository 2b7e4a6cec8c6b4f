#!/usr/bin/env bash
# Runs a command against a private, throw-away 3-node MariaDB Galera cluster.
#
#   scripts/galera-test.sh go test -race -count=1 ./store/...
#
# Three mariadbd processes with the Galera provider form one cluster on
# 127.0.0.1: each has its own data directory under a temporary directory,
# its own socket, and its own client, group communication (base_port), IST
# and SST ports, allocated from GALERA_TEST_PORT (default: a free block
# picked at random). The first node bootstraps the cluster
# (--wsrep-new-cluster), the others join it by state transfer (rsync) one
# after the other; the command runs once all three report
# wsrep_cluster_size 3 and Synced. It never touches a MariaDB the machine
# already runs.
#
# The command sees
#   CALLBACKD_TEST_MYSQL_DSN    the DSN of node 1, like scripts/mariadb-test.sh
#                               (the user may create and drop every database
#                               named callbackd_*)
#   CALLBACKD_TEST_GALERA_DSNS  the DSNs of the three nodes, comma-separated,
#                               same user and database
#   CALLBACKD_TEST_GALERA_PIDS  the process ids of the three mariadbd,
#                               comma-separated, for tests that kill one
# The cluster is stopped and its directory removed when the script exits,
# whether the command passed, failed or was interrupted.
#
# mariadbd runs as the mysql user (rsync's SST daemon runs as the server's
# user and must enter the data directories). When MariaDB or Galera is not
# installed they are installed from Debian's packages (mariadb-server,
# galera-4, rsync).
set -euo pipefail

LOG_PREFIX=galera-test
# shellcheck source=scripts/lib/mariadb.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/mariadb.sh"
usage_if_empty $#

PROVIDER=/usr/lib/galera/libgalera_smm.so
if ! find_bin mariadbd >/dev/null || [[ ! -f $PROVIDER ]] || ! command -v rsync >/dev/null 2>&1; then
	install_packages mariadb-server galera-4 rsync
fi
find_mariadb

# The servers run as mysql; as another user (no root) they run as that
# user, which then owns everything.
RUN_USER=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
	RUN_USER=mysql
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/callbackd-galera.XXXXXX")
# mktemp makes it 700: the server's user must get in.
chmod 755 "$WORK"
PIDS=(0 0 0)
PGIDS=(0 0 0)
NODES=3
# How long a node may take to start and sync (seconds).
START_TIMEOUT=${GALERA_TEST_START_TIMEOUT:-120}

stop_node() {
	local i=$1 pid=${PIDS[$1]}
	[[ $pid -gt 0 ]] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		"$ADMIN" --no-defaults --socket="$WORK/n$i/mariadb.sock" -uroot shutdown >/dev/null 2>&1 &
		local admin=$!
		for _ in $(seq 1 150); do # 15 s
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		kill "$admin" 2>/dev/null || true
		wait "$admin" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	PIDS[$i]=0
}

cleanup() {
	local rc=$?
	local i
	# The joiners first, the bootstrap node last: a cluster shrinking
	# node by node stops cleanly.
	for ((i = NODES - 1; i >= 0; i--)); do
		stop_node "$i"
	done
	# Each node leads a process group of its own (setsid): whatever it
	# started (an SST script, its rsync daemon) goes with it.
	for ((i = 0; i < NODES; i++)); do
		[[ ${PGIDS[$i]} -gt 0 ]] && kill -9 -- "-${PGIDS[$i]}" 2>/dev/null || true
	done
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Twelve ports per cluster: client, group communication, IST and SST for
# each node.
pick_base() {
	local base
	for _ in $(seq 1 50); do
		base=${GALERA_TEST_PORT:-$((20000 + (RANDOM % 2000) * 12))}
		local ok=1 p
		for ((p = base; p < base + 12; p++)); do
			port_free "$p" || { ok=0; break; }
		done
		if [[ $ok -eq 1 ]]; then
			echo "$base"
			return 0
		fi
		[[ -z ${GALERA_TEST_PORT:-} ]] || break
	done
	return 1
}

BASE=$(pick_base) || { log "no free block of 12 ports found"; exit 1; }
port() { echo $((BASE + $2 * 4 + $1)); } # port <kind 0..3> <node>
client_port() { port 0 "$1"; }
GCOMM=gcomm://127.0.0.1:$(port 1 0),127.0.0.1:$(port 1 1),127.0.0.1:$(port 1 2)

for ((i = 0; i < NODES; i++)); do
	mkdir -p "$WORK/n$i/data"
done
log "initialising node 1's data directory under $WORK"
init_datadir "$WORK/n0" --user="$RUN_USER"
if [[ $(id -u) -eq 0 ]]; then
	chown -R mysql: "$WORK"/n0 "$WORK"/n1 "$WORK"/n2
fi

start_node() {
	local i=$1
	shift
	local dir=$WORK/n$i
	: >"$dir/error.log"
	local ist sst gport
	gport=$(port 1 "$i")
	ist=$(port 2 "$i")
	sst=$(port 3 "$i")
	# The options of every throw-away server (lib/mariadb.sh); Galera
	# itself needs row-based replication, interleaved auto-increment
	# locks and InnoDB.
	server_args "$dir" "$(client_port "$i")"
	setsid "$MARIADBD" "${SERVER_ARGS[@]}" --user="$RUN_USER" \
		--innodb-buffer-pool-size=128M \
		--innodb-log-file-size=48M \
		--binlog-format=ROW \
		--default-storage-engine=InnoDB \
		--innodb-autoinc-lock-mode=2 \
		--wsrep-on=ON \
		--wsrep-provider="$PROVIDER" \
		--wsrep-cluster-name=callbackd_test \
		--wsrep-cluster-address="$GCOMM" \
		--wsrep-node-name="node$((i + 1))" \
		--wsrep-node-address="127.0.0.1:$gport" \
		--wsrep-node-incoming-address="127.0.0.1:$(client_port "$i")" \
		--wsrep-provider-options="base_port=$gport;ist.recv_addr=127.0.0.1:$ist;gcache.size=64M;evs.inactive_timeout=PT6S;evs.suspect_timeout=PT3S" \
		--wsrep-sst-method=rsync \
		--wsrep-sst-receive-address="127.0.0.1:$sst" \
		--wsrep-slave-threads=2 \
		--log-bin-trust-function-creators=1 \
		"$@" >>"$dir/stderr.log" 2>&1 &
	PIDS[$i]=$!
	PGIDS[$i]=$!
	log "starting node $((i + 1)) (pid ${PIDS[$i]}) on 127.0.0.1:$(client_port "$i"), galera $gport, IST $ist, SST $sst"
}

sql() { # sql <node> <statement>
	"$CLIENT" --no-defaults --socket="$WORK/n$1/mariadb.sock" -uroot -N -B -e "$2" 2>/dev/null
}

# wait_synced waits until node i is Synced in a cluster of at least want
# nodes.
wait_synced() {
	local i=$1 want=$2 state size
	local deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
			log "node $((i + 1)) exited during startup:"
			tail -n 40 "$WORK/n$i/error.log" "$WORK/n$i/stderr.log" >&2 || true
			return 1
		fi
		state=$(sql "$i" "SHOW STATUS LIKE 'wsrep_local_state_comment'" | cut -f2 || true)
		size=$(sql "$i" "SHOW STATUS LIKE 'wsrep_cluster_size'" | cut -f2 || true)
		if [[ $state == Synced && ${size:-0} -ge $want ]]; then
			return 0
		fi
		sleep 0.5
	done
	log "node $((i + 1)) not Synced in a cluster of $want within $START_TIMEOUT s (state '$state', size '$size'):"
	tail -n 40 "$WORK/n$i/error.log" >&2 || true
	return 1
}

started=$SECONDS
start_node 0 --wsrep-new-cluster
wait_synced 0 1
# One joiner at a time: the donor serves one state transfer at once.
# A joiner whose state transfer failed aborts; it gets one more try from
# an empty data directory.
for ((i = 1; i < NODES; i++)); do
	start_node "$i"
	if ! wait_synced "$i" $((i + 1)); then
		stop_node "$i"
		log "node $((i + 1)): trying again from an empty data directory"
		rm -rf "$WORK/n$i/data" && mkdir -p "$WORK/n$i/data"
		[[ $(id -u) -ne 0 ]] || chown -R mysql: "$WORK/n$i"
		start_node "$i"
		wait_synced "$i" $((i + 1))
	fi
done
for ((i = 0; i < NODES; i++)); do
	wait_synced "$i" "$NODES"
done
log "cluster of $NODES Synced in $((SECONDS - started)) s"

# DDL and account statements replicate to every node.
create_test_db "$WORK/n0/mariadb.sock"

dsns=()
for ((i = 0; i < NODES; i++)); do
	dsns+=("$(test_dsn "$(client_port "$i")")")
done
export CALLBACKD_TEST_MYSQL_DSN=${dsns[0]}
CALLBACKD_TEST_GALERA_DSNS=$(IFS=,; echo "${dsns[*]}")
CALLBACKD_TEST_GALERA_PIDS=$(IFS=,; echo "${PIDS[*]}")
export CALLBACKD_TEST_GALERA_DSNS CALLBACKD_TEST_GALERA_PIDS
log "Galera ready: CALLBACKD_TEST_GALERA_DSNS=$CALLBACKD_TEST_GALERA_DSNS"

# Not exec: the trap must run after the command to stop the cluster.
"$@"
