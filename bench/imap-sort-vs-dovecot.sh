#!/usr/bin/env bash
# imap-sort-vs-dovecot.sh: a manual benchmark of SORT and THREAD over one
# mailbox of NMSG messages (default 10,000), Pochta against Dovecot 2.3,
# on one machine over loopback, with byte-identical messages. Not part of
# `go test`. Run it as root (Dovecot's master must start as root):
#
#   apt-get install -y dovecot-core dovecot-imapd   # once; keep the system service stopped
#   bench/imap-sort-vs-dovecot.sh
#
# Each server gets one logged-in connection (Python's imaplib) that
# SELECTs the mailbox and runs each command once to warm up (Pochta's
# summary and sort-key caches, Dovecot's index and its sort and thread
# data), then the servers take turns, ROUNDS times, each timing REPS runs
# of each command; the table gives the median time per command over all
# of a server's runs and the commands per second it means. The answers
# are compared too, as lists of Message-IDs (the servers number the
# messages in different orders: Dovecot's follow its directory listing);
# they may differ where RFC 5256 leaves room (ties keep sequence order).
# Knobs: NMSG, ROUNDS (3), REPS (20), WORK (scratch dir, kept), BASE (a
# git revision: Pochta at BASE runs too, on a copy of the same data made
# with BASE's tools: before/after in one run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/sortbench.XXXXXX)}
NMSG=${NMSG:-10000}
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-20}
BASE=${BASE:-}
PPORT=11263 # Pochta, IMAP
DPORT=11264 # Dovecot, IMAP
BPORT=11265 # Pochta at $BASE, IMAP
PASS=bench-Secret-7
DOMAIN=bench.test
USER=s1@$DOMAIN
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
}
trap cleanup EXIT

build_tools ./cmd/pochta ./bench/genmail ./bench/maildirput ./bench/bulkdeliver
build_base

log "generating $NMSG messages"
"$BIN/genmail" -dir "$WORK/msgs" -n "$NMSG" -min 2000 -max 20000 -seed 7

log "pochta: init, account, messages"
"$INIT/pochta" init -d "$P" --domain "$DOMAIN" --hostname "mail.$DOMAIN" > "$WORK/pochta-init.log"
echo "$PASS" | "$INIT/pochta" -d "$P" user add "$USER" --password-stdin > /dev/null
"$INIT/bulkdeliver" -d "$P" -to "$USER" -src "$WORK/msgs" > /dev/null
if [ -n "$BASE" ]; then cp -a "$P" "$P-base"; fi

log "dovecot: config, passwd-file, Maildir"
mkdir -p "$D/run" "$D/mail"
echo "$USER:$(doveadm pw -s SSHA256 -p "$PASS")::::::" > "$D/passwd"
dovecot_conf imap pochta-sortbench-dovecot < /dev/null
chown nobody:nogroup "$D/mail"
dovecot_fill "$WORK/msgs" "$USER"

log "starting servers: pochta 127.0.0.1:$PPORT, dovecot 127.0.0.1:$DPORT"
mapfile -t OFF < <(listeners_off "$ROOT" imap.listen)
"$BIN/pochta" -d "$P" serve -o "imap.listen=127.0.0.1:$PPORT" "${OFF[@]}" 2> "$WORK/pochta-serve.log" &
PIDS+=("$!")
SERVERS="pochta:$PPORT dovecot:$DPORT"
if [ -n "$BASE" ]; then
	mapfile -t BOFF < <(listeners_off "$WORK/base-src" imap.listen)
	"$BIN/base/pochta" -d "$P-base" serve -o "imap.listen=127.0.0.1:$BPORT" "${BOFF[@]}" 2> "$WORK/pochta-base-serve.log" &
	PIDS+=("$!")
	SERVERS="pochta:$PPORT base:$BPORT dovecot:$DPORT"
	wait_port "$BPORT"
fi
dovecot -c "$D/dovecot.conf"
wait_port "$PPORT"
wait_port "$DPORT"

log "timing: $ROUNDS rounds of $REPS runs per command and server"
python3 - "$USER" "$PASS" "$ROUNDS" "$REPS" $SERVERS <<'PY' | tee "$WORK/results.txt"
import imaplib, statistics, sys, time
user, password, rounds, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
servers = [(s.split(":")[0], int(s.split(":")[1])) for s in sys.argv[5:]]
commands = [("SORT (SUBJECT)", "SORT", "(SUBJECT)"), ("SORT (REVERSE DATE)", "SORT", "(REVERSE DATE)"),
            ("THREAD REFERENCES", "THREAD", "REFERENCES")]
conns, answers, times, msgids = {}, {}, {}, {}
def run(c, kind, arg):
    if kind == "SORT":
        typ, data = c.sort(arg, "UTF-8", "ALL")
    else:
        typ, data = c.thread(arg, "UTF-8", "ALL")
    if typ != "OK":
        sys.exit(f"{kind} {arg}: {typ} {data}")
    return data[0]
for name, port in servers:
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login(user, password)
    typ, data = c.select("INBOX", readonly=True)
    conns[name] = c
    print(f"{name}: {int(data[0])} messages")
    typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    ids = {}
    for item in data:
        if isinstance(item, tuple):
            seq = int(item[0].split()[0])
            ids[seq] = item[1].split(b":", 1)[-1].strip()
    msgids[name] = ids
    for label, kind, arg in commands:  # warm-up
        answers[name, label] = run(c, kind, arg)
loads = []
for r in range(rounds):
    order = servers if r % 2 == 0 else servers[::-1]
    for name, _ in order:
        for label, kind, arg in commands:
            for _ in range(reps):
                t = time.perf_counter()
                run(conns[name], kind, arg)
                times.setdefault((name, label), []).append(time.perf_counter() - t)
        loads.append(float(open("/proc/loadavg").read().split()[0]))
names = [n for n, _ in servers]
print(f"load average during the runs: {min(loads):.1f}-{max(loads):.1f}")
head = "| command (medians of %d runs each) |" % (rounds * reps) + "".join(f" {n} ms | {n} cmd/s |" for n in names) + " P/D |"
print(head)
print("|" + "---|" * (2 + 2 * len(names)))
for label, _, _ in commands:
    med = {n: statistics.median(times[n, label]) for n in names}
    row = f"| {label} |" + "".join(f" {med[n]*1000:.1f} | {1/med[n]:.0f} |" for n in names)
    print(row + f" {med['dovecot']/med['pochta']:.2f} |")
def by_id(name, label):
    # The answer with each number replaced by its Message-ID.
    import re
    return re.sub(rb"\d+", lambda m: msgids[name].get(int(m.group()), b"?"), answers[name, label])
for label, kind, _ in commands:
    p, d = by_id("pochta", label), by_id("dovecot", label)
    if kind == "SORT":
        pl, dl = p.split(), d.split()
        diff = sum(1 for x, y in zip(pl, dl) if x != y) + abs(len(pl) - len(dl))
        print(f"{label}: {diff} of {len(dl)} positions differ from Dovecot's answer (by Message-ID)")
    else:
        print(f"{label}: {'the same as' if p == d else 'not the same as'} Dovecot's answer (by Message-ID)")
for c in conns.values():
    c.logout()
PY
