#!/usr/bin/env bash
# profile-pochta.sh MODE [pochta-bench flags...]: CPU-profile Pochta's POP3
# server under one pochta-bench mode (sessions, retr or fetchdel), 8
# clients, on loopback. A manual tool, not part of `go test`. It builds
# from the working tree, makes a fresh data dir with 32 accounts of NMSG
# messages (same generator and seed as pop3-vs-dovecot.sh), serves it with
# bench/pop3prof (serve's wiring plus a CPU profile) and prints `pprof -top`
# and the server's CPU time per message. Extra flags go to pochta-bench
# (e.g. `retr -persist`: one login per client, RETRs only).
#
# PG=1 profiles the PostgreSQL engine instead: the data goes into a fresh
# database on ADMIN_DSN's server (`pochta init --postgres`, dropped at the
# end), and the CPU per message counts the PostgreSQL backends serving it
# (from pg_stat_activity) as well as Pochta's process, both printed.
set -euo pipefail
MODE=${1:?usage: profile-pochta.sh sessions|retr|fetchdel [flags]}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/pop3prof.XXXXXX)}
NMSG=${NMSG:-50}
PORT=11310
PASS=bench-Secret-7
PG=${PG:-0}
ADMIN_DSN=${ADMIN_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
PGDB=pochta_prof_$$
PGDSN=${ADMIN_DSN%%/test*}/$PGDB?sslmode=disable
BIN=$WORK/bin
mkdir -p "$BIN"
(cd "$ROOT" && go build -o "$BIN/pochta" ./cmd/pochta && go build -o "$BIN/pochta-bench" ./cmd/pochta-bench &&
	go build -o "$BIN/genmail" ./bench/genmail && go build -o "$BIN/pop3prof" ./bench/pop3prof)
"$BIN/genmail" -dir "$WORK/msgs" -n "$NMSG" -min 2000 -max 100000 -seed 1
if [ "$PG" = 1 ]; then
	psql "$ADMIN_DSN" -qc "CREATE DATABASE $PGDB"
	"$BIN/pochta" init -d "$WORK/data" --postgres "$PGDSN" --domain bench.test > /dev/null
else
	"$BIN/pochta" init -d "$WORK/data" --domain bench.test > /dev/null
fi
USERS=$(for i in $(seq 1 32); do echo "f$i@bench.test"; done)
printf '%s\n' $USERS > "$WORK/users.txt"
for u in $USERS; do echo "$PASS" | "$BIN/pochta" -d "$WORK/data" user add "$u" --password-stdin > /dev/null; done
cat > "$WORK/refill.sh" <<EOS
#!/bin/sh
for f in "$WORK"/msgs/*.eml; do "$BIN/pochta" -d "$WORK/data" deliver $(echo $USERS) < "\$f" || exit 1; done
EOS
chmod +x "$WORK/refill.sh"
"$WORK/refill.sh"

"$BIN/pop3prof" -d "$WORK/data" -addr "127.0.0.1:$PORT" -cpuprofile "$WORK/cpu.out" -log 2> "$WORK/serve.log" &
PROF=$!
cleanup() {
	kill $PROF 2>/dev/null || true
	if [ "$PG" = 1 ]; then wait $PROF 2>/dev/null || true; psql "$ADMIN_DSN" -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)"; fi
}
trap cleanup EXIT
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
# Warm the credentials cache so the profile shows steady state, not argon2id.
"$BIN/pochta-bench" -addr "127.0.0.1:$PORT" -pass "$PASS" -mode sessions -c 8 -n 32 -users "$WORK/users.txt" > /dev/null
# cpu_ticks: the server's user+system CPU so far, in clock ticks;
# db_ticks: the same for the PostgreSQL backends serving it (PG=1).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PROF/stat"; }
db_ticks() {
	if [ "$PG" != 1 ]; then echo 0; return; fi
	for pid in $(psql "$ADMIN_DSN" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$PGDB'"); do
		cat "/proc/$pid/stat" 2>/dev/null || true
	done | awk '{sub(/.*\) /, ""); t += $12 + $13} END {print t + 0}'
}
kill -USR1 $PROF
T0=$(cpu_ticks)
D0=$(db_ticks)
case $MODE in
fetchdel) "$BIN/pochta-bench" -addr "127.0.0.1:$PORT" -pass "$PASS" -mode fetchdel -c 8 -n 3 \
	-users "$WORK/users.txt" -refill "$WORK/refill.sh" "$@" ;;
*) "$BIN/pochta-bench" -addr "127.0.0.1:$PORT" -pass "$PASS" -mode "$MODE" -c 8 -duration 10s \
	-users "$WORK/users.txt" -nusers 8 "$@" ;;
esac | tee "$WORK/bench.txt"
T1=$(cpu_ticks)
D1=$(db_ticks)
kill -INT $PROF; wait $PROF || true
go tool pprof -top -nodecount=35 "$BIN/pop3prof" "$WORK/cpu.out" 2>/dev/null | tee "$WORK/top.txt"
# Server CPU per message: comparable across runs on a busy machine, where
# messages/s is not (fetchdel's refills run in other processes).
MSGS=$(sed -n 's/^RESULT.* messages=\([0-9]*\).*/\1/p' "$WORK/bench.txt")
awk -v t="$((T1 - T0))" -v hz="$(getconf CLK_TCK)" -v n="$MSGS" \
	'BEGIN {printf "server CPU: %.2f s for %d messages, %.1f us per message\n", t/hz, n, n ? t/hz/n*1e6 : 0}' |
	tee -a "$WORK/top.txt"
if [ "$PG" = 1 ]; then
	awk -v t="$((T1 - T0))" -v d="$((D1 - D0))" -v hz="$(getconf CLK_TCK)" -v n="$MSGS" \
		'BEGIN {printf "PostgreSQL backends CPU: %.2f s, %.1f us per message; with the server: %.1f us per message\n", d/hz, n ? d/hz/n*1e6 : 0, n ? (t+d)/hz/n*1e6 : 0}' |
		tee -a "$WORK/top.txt"
fi
echo "profile: $WORK/cpu.out (go tool pprof $BIN/pop3prof $WORK/cpu.out)" >&2
