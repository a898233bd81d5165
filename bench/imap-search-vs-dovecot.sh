#!/usr/bin/env bash
# imap-search-vs-dovecot.sh: a manual benchmark of SEARCH BODY over one
# mailbox of NMSG messages (default 10,000), Pochta against Dovecot 2.3
# without a full-text index, on one machine over loopback, with
# byte-identical messages. Not part of `go test`. Run it as root (Dovecot's
# master must start as root):
#
#   apt-get install -y dovecot-core dovecot-imapd   # once; keep the system service stopped
#   bench/imap-search-vs-dovecot.sh
#
# Each server gets one logged-in connection that SELECTs the mailbox, runs
# one warm-up SEARCH (page cache, Dovecot's index, Pochta's statement
# cache), then ROUNDS timed "SEARCH BODY <string no message has>" (every
# message is read) and ROUNDS timed "SEARCH BODY <string in one message>".
# The client is Python's imaplib; its cost is one short response per
# command. Then the memory check: 20 connections of another account log in
# (one after the other: logins cost argon2id memory of their own), the
# server's peak RSS is reset (/proc/PID/clear_refs), the 20 run SEARCH BODY
# at once over one 45 MB message, and the peak RSS is read (VmHWM).
# Pochta answers from its text index (docs/IMAP.md): the disk the index
# takes is measured after the messages are stored (SQLite's dbstat: the
# text_index tables and the messages_text_doc index, against the database
# and the message files). The issue's target is 100,000 messages:
#
#   NMSG=100000 ROUNDS=3 bench/imap-search-vs-dovecot.sh
#
# Knobs: NMSG, ROUNDS (5), WORK (scratch dir, kept), TEXT (a text file
# genmail draws body lines from, instead of its few hundred words), PG=1
# (the same messages are also stored in a third server, Pochta on its
# PostgreSQL engine, in a database of its own on ADMIN_DSN's server,
# dropped at the end, as the other bench scripts do; it is timed between
# the other two and its index's disk is measured with
# pg_total_relation_size). Each engine's index is also given against the
# sum of the stored message sizes. Pochta serves IMAP only: every other
# listener is off (lib.sh listeners_off), so a running server's ports do
# not collide.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/searchbench.XXXXXX)}
NMSG=${NMSG:-10000}
ROUNDS=${ROUNDS:-5}
PPORT=11253 # Pochta, IMAP
DPORT=11254 # Dovecot, IMAP
GPORT=11255 # Pochta on PostgreSQL, IMAP (with PG=1)
PG=${PG:-0}
ADMIN_DSN=${ADMIN_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
PGDB=pochta_searchbench_$$
PGDSN=${ADMIN_DSN%%/test*}/$PGDB?sslmode=disable
PASS=bench-Secret-7
DOMAIN=bench.test
USER=s1@$DOMAIN
BIGUSER=s2@$DOMAIN
BIN=$WORK/bin
P=$WORK/pochta
D=$WORK/dovecot

. "$ROOT/bench/lib.sh"
open_to_dovecot "$WORK"
mkdir -p "$BIN" "$D"

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

build_tools ./cmd/pochta ./bench/genmail ./bench/maildirput ./bench/bulkdeliver

log "generating $NMSG messages"
"$BIN/genmail" -dir "$WORK/msgs" -n "$NMSG" -min 2000 -max 20000 -seed 7 ${TEXT:+-text "$TEXT"}
# The string found once: a line added to the middle message.
MID=$(printf '%06d.eml' $((NMSG / 2)))
printf 'a rare phrase for the benchmark\r\n' >> "$WORK/msgs/$MID"

log "pochta: init, account, messages"
"$BIN/pochta" init -d "$P" --domain "$DOMAIN" --hostname "mail.$DOMAIN" > "$WORK/pochta-init.log"
echo "$PASS" | "$BIN/pochta" -d "$P" user add "$USER" --password-stdin > /dev/null
"$BIN/bulkdeliver" -d "$P" -to "$USER" -src "$WORK/msgs" > /dev/null
sqlite3 "$P/pochta.db" 'PRAGMA wal_checkpoint(TRUNCATE)' > /dev/null
DISK=$(python3 - "$P" <<'PY'
import os, sqlite3, sys
d = sys.argv[1]
db = sqlite3.connect(os.path.join(d, "pochta.db"))
index = db.execute("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'text_index%' OR name = 'messages_text_doc'").fetchone()[0]
bodies = db.execute("SELECT sum(size) FROM messages").fetchone()[0]
total = os.path.getsize(os.path.join(d, "pochta.db"))
for root, _, files in os.walk(os.path.join(d, "messages")):
    total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
print(f"RESULT pochta disk store_bytes={total} index_bytes={index} overhead_pct={100 * index / (total - index):.1f} message_bytes={bodies} of_messages_pct={100 * index / bodies:.1f}")
PY
)
if [ "$PG" = 1 ]; then
	log "pochta on PostgreSQL: init, account, messages, indexing"
	psql "$ADMIN_DSN" -qc "CREATE DATABASE $PGDB"
	G=$WORK/pochta-pg
	"$BIN/pochta" init -d "$G" --postgres "$PGDSN" --domain "$DOMAIN" --hostname "mail.$DOMAIN" > "$WORK/pochta-pg-init.log"
	echo "$PASS" | "$BIN/pochta" -d "$G" user add "$USER" --password-stdin > /dev/null
	"$BIN/bulkdeliver" -d "$G" -to "$USER" -src "$WORK/msgs" > "$WORK/pochta-pg-bulk.log"
	PGDISK=$(psql "$PGDSN" -At -c "SELECT 'RESULT pochta-pg disk db_bytes=' || pg_database_size(current_database())
		|| ' index_bytes=' || i || ' message_bytes=' || b || ' of_messages_pct=' || round(100.0 * i / b, 1)
		FROM (SELECT pg_total_relation_size('text_postings') + pg_total_relation_size('text_docs')
			+ pg_total_relation_size('text_accounts') AS i, (SELECT sum(size) FROM bodies) AS b) x")
fi
echo "$PASS" | "$BIN/pochta" -d "$P" user add "$BIGUSER" --password-stdin > /dev/null
mkdir -p "$WORK/big"
python3 - "$WORK/big/000001.eml" <<'PY'
import sys
line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
with open(sys.argv[1], "w", newline="") as f:
    f.write("From: Ann <ann@example.org>\r\nSubject: big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
    f.write(line * (45 * 1024 * 1024 // len(line)))
    f.write("the needle at the end\r\n")
PY
"$BIN/bulkdeliver" -d "$P" -to "$BIGUSER" -src "$WORK/big" > /dev/null

log "dovecot: config, passwd-file, Maildir"
mkdir -p "$D/run" "$D/mail"
echo "$USER:$(doveadm pw -s SSHA256 -p "$PASS")::::::" > "$D/passwd"
dovecot_conf imap pochta-searchbench-dovecot < /dev/null
chown nobody:nogroup "$D/mail"
dovecot_fill "$WORK/msgs" "$USER"

log "starting servers: pochta 127.0.0.1:$PPORT, dovecot 127.0.0.1:$DPORT"
mapfile -t OFF < <(listeners_off "$ROOT" imap.listen)
"$BIN/pochta" -d "$P" serve -o "imap.listen=127.0.0.1:$PPORT" "${OFF[@]}" 2> "$WORK/pochta-serve.log" &
POCHTA_PID=$!
PIDS+=("$POCHTA_PID")
dovecot -c "$D/dovecot.conf"
if [ "$PG" = 1 ]; then
	"$BIN/pochta" -d "$G" serve -o "imap.listen=127.0.0.1:$GPORT" "${OFF[@]}" 2> "$WORK/pochta-pg-serve.log" &
	PIDS+=($!)
	wait_port "$GPORT"
fi
wait_port "$PPORT"
wait_port "$DPORT"

time_search() { # server port
	python3 - "$1" "$2" "$USER" "$PASS" "$ROUNDS" <<'PY'
import imaplib, sys, time, statistics
name, port, user, password, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
c = imaplib.IMAP4("127.0.0.1", port)
c.login(user, password)
typ, data = c.select("INBOX", readonly=True)
n = int(data[0])
c.search(None, "BODY", '"warm up"')
for label, needle, want in (("absent", '"no such words anywhere"', 0), ("once", '"a rare phrase for the benchmark"', 1)):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        typ, data = c.search(None, "BODY", needle)
        times.append(time.perf_counter() - t)
        got = len(data[0].split())
        if typ != "OK" or got != want:
            sys.exit(f"{name}: SEARCH BODY {needle}: {typ} {got} hits, want {want}")
    print(f"RESULT {name} {label} messages={n} median_ms={statistics.median(times)*1000:.0f} min_ms={min(times)*1000:.0f} max_ms={max(times)*1000:.0f}")
c.logout()
PY
}

{
	echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "dovecot: $(dovecot --version)   pochta: $(cd "$ROOT" && git rev-parse --short HEAD)"
	echo "$DISK"
	[ "$PG" != 1 ] || echo "$PGDISK"
	for _ in 1 2; do
		time_search pochta "$PPORT"
		[ "$PG" != 1 ] || time_search pochta-pg "$GPORT"
		time_search dovecot "$DPORT"
	done
	python3 - "$POCHTA_PID" "$PPORT" "$BIGUSER" "$PASS" <<'PY'
import imaplib, sys, threading
pid, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def kib(key):
    return next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith(key))
conns = []
for _ in range(20):
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login(user, password)
    c.select("INBOX", readonly=True)
    conns.append(c)
base = kib("VmRSS:")
open(f"/proc/{pid}/clear_refs", "w").write("5")
bad = []
def one(c):
    typ, data = c.search(None, "BODY", '"NEEDLE AT THE END"')
    if typ != "OK" or data[0] != b"1":
        bad.append((typ, data))
threads = [threading.Thread(target=one, args=(c,)) for c in conns]
for t in threads: t.start()
for t in threads: t.join()
if bad:
    sys.exit(f"SEARCH BODY on the 45 MB message: {bad[:3]}")
print(f"RESULT pochta memory parallel=20 message_mb=45 rss_before_kb={base} peak_rss_kb={kib('VmHWM:')}")
PY
} | tee "$WORK/results.txt"
