#!/usr/bin/env bash
# pg-two-nodes.sh: two `pochta serve` nodes on one PostgreSQL database under
# a mixed SMTP/POP3/IMAP load at once, over loopback, with pochta-bench
# (every reply checked), then a count in the database: every message either
# node answered 250 to is stored once. Issue 11 asks for "zero errors".
# Not part of `go test`. Needs the local PostgreSQL (127.0.0.1:5432,
# trust, as .ci/run starts it); it creates and drops a database of its own.
#
#   bench/pg-two-nodes.sh
#
# The load, all at once for DURATION (default 20s):
#   - SMTP, 8 clients on each node, to pfb1..pfb4 (both nodes allocate
#     UIDs in the same four INBOXes);
#   - POP3 RETR (-mode retr -persist), 2 clients on each node, on pfb5 and
#     pfb6 (one node each: a second POP3 session on an account is
#     [IN-USE] by design, on any node);
#   - IMAP FETCH of whole mailboxes (-mode imapfetch -persist), 2 clients
#     on each node, on pfb7 and pfb8 (both nodes read the same mailboxes).
# The readers' accounts get PREFILL messages each first (over SMTP on node
# A); they get no new mail during the run, as pochta-bench checks each
# pass's counts against the mailbox it opened.
#
# Knobs (environment): DURATION (20s), PREFILL (200), SIZE (10240), WORK
# (scratch dir), ADMIN_DSN. Results: $WORK/results.txt; the summary on
# stdout; the exit status is 1 when anything failed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/pgtwo.XXXXXX)}
DURATION=${DURATION:-20s}
PREFILL=${PREFILL:-200}
SIZE=${SIZE:-10240}
ADMIN_DSN=${ADMIN_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
DB=pochta_twonodes_$$
DSN=${ADMIN_DSN%%/test*}/$DB?sslmode=disable
DOMAIN=bench.test
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

# node NAME SMTP POP3 IMAP [init flags...]
node() {
	local name=$1 smtp=$2 pop3=$3 imap=$4
	shift 4
	"$BIN/pochta" init -d "$WORK/$name" --hostname "$name.$DOMAIN" --postgres "$DSN" "$@" >/dev/null
	"$BIN/pochta" -d "$WORK/$name" serve -o smtp.listen="127.0.0.1:$smtp" -o submission.listen= -o submissions.listen= \
		-o pop3.listen="127.0.0.1:$pop3" -o pop3s.listen= -o imap.listen="127.0.0.1:$imap" -o imaps.listen= \
		-o http.listen= -o https.listen= -o metrics.listen= -o managesieve.listen= -o dns.zone_file="$WORK/empty.zone" \
		-o limits.max_connections_per_ip=0 -o log.level=warn 2>"$WORK/$name.log" &
	PIDS+=($!)
	wait_port "$smtp"
}
log "node A (makes the domain), node B (joins the same database) in $WORK"
node a 2801 2811 2821 --domain "$DOMAIN"
for i in $(seq 1 8); do
	echo bench-pass | "$BIN/pochta" -d "$WORK/a" user add "pfb$i@$DOMAIN" --password-stdin
done
node b 2802 2812 2822

users() { # FILE ACCOUNT-NUMBERS...: a pochta-bench -users file
	local f=$1
	shift
	: > "$f"
	for i in "$@"; do echo "pfb$i@$DOMAIN bench-pass" >> "$f"; done
}
users "$WORK/writers" 1 2 3 4
users "$WORK/readers" 5 6 7 8
users "$WORK/pop-a" 5
users "$WORK/pop-b" 6
users "$WORK/imap" 7 8

log "prefill: $PREFILL messages for each of pfb5..pfb8"
"$BIN/pochta-bench" -mode smtp -addr 127.0.0.1:2801 -c 4 -size "$SIZE" -n $((4 * PREFILL)) \
	-users "$WORK/readers" -from bench@remote.test | grep '^RESULT' | sed 's/^/prefill /' | tee -a "$RES" >&2

log "mixed load for $DURATION on both nodes (load $(cut -d' ' -f1-3 /proc/loadavg))"
run() { # LABEL ARGS...
	local label=$1
	shift
	echo "$label $("$BIN/pochta-bench" -duration "$DURATION" "$@" | grep '^RESULT')" >> "$RES"
}
common=(-size "$SIZE" -from bench@remote.test)
LOAD=()
run smtp-a -mode smtp -addr 127.0.0.1:2801 -c 8 -users "$WORK/writers" "${common[@]}" &
LOAD+=($!)
run smtp-b -mode smtp -addr 127.0.0.1:2802 -c 8 -users "$WORK/writers" "${common[@]}" &
LOAD+=($!)
run pop3-a -mode retr -persist -addr 127.0.0.1:2811 -c 1 -users "$WORK/pop-a" &
LOAD+=($!)
run pop3-b -mode retr -persist -addr 127.0.0.1:2812 -c 1 -users "$WORK/pop-b" &
LOAD+=($!)
run imap-a -mode imapfetch -persist -addr 127.0.0.1:2821 -c 2 -users "$WORK/imap" &
LOAD+=($!)
run imap-b -mode imapfetch -persist -addr 127.0.0.1:2822 -c 2 -users "$WORK/imap" &
LOAD+=($!)
wait "${LOAD[@]}" # not the nodes
grep -v '^prefill' "$RES" >&2
log "done (load $(cut -d' ' -f1-3 /proc/loadavg))"

# Every 250 is a stored message, once: the writers' mailboxes hold exactly
# what both nodes accepted (UIDs are unique per mailbox by constraint).
accepted=$(awk '/^smtp-/ { for (i = 2; i <= NF; i++) if ($i ~ /^messages=/) { split($i, kv, "="); n += kv[2] } } END { print n + 0 }' "$RES")
stored=$(psql "$DSN" -Atc "SELECT count(*) FROM messages m JOIN accounts a ON a.id = m.account_id
	WHERE a.address IN ('pfb1@$DOMAIN', 'pfb2@$DOMAIN', 'pfb3@$DOMAIN', 'pfb4@$DOMAIN')")
errors=$(awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^(errors|mismatches)=/) { split($i, kv, "="); n += kv[2] } } END { print n + 0 }' "$RES")
logerrs=$(cat "$WORK/a.log" "$WORK/b.log" | grep -c 'level=ERROR' || true)
echo "two nodes: accepted=$accepted stored=$stored client_errors=$errors server_error_lines=$logerrs" | tee -a "$RES"
awk '!/^prefill/ { label = $1; for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	printf "| %-7s | %8s msg/s | p50 %7s ms | p99 %8s ms | errors %s |\n", label, v["msgs_per_s"], v["op_p50_ms"], v["op_p99_ms"], v["errors"] + v["mismatches"] }' "$RES" | grep -v '^| two'
[ "$accepted" = "$stored" ] && [ "$errors" = 0 ] && [ "$logerrs" = 0 ]
