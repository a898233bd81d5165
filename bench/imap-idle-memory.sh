#!/usr/bin/env bash
# imap-idle-memory.sh: what an idle IDLE connection costs Pochta's IMAP
# server in resident memory. Only the IDLE part of imap-vs-dovecot.sh: no
# Dovecot, no root needed. Run from anywhere in the repository:
#
#   bench/imap-idle-memory.sh
#
# Knobs (environment): N (IDLE connections, default 10000; needs
# `ulimit -n` above N), WAIT (seconds to let the heap settle before each
# reading, default 330: the runtime returns memory slowly), WORK (scratch
# dir, default a new /tmp/imapidle.*). The server's RSS is read while the
# connections are held and after they quit; the difference divided by N
# is the cost of one.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/imapidle.XXXXXX)}
N=${N:-10000}
WAIT=${WAIT:-330}
PORT=11343
PASS=bench-Secret-7
DOMAIN=bench.test
BIN=$WORK/bin
P=$WORK/pochta

. "$ROOT/bench/lib.sh"
ulimit -n "$(ulimit -Hn)" || true
build_tools ./cmd/pochta ./cmd/pochta-bench
"$BIN/pochta" init -d "$P" --domain "$DOMAIN" --hostname "mail.$DOMAIN" > /dev/null
for u in $(accounts i 20); do
	echo "$PASS" | "$BIN/pochta" -d "$P" user add "$u" --password-stdin > /dev/null
	printf 'Subject: hello\r\n\r\nbody\r\n' | "$BIN/pochta" -d "$P" deliver "$u"
done
# Every other listener off (the list comes from docs/CONFIG.md, so one
# added later, such as managesieve's, cannot collide with another server).
mapfile -t OFF < <(listeners_off "$ROOT" imap.listen)
"$BIN/pochta" -d "$P" serve -o "imap.listen=127.0.0.1:$PORT" "${OFF[@]}" \
	-o limits.max_connections_per_ip=0 -o "limits.max_connections=$((N + 1000))" 2> "$WORK/serve.log" &
SP=$!
trap 'kill $SP 2>/dev/null || true' EXIT
wait_port "$PORT"
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$SP/status"; }
"$BIN/pochta-bench" -addr "127.0.0.1:$PORT" -pass "$PASS" -mode imapidle -c "$N" -hold 3600s \
	-src 127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4 -users "i%d@$DOMAIN" -nusers 20 > "$WORK/idle.out" &
BP=$!
until grep -q '^READY' "$WORK/idle.out"; do sleep 0.5; done
log "$(grep '^READY' "$WORK/idle.out")"
sleep "$WAIT"; held=$(rss); sleep 20; held=$(rss)
kill -INT "$BP"; wait "$BP" || true
sleep "$WAIT"; after=$(rss); sleep 20; after=$(rss)
echo "IDLE connections: $N  RSS held: $held KiB  after they quit: $after KiB  per connection: $(( (held - after) * 1024 / N )) bytes"
