#!/usr/bin/env bash
# smtp-vs-postfix.sh: a manual benchmark, Pochta's SMTP server (MX port)
# against Postfix's smtpd, on one machine, over loopback only, with the
# same client (pochta-bench -mode smtp), the same messages and the same
# recipients, measured side by side in one run. Not part of `go test`.
# Run it as root from anywhere in the repository:
#
#   apt-get install -y postfix      # once; the system instance stays stopped
#   bench/smtp-vs-postfix.sh
#
# A message counts when the server answered 250 to its data: Pochta's 250
# means stored durably in the mailbox (SQLite, group commit); Postfix's
# means its queue file is fsynced (local(8) delivers to Maildir later; the
# script reports how long the queue took to drain after each run).
#
# Postfix runs as a separate instance from $WORK/postfix (own main.cf,
# master.cf, queue): smtpd on 127.0.0.1:$FPORT without chroot, mydestination
# = bench.test, local delivery to ~/Maildir/ of Unix users pfb1..pfb8, no DNS.
#
# With PG=1, a second Pochta runs on the PostgreSQL engine (the local
# server, 127.0.0.1:5432 trust, as .ci/run starts it; a database of its
# own, dropped at the end) on 127.0.0.1:$GPORT, same accounts and flags,
# and every cell runs the three servers in turn.
#
# With BASE=REV (a git revision), one more Pochta on the SQLite engine,
# built at REV, runs on 127.0.0.1:$BPORT ("pochta-base"), interleaved
# with the others cell by cell: a before/after comparison in one run.
#
# CPU: each server runs in a cpuacct cgroup of its own (cgroup v1 at
# /sys/fs/cgroup/cpuacct, when there is one), which counts its exited
# children too (Postfix's smtpd, cleanup, local). cpu_ms is each run's CPU
# time per accepted message: Pochta's process; for PostgreSQL also the
# database's backends (/proc of the pids pg_stat_activity lists for its
# database; the WAL writer and checkpointer are not counted); Postfix's
# after its queue drained, so it includes local delivery, which Pochta
# does before its 250; Pochta's after its background text indexer caught
# up (drain_s, as Postfix's queue: before this, one run's indexing fell
# into the next run, which on PostgreSQL cut the one-client rate after a
# 64-client run by a third). On a machine shared with other jobs CPU time
# per message is steadier than messages per second.
#
# Knobs (environment): DURATION (per run, default 10s), WORK (scratch dir,
# default a new /tmp/smtpbench.*), CONCS ("1 8 64"), SIZES ("2048 10240
# 102400"), ROUNDS (1: how often the whole set of cells runs; each round
# runs every cell on every server in turn, and the table gives each
# server's median over the rounds), PG (0), ADMIN_DSN (where PG=1 creates
# its database), PORT0 (2525: Postfix's port, Pochta's the next ones) and
# USERS (pfb: the users' prefix), so that two runs can share a machine.
# Results: $WORK/results.txt (one RESULT line per run) and
# the table on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/smtpbench.XXXXXX)}
DURATION=${DURATION:-10s}
CONCS=${CONCS:-1 8 64}
SIZES=${SIZES:-2048 10240 102400}
PORT0=${PORT0:-2525}
FPORT=$PORT0         # Postfix smtpd
PPORT=$((PORT0 + 1)) # Pochta MX
GPORT=$((PORT0 + 2)) # Pochta MX on PostgreSQL (PG=1)
BPORT=$((PORT0 + 3)) # Pochta MX built at BASE (BASE=REV)
U=${USERS:-pfb}      # the users are $U1..$U8, Unix users for Postfix
BASE=${BASE:-}
ROUNDS=${ROUNDS:-1}
PG=${PG:-0}
ADMIN_DSN=${ADMIN_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
PGDB=pochta_smtpbench_$$
CG=/sys/fs/cgroup/cpuacct
DOMAIN=bench.test
NUSERS=8
BIN=$WORK/bin
P=$WORK/pochta
F=$WORK/postfix
RES=$WORK/results.txt

. "$ROOT/bench/lib.sh"
mkdir -p "$BIN"
: > "$RES"

PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	postfix -c "$F/etc" stop >/dev/null 2>&1 || true
	wait 2>/dev/null || true
	[ "$PG" = 1 ] && psql "$ADMIN_DSN" -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1
	rmdir "$CG"/smtpbench-$$-* 2>/dev/null
	true
}

# in_cgroup NAME CMD...: exec CMD (and whatever it starts) in cpuacct
# cgroup NAME, when cgroup v1 accounting is there. It replaces the shell
# it runs in: call it in a subshell or with &.
in_cgroup() {
	local g=$CG/smtpbench-$$-$1
	shift
	if [ -d "$CG" ] && mkdir -p "$g" 2>/dev/null; then
		echo "$BASHPID" > "$g/tasks"
	fi
	exec "$@"
}

# cpu_ns SERVER: CPU nanoseconds SERVER used so far (0 without cgroups).
cpu_ns() {
	local g=$CG/smtpbench-$$-$1 t=0 pid
	[ -f "$g/cpuacct.usage" ] && t=$(cat "$g/cpuacct.usage")
	if [ "$1" = pochta-pg ]; then
		for pid in $(psql "$ADMIN_DSN" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$PGDB'"); do
			t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0) * 1000000000 / $(getconf CLK_TCK)))
		done
	fi
	echo "$t"
}
trap cleanup EXIT

build_tools ./cmd/pochta ./cmd/pochta-bench
build_base

# --------------------------------------------------------------- Pochta
# The MX port checks SPF/DKIM/DMARC (smtp.auth_checks, on by default). An
# empty zone file answers every lookup at once, as a local caching resolver
# would, and keeps the run on loopback; the system resolver may not answer
# here at all and would add its timeout to every message. (Postfix runs
# with disable_dns_lookups and no policy checks.)
: > "$WORK/empty.zone"
# start_pochta DIR PORT LOG [init flags...]
start_pochta() {
	local dir=$1 port=$2 logf=$3 bin=$BIN
	shift 3
	[ "$(basename "$dir")" = pochta-base ] && bin=$BIN/base
	log "pochta: init $dir $*"
	"$bin/pochta" init -d "$dir" --domain "$DOMAIN" --hostname "mx.$DOMAIN" "$@" >/dev/null
	for i in $(seq 1 "$NUSERS"); do
		echo bench-pass | "$bin/pochta" -d "$dir" user add "$U$i@$DOMAIN" --password-stdin
	done
	local name
	name=$(basename "$dir")
	in_cgroup "$name" "$bin/pochta" -d "$dir" serve -o smtp.listen="127.0.0.1:$port" -o submission.listen= -o submissions.listen= \
		-o pop3.listen= -o pop3s.listen= -o http.listen= -o https.listen= -o metrics.listen= -o imap.listen= -o imaps.listen= \
		-o managesieve.listen= -o dns.zone_file="$WORK/empty.zone" \
		-o limits.max_connections_per_ip=0 -o log.level=warn 2>"$logf" &
	PIDS+=($!)
	wait_port "$port"
}
start_pochta "$P" "$PPORT" "$WORK/pochta.log"
SERVERS="pochta postfix"
if [ "$PG" = 1 ]; then
	psql "$ADMIN_DSN" -qc "CREATE DATABASE $PGDB"
	start_pochta "$WORK/pochta-pg" "$GPORT" "$WORK/pochta-pg.log" --postgres "${ADMIN_DSN%%/test*}/$PGDB?sslmode=disable"
	SERVERS="pochta pochta-pg postfix"
fi
if [ -n "$BASE" ]; then
	start_pochta "$WORK/pochta-base" "$BPORT" "$WORK/pochta-base.log"
	SERVERS="pochta-base $SERVERS"
fi

# -------------------------------------------------------------- Postfix
log "postfix: instance in $F"
mkdir -p "$F/etc" "$F/spool" "$F/data"
for i in $(seq 1 "$NUSERS"); do
	id "$U$i" >/dev/null 2>&1 || useradd --shell /usr/sbin/nologin "$U$i"
	usermod --home "$F/home/$U$i" "$U$i" # users may be left from an earlier run
	mkdir -p "$F/home/$U$i" && chown "$U$i" "$F/home/$U$i"
done
cp /etc/postfix/master.cf "$F/etc/master.cf"
# smtpd on the loopback high port, not chrooted; no port 25.
sed -i -E 's/^smtp( +)inet.*/127.0.0.1:'"$FPORT"' inet n - n - - smtpd/' "$F/etc/master.cf"
cat > "$F/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $F/spool
data_directory = $F/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.$DOMAIN
mydomain = $DOMAIN
mydestination = $DOMAIN
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
home_mailbox = Maildir/
alias_maps =
alias_database =
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_client_connection_rate_limit = 0
smtpd_client_connection_count_limit = 0
default_process_limit = 200
maillog_file = $F/maillog
maillog_file_prefixes = $F
biff = no
CF
chown postfix "$F/data"
# postfix(1) only runs a non-default configuration directory that the
# default main.cf registers (root may run any; a machine where the package
# was installed unconfigured has no default main.cf at all).
if [ -f /etc/postfix/main.cf ] && ! postconf -h alternate_config_directories | grep -q "$F/etc"; then
	postconf -e "alternate_config_directories = $(postconf -h alternate_config_directories) $F/etc"
fi
postfix -c "$F/etc" set-permissions >/dev/null 2>&1 || true
# postfix writes its errors only to the log; script(1) gives it a tty so
# a failed check is readable here.
script -qc "postfix -c $F/etc check" /dev/null
(in_cgroup postfix script -qc "postfix -c $F/etc start" /dev/null)
wait_port "$FPORT"

queue_empty() { postqueue -c "$F/etc" -p 2>/dev/null | grep -q "Mail queue is empty"; }

# ---------------------------------------------------------------- runs
for round in $(seq 1 "$ROUNDS"); do
for size in $SIZES; do
	for c in $CONCS; do
		for server in $SERVERS; do
			port=$PPORT
			[ "$server" = postfix ] && port=$FPORT
			[ "$server" = pochta-pg ] && port=$GPORT
			[ "$server" = pochta-base ] && port=$BPORT
			log "round $round: $server c=$c size=$size (load $(cut -d' ' -f1-3 /proc/loadavg))"
			cpu0=$(cpu_ns "$server")
			line=$("$BIN/pochta-bench" -mode smtp -addr "127.0.0.1:$port" -c "$c" -size "$size" \
				-duration "$DURATION" -users "$U%d@$DOMAIN" -nusers "$NUSERS" -from "bench@remote.test" | grep '^RESULT')
			drain=0 delivered=-
			if [ "$server" = postfix ]; then
				# How long local delivery needed to catch up with smtpd
				# (given up after 5 minutes), and how many it delivered.
				start=$(date +%s.%N)
				for _ in $(seq 1 1500); do queue_empty && break; sleep 0.2; done
				drain=$(echo "$(date +%s.%N) - $start" | bc)
				delivered=$(grep -c 'status=sent' "$F/maillog" || true)
				: > "$F/maillog"
			else
				# Pochta's own work after its 250: the text index of the
				# messages just stored. Waited for as Postfix's queue is,
				# so that it is counted in this run's CPU and not in the
				# next run's time.
				start=$(date +%s.%N)
				if [ "$server" = pochta-pg ]; then
					wait_indexed "$WORK/pochta-pg" "${ADMIN_DSN%%/test*}/$PGDB?sslmode=disable"
				else
					wait_indexed "$WORK/$server"
				fi
				drain=$(echo "$(date +%s.%N) - $start" | bc)
			fi
			msgs=$(echo "$line" | grep -o ' messages=[0-9]*' | cut -d= -f2)
			cpu_ms=$(echo "scale=3; ($(cpu_ns "$server") - $cpu0) / 1000000 / ($msgs + 0.000001)" | bc)
			echo "$server size=$size c=$c $line drain_s=$drain cpu_ms=$cpu_ms delivered=$delivered round=$round load1=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$RES" >&2
		done
	done
done
done

# --------------------------------------------------------------- table
# Each server's median over the rounds (of msg/s, and of p50 and p99
# separately); "PG/PF" and "PG/SQL" compare the medians.
awk -v servers="$SERVERS" '
function median(key,   n, i, a) {
	n = cnt[key]
	for (i = 1; i <= n; i++) a[i] = val[key, i] + 0
	return n ? med(a, n) : 0
}
# med sorts a[1..n] (n > 0) and returns its median.
function med(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	server = $1; size = $2; c = $3
	for (i = 5; i <= NF; i++) { split($i, kv, "="); k = server SUBSEP size SUBSEP c SUBSEP kv[1]; val[k, ++cnt[k]] = kv[2] }
	key = size " " c; if (!(key in seen)) { order[n++] = key; seen[key] = 1 }
}
END {
	ns = split(servers, sv, " ")
	printf "| size | c |"
	for (i = 1; i <= ns; i++) printf " %s msg/s | p50 ms | p99 ms | CPU ms/msg |", sv[i]
	printf " SQL/PF | PG/PF | PG/SQL | BASE/PF | rounds |\n|---|---|"
	for (i = 1; i <= ns; i++) printf "---|---|---|---|"
	printf "---|---|---|---|---|\n"
	for (k = 0; k < n; k++) {
		split(order[k], a, " "); s = a[1]; c = a[2]
		printf "| %s | %s |", s, c
		for (i = 1; i <= ns; i++) {
			m[sv[i]] = median(sv[i] SUBSEP s SUBSEP c SUBSEP "msgs_per_s")
			printf " %.1f | %.2f | %.2f | %.2f |", m[sv[i]], median(sv[i] SUBSEP s SUBSEP c SUBSEP "op_p50_ms"), median(sv[i] SUBSEP s SUBSEP c SUBSEP "op_p99_ms"), median(sv[i] SUBSEP s SUBSEP c SUBSEP "cpu_ms")
		}
		pf = m["postfix"]; sq = m["pochta"]; pg = m["pochta-pg"]; bs = m["pochta-base"]
		printf " %.2f | %s | %s | %s | %d |\n", (pf > 0 ? sq / pf : 0), (pg > 0 && pf > 0 ? sprintf("%.2f", pg / pf) : "-"), (pg > 0 && sq > 0 ? sprintf("%.2f", pg / sq) : "-"), (bs > 0 && pf > 0 ? sprintf("%.2f", bs / pf) : "-"), cnt["pochta" SUBSEP s SUBSEP c SUBSEP "msgs_per_s"]
	}
	# The ratio of two medians can pair a fast round of one server with a
	# slow one of the other; the same-round ratios cannot.
	print ""
	print "same-round ratios to Postfix (msg/s), round by round, and their median:"
	for (k = 0; k < n; k++) {
		split(order[k], a, " "); s = a[1]; c = a[2]
		printf "  %s octets, %s clients:", s, c
		for (i = 1; i <= ns; i++) if (sv[i] != "postfix") printf "  %s%s", sv[i], roundRatios(sv[i] SUBSEP s SUBSEP c SUBSEP "msgs_per_s", "postfix" SUBSEP s SUBSEP c SUBSEP "msgs_per_s")
		printf "\n"
	}
}
# roundRatios lists val[key, r] / val[base, r] for every round r both
# have, then their median.
function roundRatios(key, base,    r, n, out, x) {
	n = 0; out = ""
	for (r = 1; r <= cnt[key] && r <= cnt[base]; r++) {
		if (val[base, r] + 0 == 0) continue
		x[++n] = val[key, r] / val[base, r]
		out = out sprintf(" %.2f", x[n])
	}
	return n ? out sprintf(" (median %.2f)", med(x, n)) : " -"
}' "$RES" | sed 's/size=//g; s/c=//g'
log "results in $RES"
