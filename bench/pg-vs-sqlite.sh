#!/usr/bin/env bash
# pg-vs-sqlite.sh: a manual benchmark of the two storage engines behind the
# same server, side by side in one run: SMTP durable accepts (MX port,
# pochta-bench -mode smtp) and POP3 RETR (pochta-bench -mode retr) against
# one `pochta serve` on SQLite and one on PostgreSQL, over loopback, runs
# interleaved. Not part of `go test`. Needs the local PostgreSQL
# (127.0.0.1:5432, trust, as .ci/run starts it); it creates and drops a
# database of its own.
#
#   bench/pg-vs-sqlite.sh
#
# Knobs (environment): DURATION (per run, default 10s), CONCS ("1 8 64"),
# SIZE (2048), WORK (scratch dir), ADMIN_DSN (where to create the
# database). Results: $WORK/results.txt and the table on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/pgbench.XXXXXX)}
DURATION=${DURATION:-10s}
CONCS=${CONCS:-1 8 64}
SIZE=${SIZE:-2048}
ADMIN_DSN=${ADMIN_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
DB=pochta_bench_$$
DSN=${ADMIN_DSN%%/test*}/$DB?sslmode=disable
DOMAIN=bench.test
NUSERS=8
BIN=$WORK/bin
RES=$WORK/results.txt

. "$ROOT/bench/lib.sh"
mkdir -p "$BIN"
: > "$RES"

PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	psql "$ADMIN_DSN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

build_tools ./cmd/pochta ./cmd/pochta-bench
psql "$ADMIN_DSN" -qc "CREATE DATABASE $DB"
: > "$WORK/empty.zone"

# start ENGINE SMTPPORT POP3PORT [init flags...]
start() {
	local name=$1 smtp=$2 pop3=$3
	shift 3
	"$BIN/pochta" init -d "$WORK/$name" --domain "$DOMAIN" --hostname "mx.$DOMAIN" "$@" >/dev/null
	for i in $(seq 1 "$NUSERS"); do
		echo bench-pass | "$BIN/pochta" -d "$WORK/$name" user add "pfb$i@$DOMAIN" --password-stdin
	done
	"$BIN/pochta" -d "$WORK/$name" serve -o smtp.listen="127.0.0.1:$smtp" -o submission.listen= -o submissions.listen= \
		-o pop3.listen="127.0.0.1:$pop3" -o pop3s.listen= -o http.listen= -o https.listen= -o metrics.listen= \
		-o imap.listen= -o imaps.listen= -o managesieve.listen= -o dns.zone_file="$WORK/empty.zone" \
		-o limits.max_connections_per_ip=0 -o log.level=warn 2>"$WORK/$name.log" &
	PIDS+=($!)
	wait_port "$smtp"
}
log "sqlite and postgres instances in $WORK"
start sqlite 2601 2611
start postgres 2602 2612 --postgres "$DSN"

bench() { # ENGINE LABEL ARGS...
	local engine=$1 label=$2
	shift 2
	log "$engine $label"
	echo "$engine $label $("$BIN/pochta-bench" "$@" | grep '^RESULT')" | tee -a "$RES" >&2
}
for c in $CONCS; do
	for engine in sqlite postgres; do
		port=2601; [ "$engine" = postgres ] && port=2602
		bench "$engine" "smtp-c$c" -mode smtp -addr "127.0.0.1:$port" -c "$c" -size "$SIZE" -duration "$DURATION" \
			-users "pfb%d@$DOMAIN" -nusers "$NUSERS" -from "bench@remote.test"
	done
done
for engine in sqlite postgres; do
	port=2611; [ "$engine" = postgres ] && port=2612
	bench "$engine" "retr-c8" -mode retr -persist -addr "127.0.0.1:$port" -c 8 -duration "$DURATION" \
		-users "pfb%d@$DOMAIN" -nusers "$NUSERS" -pass bench-pass
done

awk '
{
	engine = $1; label = $2
	for (i = 4; i <= NF; i++) { split($i, kv, "="); v[engine, label, kv[1]] = kv[2] }
	if (!(label in seen)) { order[n++] = label; seen[label] = 1 }
}
END {
	printf "| %-10s | %14s | %9s | %16s | %9s | %7s |\n", "run", "SQLite msg/s", "p50 ms", "PostgreSQL msg/s", "p50 ms", "PG/SQL"
	printf "|%s|\n", "------------|----------------|-----------|------------------|-----------|---------"
	for (k = 0; k < n; k++) {
		l = order[k]
		s = v["sqlite", l, "msgs_per_s"]; p = v["postgres", l, "msgs_per_s"]
		printf "| %-10s | %14s | %9s | %16s | %9s | %7.2f |\n", l, s, v["sqlite", l, "op_p50_ms"], p, v["postgres", l, "op_p50_ms"], (s > 0 ? p / s : 0)
	}
}' "$RES"
log "results in $RES"
