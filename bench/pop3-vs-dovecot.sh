#!/usr/bin/env bash
# pop3-vs-dovecot.sh: a manual benchmark, Pochta's POP3 server against
# Dovecot 2.3's, on one machine, over loopback only, with byte-identical
# messages. It is not part of `go test`. Run it as root (Dovecot's master
# must start as root) from anywhere in the repository:
#
#   apt-get install -y dovecot-core dovecot-pop3d   # once; keep the system service stopped
#   bench/pop3-vs-dovecot.sh
#
# Knobs (environment): DURATION (per timed run, default 10s), NMSG
# (messages per maildrop, 50), NIDLE (idle connections, 1000), NBIG
# (messages in the stat100k maildrop, 100000), WORK (scratch dir, default
# a new /tmp/pop3bench.*, kept afterwards), QUICK=1 (only 8 clients),
# QUIET (idle CPU fraction to wait for before each run, 0.85; 0 = never
# wait), QUIET_TRIES (2-second samples before running anyway, 30), ROUNDS
# (interleaved Pochta/Dovecot S rounds of the one-login RETR runs, 3;
# their medians are the "retr -persist" rows) and IDLE=0 (skip the idle
# memory runs, which take 10 minutes or more), PG=1 (also a third server,
# "pochta-pg": Pochta on the PostgreSQL engine, the same data copied by
# `pochta migrate --to postgres` into a database of its own on ADMIN_DSN's
# server, dropped at the end; it takes part in every run), PPORT, GPORT
# and DPORT (the loopback ports of Pochta, Pochta on PostgreSQL and
# Dovecot, 11210, 11211 and 11110: two runs at once need their own),
# FLOOR=1 (the one-login RETR rounds also run against bench/pop3floor on
# FPORT, 11410: the same messages served from memory, one write per RETR,
# no store and no protocol work, the most any server could do here) and
# OLD_BIN=path (an earlier build of `pochta`, serving a copy of the same
# data directory on OPORT, 11212, as "pochta-old" in the one-login RETR
# rounds: before and after a change on the same machine at once),
# PGSOCK=DIR (Pochta on PostgreSQL connects through the server's Unix
# socket in DIR, e.g. /var/run/postgresql, as a node on the database's own
# machine would, instead of TCP over loopback) and RUNS=retrp (only the
# one-login RETR rounds; with a small NBIG the setup takes a minute).
# Every row also gives the server's CPU time per message (user+system of
# its processes; for pochta-pg also of its PostgreSQL backends), which a
# machine shared with other jobs disturbs far less than throughput.
# The table goes to stdout and to $WORK/results.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/pop3bench.XXXXXX)}
DURATION=${DURATION:-10s}
NMSG=${NMSG:-50}
NIDLE=${NIDLE:-1000}
NBIG=${NBIG:-100000}
QUICK=${QUICK:-0}
QUIET=${QUIET:-0.85}
QUIET_TRIES=${QUIET_TRIES:-30}
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-1}
PG=${PG:-0}
ADMIN_DSN=${ADMIN_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
PGDB=pochta_pop3bench_$$
PGDSN=${ADMIN_DSN%%/test*}/$PGDB?sslmode=disable
if [ -n "${PGSOCK:-}" ]; then # ADMIN_DSN's user (and password), if it names one; the socket's host
	PGAUTH=${ADMIN_DSN#*://}
	PGAUTH=${PGAUTH%%/*}
	case $PGAUTH in *@*) PGAUTH=${PGAUTH%@*}@ ;; *) PGAUTH= ;; esac
	PGDSN="postgres://$PGAUTH/$PGDB?host=$PGSOCK"
fi
PPORT=${PPORT:-11210}  # Pochta, plain POP3
GPORT=${GPORT:-11211}  # Pochta on PostgreSQL (PG=1), plain POP3
DPORT=${DPORT:-11110}  # Dovecot, plain POP3
FPORT=${FPORT:-11410}  # bench/pop3floor (FLOOR=1)
FLOOR=${FLOOR:-0}
OPORT=${OPORT:-11212}  # OLD_BIN's pochta-old
OLD_BIN=${OLD_BIN:-}
RUNS=${RUNS:-all}
PASS=bench-Secret-7
DOMAIN=bench.test
NRETR=64               # retr/sessions accounts u1..u64
NFD=32                 # fetchdel accounts f1..f32
BIN=$WORK/bin
P=$WORK/pochta         # Pochta data dir
D=$WORK/dovecot        # Dovecot instance (config, run dir, Maildirs)
RES=$WORK/results.txt  # one RESULT line per run, prefixed "server label"
CONCS="1 8 64"
[ "$QUICK" = 1 ] && CONCS="8"

. "$ROOT/bench/lib.sh"
open_to_dovecot "$WORK"
mkdir -p "$BIN" "$D"
: > "$RES"

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

# ---------------------------------------------------------------- build
build_tools ./cmd/pochta ./cmd/pochta-bench ./bench/genmail ./bench/maildirput ./bench/bulkdeliver ./bench/pop3floor

# ------------------------------------------------------------- messages
# 2-100 KB messages for retr/fetchdel, 2-10 KB for the 100k maildrop (its
# test is about counting, not bytes). Same seed: same bytes every run.
log "generating messages"
"$BIN/genmail" -dir "$WORK/msgs" -n "$NMSG" -min 2000 -max 100000 -seed 1
"$BIN/genmail" -dir "$WORK/big" -n "$NBIG" -min 2000 -max 10000 -seed 2

RETR_USERS=$(accounts u "$NRETR")
FD_USERS=$(accounts f "$NFD")
IDLE_USERS=$(accounts i "$NIDLE")
ALL_USERS="$RETR_USERS $FD_USERS $IDLE_USERS big@$DOMAIN"

# --------------------------------------------------------------- Pochta
log "pochta: init and $(echo $ALL_USERS | wc -w) accounts"
"$BIN/pochta" init -d "$P" --domain "$DOMAIN" --hostname "mail.$DOMAIN" > "$WORK/pochta-init.log"
for u in $ALL_USERS; do echo "$u"; done |
	xargs -P "$(nproc)" -I{} sh -c "echo '$PASS' | '$BIN/pochta' -d '$P' user add {} --password-stdin > /dev/null"

pochta_fill() { # users...: deliver every message of $WORK/msgs to all of them
	for f in "$WORK"/msgs/*.eml; do
		"$BIN/pochta" -d "$P" deliver "$@" < "$f"
	done
}
log "pochta: delivering $NMSG messages to the u* and f* accounts"
pochta_fill $RETR_USERS
pochta_fill $FD_USERS
if [ "$PG" = 1 ]; then
	# The same accounts, UIDLs and bodies, copied as an operator moving to
	# PostgreSQL would; the big maildrop is filled afterwards, on each
	# engine by bulkdeliver (copying 100k messages took most of an hour on a
	# loaded machine).
	log "pochta-pg: copying $P into PostgreSQL database $PGDB"
	psql "$ADMIN_DSN" -qc "CREATE DATABASE $PGDB"
	cp -a "$P" "$P-pg"
	"$BIN/pochta" -d "$P-pg" migrate --to postgres "$PGDSN" > "$WORK/pochta-pg-migrate.log"
fi
log "pochta: delivering $NBIG messages to big@$DOMAIN"
# `pochta deliver` costs a process and an fsync per message (about half an
# hour for 100k), so this one goes through the store API with group commit.
for dir in "$P" $([ "$PG" = 1 ] && echo "$P-pg"); do
	"$BIN/bulkdeliver" -d "$dir" -to "big@$DOMAIN" -src "$WORK/big"
done

# -------------------------------------------------------------- Dovecot
# One process per session (service pop3 defaults). The process and client
# limits are raised only so that 1000 idle sessions are allowed at all
# (default_process_limit is 100); they do not change how a session runs.
log "dovecot: config, passwd-file and Maildirs"
mkdir -p "$D/run" "$D/mail"
HASH_ARGON=$(doveadm pw -s ARGON2ID -p "$PASS")
HASH_SSHA=$(doveadm pw -s SSHA256 -p "$PASS")
for u in $ALL_USERS; do echo "$u:$HASH_ARGON::::::"; done > "$D/passwd.argon2id"
for u in $ALL_USERS; do echo "$u:$HASH_SSHA::::::"; done > "$D/passwd.ssha256"
cp "$D/passwd.argon2id" "$D/passwd"
dovecot_conf pop3 pochta-bench-dovecot <<EOF
pop3_uidl_format = %08Xu%08Xv
default_process_limit = $((NIDLE + 200))
default_client_limit = $((4 * NIDLE + 1000))
EOF
chown nobody:nogroup "$D/mail"
dovecot_fill "$WORK/msgs" $RETR_USERS $FD_USERS
dovecot_fill "$WORK/big" "big@$DOMAIN"

# Refill commands for fetchdel, run by pochta-bench between passes.
cat > "$WORK/refill-pochta.sh" <<EOF
#!/bin/sh
for f in "$WORK"/msgs/*.eml; do "$BIN/pochta" -d "$P" deliver $(echo $FD_USERS) < "\$f" || exit 1; done
EOF
cat > "$WORK/refill-dovecot.sh" <<EOF
#!/bin/sh
dirs=""; for u in $(echo $FD_USERS); do dirs="\$dirs $D/mail/\$u/Maildir"; done
exec "$BIN/maildirput" -src "$WORK/msgs" -uid $(id -u nobody) -gid $(getent group nogroup | cut -d: -f3) \$dirs
EOF
sed "s|-d \"$P\"|-d \"$P-pg\"|; s|-d $P |-d $P-pg |" "$WORK/refill-pochta.sh" > "$WORK/refill-pochta-pg.sh"
chmod +x "$WORK"/refill-*.sh

# ------------------------------------------------------------- servers
log "starting servers: pochta 127.0.0.1:$PPORT, dovecot 127.0.0.1:$DPORT"
# A server left over from an earlier run would answer instead of ours.
for port in "$PPORT" "$DPORT" "$GPORT" $([ "$FLOOR" = 1 ] && echo "$FPORT") $([ -n "$OLD_BIN" ] && echo "$OPORT"); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "something already listens on 127.0.0.1:$port; stop it first" >&2
		exit 1
	fi
done
# Only the plain POP3 listener, on loopback: every other listener the
# tree documents is switched off explicitly (their defaults listen on all
# interfaces, and a ManageSieve port another server holds stopped serve).
# auth.cache_ttl outlasts the run: with the default 5 minutes, a run that
# comes more than 5 minutes after the warm-up logged its accounts in paid
# a full argon2id check per login (seconds each on a loaded machine), which
# is not what the comparison with Dovecot S is about.
mapfile -t OFF < <(listeners_off "$ROOT" pop3.listen)
if [ -n "$OLD_BIN" ]; then cp -a "$P" "$P-old"; fi # before serve opens it
# serve BINARY DIR PORT NAME: start a Pochta server; its pid in SERVED.
serve() {
	"$1" -d "$2" serve -o "pop3.listen=127.0.0.1:$3" "${OFF[@]}" \
		-o "limits.max_connections_per_ip=0" -o "pop3.idle_timeout=30m" -o "auth.cache_ttl=2h" 2> "$WORK/$4-serve.log" &
	SERVED=$!
	PIDS+=("$SERVED")
}
serve "$BIN/pochta" "$P" "$PPORT" pochta
POCHTA_PID=$SERVED
POCHTAS=pochta
if [ "$PG" = 1 ]; then
	serve "$BIN/pochta" "$P-pg" "$GPORT" pochta-pg
	PG_PID=$SERVED
	POCHTAS="pochta pochta-pg"
	wait_port "$GPORT"
fi
EXTRAS= # servers of the one-login RETR rounds only
if [ -n "$OLD_BIN" ]; then
	serve "$OLD_BIN" "$P-old" "$OPORT" pochta-old
	OLD_PID=$SERVED
	EXTRAS="$EXTRAS pochta-old"
	wait_port "$OPORT"
fi
if [ "$FLOOR" = 1 ]; then
	"$BIN/pop3floor" -dir "$WORK/msgs" -addr "127.0.0.1:$FPORT" 2> "$WORK/pop3floor.log" &
	FLOOR_PID=$!
	PIDS+=("$FLOOR_PID")
	EXTRAS="$EXTRAS floor"
	wait_port "$FPORT"
fi
dovecot -c "$D/dovecot.conf"
wait_port "$PPORT"
wait_port "$DPORT"
kill -0 "$POCHTA_PID" 2>/dev/null || { echo "pochta serve exited, see $WORK/pochta-serve.log" >&2; exit 1; }
log "waiting for the text indexers to catch up with the new messages"
wait_indexed "$P"
if [ "$PG" = 1 ]; then
	wait_indexed "$P-pg" "$PGDSN"
	# The copy, the 100,000-message maildrop and its index leave the
	# tables for autovacuum, whose workers are backends of the same
	# database: counted in pochta-pg's CPU per message in whichever timed
	# runs they landed. Vacuum and analyze now, as the indexer is waited
	# for above.
	log "pochta-pg: VACUUM (ANALYZE)"
	psql "$PGDSN" -qc 'VACUUM (ANALYZE)'
fi
if [ -n "$OLD_BIN" ]; then wait_indexed "$P-old"; fi
DOVECOT_PID=$(cat "$D/run/master.pid")

# use_passwd argon2id|ssha256: switch Dovecot's password scheme. The
# passwd-file is re-read when it changes (it is not cached by auth_cache).
use_passwd() {
	sleep 1.1 # the passwd-file reload is keyed on mtime (seconds)
	cp "$D/passwd.$1" "$D/passwd"
}

# wait_quiet: on a shared machine, wait (at most QUIET_TRIES x 2 s) until
# the CPUs are at least QUIET idle over 2 s, so other work does not land
# in a run. When others keep the machine busy, lower QUIET and read the
# load1 column of results.txt: it says what each run competed with.
wait_quiet() {
	local a b
	awk "BEGIN {exit !($QUIET <= 0)}" && return
	for _ in $(seq 1 "$QUIET_TRIES"); do
		a=$(awk '/^cpu / {print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat); sleep 2
		b=$(awk '/^cpu / {print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat)
		echo "$a $b" | awk -v q="$QUIET" '{exit !(($4-$2) / ($3-$1) >= q)}' && return
	done
	log "machine still busy; running anyway"
}

# cpu_ticks SERVER: clock ticks of user+system time the server's
# processes used so far: Pochta's one process (for pochta-pg also the
# PostgreSQL backends serving its database); Dovecot's master, its live
# children and (cutime+cstime of the master) the children it reaped.
cpu_ticks() {
	local pids p stat
	case $1 in
	pochta) pids=$POCHTA_PID ;;
	floor) pids=$FLOOR_PID ;;
	pochta-old) pids=$OLD_PID ;;
	pochta-pg) pids="$PG_PID $(psql "$ADMIN_DSN" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$PGDB'" | tr '\n' ' ')" ;;
	*) pids="$DOVECOT_PID $(pgrep -P "$DOVECOT_PID" | tr '\n' ' ')" ;;
	esac
	for p in $pids; do
		# A process may end between listing and here: skip it.
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		# fields after the ")" of comm: 12 utime, 13 stime, 14 cutime, 15 cstime
		echo "${stat##*) }" | awk -v m="$([ "$p" = "$DOVECOT_PID" ] && echo 1)" '{ print $12 + $13 + (m ? $14 + $15 : 0) }'
	done | awk '{ s += $1 } END { print s + 0 }'
}

# run server label args...: one pochta-bench run, its RESULT line saved
# with the load average and the server's CPU time per message.
run() {
	local server=$1 label=$2 port out t0 t1 msgs
	shift 2
	wait_quiet
	case $server in
	pochta) port=$PPORT ;;
	pochta-pg) port=$GPORT ;;
	floor) port=$FPORT ;;
	pochta-old) port=$OPORT ;;
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

# ------------------------------------------------------------ the runs
log "warm-up (page cache, Dovecot indexes)"
for s in $POCHTAS $EXTRAS dovecot-argon2id; do
	run "$s" warmup -mode retr -c 8 -n "$NRETR" -users "u%d@$DOMAIN" -nusers "$NRETR" > /dev/null
done
sed -i '/ warmup /d' "$RES"

# The flagship runs: one login per client, then LIST and every message
# RETRed again and again, Pochta and Dovecot S alternating round by round
# so both see the same machine (the order reversed every other round);
# table.awk prints the medians.
use_passwd ssha256
for r in $(seq 1 "$ROUNDS"); do
	order="$POCHTAS dovecot-ssha256 $EXTRAS"
	[ $((r % 2)) = 0 ] && order=$(echo "$order" | tr ' ' '\n' | tac | tr '\n' ' ')
	for c in 1 8; do
		for s in $order; do
			run "$s" "retrp-c$c-r$r" -mode retr -persist -c "$c" -duration "$DURATION" -users "u%d@$DOMAIN" -nusers "$c"
		done
	done
done

[ "$RUNS" = retrp ] && IDLE=0
[ "$RUNS" = retrp ] || for scheme in argon2id ssha256; do
	use_passwd "$scheme"
	for c in $CONCS; do
		run "dovecot-$scheme" "sessions-c$c" -mode sessions -c "$c" -duration "$DURATION" -users "u%d@$DOMAIN" -nusers "$c"
		run "dovecot-$scheme" "retr-c$c" -mode retr -c "$c" -duration "$DURATION" -users "u%d@$DOMAIN" -nusers "$c"
	done
done
[ "$RUNS" = retrp ] || for c in $CONCS; do
	for s in $POCHTAS; do
		run "$s" "sessions-c$c" -mode sessions -c "$c" -duration "$DURATION" -users "u%d@$DOMAIN" -nusers "$c"
		run "$s" "retr-c$c" -mode retr -c "$c" -duration "$DURATION" -users "u%d@$DOMAIN" -nusers "$c"
	done
done

if [ "$RUNS" != retrp ]; then
log "fetchdel: $ROUNDS interleaved passes over $NFD maildrops of $NMSG messages"
printf '%s\n' $FD_USERS > "$WORK/fd-users.txt"
# Warm Pochta's credentials cache for the f* accounts, as the warm-up above
# did for u*: the runs measure steady state, not the first argon2id check.
for port in $PPORT $([ "$PG" = 1 ] && echo "$GPORT"); do
	"$BIN/pochta-bench" -addr "127.0.0.1:$port" -pass "$PASS" -mode sessions -c 8 -n "$NFD" \
		-users "$WORK/fd-users.txt" > /dev/null
done
# One pass each per round, both maildrop sets refilled (untimed) first, so
# Pochta and Dovecot S see the same machine; table.awk prints the medians.
# (Dovecot A would only add an argon2id check per session.)
use_passwd ssha256
for r in $(seq 1 "$ROUNDS"); do
	if [ "$r" -gt 1 ]; then
		"$WORK/refill-pochta.sh"
		"$WORK/refill-dovecot.sh"
		if [ "$PG" = 1 ]; then "$WORK/refill-pochta-pg.sh"; fi
	fi
	for s in $POCHTAS; do
		run "$s" "fetchdel-c8-r$r" -mode fetchdel -c 8 -n 1 -users "$WORK/fd-users.txt"
	done
	run dovecot-ssha256 "fetchdel-c8-r$r" -mode fetchdel -c 8 -n 1 -users "$WORK/fd-users.txt"
done
use_passwd argon2id

log "stat100k: $NBIG messages"
# Against Dovecot S: with argon2id every Dovecot login would add 100 ms or
# more of hashing to the whole-session figure.
for s in $POCHTAS; do
	run "$s" stat100k -mode stat100k -n 5 -users "big@$DOMAIN" -nusers 1
done
use_passwd ssha256
run dovecot-ssha256 stat100k -mode stat100k -n 5 -users "big@$DOMAIN" -nusers 1
use_passwd argon2id
fi

# -------------------------------------------------------------- memory
# rss_kb / pss_kb pid...: summed over the given processes.
rss_kb() { for p in "$@"; do awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }
pss_kb() { for p in "$@"; do awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }
pids_of() { # server: the processes whose memory counts
	if [ "$1" = pochta ]; then echo "$POCHTA_PID"; else echo "$DOVECOT_PID $(pgrep -P "$DOVECOT_PID" | tr '\n' ' ')"; fi
}
# settle server seconds: wait, then until two readings 20 s apart agree
# within 1%. Pochta needs minutes: Go forces a GC every 2 minutes and its
# scavenger then returns freed heap to the OS, so after a burst of argon2id
# logins (64 MiB each) its RSS takes about 5 minutes to come down. Dovecot's
# processes have no GC and exit when their session ends.
settle() {
	local a b
	sleep "$2"
	for _ in $(seq 1 15); do
		a=$(rss_kb $(pids_of "$1")); sleep 20; b=$(rss_kb $(pids_of "$1"))
		[ $((a - b)) -lt $((a / 100)) ] && [ $((b - a)) -lt $((a / 100)) ] && return
	done
}
# idle_run server port wait: hold NIDLE authenticated connections, read
# memory, close them, read memory again; the difference is their cost.
idle_run() {
	local server=$1 port=$2 wait=$3 base_rss base_pss rss pss nproc out conns bpid
	printf '%s\n' $IDLE_USERS > "$WORK/idle-users.txt"
	out=$WORK/idle-$server.out
	"$BIN/pochta-bench" -addr "127.0.0.1:$port" -pass "$PASS" -mode idle -c "$NIDLE" -hold 3600s \
		-users "$WORK/idle-users.txt" > "$out" &
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
	echo "$server idle RESULT mode=idle connections=$conns processes=$nproc base_rss_kb=$base_rss rss_kb=$rss base_pss_kb=$base_pss pss_kb=$pss rss_per_conn_kb=$(( (rss - base_rss) / conns )) pss_per_conn_kb=$(( (pss - base_pss) / conns ))" >> "$RES"
}
if [ "$IDLE" = 1 ]; then
	log "idle: $NIDLE authenticated connections each"
	idle_run pochta "$PPORT" "${MEMWAIT:-330}"
	use_passwd ssha256 # the scheme does not change a session's memory; it saves minutes of argon2id
	idle_run dovecot-ssha256 "$DPORT" 20
fi

# --------------------------------------------------------------- table
{
	echo
	echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {print int($2/1024)" MiB"}' /proc/meminfo)"
	echo "dovecot: $(dovecot --version)   go: $(go version | cut -d' ' -f3)   pochta: $(cd "$ROOT" && git rev-parse --short HEAD)"
	echo
	"$ROOT/bench/table.awk" "$RES"
} | tee "$WORK/table.txt"
log "raw results in $RES, logs in $WORK"
