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
# Knobs (environment): DURATION (per run, default 10s), WORK (scratch dir,
# default a new /tmp/smtpbench.*), CONCS ("1 8 64"), SIZES ("2048 10240
# 102400"). Results: $WORK/results.txt (one RESULT line per run) and the
# table on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/smtpbench.XXXXXX)}
DURATION=${DURATION:-10s}
CONCS=${CONCS:-1 8 64}
SIZES=${SIZES:-2048 10240 102400}
PPORT=2526   # Pochta MX
FPORT=2525   # Postfix smtpd
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
}
trap cleanup EXIT

build_tools ./cmd/pochta ./cmd/pochta-bench

# --------------------------------------------------------------- Pochta
log "pochta: init $P"
"$BIN/pochta" init -d "$P" --domain "$DOMAIN" --hostname "mx.$DOMAIN" >/dev/null
for i in $(seq 1 "$NUSERS"); do
	echo bench-pass | "$BIN/pochta" -d "$P" user add "pfb$i@$DOMAIN" --password-stdin
done
# The MX port checks SPF/DKIM/DMARC (smtp.auth_checks, on by default). An
# empty zone file answers every lookup at once, as a local caching resolver
# would, and keeps the run on loopback; the system resolver may not answer
# here at all and would add its timeout to every message. (Postfix runs
# with disable_dns_lookups and no policy checks.)
: > "$WORK/empty.zone"
"$BIN/pochta" -d "$P" serve -o smtp.listen="127.0.0.1:$PPORT" -o submission.listen= -o submissions.listen= \
	-o pop3.listen= -o pop3s.listen= -o http.listen= -o https.listen= -o metrics.listen= -o imap.listen= -o imaps.listen= \
	-o dns.zone_file="$WORK/empty.zone" \
	-o limits.max_connections_per_ip=0 -o log.level=warn 2>"$WORK/pochta.log" &
PIDS+=($!)
wait_port "$PPORT"

# -------------------------------------------------------------- Postfix
log "postfix: instance in $F"
mkdir -p "$F/etc" "$F/spool" "$F/data"
for i in $(seq 1 "$NUSERS"); do
	id "pfb$i" >/dev/null 2>&1 || useradd --shell /usr/sbin/nologin "pfb$i"
	usermod --home "$F/home/pfb$i" "pfb$i" # users may be left from an earlier run
	mkdir -p "$F/home/pfb$i" && chown "pfb$i" "$F/home/pfb$i"
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
# postfix(1) only runs a non-default configuration directory that the
# default main.cf registers.
if ! postconf -h alternate_config_directories | grep -q "$F/etc"; then
	postconf -e "alternate_config_directories = $(postconf -h alternate_config_directories) $F/etc"
fi
postfix -c "$F/etc" set-permissions >/dev/null 2>&1 || true
# postfix writes its errors only to the log; script(1) gives it a tty so
# a failed check is readable here.
script -qc "postfix -c $F/etc check" /dev/null
script -qc "postfix -c $F/etc start" /dev/null
wait_port "$FPORT"

queue_empty() { postqueue -c "$F/etc" -p 2>/dev/null | grep -q "Mail queue is empty"; }

# ---------------------------------------------------------------- runs
for size in $SIZES; do
	for c in $CONCS; do
		for server in pochta postfix; do
			port=$PPORT
			[ "$server" = postfix ] && port=$FPORT
			log "$server c=$c size=$size"
			line=$("$BIN/pochta-bench" -mode smtp -addr "127.0.0.1:$port" -c "$c" -size "$size" \
				-duration "$DURATION" -users "pfb%d@$DOMAIN" -nusers "$NUSERS" -from "bench@remote.test" | grep '^RESULT')
			drain=0 delivered=-
			if [ "$server" = postfix ]; then
				# How long local delivery needed to catch up with smtpd
				# (given up after 5 minutes), and how many it delivered.
				start=$(date +%s.%N)
				for _ in $(seq 1 1500); do queue_empty && break; sleep 0.2; done
				drain=$(echo "$(date +%s.%N) - $start" | bc)
				delivered=$(grep -c 'status=sent' "$F/maillog" || true)
				: > "$F/maillog"
			fi
			echo "$server size=$size c=$c $line drain_s=$drain delivered=$delivered" | tee -a "$RES" >&2
		done
	done
done

# --------------------------------------------------------------- table
awk '
{
	server = $1; size = $2; c = $3
	for (i = 5; i <= NF; i++) { split($i, kv, "="); v[server, size, c, kv[1]] = kv[2] }
	key = size " " c; if (!(key in seen)) { order[n++] = key; seen[key] = 1 }
}
END {
	printf "| %-12s | %3s | %12s | %9s | %9s | %12s | %9s | %9s | %8s | %9s |\n", "size", "c", "Pochta msg/s", "p50 ms", "p99 ms", "Postfix msg/s", "p50 ms", "p99 ms", "ratio", "pf drain s"
	printf "|%s|\n", "--------------|-----|--------------|-----------|-----------|---------------|-----------|-----------|----------|-----------"
	for (k = 0; k < n; k++) {
		split(order[k], a, " "); s = a[1]; c = a[2]
		p = v["pochta", s, c, "msgs_per_s"]; f = v["postfix", s, c, "msgs_per_s"]
		printf "| %-12s | %3s | %12s | %9s | %9s | %13s | %9s | %9s | %8.2f | %9s |\n", s, c, p, v["pochta", s, c, "op_p50_ms"], v["pochta", s, c, "op_p99_ms"], f, v["postfix", s, c, "op_p50_ms"], v["postfix", s, c, "op_p99_ms"], (f > 0 ? p / f : 0), v["postfix", s, c, "drain_s"]
	}
}' "$RES" | sed 's/size=//g; s/c=//g'
log "results in $RES"
