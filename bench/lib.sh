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

# build_base: when BASE (a git revision) is set, build Pochta and
# bulkdeliver at BASE into $BIN/base (sources in $WORK/base-src). Sets INIT,
# the Pochta that makes the benchmark data: BASE's when there is one (the
# current Pochta migrates its copy when it starts; an older one could not
# open a newer schema), else $BIN's.
build_base() {
	INIT=$BIN
	[ -n "$BASE" ] || return 0
	log "building pochta at $BASE into $BIN/base"
	mkdir -p "$WORK/base-src" "$BIN/base"
	(cd "$ROOT" && git archive "$BASE") | tar -x -C "$WORK/base-src"
	(cd "$WORK/base-src" && go build -o "$BIN/base/pochta" ./cmd/pochta && go build -o "$BIN/base/bulkdeliver" ./bench/bulkdeliver) || return 1
	INIT=$BIN/base
}

# accounts PREFIX COUNT: the addresses PREFIX1@$DOMAIN .. PREFIXCOUNT@$DOMAIN.
accounts() {
	local i
	for i in $(seq 1 "$2"); do echo "$1$i@$DOMAIN"; done
}

# dovecot_conf PROTOCOL INSTANCE: write $D/dovecot.conf for a private
# Dovecot instance serving PROTOCOL (pop3 or imap) on 127.0.0.1:$DPORT
# only, with passwd-file users from $D/passwd, Maildirs under $D/mail and
# the default one-process-per-session model. Lines read from standard input
# are added before the listener (limits, protocol settings).
dovecot_conf() {
	local proto=$1 instance=$2
	{
		cat <<CONF
base_dir = $D/run
state_dir = $D/state
instance_name = $instance
protocols = $proto
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
log_path = $D/dovecot.log
auth_cache_size = 10M
auth_cache_ttl = 5 mins
passdb {
  driver = passwd-file
  args = $D/passwd
}
userdb {
  driver = passwd-file
  args = $D/passwd
  default_fields = uid=nobody gid=nogroup home=$D/mail/%u
}
mail_location = maildir:~/Maildir
CONF
		cat
		cat <<CONF
service $proto-login {
  inet_listener $proto {
    address = 127.0.0.1
    port = $DPORT
  }
  inet_listener ${proto}s {
    port = 0
  }
}
CONF
	} > "$D/dovecot.conf"
}

# dovecot_fill SRCDIR USER...: copy the messages of SRCDIR into each user's
# Maildir under $D/mail, owned by nobody:nogroup as Dovecot's userdb says.
dovecot_fill() {
	local src=$1 dirs=() u
	shift
	for u in "$@"; do
		dirs+=("$D/mail/$u/Maildir")
		mkdir -p "$D/mail/$u"
		chown nobody:nogroup "$D/mail/$u"
	done
	"$BIN/maildirput" -src "$src" -uid "$(id -u nobody)" -gid "$(getent group nogroup | cut -d: -f3)" "${dirs[@]}"
}

# listeners_off SRCDIR [KEEP]: the -o flags that turn off every listener
# the Pochta tree at SRCDIR documents (docs/CONFIG.md) except KEEP (e.g.
# imap.listen), one per line: a benchmark's server listens on loopback
# only, and two of them can run side by side.
listeners_off() {
	grep -o '[a-z0-9_]*\.listen' "$1/docs/CONFIG.md" | sort -u | grep -vx "${2:-none}" | sed 's/$/=/; s/^/-o\n/'
}

# pg_unindexed DSN: how many messages of the PostgreSQL database DSN wait
# for the text indexer: its text_pending rows (migration 18), or, in a
# database of an older build (a BASE), the rows with text_indexed NULL.
pg_unindexed() {
	if [ "$(psql "$1" -Atc "SELECT to_regclass('text_pending') IS NOT NULL")" = t ]; then
		psql "$1" -Atc 'SELECT count(*) FROM text_pending'
	else
		psql "$1" -Atc 'SELECT count(*) FROM messages WHERE text_indexed IS NULL'
	fi
}

# wait_indexed DATADIR [DSN]: wait (at most 30 minutes) until Pochta's
# background text indexer has caught up with the store at DATADIR (SQLite;
# with DSN, the PostgreSQL database DSN instead), so that indexing the
# benchmark's freshly written messages is not counted in a timed run.
wait_indexed() {
	local dir=$1 dsn=${2:-} left
	for _ in $(seq 1 1800); do
		if [ -n "$dsn" ]; then
			left=$(pg_unindexed "$dsn")
		else
			# A build older than the text index (smtp-vs-postfix.sh BASE)
			# has no text_doc: nothing to wait for.
			left=$(sqlite3 -readonly "$dir/pochta.db" 'SELECT count(*) FROM messages WHERE text_doc IS NULL' 2>&1 || true)
			case $left in *"no such column"*) return 0 ;; *[!0-9]*) left=busy ;; esac
		fi
		[ "$left" = 0 ] && return 0
		sleep 1
	done
	log "text index of $dir still behind ($left messages) after 30 minutes; going on"
}

# open_to_dovecot DIR: creates DIR if missing (a WORK given by the caller)
# and opens it: Dovecot's auth and mail processes run as the dovecot user
# and must reach the passwd file and the Maildirs under DIR, which mktemp
# makes 0700.
open_to_dovecot() { mkdir -p "$1" && chmod 755 "$1"; }
