#!/usr/bin/awk -f
# table.awk: turns pop3-vs-dovecot.sh's results.txt ("server label RESULT
# k=v ...") into the comparison table. Ratio columns are Pochta / Dovecot;
# when the results have a "pochta-pg" server (PG=1), two more columns give
# Pochta on PostgreSQL and its ratio to Dovecot S; likewise "pochta-old"
# (OLD_BIN=, an earlier build) and "floor" (FLOOR=1, bench/pop3floor), which
# take part in the interleaved rounds only.
{
	server = $1; label = $2
	if (server == "pochta-pg") pg = 1
	if (server == "pochta-old") old = 1
	if (server == "floor") fl = 1
	if (label ~ /-r[0-9]+$/) { # a round of an interleaved series: keep every value
		base = label; sub(/-r[0-9]+$/, "", base)
		rn = label; sub(/.*-r/, "", rn); rn += 0
		if (rn > rounds[base]) rounds[base] = rn
		for (i = 4; i <= NF; i++) {
			split($i, kv, "=")
			inround[server SUBSEP base SUBSEP kv[1], rn] = kv[2]
		}
		seen[base] = 1
		label = "" # not a plain row
	}
	for (i = 4; i <= NF; i++) {
		split($i, kv, "=")
		v[server, label, kv[1]] = kv[2]
	}
	if (v[server, label, "errors"] > 0) errs = errs sprintf("  %s %s: %s errors (%s mismatches)\n", server, label, v[server, label, "errors"], v[server, label, "mismatches"])
	seen[label] = 1
}
# median of the rounds of server/label/key, "" when there are none.
function median(server, label, key,    k, n, r, a) {
	k = server SUBSEP label SUBSEP key
	n = 0
	for (r = 1; r <= rounds[label]; r++) if ((k, r) in inround) a[++n] = inround[k, r] + 0
	return n ? med(a, n) : ""
}
# med sorts a[1..n] (n > 0) and returns its median.
function med(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# mrow is row for an interleaved series: medians, Pochta against Dovecot S.
function mrow(what, label, key, target) {
	if (!(label in seen)) return
	p = median("pochta", label, key); s = median("dovecot-ssha256", label, key)
	printf "| %-34s | %10s | %10s | %6s | %10s | %6s | %-18s |", what, p, "-", "-", s, ratio(p, s), target
	if (pg) { g = median("pochta-pg", label, key); printf " %10s | %6s |", g, ratio(g, s) }
	if (old) { o = median("pochta-old", label, key); printf " %10s | %6s |", o, ratio(o, s) }
	if (fl) { f = median("floor", label, key); printf " %10s | %6s |", f, ratio(f, s) }
	printf "\n"
}
# rounds_line prints, for an interleaved series, each server's ratio to
# Dovecot S round by round (both measured in the same round, so a machine
# that slows down between rounds moves both) and their median: steadier
# on a shared machine than the ratio of the two medians in the table.
function rounds_line(label, key,    n, srv, i, r, a, b, list, vals) {
	if (!(label in seen) || rounds[label] == 0) return
	split("pochta pochta-pg pochta-old floor", srv, " ")
	printf "  %s %s:", label, key
	for (i = 1; i <= 4; i++) {
		n = 0; list = ""
		for (r = 1; r <= rounds[label]; r++) {
			a = inround[srv[i] SUBSEP label SUBSEP key, r]; b = inround["dovecot-ssha256" SUBSEP label SUBSEP key, r]
			if (a == "" || b + 0 == 0) continue
			vals[++n] = a / b
			list = list sprintf(" %.2f", a / b)
		}
		if (n) printf "  %s%s (median %.2f)", srv[i], list, med(vals, n)
	}
	printf "\n"
}
function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
function row(what, label, key, target) {
	if (!(label in seen)) return
	p = v["pochta", label, key]; a = v["dovecot-argon2id", label, key]; s = v["dovecot-ssha256", label, key]
	g = v["pochta-pg", label, key]
	if (p a s g == "") return # only interleaved rounds of this label (mrow)
	printf "| %-34s | %10s | %10s | %6s | %10s | %6s | %-18s |", what, p, a, ratio(p, a), (s == "" ? "-" : s), ratio(p, s), target
	if (pg) printf " %10s | %6s |", g, ratio(g, s)
	if (old) printf " %10s | %6s |", "-", "-"
	if (fl) printf " %10s | %6s |", "-", "-"
	printf "\n"
}
END {
	printf "| %-34s | %10s | %10s | %6s | %10s | %6s | %-18s |", "metric", "Pochta", "Dovecot A", "P/A", "Dovecot S", "P/S", "target (P/D)"
	if (pg) printf " %10s | %6s |", "Pochta PG", "PG/S"
	if (old) printf " %10s | %6s |", "Pochta old", "old/S"
	if (fl) printf " %10s | %6s |", "floor", "fl/S"
	printf "\n|%s|%s|%s|%s|%s|%s|%s|", "------------------------------------", "------------", "------------", "--------", "------------", "--------", "--------------------"
	for (i = 0; i < pg + old + fl; i++) printf "%s|%s|", "------------", "--------"
	printf "\n"
	split("1 8 64", cs, " ")
	mrow("RETR MB/s, 1 client, one login *", "retrp-c1", "mb_per_s", ">= 1.5")
	mrow("  RETR p50 ms *", "retrp-c1", "op_p50_ms", "<= 1")
	mrow("RETR MB/s, 8 clients, one login *", "retrp-c8", "mb_per_s", ">= 2")
	mrow("  RETR p50 ms *", "retrp-c8", "op_p50_ms", "<= 1")
	mrow("  RETR p99 ms *", "retrp-c8", "op_p99_ms", "")
	mrow("  server CPU us/msg, 1 client *", "retrp-c1", "server_cpu_us_per_msg", "")
	mrow("  server CPU us/msg, 8 clients *", "retrp-c8", "server_cpu_us_per_msg", "")
	for (i = 1; i <= 3; i++) {
		c = cs[i]
		row("sessions/s, " c " clients", "sessions-c" c, "sessions_per_s", c == 8 ? ">= 10" : "")
		row("  session p50 ms", "sessions-c" c, "session_p50_ms", "")
		row("  session p99 ms", "sessions-c" c, "session_p99_ms", "")
	}
	for (i = 1; i <= 3; i++) {
		c = cs[i]
		row("RETR messages/s, " c " clients", "retr-c" c, "msgs_per_s", "")
		row("  RETR MB/s", "retr-c" c, "mb_per_s", "")
		row("  RETR p50 ms", "retr-c" c, "op_p50_ms", "")
		row("  RETR p99 ms", "retr-c" c, "op_p99_ms", "")
		row("  server CPU us per message", "retr-c" c, "server_cpu_us_per_msg", "")
	}
	row("RETR+DELE messages/s, 8 clients", "fetchdel-c8", "msgs_per_s", ">= 2")
	mrow("RETR+DELE messages/s, 8 clients *", "fetchdel-c8", "msgs_per_s", ">= 2")
	row("STAT+UIDL 100k, warm p50 ms", "stat100k", "stat_uidl_p50_ms", "")
	row("STAT+UIDL 100k, first ms", "stat100k", "first_stat_uidl_ms", "")
	row("  whole session 100k, first ms", "stat100k", "first_session_ms", "<= 0.2 (5x)")
	row("  whole session 100k, p50 ms", "stat100k", "session_p50_ms", "<= 0.2 (5x)")
	row("idle conn RSS KiB each", "idle", "rss_per_conn_kb", "Pochta <= 16 KiB")
	row("idle conn PSS KiB each", "idle", "pss_per_conn_kb", "")
	row("  server processes while idle", "idle", "processes", "")
	print ""
	print "Dovecot A: ARGON2ID passwd-file (auth_cache on); Dovecot S: the same with SSHA256 hashes"
	print "(about the cost of Pochta's verified-credentials cache hit). Idle memory: Dovecot S only;"
	print "per connection = (memory holding N idle logged-in sessions - memory after they quit) / N."
	print "* medians of interleaved rounds (retr -persist: one login per client, then RETRs only)."
	if ("retrp-c1" in seen || "fetchdel-c8" in seen) print "per-round ratios to Dovecot S, each of the same round:"
	rounds_line("retrp-c1", "mb_per_s")
	rounds_line("retrp-c8", "mb_per_s")
	rounds_line("fetchdel-c8", "msgs_per_s")
	print "server CPU per message: user+system time of the server's processes during the run / messages"
	print "(Pochta PG: its process and its PostgreSQL backends; Dovecot: master and children)."
	if (pg) print "Pochta PG: Pochta on the PostgreSQL engine, the same data copied by pochta migrate."
	if (old) print "Pochta old: OLD_BIN, an earlier build, on a copy of the same data directory."
	if (fl) print "floor: bench/pop3floor, the same messages from memory, one write per RETR, no store."
	if (errs != "") printf "runs with errors:\n%s", errs
	else print "no run reported errors (every RETR size and terminator checked)"
}
