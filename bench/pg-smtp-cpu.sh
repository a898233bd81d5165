#!/usr/bin/env bash
# pg-smtp-cpu.sh: CPU time per durable SMTP delivery on the PostgreSQL
# engine, the working tree against BASE (a git revision), interleaved. A
# manual benchmark, not part of `go test`. Needs the local PostgreSQL
# (ADMIN_DSN, trust, as .ci/run starts it); each run gets a database of its
# own, dropped after it.
#
#   BASE=main ROUNDS=3 C=8 N=3000 WARM=200 bench/pg-smtp-cpu.sh
#
# Each run: a fresh `pochta serve` (8 accounts, the MX port only, the
# flags of smtp-vs-postfix.sh), WARM messages (200) to warm up and
# fill the mailboxes (their text index's posting chunks grow with them:
# WARM=16000 gives each account 2,000, as a few rounds of
# smtp-vs-postfix.sh do), then N messages
# of 10 KB from C clients (pochta-bench -mode smtp), then a wait until the
# background text indexer has indexed every message, so its work is
# counted. pochta_ms and backend_ms are the CPU time per message of the
# pochta process and of the database's backends (/proc of the pids
# pg_stat_activity lists for the run's database; the WAL writer and
# checkpointer are not counted); wal_B the WAL bytes per message
# (pg_current_wal_lsn, cluster-wide: other databases' writes count too).
# NEW_SQL=file: an SQL file run on the working tree's database after
# `pochta init` and before it serves (e.g. a function redefined without
# one of its statements), to measure what a schema change would save
# before writing its migration.
# Results: $WORK/results.txt and a table of medians on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/pgsmtpcpu.XXXXXX)}
BASE=${BASE:-main}
ROUNDS=${ROUNDS:-3}
C=${C:-8}
N=${N:-3000}
WARM=${WARM:-200}
PORT=${PORT:-2725}
ADMIN_DSN=${ADMIN_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
BIN=$WORK/bin
RES=$WORK/results.txt
. "$ROOT/bench/lib.sh"
mkdir -p "$BIN/base" "$WORK/base-src"
: > "$RES"
build_tools ./cmd/pochta ./cmd/pochta-bench
log "building pochta at $BASE"
(cd "$ROOT" && git archive "$BASE") | tar -x -C "$WORK/base-src"
(cd "$WORK/base-src" && go build -o "$BIN/base/pochta" ./cmd/pochta)
: > "$WORK/empty.zone"
TCK=$(getconf CLK_TCK)

PID= DB=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "$DB" ] && psql "$ADMIN_DSN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
	PID= DB=
}
trap cleanup EXIT

# run LABEL POCHTA: one measured run.
run() {
	local label=$1 pochta=$2 dsn dir=$WORK/data-$1
	DB=pochta_cpu_$$_$label
	psql "$ADMIN_DSN" -qc "CREATE DATABASE $DB"
	dsn=${ADMIN_DSN%%/test*}/$DB?sslmode=disable
	rm -rf "$dir"
	"$pochta" init -d "$dir" --domain bench.test --hostname mx.bench.test --postgres "$dsn" >/dev/null
	if [ "$label" = new ] && [ -n "${NEW_SQL:-}" ]; then psql "$dsn" -q -v ON_ERROR_STOP=1 -f "$NEW_SQL" >/dev/null; fi
	for i in $(seq 1 8); do echo bench-pass | "$pochta" -d "$dir" user add "pfb$i@bench.test" --password-stdin >/dev/null; done
	"$pochta" -d "$dir" serve -o smtp.listen="127.0.0.1:$PORT" -o submission.listen= -o submissions.listen= \
		-o pop3.listen= -o pop3s.listen= -o http.listen= -o https.listen= -o metrics.listen= -o imap.listen= \
		-o imaps.listen= -o managesieve.listen= -o dns.zone_file="$WORK/empty.zone" \
		-o limits.max_connections_per_ip=0 -o log.level=warn 2>"$WORK/$label.log" &
	PID=$!
	wait_port "$PORT"
	send() { "$BIN/pochta-bench" -mode smtp -addr "127.0.0.1:$PORT" -c "$1" -n "$2" -size 10240 \
		-users "pfb%d@bench.test" -nusers 8 -from bench@remote.test | grep '^RESULT'; }
	indexed() {
		for _ in $(seq 1 6000); do
			[ "$(pg_unindexed "$dsn")" = 0 ] && return
			sleep 0.1
		done
	}
	ticks() {
		local b=0 p
		for p in $(psql "$ADMIN_DSN" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$DB'"); do
			b=$((b + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
		done
		echo "$(awk '{print $14 + $15}' "/proc/$PID/stat") $b"
	}
	send 8 "$WARM" >/dev/null
	indexed
	local t0 b0 t1 b1 l0 l1 line
	read -r t0 b0 < <(ticks)
	l0=$(psql "$dsn" -Atc "SELECT pg_current_wal_lsn()")
	line=$(send "$C" "$N")
	indexed
	read -r t1 b1 < <(ticks)
	l1=$(psql "$dsn" -Atc "SELECT pg_current_wal_lsn()")
	echo "$label c=$C n=$N ${line#RESULT } pochta_ms=$(echo "scale=3; ($t1 - $t0) * 1000 / $TCK / $N" | bc)" \
		"backend_ms=$(echo "scale=3; ($b1 - $b0) * 1000 / $TCK / $N" | bc)" \
		"wal_B=$(($(psql "$dsn" -Atc "SELECT pg_wal_lsn_diff('$l1', '$l0')::bigint") / N)) load1=$(cut -d' ' -f1 /proc/loadavg)" |
		tee -a "$RES" >&2
	cleanup
}

for round in $(seq 1 "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then run base "$BIN/base/pochta"; run new "$BIN/pochta"
	else run new "$BIN/pochta"; run base "$BIN/base/pochta"; fi
done

awk '
function median(k,   n, i, j, t, a) {
	n = cnt[k]; for (i = 1; i <= n; i++) a[i] = val[k, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ for (i = 2; i <= NF; i++) { split($i, kv, "="); k = $1 SUBSEP kv[1]; val[k, ++cnt[k]] = kv[2] } }
END {
	printf "| build | msg/s | p50 ms | pochta CPU ms/msg | backends CPU ms/msg | total | WAL B/msg | runs |\n|---|---|---|---|---|---|---|---|\n"
	split("base new", b, " ")
	for (i = 1; i <= 2; i++) {
		p = median(b[i] SUBSEP "pochta_ms"); d = median(b[i] SUBSEP "backend_ms")
		printf "| %s | %.1f | %.2f | %.3f | %.3f | %.3f | %d | %d |\n", b[i], median(b[i] SUBSEP "msgs_per_s"), median(b[i] SUBSEP "op_p50_ms"), p, d, p + d, median(b[i] SUBSEP "wal_B"), cnt[b[i] SUBSEP "pochta_ms"]
	}
}' "$RES"
log "results in $RES"
