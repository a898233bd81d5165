#!/usr/bin/env bash
# profile-pochta.sh MODE [pochta-bench flags...]: CPU-profile Pochta's POP3
# server under one pochta-bench mode (sessions, retr or fetchdel), 8
# clients, on loopback. A manual tool, not part of `go test`. It builds
# from the working tree, makes a fresh data dir with 32 accounts of NMSG
# messages (same generator and seed as pop3-vs-dovecot.sh), serves it with
# bench/pop3prof (serve's wiring plus a CPU profile) and prints `pprof -top`
# and the server's CPU time per message. Extra flags go to pochta-bench
# (e.g. `retr -persist`: one login per client, RETRs only).
set -euo pipefail
MODE=${1:?usage: profile-pochta.sh sessions|retr|fetchdel [flags]}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/pop3prof.XXXXXX)}
NMSG=${NMSG:-50}
PORT=11310
PASS=bench-Secret-7
BIN=$WORK/bin
mkdir -p "$BIN"
(cd "$ROOT" && go build -o "$BIN/pochta" ./cmd/pochta && go build -o "$BIN/pochta-bench" ./cmd/pochta-bench &&
	go build -o "$BIN/genmail" ./bench/genmail && go build -o "$BIN/pop3prof" ./bench/pop3prof)
"$BIN/genmail" -dir "$WORK/msgs" -n "$NMSG" -min 2000 -max 100000 -seed 1
"$BIN/pochta" init -d "$WORK/data" --domain bench.test > /dev/null
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
trap 'kill $PROF 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
# Warm the credentials cache so the profile shows steady state, not argon2id.
"$BIN/pochta-bench" -addr "127.0.0.1:$PORT" -pass "$PASS" -mode sessions -c 8 -n 32 -users "$WORK/users.txt" > /dev/null
# cpu_ticks: the server's user+system CPU so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PROF/stat"; }
kill -USR1 $PROF
T0=$(cpu_ticks)
case $MODE in
fetchdel) "$BIN/pochta-bench" -addr "127.0.0.1:$PORT" -pass "$PASS" -mode fetchdel -c 8 -n 3 \
	-users "$WORK/users.txt" -refill "$WORK/refill.sh" "$@" ;;
*) "$BIN/pochta-bench" -addr "127.0.0.1:$PORT" -pass "$PASS" -mode "$MODE" -c 8 -duration 10s \
	-users "$WORK/users.txt" -nusers 8 "$@" ;;
esac | tee "$WORK/bench.txt"
T1=$(cpu_ticks)
kill -INT $PROF; wait $PROF || true
go tool pprof -top -nodecount=35 "$BIN/pop3prof" "$WORK/cpu.out" 2>/dev/null | tee "$WORK/top.txt"
# Server CPU per message: comparable across runs on a busy machine, where
# messages/s is not (fetchdel's refills run in other processes).
MSGS=$(sed -n 's/^RESULT.* messages=\([0-9]*\).*/\1/p' "$WORK/bench.txt")
awk -v t="$((T1 - T0))" -v hz="$(getconf CLK_TCK)" -v n="$MSGS" \
	'BEGIN {printf "server CPU: %.2f s for %d messages, %.1f us per message\n", t/hz, n, n ? t/hz/n*1e6 : 0}' |
	tee -a "$WORK/top.txt"
echo "profile: $WORK/cpu.out (go tool pprof $BIN/pop3prof $WORK/cpu.out)" >&2
