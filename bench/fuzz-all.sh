#!/bin/sh
# fuzz-all.sh: run every fuzz target of the repository, one after the
# other, each for FUZZTIME (default 10m), and print one line per target:
# package, target, executions, result. A failing input is kept by Go in
# the package's testdata/fuzz/TARGET directory (commit it: it then runs as
# a regression test with every `go test`).
#
#   FUZZTIME=10m PARALLEL=1 bench/fuzz-all.sh [package pattern...]
#
# PARALLEL is -parallel (fuzzing workers per target); keep it at 1 on a
# shared machine. Logs go to ${LOGDIR:-/tmp/pochta-fuzz}/PKG.TARGET.log.
set -u
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10m}
PARALLEL=${PARALLEL:-1}
LOGDIR=${LOGDIR:-/tmp/pochta-fuzz}
mkdir -p "$LOGDIR"
pkgs=${*:-./...}
status=0
printf '%-28s %-22s %12s %s\n' package target execs result
for pkg in $(go list $pkgs); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		short=${pkg#github.com/pochta-mail/pochta/}
		log="$LOGDIR/$(echo "$short" | tr / _).$target.log"
		go test -run='^$' -fuzz="^$target\$" -fuzztime="$FUZZTIME" -parallel="$PARALLEL" "$pkg" >"$log" 2>&1
		rc=$?
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | sed 's/execs: //')
		if [ $rc -eq 0 ]; then result=ok; else result="FAIL (see $log)"; status=1; fi
		printf '%-28s %-22s %12s %s\n' "$short" "$target" "${execs:-?}" "$result"
	done
done
exit $status
