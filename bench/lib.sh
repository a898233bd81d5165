# lib.sh: helpers shared by the benchmark scripts in bench/. Source it after
# setting ROOT (the repository) and BIN (where binaries go).

log() { printf '== %s %s\n' "$(date +%T)" "$*" >&2; }

# wait_port PORT: wait up to 30 s for something to listen on 127.0.0.1:PORT.
wait_port() {
	for _ in $(seq 1 150); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.2
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

# build_tools PKG...: build each package (a path under the repository, such
# as ./cmd/pochta) into $BIN, named after its last element.
build_tools() {
	log "building into $BIN"
	local pkg
	for pkg in "$@"; do
		(cd "$ROOT" && go build -o "$BIN/$(basename "$pkg")" "$pkg") || return 1
	done
}

# accounts PREFIX COUNT: the addresses PREFIX1@$DOMAIN .. PREFIXCOUNT@$DOMAIN.
accounts() {
	local i
	for i in $(seq 1 "$2"); do echo "$1$i@$DOMAIN"; done
}
