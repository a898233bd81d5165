#!/usr/bin/env bash
# queue-vs-postfix.sh: a manual benchmark of outbound relaying, Pochta's
# queue against Postfix's own queue, on one machine, over loopback only.
# Each sender starts with the same N queued messages (genmail, 10 KB, one
# recipient each) for the same destination and relays them to the same
# receiver; the figure is the time from "go" until its queue is empty.
# Run as root from anywhere in the repository:
#
#   apt-get install -y postfix      # once; the system instance stays unconfigured and stopped
#   bench/queue-vs-postfix.sh
#
# Receivers (both on loopback):
#   plain: Postfix's smtp-sink (PIPELINING, no STARTTLS), dumping every
#          transaction to a file: afterwards sinkcheck proves each message
#          arrived once with its body byte-identical;
#   tls:   a private Postfix instance offering STARTTLS that discards what
#          it receives (relay_transport = discard): its log proves each
#          Message-ID arrived once, and counts connections and TLS sessions.
#
# Senders:
#   pochta:  a fresh data dir; bench/bulkdeliver puts the N messages on the
#            outbound queue while no server runs; "go" is starting `pochta
#            serve` (one unused listener, queue.routes=sink.test=RECEIVER);
#            done when `pochta queue list` is empty. Queue defaults
#            (16 workers, 4 sessions per domain, reuse on).
#   postfix: a private instance (own config dir, queue, log) with
#            relayhost = [RECEIVER], its defaults otherwise (20 sessions per
#            destination, connection cache on demand), the TLS session
#            cache Debian's default main.cf sets, smtp_tls_security_level =
#            may; the N messages are injected over SMTP (its smtpd on
#            127.0.0.1:IPORT) while defer_transports = smtp holds them; "go" is clearing
#            defer_transports, reload and `postqueue -f`; done when its
#            incoming, active and deferred queues are empty.
# The senders alternate, run after run, under the same load: REPS rounds
# of pochta then postfix per receiver. Medians are taken over the rounds.
#
# Knobs (environment): N (messages, default 2000), SIZE (octets, 10240),
# REPS (rounds, 3), CASES ("plain tls"), WORK (scratch dir, default a new
# /tmp/queuebench.*), BASE (a git revision: Pochta built at BASE runs as a
# third sender, "pochta-base", in every round, so a change is measured
# before and after in the same run). Results: $WORK/results.txt (one
# RESULT line per run) and the table on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/queuebench.XXXXXX)}
N=${N:-2000}
SIZE=${SIZE:-10240}
REPS=${REPS:-3}
CASES=${CASES:-plain tls}
BASE=${BASE:-}
SPORT=2627   # smtp-sink
TPORT=2628   # receiving Postfix with STARTTLS
PPORT=2629   # Pochta's MX listener (serve needs one; unused)
IPORT=2630   # the sending Postfix's smtpd, for injecting the messages
BIN=$WORK/bin
MSGS=$WORK/msgs
P=$WORK/pochta
PFS=$WORK/pfsend   # sending Postfix
PFR=$WORK/pfrecv   # receiving Postfix
DUMP=$WORK/dump
RES=$WORK/results.txt
FROM=bench@example.test
RCPT=rcpt@sink.test

. "$ROOT/bench/lib.sh"
mkdir -p "$BIN"
chmod 755 "$WORK"
: > "$RES"

PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	postfix -c "$PFS/etc" stop >/dev/null 2>&1 || true
	postfix -c "$PFR/etc" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

for port in $SPORT $TPORT $PPORT $IPORT; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "127.0.0.1:$port is in use (an earlier run still going?)" >&2
		exit 1
	fi
done
build_tools ./cmd/pochta ./bench/genmail ./bench/bulkdeliver ./bench/sinkcheck
build_base
SENDERS="pochta postfix"
[ -n "$BASE" ] && SENDERS="pochta pochta-base postfix"
log "genmail: $N messages of $SIZE octets"
"$BIN/genmail" -dir "$MSGS" -n "$N" -min "$SIZE" -max "$SIZE" >/dev/null

# postfix_instance DIR NAME: a private Postfix config dir, queue and log;
# main.cf lines from standard input are appended. No smtpd unless the
# caller puts one in master.cf.
postfix_instance() {
	local d=$1 name=$2
	mkdir -p "$d/etc" "$d/spool" "$d/data"
	chown postfix "$d/data"
	sed -E '/^smtp +inet/d' /etc/postfix/master.cf > "$d/etc/master.cf"
	{
		cat <<CF
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = $name
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
disable_dns_lookups = yes
smtp_dns_support_level = disabled
maillog_file = $d/maillog
maillog_file_prefixes = $d
biff = no
CF
		cat
	} > "$d/etc/main.cf"
	script -qc "postfix -c $d/etc check" /dev/null
}

# ------------------------------------------------------------ receivers
mkdir -p "$DUMP" && chown postfix "$DUMP"
smtp-sink -u postfix -d "$DUMP/%H%M%S." "127.0.0.1:$SPORT" 256 &
PIDS+=($!)
wait_port "$SPORT"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mx.sink.test" \
	-keyout "$WORK/sink.key" -out "$WORK/sink.crt" 2>/dev/null
postfix_instance "$PFR" mx.sink.test <<CF
relay_domains = sink.test
relay_transport = discard
smtpd_tls_cert_file = $WORK/sink.crt
smtpd_tls_key_file = $WORK/sink.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_session_cache_database = btree:$PFR/data/smtpd_scache
smtpd_client_connection_rate_limit = 0
smtpd_client_connection_count_limit = 0
default_process_limit = 200
CF
echo "127.0.0.1:$TPORT inet n - n - - smtpd" >> "$PFR/etc/master.cf"
script -qc "postfix -c $PFR/etc start" /dev/null
wait_port "$TPORT"

# -------------------------------------------------------------- senders
postfix_instance "$PFS" mail.example.test <<CF
defer_transports = smtp
smtp_tls_security_level = may
smtp_tls_session_cache_database = btree:$PFS/data/smtp_scache
CF
echo "127.0.0.1:$IPORT inet n - n - - smtpd" >> "$PFS/etc/master.cf"
script -qc "postfix -c $PFS/etc start" /dev/null
wait_port "$IPORT"

pf_queued() { find "$PFS/spool/maildrop" "$PFS/spool/incoming" "$PFS/spool/active" "$PFS/spool/deferred" -type f | wc -l; }
pf_deferred() { find "$PFS/spool/deferred" -type f | wc -l; }

# now: seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# cpu_of PID...: CPU seconds (user + system) the processes used, with
# their reaped children.
cpu_of() {
	local hz total=0 pid
	hz=$(getconf CLK_TCK)
	for pid in "$@"; do
		[ -r "/proc/$pid/stat" ] || continue
		total=$((total + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat")))
	done
	echo "scale=2; $total / $hz" | bc
}

# pf_pids: the processes of the sending Postfix (master and its children).
pf_pids() {
	local pid
	for pid in /proc/[0-9]*; do
		[ "$(readlink "$pid/cwd" 2>/dev/null)" = "$PFS/spool" ] && echo "${pid#/proc/}"
	done
}

# run_pochta RECEIVER [PBIN]: one drain of Pochta's queue (the Pochta in
# PBIN, default $BIN); prints seconds.
run_pochta() {
	local pbin=${2:-$BIN} src=$ROOT
	[ "$pbin" != "$BIN" ] && src=$WORK/base-src
	rm -rf "$P"
	"$pbin/pochta" init -d "$P" --domain example.test --hostname mail.example.test >/dev/null
	"$pbin/bulkdeliver" -d "$P" -to "$RCPT" -from "$FROM" -src "$MSGS" >/dev/null
	local t0 t1 pid off
	# Every listener off but the MX one (serve needs one; loopback only).
	mapfile -t off < <(listeners_off "$src" smtp.listen)
	t0=$(now)
	"$pbin/pochta" -d "$P" serve "${off[@]}" -o smtp.listen=127.0.0.1:$PPORT \
		-o queue.routes="sink.test=127.0.0.1:$1" -o queue.poll_interval=100ms \
		2>"$WORK/pochta.log" &
	pid=$!
	# Done when the log has N "queued message done" lines (each written
	# after the message left the queue): a grep costs less of the shared
	# CPUs than a `pochta queue list` process every 50 ms.
	local finished=0
	while [ "$finished" -lt "$N" ]; do
		kill -0 "$pid" 2>/dev/null || { echo "pochta serve died:" >&2; cat "$WORK/pochta.log" >&2; return 1; }
		sleep 0.05
		finished=$(grep -ac 'msg="queued message done"' "$WORK/pochta.log" 2>/dev/null)
		finished=${finished:-0}
	done
	t1=$(now)
	echo "$(cpu_of "$pid")" > "$WORK/cpu"
	kill "$pid"; wait "$pid" || true
	if [ -n "$("$pbin/pochta" -d "$P" queue list | head -1)" ]; then
		echo "pochta: queue not empty after $N done" >&2
		return 1
	fi
	echo "$t1 - $t0" | bc
}

# run_pochta-base RECEIVER: the same with Pochta at $BASE.
run_pochta-base() { run_pochta "$1" "$BIN/base"; }

# run_postfix RECEIVER: one drain of Postfix's queue; prints seconds.
run_postfix() {
	postconf -c "$PFS/etc" -e "relayhost = [127.0.0.1]:$1" "defer_transports = smtp"
	postfix -c "$PFS/etc" reload >/dev/null 2>&1
	# Injected over SMTP on one connection (sendmail(1) forks a postdrop
	# per message: minutes for 2,000 on a busy machine).
	python3 - "$IPORT" "$FROM" "$RCPT" "$MSGS" <<'PY'
import os, smtplib, sys
port, sender, rcpt, src = sys.argv[1:]
s = smtplib.SMTP("127.0.0.1", int(port))
for name in sorted(os.listdir(src)):
    with open(os.path.join(src, name), "rb") as f:
        s.sendmail(sender, [rcpt], f.read())
s.quit()
PY
	for _ in $(seq 1 600); do [ "$(pf_deferred)" -ge "$N" ] && [ "$(pf_queued)" -eq "$N" ] && break; sleep 0.2; done
	: > "$PFS/maillog"
	local t0 t1 cpu0
	postconf -c "$PFS/etc" -e "defer_transports ="
	# shellcheck disable=SC2046
	cpu0=$(cpu_of $(pf_pids))
	t0=$(now)
	postfix -c "$PFS/etc" reload >/dev/null 2>&1
	postqueue -c "$PFS/etc" -f
	# reload is asynchronous: a flush that reaches the old qmgr, which still
	# has defer_transports = smtp, puts every message back in deferred with
	# a backoff of minutes (seen: a whole round of 2,000 stuck that way).
	# Flush again every second until the queue is empty; an extra flush can
	# only make Postfix faster.
	local polls=0
	while [ "$(pf_queued)" -gt 0 ]; do
		sleep 0.05
		polls=$((polls + 1))
		[ $((polls % 20)) -eq 0 ] && postqueue -c "$PFS/etc" -f
	done
	t1=$(now)
	# shellcheck disable=SC2046
	echo "$(cpu_of $(pf_pids)) - $cpu0" | bc > "$WORK/cpu"
	echo "$t1 - $t0" | bc
}

# ----------------------------------------------------------------- runs
for case in $CASES; do
	port=$SPORT
	[ "$case" = tls ] && port=$TPORT
	for rep in $(seq 1 "$REPS"); do
		for sender in $SENDERS; do
			rm -f "$DUMP"/*
			: > "$PFR/maillog"
			log "$case round $rep: $sender"
			secs=$("run_$sender" "$port")
			# Receiver-side proof: each message once (and for smtp-sink,
			# each body intact); connections and TLS sessions seen.
			if [ "$case" = plain ]; then
				check=$("$BIN/sinkcheck" -src "$MSGS" -got "$DUMP" || true)
				check=${check#RESULT }
				conns=-
				tls=-
			else
				sleep 1 # let the receiver's cleanup log the last ones
				ids=$(grep -ao 'message-id=<[^>]*>' "$PFR/maillog" || true)
				check="received=$(printf '%s\n' "$ids" | grep -c . || true) distinct=$(printf '%s\n' "$ids" | sort -u | grep -c . || true) duplicates=$(printf '%s\n' "$ids" | sort | uniq -d | grep -c . || true)"
				conns=$(grep -ac ': connect from' "$PFR/maillog" || true)
				tls=$(grep -ac 'TLS connection established from' "$PFR/maillog" || true)
			fi
			if [ "$sender" != postfix ]; then
				sessions=$(grep -ac 'session_messages=1 ' "$WORK/pochta.log" || true)
			else
				sessions=$(grep -a 'status=sent' "$PFS/maillog" | grep -avc 'conn_use=' || true)
			fi
			rate=$(echo "scale=1; $N / $secs" | bc)
			echo "RESULT case=$case sender=$sender round=$rep seconds=$secs msgs_per_s=$rate sender_cpu_s=$(cat "$WORK/cpu") sender_sessions=$sessions receiver_conns=$conns receiver_tls=$tls $check" | tee -a "$RES" >&2
		done
	done
done

# ---------------------------------------------------------------- table
awk '
{
	for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	key = f["case"] " " f["sender"]
	n[key]++; s[key, n[key]] = f["seconds"]; c[key, n[key]] = f["sender_cpu_s"]; sess[key] = sess[key] " " f["sender_sessions"]
	if (!(f["case"] in seen)) { order[nc++] = f["case"]; seen[f["case"]] = 1 }
}
function median(key, v,   i, j, t, a, m) {
	m = n[key]; for (i = 1; i <= m; i++) a[i] = v[key, i]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
	printf "| receiver | Pochta s (median) | msg/s | Postfix s (median) | msg/s | Pochta/Postfix | Pochta CPU s | Postfix CPU s | Pochta sessions | Postfix sessions |\n|---|---|---|---|---|---|---|---|---|---|\n"
	for (k = 0; k < nc; k++) {
		r = order[k]; p = median(r " pochta", s); q = median(r " postfix", s)
		printf "| %s | %.2f | %.0f | %.2f | %.0f | %.2fx | %.2f | %.2f | %s | %s |\n", r, p, '"$N"' / p, q, '"$N"' / q, q / p, median(r " pochta", c), median(r " postfix", c), sess[r " pochta"], sess[r " postfix"]
	}
	for (k = 0; k < nc; k++) {
		r = order[k]
		if (!n[r " pochta-base"]) continue
		if (!hdr++) printf "\n| receiver | Pochta at BASE s (median) | msg/s | BASE/Postfix | BASE CPU s | Pochta/BASE |\n|---|---|---|---|---|---|\n"
		b = median(r " pochta-base", s)
		printf "| %s | %.2f | %.0f | %.2fx | %.2f | %.2fx |\n", r, b, '"$N"' / b, median(r " postfix", s) / b, median(r " pochta-base", c), b / median(r " pochta", s)
	}
}' "$RES"
log "results in $RES"
