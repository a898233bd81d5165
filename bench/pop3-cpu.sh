#!/usr/bin/env bash
# pop3-cpu.sh DATADIR USERS PORT CLIENTS SECS BINDIR...: CPU per RETR of
# builds of Pochta's POP3 server, interleaved. For each BINDIR in turn
# (holding pop3prof and pochta-bench), serve DATADIR with BINDIR/pop3prof
# (the engine of DATADIR's pochta.toml) on loopback PORT, warm up, run
# `pochta-bench -mode retr -persist -c CLIENTS` for SECS seconds with the
# accounts of the file USERS (password bench-Secret-7), and print one line:
# messages, MB/s, and CPU per message of Pochta's process and, for the
# PostgreSQL engine, of the backends of its database (from
# pg_stat_activity via ADMIN_DSN), read from /proc. A manual tool: give it
# several builds and repeat it for interleaved A/B rounds, e.g.
#
#   for r in 1 2 3; do bench/pop3-cpu.sh /tmp/d /tmp/users.txt 11321 1 8 /tmp/base/bin /tmp/new/bin; done
set -euo pipefail
DATA=${1:?usage: pop3-cpu.sh DATADIR USERS PORT CLIENTS SECS BINDIR...} USERS=$2 PORT=$3 C=$4 SECS=$5
shift 5
ADMIN_DSN=${ADMIN_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
DSN=$(sed -n 's/^postgres_dsn = "\(.*\)"$/\1/p' "$DATA/pochta.toml")
DB=
if [ -n "$DSN" ]; then DB=$(psql "$DSN" -Atc 'SELECT current_database()'); fi
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
db() {
	[ -n "$DB" ] || { echo 0; return; }
	for pid in $(psql "$ADMIN_DSN" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid()"); do
		cat "/proc/$pid/stat" 2>/dev/null || true
	done | awk '{sub(/.*\) /, ""); t += $12 + $13} END {print t + 0}'
}
for BIN in "$@"; do
	"$BIN/pop3prof" -d "$DATA" -addr "127.0.0.1:$PORT" -cpuprofile /dev/null 2> /dev/null &
	PROF=$!
	for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
	"$BIN/pochta-bench" -addr "127.0.0.1:$PORT" -pass bench-Secret-7 -mode retr -persist -c "$C" -duration 1s \
		-users "$USERS" -nusers "$C" > /dev/null
	T0=$(cpu $PROF) D0=$(db)
	R=$("$BIN/pochta-bench" -addr "127.0.0.1:$PORT" -pass bench-Secret-7 -mode retr -persist -c "$C" -duration "${SECS}s" \
		-users "$USERS" -nusers "$C" | grep '^RESULT')
	T1=$(cpu $PROF) D1=$(db)
	kill $PROF; wait $PROF 2>/dev/null || true
	N=$(echo "$R" | sed -n 's/.* messages=\([0-9]*\).*/\1/p')
	MB=$(echo "$R" | sed -n 's/.* mb_per_s=\([0-9.]*\).*/\1/p')
	awk -v t=$((T1 - T0)) -v d=$((D1 - D0)) -v n="$N" -v mb="$MB" -v b="$BIN" -v c="$C" -v hz="$(getconf CLK_TCK)" \
		'BEGIN {printf "%s c=%d msgs=%d MB/s=%s pochta=%.1f db=%.1f total=%.1f us/msg\n", b, c, n, mb, t/hz/n*1e6, d/hz/n*1e6, (t+d)/hz/n*1e6}'
done
