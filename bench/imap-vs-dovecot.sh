#!/usr/bin/env bash
# imap-vs-dovecot.sh: a manual benchmark, Pochta's IMAP server against
# Dovecot 2.3's, on one machine, over loopback only, with byte-identical
# messages. It is not part of `go test`. Run it as root (Dovecot's master
# must start as root) from anywhere in the repository:
#
#   apt-get install -y dovecot-core dovecot-imapd   # once; keep the system service stopped
#   bench/imap-vs-dovecot.sh
#
# Knobs (environment): DURATION (per timed run, default 10s), NMSG
# (messages per mailbox, 200), NIDLE (IDLE connections held by Pochta,
# 10000), NIDLE_DOVECOT (by Dovecot, 1000: one process each), WORK (scratch
# dir, default a new /tmp/imapbench.*, kept afterwards), QUICK=1 (only 8
# clients, no idle runs, no IDLE accounts), ROUNDS (how many times the
# timed FETCH runs repeat, the servers taking turns and the order
# alternating; the table gives medians, default 1), BASE (a git revision:
# also build Pochta at BASE and run it as a third server, "base", on a
# copy of the same data, made with BASE's tools: before/after in one
# run), PG=1 (also run Pochta on the PostgreSQL engine as "pochta-pg", the
# same data copied by `pochta migrate --to postgres` into a database of its
# own on ADMIN_DSN's server, dropped at the end), PPORT, DPORT, BPORT and
# GPORT (the loopback ports of Pochta, Dovecot, base and pochta-pg, 11243
# to 11246: two runs at once need their own). The table goes to stdout and to $WORK/table.txt; besides
# throughput it gives the server's CPU time per message (user+system of
# the server's processes, Dovecot's reaped children included), which a
# machine shared with other jobs disturbs far less.
#
# 10,000 connections need as many file descriptors in the server and in
# the client (the script raises `ulimit -n` as far as it may) and, on
# loopback, several source addresses (127.0.0.1-8) so that no single
# address runs out of ephemeral ports.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/imapbench.XXXXXX)}
# Dovecot's auth and imap processes run as the dovecot user and must reach
# the passwd file and the Maildirs under WORK (mktemp makes it 0700).
mkdir -p "$WORK" && chmod 755 "$WORK"
DURATION=${DURATION:-10s}
NMSG=${NMSG:-200}
NIDLE=${NIDLE:-10000}
NIDLE_DOVECOT=${NIDLE_DOVECOT:-1000}
QUICK=${QUICK:-0}
ROUNDS=${ROUNDS:-1}
BASE=${BASE:-}
PG=${PG:-0}
ADMIN_DSN=${ADMIN_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
PGDB=pochta_imapbench_$$
PGDSN=${ADMIN_DSN%%/test*}/$PGDB?sslmode=disable
PPORT=${PPORT:-11243}  # Pochta, IMAP
DPORT=${DPORT:-11244}  # Dovecot, IMAP
BPORT=${BPORT:-11245}  # Pochta at $BASE, IMAP
GPORT=${GPORT:-11246}  # Pochta on PostgreSQL (PG=1), IMAP
PASS=bench-Secret-7
DOMAIN=bench.test
NFETCH=8               # fetch accounts f1..f8, NMSG messages each
NIDLEUSERS=100         # idle accounts i1..i100, a few messages each
SRC=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8
BIN=$WORK/bin
P=$WORK/pochta
D=$WORK/dovecot
RES=$WORK/results.txt
CONCS="1 8"
[ "$QUICK" = 1 ] && CONCS="8" && NIDLEUSERS=0

. "$ROOT/bench/lib.sh"
mkdir -p "$BIN" "$D"
: > "$RES"
ulimit -n "$(ulimit -Hn)" || true
log "file descriptor limit $(ulimit -n)"

PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	[ -f "$D/run/master.pid" ] && kill "$(cat "$D/run/master.pid")" 2>/dev/null || true
	if [ "$PG" = 1 ]; then
		wait 2>/dev/null || true
		psql "$ADMIN_DSN" -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

build_tools ./cmd/pochta ./cmd/pochta-bench ./bench/genmail ./bench/maildirput ./bench/bulkdeliver
build_base

# 2-20 KB messages, multipart and plain as genmail makes them; the same
# seed gives the same bytes every run.
log "generating messages"
"$BIN/genmail" -dir "$WORK/msgs" -n "$NMSG" -min 2000 -max 20000 -seed 4
"$BIN/genmail" -dir "$WORK/few" -n 5 -min 2000 -max 5000 -seed 5

FETCH_USERS=$(accounts f "$NFETCH")
IDLE_USERS=
if [ "$NIDLEUSERS" -gt 0 ]; then IDLE_USERS=$(accounts i "$NIDLEUSERS"); fi
ALL_USERS="$FETCH_USERS $IDLE_USERS"

log "pochta: init, $(echo $ALL_USERS | wc -w) accounts, messages"
"$INIT/pochta" init -d "$P" --domain "$DOMAIN" --hostname "mail.$DOMAIN" > "$WORK/pochta-init.log"
for u in $ALL_USERS; do echo "$u"; done |
	xargs -P "$(nproc)" -I{} sh -c "echo '$PASS' | '$INIT/pochta' -d '$P' user add {} --password-stdin > /dev/null"
for u in $FETCH_USERS; do "$INIT/bulkdeliver" -d "$P" -to "$u" -src "$WORK/msgs" > /dev/null; done
for u in $IDLE_USERS; do "$INIT/bulkdeliver" -d "$P" -to "$u" -src "$WORK/few" > /dev/null; done
if [ -n "$BASE" ]; then cp -a "$P" "$P-base"; fi
if [ "$PG" = 1 ]; then
	log "pochta-pg: copying $P into PostgreSQL database $PGDB"
	psql "$ADMIN_DSN" -qc "CREATE DATABASE $PGDB"
	cp -a "$P" "$P-pg"
	"$BIN/pochta" -d "$P-pg" migrate --to postgres "$PGDSN" > "$WORK/pochta-pg-migrate.log"
fi

# Dovecot: service imap defaults (one process per session); limits raised
# only so that the idle connections are allowed at all.
log "dovecot: config, passwd-file and Maildirs"
mkdir -p "$D/run" "$D/mail"
# SSHA256, not ARGON2ID: Dovecot's auth cache still verifies the password
# against the cached hash at every login, so with ARGON2ID its logins cost
# an argon2id run each (pop3-vs-dovecot.sh shows both); Pochta's
# verified-credentials cache hit costs about as much as an SSHA256 check.
HASH=$(doveadm pw -s SSHA256 -p "$PASS")
for u in $ALL_USERS; do echo "$u:$HASH::::::"; done > "$D/passwd"
dovecot_conf imap pochta-imapbench-dovecot <<EOF
default_process_limit = $((NIDLE_DOVECOT + 200))
default_client_limit = $((4 * NIDLE_DOVECOT + 1000))
default_vsz_limit = 1G
EOF
chown nobody:nogroup "$D/mail"
dovecot_fill "$WORK/msgs" $FETCH_USERS
if [ -n "$IDLE_USERS" ]; then dovecot_fill "$WORK/few" $IDLE_USERS; fi

log "starting servers: pochta 127.0.0.1:$PPORT, dovecot 127.0.0.1:$DPORT"
mapfile -t OFF < <(listeners_off "$ROOT" imap.listen)
"$BIN/pochta" -d "$P" serve -o "imap.listen=127.0.0.1:$PPORT" "${OFF[@]}" -o "limits.max_connections_per_ip=0" \
	-o "limits.max_connections=$((NIDLE + 1000))" 2> "$WORK/pochta-serve.log" &
POCHTA_PID=$!
PIDS+=("$POCHTA_PID")
SERVERS="pochta dovecot"
if [ -n "$BASE" ]; then
	mapfile -t BOFF < <(listeners_off "$WORK/base-src" imap.listen)
	"$BIN/base/pochta" -d "$P-base" serve -o "imap.listen=127.0.0.1:$BPORT" "${BOFF[@]}" -o "limits.max_connections_per_ip=0" \
		-o "limits.max_connections=$((NIDLE + 1000))" 2> "$WORK/pochta-base-serve.log" &
	BASE_PID=$!
	PIDS+=("$BASE_PID")
	SERVERS="pochta base dovecot"
	wait_port "$BPORT"
fi
if [ "$PG" = 1 ]; then
	"$BIN/pochta" -d "$P-pg" serve -o "imap.listen=127.0.0.1:$GPORT" "${OFF[@]}" -o "limits.max_connections_per_ip=0" \
		-o "limits.max_connections=$((NIDLE + 1000))" 2> "$WORK/pochta-pg-serve.log" &
	PG_PID=$!
	PIDS+=("$PG_PID")
	SERVERS="$SERVERS pochta-pg"
	wait_port "$GPORT"
fi
dovecot -c "$D/dovecot.conf"
wait_port "$PPORT"
wait_port "$DPORT"
# The master may write its pid file after its listener is up.
for _ in $(seq 1 100); do [ -s "$D/run/master.pid" ] && break; sleep 0.1; done
DOVECOT_PID=$(cat "$D/run/master.pid")

# cpu_ticks SERVER: clock ticks of user+system time the server's
# processes used so far: Pochta's one process; Dovecot's master, its live
# children and (cutime+cstime of the master) the children it reaped.
cpu_ticks() {
	local pids p stat
	case $1 in
	pochta) pids=$POCHTA_PID ;;
	base) pids=$BASE_PID ;;
	pochta-pg) pids="$PG_PID $(psql "$ADMIN_DSN" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$PGDB'" | tr '\n' ' ')" ;;
	dovecot) pids="$DOVECOT_PID $(pgrep -P "$DOVECOT_PID" | tr '\n' ' ')" ;;
	esac
	for p in $pids; do
		# A process may end between pgrep and here: skip it.
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		# fields after the ")" of comm: 12 utime, 13 stime, 14 cutime, 15 cstime
		echo "${stat##*) }" | awk -v m="$([ "$p" = "$DOVECOT_PID" ] && echo 1)" '{ print $12 + $13 + (m ? $14 + $15 : 0) }'
	done | awk '{ s += $1 } END { print s + 0 }'
}

run() { # server label args...
	local server=$1 label=$2 port out t0 t1 msgs
	shift 2
	case $server in
	pochta) port=$PPORT ;;
	base) port=$BPORT ;;
	pochta-pg) port=$GPORT ;;
	*) port=$DPORT ;;
	esac
	t0=$(cpu_ticks "$server")
	out=$("$BIN/pochta-bench" -addr "127.0.0.1:$port" -pass "$PASS" "$@")
	t1=$(cpu_ticks "$server")
	msgs=$(echo "$out" | sed -n 's/^RESULT.* messages=\([0-9]*\).*/\1/p')
	echo "$out" | grep -v '^RESULT' | sed "s/^/  [$server $label] /" >&2
	echo "$server $label $(echo "$out" | grep '^RESULT') load1=$(cut -d' ' -f1 /proc/loadavg)" \
		"server_cpu_us_per_msg=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="${msgs:-0}" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')" >> "$RES"
}

# Warm-up: page cache, Dovecot's index files, Pochta's summary cache; the
# timed runs then measure the steady state of a client that syncs often.
log "warm-up"
for s in $SERVERS; do
	run "$s" warmup -mode imapfetch -c 8 -n 16 -users "f%d@$DOMAIN" -nusers "$NFETCH" > /dev/null
done
sed -i '/ warmup /d' "$RES"
# Two views of the same work: "fetch" logs in for every pass (a client
# that connects, syncs and leaves: login and, for Dovecot, a process start
# each time), "fetchkeep" stays logged in and repeats SELECT and the two
# FETCHes (a client that stays connected). With ROUNDS, the servers take
# turns, in reverse order every other round.
for r in $(seq 1 "$ROUNDS"); do
	order=$SERVERS
	[ $((r % 2)) = 0 ] && order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
	for c in $CONCS; do
		for s in $order; do
			run "$s" "fetch-c$c" -mode imapfetch -c "$c" -duration "$DURATION" -users "f%d@$DOMAIN" -nusers "$NFETCH"
			run "$s" "fetchkeep-c$c" -mode imapfetch -persist -c "$c" -duration "$DURATION" -users "f%d@$DOMAIN" -nusers "$NFETCH"
		done
	done
done

# Memory held by IDLE connections: as in pop3-vs-dovecot.sh, read it while
# they are held (after it settles) and after they quit; the difference is
# their cost.
rss_kb() { for p in "$@"; do awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }
pss_kb() { for p in "$@"; do awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }
pids_of() {
	if [ "$1" = pochta ]; then echo "$POCHTA_PID"; else echo "$DOVECOT_PID $(pgrep -P "$DOVECOT_PID" | tr '\n' ' ')"; fi
}
settle() { # server seconds: wait, then until two readings 20 s apart agree within 1%
	local a b
	sleep "$2"
	for _ in $(seq 1 15); do
		a=$(rss_kb $(pids_of "$1")); sleep 20; b=$(rss_kb $(pids_of "$1"))
		[ $((a - b)) -lt $((a / 100)) ] && [ $((b - a)) -lt $((a / 100)) ] && return
	done
}
idle_run() { # server port connections wait
	local server=$1 port=$2 n=$3 wait=$4 base_rss base_pss rss pss nproc out conns bpid
	out=$WORK/idle-$server.out
	"$BIN/pochta-bench" -addr "127.0.0.1:$port" -pass "$PASS" -mode imapidle -c "$n" -hold 3600s \
		-src "$SRC" -users "i%d@$DOMAIN" -nusers "$NIDLEUSERS" > "$out" &
	bpid=$!
	until grep -q '^READY' "$out"; do sleep 0.5; done
	settle "$server" "$wait"
	rss=$(rss_kb $(pids_of "$server")); pss=$(pss_kb $(pids_of "$server"))
	nproc=$(pids_of "$server" | wc -w)
	kill -INT "$bpid"; wait "$bpid" || true
	settle "$server" "$wait"
	base_rss=$(rss_kb $(pids_of "$server")); base_pss=$(pss_kb $(pids_of "$server"))
	conns=$(sed -n 's/^READY connections=\([0-9]*\).*/\1/p' "$out")
	echo "  [$server idle] $(grep '^READY' "$out"), $nproc processes, RSS $base_rss -> $rss KiB, PSS $base_pss -> $pss KiB" >&2
	echo "$server idle RESULT mode=imapidle connections=$conns processes=$nproc base_rss_kb=$base_rss rss_kb=$rss base_pss_kb=$base_pss pss_kb=$pss rss_per_conn_kb=$(( (rss - base_rss) / conns )) pss_per_conn_kb=$(( (pss - base_pss) / conns ))" >> "$RES"
}
if [ "$QUICK" != 1 ]; then
	log "idle: pochta $NIDLE, dovecot $NIDLE_DOVECOT IDLE connections"
	idle_run pochta "$PPORT" "$NIDLE" "${MEMWAIT:-330}"
	idle_run dovecot "$DPORT" "$NIDLE_DOVECOT" 20
fi

{
	echo
	echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {print int($2/1024)" MiB"}' /proc/meminfo)"
	echo "dovecot: $(dovecot --version)   go: $(go version | cut -d' ' -f3)   pochta: $(cd "$ROOT" && git rev-parse --short HEAD)"
	echo
	[ "$ROUNDS" -le 1 ] || echo "medians of $ROUNDS interleaved rounds; load average during the runs: $(awk '{ for (i = 4; i <= NF; i++) if ($i ~ /^load1=/) { split($i, kv, "="); print kv[2] } }' "$RES" | sort -n | sed -n '1p;$p' | paste -sd- -)" && echo
	awk -v base="$BASE" -v pg="$PG" '
	{ for (i = 4; i <= NF; i++) { split($i, kv, "="); k = $1 SUBSEP $2 SUBSEP kv[1]; n[k]++; vals[k, n[k]] = kv[2] }
	  if ($0 ~ / errors=[1-9]/) errs = errs sprintf("  %s %s: errors\n", $1, $2) }
	function med(server, label, key,   k, m, i, j, t, a) {
		k = server SUBSEP label SUBSEP key; m = n[k]
		if (m == 0) return ""
		for (i = 1; i <= m; i++) a[i] = vals[k, i] + 0
		for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return (m % 2) ? a[(m+1)/2] : (a[m/2] + a[m/2+1]) / 2
	}
	function r(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
	function row(what, label, key,   p, d, b, g) {
		p = med("pochta", label, key); d = med("dovecot", label, key)
		if (p == "" && d == "") return
		printf "| %-40s | %10s | %10s | %5s |", what, p, d, r(p, d)
		if (base != "") { b = med("base", label, key); printf " %10s | %6s |", b, r(p, b) }
		if (pg == 1) { g = med("pochta-pg", label, key); printf " %10s | %5s | %5s |", g, r(g, d), r(g, p) }
		printf "\n"
	}
	END {
		printf "| %-40s | %10s | %10s | %5s |", "metric", "Pochta", "Dovecot", "P/D"
		if (base != "") printf " %10s | %6s |", "base", "P/base"
		if (pg == 1) printf " %10s | %5s | %5s |", "Pochta PG", "PG/D", "PG/P"
		printf "\n|------------------------------------------|------------|------------|-------|"
		if (base != "") printf "------------|--------|"
		if (pg == 1) printf "------------|-------|-------|"
		printf "\n"
		split("1 8", cs, " ")
		for (i = 1; i <= 2; i++) {
			c = cs[i]
			row("login+SELECT+FETCH messages/s, " c " cl.", "fetch-c" c, "msgs_per_s")
			row("  sessions/s", "fetch-c" c, "sessions_per_s")
			row("  FETCH command p50 ms", "fetch-c" c, "op_p50_ms")
			row("  FETCH command p99 ms", "fetch-c" c, "op_p99_ms")
			row("  server CPU us per message", "fetch-c" c, "server_cpu_us_per_msg")
			row("SELECT+FETCH messages/s, " c " clients", "fetchkeep-c" c, "msgs_per_s")
			row("  MB/s", "fetchkeep-c" c, "mb_per_s")
			row("  FETCH command p50 ms", "fetchkeep-c" c, "op_p50_ms")
			row("  FETCH command p99 ms", "fetchkeep-c" c, "op_p99_ms")
			row("  server CPU us per message", "fetchkeep-c" c, "server_cpu_us_per_msg")
		}
		row("IDLE connections held", "idle", "connections")
		row("  RSS while held, KiB", "idle", "rss_kb")
		row("  RSS per connection, KiB", "idle", "rss_per_conn_kb")
		row("  PSS per connection, KiB", "idle", "pss_per_conn_kb")
		row("  server processes", "idle", "processes")
		print ""
		print "Dovecot: SSHA256 passwd-file, auth_cache on; one imap process per session (service defaults)."
		if (base != "") print "base: Pochta at " base ", on a copy of the same data."
		if (pg == 1) print "Pochta PG: Pochta on the PostgreSQL engine, the same data copied by pochta migrate; its server CPU includes its PostgreSQL backends."
		print "server CPU per message: user+system time of the server processes during the run / messages fetched."
		print "IDLE memory per connection = (memory holding N IDLE sessions - memory after they quit) / N."
		if (errs != "") printf "runs with errors:\n%s", errs
		else print "no run reported errors (every FETCH count checked against EXISTS, every literal read to its length)"
	}' "$RES"
} | tee "$WORK/table.txt"
log "raw results in $RES, logs in $WORK"
