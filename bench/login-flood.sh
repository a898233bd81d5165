#!/usr/bin/env bash
# login-flood.sh: the peak memory (VmHWM) of pochta serve while N accounts
# log in over POP3 all at once, each with a cold argon2id check (the
# credentials cache is off). Usage: [N=20] [ROUNDS=1] [PORT=21110]
# bench/login-flood.sh [PATH-TO-POCHTA]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-20} ROUNDS=${ROUNDS:-1} PORT=${PORT:-21110}
WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
BINARY=${1:-}
if [ -z "$BINARY" ]; then
	BINARY=$WORK/pochta
	(cd "$ROOT" && go build -o "$BINARY" ./cmd/pochta)
fi
D=$WORK/data
"$BINARY" init -d "$D" --domain flood.test --hostname mail.flood.test >/dev/null 2>&1
for i in $(seq 1 "$N"); do echo "pw$i" | "$BINARY" -d "$D" user add "u$i@flood.test" --password-stdin >/dev/null; done
off=""
for k in pop3s imap imaps smtp submission submissions managesieve http https metrics; do off="$off -o $k.listen="; done
# shellcheck disable=SC2086
"$BINARY" -d "$D" serve -o pop3.listen=127.0.0.1:$PORT $off -o auth.cache_ttl=-1s >"$WORK/log" 2>&1 &
PID=$!
for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.2; done
echo "before: $(grep VmHWM /proc/$PID/status)"
python3 - "$PORT" "$N" "$ROUNDS" <<'PY'
import poplib, sys, threading, time
port, n, rounds = map(int, sys.argv[1:])
def login(i):
    for _ in range(rounds):
        p = poplib.POP3('127.0.0.1', port, timeout=600); p.user(f'u{i}@flood.test'); p.pass_(f'pw{i}'); p.quit()
t0 = time.time()
ts = [threading.Thread(target=login, args=(i,)) for i in range(1, n + 1)]
[t.start() for t in ts]; [t.join() for t in ts]
print(f"{n * rounds} logins ({n} at once) in {time.time() - t0:.2f} s")
PY
echo "after:  $(grep VmHWM /proc/$PID/status)"
