package imap

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// CONDSTORE and QRESYNC (RFC 7162) on real sockets and the real store;
// the cases follow the RFC's examples, with our numbers.

var (
	highestRE = regexp.MustCompile(`\[HIGHESTMODSEQ (\d+)\]`)
	modseqRE  = regexp.MustCompile(`MODSEQ \((\d+)\)`)
	fetchRE   = regexp.MustCompile(`^\* (\d+) FETCH \((.*)\)$`)
)

// highest returns the HIGHESTMODSEQ of the lines (the last one), or fails.
func highest(t *testing.T, lines ...string) uint64 {
	t.Helper()
	var n uint64
	found := false
	for _, l := range lines {
		if m := highestRE.FindStringSubmatch(l); m != nil {
			n, _ = strconv.ParseUint(m[1], 10, 64)
			found = true
		}
	}
	if !found {
		t.Fatalf("no HIGHESTMODSEQ in %q", lines)
	}
	return n
}

// modseqOf returns the MODSEQ of a FETCH line, or fails.
func modseqOf(t *testing.T, line string) uint64 {
	t.Helper()
	m := modseqRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no MODSEQ in %q", line)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// condstoreEnv delivers n messages to alice and returns a raw session,
// logged in.
func condstoreEnv(t *testing.T, o envOptions, n int) (*env, *raw) {
	t.Helper()
	e := newEnv(t, o)
	for i := 1; i <= n; i++ {
		e.deliver(testUser, testMessage(i))
	}
	// Another session saw them first: no \Recent in the answers here.
	if _, _, err := e.store.ClaimRecent(context.Background(), e.inbox(testUser).ID); err != nil {
		t.Fatal(err)
	}
	r, _ := e.raw(e.addr)
	login(t, r)
	return e, r
}

func (e *env) inbox(user string) store.Mailbox {
	e.t.Helper()
	mb, err := e.store.GetMailbox(context.Background(), e.account(user).ID, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	return mb
}

func wantStatus(t *testing.T, what, status, prefix string) {
	t.Helper()
	if !strings.HasPrefix(status, prefix) {
		t.Fatalf("%s: %q, want %s...", what, status, prefix)
	}
}

func wantLines(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestCondstoreEnable(t *testing.T) {
	_, r := condstoreEnv(t, envOptions{}, 0)
	lines, _ := r.cmd("CAPABILITY")
	if !hasCap(lines, "CONDSTORE") || !hasCap(lines, "QRESYNC") {
		t.Errorf("CAPABILITY %q lacks CONDSTORE or QRESYNC", lines)
	}
	// RFC 7162 §3.2.3: "ENABLE QRESYNC CONDSTORE" enables both.
	lines, status := r.cmd("ENABLE QRESYNC CONDSTORE")
	wantStatus(t, "ENABLE", status, "OK")
	wantLines(t, "ENABLE QRESYNC CONDSTORE", lines, "* ENABLED QRESYNC CONDSTORE")
	lines, _ = r.cmd("ENABLE CONDSTORE")
	wantLines(t, "ENABLE CONDSTORE again", lines, "* ENABLED")
}

// TestCondstoreSelectFetchStore follows RFC 7162 examples 1, 3, 12, 13
// and 17: SELECT (CONDSTORE) reports HIGHESTMODSEQ, FETCH MODSEQ and
// CHANGEDSINCE, STORE .SILENT reporting the new MODSEQ, STATUS.
func TestCondstoreSelectFetchStore(t *testing.T) {
	_, r := condstoreEnv(t, envOptions{}, 3)
	lines, status := r.cmd("SELECT INBOX (CONDSTORE)")
	wantStatus(t, "SELECT (CONDSTORE)", status, "OK [READ-WRITE]")
	h0 := highest(t, lines...)

	// Example 13: one mod-sequence per message, every one at most
	// HIGHESTMODSEQ; a new message's is above every older one's.
	lines, _ = r.cmd("FETCH 1:3 (MODSEQ)")
	if len(lines) != 3 {
		t.Fatalf("FETCH 1:3 (MODSEQ): %q", lines)
	}
	var prev uint64
	for i, l := range lines {
		if !strings.HasPrefix(l, fmt.Sprintf("* %d FETCH (MODSEQ (", i+1)) {
			t.Errorf("FETCH MODSEQ line %q", l)
		}
		if n := modseqOf(t, l); n <= prev || n > h0 {
			t.Errorf("message %d MODSEQ %d after %d, HIGHESTMODSEQ %d", i+1, n, prev, h0)
		}
		prev = modseqOf(t, l)
	}

	// A STORE .SILENT still reports the new mod-sequence (example 14,
	// session 1), with the UID (§3.2.4).
	lines, status = r.cmd(`STORE 2 +FLAGS.SILENT (\Seen)`)
	wantStatus(t, "STORE", status, "OK")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "* 2 FETCH (UID 2 MODSEQ (") {
		t.Fatalf("STORE +FLAGS.SILENT with CONDSTORE: %q", lines)
	}
	m2 := modseqOf(t, lines[0])
	if m2 <= h0 {
		t.Errorf("STORE gave MODSEQ %d, not above %d", m2, h0)
	}
	// Example 12: only what changed since.
	lines, _ = r.cmd(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", h0))
	wantLines(t, "UID FETCH CHANGEDSINCE", lines, fmt.Sprintf(`* 2 FETCH (UID 2 FLAGS (\Seen) MODSEQ (%d))`, m2))
	lines, _ = r.cmd(fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", m2))
	wantLines(t, "FETCH CHANGEDSINCE the newest", lines)
	// Without .SILENT: FLAGS and MODSEQ; an unchanged message keeps its
	// mod-sequence.
	lines, _ = r.cmd(`STORE 1:2 +FLAGS (\Seen)`)
	if len(lines) != 2 || modseqOf(t, lines[1]) != m2 || !strings.Contains(lines[0], `FLAGS (\Seen)`) {
		t.Errorf("STORE 1:2 +FLAGS: %q", lines)
	}
	// Example 17.
	lines, _ = r.cmd("STATUS INBOX (UIDNEXT MESSAGES HIGHESTMODSEQ)")
	m3 := modseqOf(t, r.mustFetch("FETCH 1 (MODSEQ)"))
	wantLines(t, "STATUS", lines, fmt.Sprintf(`* STATUS "INBOX" (UIDNEXT 4 MESSAGES 3 HIGHESTMODSEQ %d)`, m3))
}

// mustFetch runs a command that answers one untagged line and OK.
func (r *raw) mustFetch(command string) string {
	r.t.Helper()
	lines, status := r.cmd(command)
	if len(lines) != 1 || !strings.HasPrefix(status, "OK") {
		r.t.Fatalf("%s: %q %q", command, lines, status)
	}
	return lines[0]
}

// TestCondstoreUnchangedSince follows RFC 7162 §3.1.3: examples 3 and 4
// (all pass, .SILENT still answers MODSEQ), 6/10 (one failed: MODIFIED,
// with its current FLAGS and MODSEQ) and 8 (UNCHANGEDSINCE 0).
func TestCondstoreUnchangedSince(t *testing.T) {
	e, r := condstoreEnv(t, envOptions{}, 4)
	lines, _ := r.cmd("SELECT INBOX")
	// Example 5: the first CONDSTORE enabling command with a mailbox
	// selected reports its HIGHESTMODSEQ first.
	lines, status := r.cmd(`STORE 2 (UNCHANGEDSINCE 0) +FLAGS.SILENT ($MDNSent)`)
	wantStatus(t, "STORE UNCHANGEDSINCE 0", status, "OK [MODIFIED 2]")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "* OK [HIGHESTMODSEQ ") ||
		!strings.HasPrefix(lines[1], "* 2 FETCH (UID 2 FLAGS () MODSEQ (") {
		t.Errorf("STORE UNCHANGEDSINCE 0: %q", lines)
	}
	h0 := highest(t, lines[0])

	// Example 3: all pass.
	lines, status = r.cmd(fmt.Sprintf(`UID STORE 4,2,3 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\Deleted)`, h0))
	wantStatus(t, "UID STORE UNCHANGEDSINCE", status, "OK UID STORE completed")
	if len(lines) != 3 {
		t.Fatalf("UID STORE UNCHANGEDSINCE: %q", lines)
	}
	m1 := modseqOf(t, lines[0])
	for i, l := range lines {
		if want := fmt.Sprintf("* %d FETCH (UID %d MODSEQ (%d))", i+2, i+2, m1); l != want {
			t.Errorf("line %q, want %q", l, want)
		}
	}
	// Example 4: passes, changes nothing, still answers.
	lines, _ = r.cmd(fmt.Sprintf(`STORE 4 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\Deleted)`, m1))
	wantLines(t, "STORE that changes nothing", lines, fmt.Sprintf("* 4 FETCH (UID 4 MODSEQ (%d))", m1))

	// Example 6/10: another client changes message 3; a STORE based on
	// the old mod-sequence fails for it alone.
	if _, err := e.store.UpdateFlags(context.Background(), e.inbox(testUser).ID, []uint32{3}, store.FlagsAdd, []string{store.FlagAnswered}); err != nil {
		t.Fatal(err)
	}
	lines, status = r.cmd(fmt.Sprintf(`STORE 1,3,4 (UNCHANGEDSINCE %d) -FLAGS.SILENT (\Deleted)`, m1))
	wantStatus(t, "STORE with one modified", status, "OK [MODIFIED 3] Conditional STORE failed")
	var fetches []string
	for _, l := range lines {
		if strings.Contains(l, " FETCH ") {
			fetches = append(fetches, l)
		}
	}
	// (The poll after the command may repeat message 3's change.)
	if len(fetches) < 3 || !strings.HasPrefix(fetches[0], "* 1 FETCH (UID 1 MODSEQ (") ||
		!strings.HasPrefix(fetches[1], `* 3 FETCH (UID 3 FLAGS (\Answered \Deleted) MODSEQ (`) ||
		!strings.HasPrefix(fetches[2], "* 4 FETCH (UID 4 MODSEQ (") {
		t.Errorf("STORE with one modified: %q", lines)
	}
	// The client retries with the new mod-sequence (example 9).
	m3 := modseqOf(t, fetches[1])
	lines, status = r.cmd(fmt.Sprintf(`UID STORE 3 (UNCHANGEDSINCE %d) -FLAGS.SILENT (\Deleted)`, m3))
	wantStatus(t, "retry", status, "OK UID STORE")
	if len(lines) != 1 || modseqOf(t, lines[0]) <= m3 {
		t.Errorf("retry: %q", lines)
	}
	// UID STORE reports UIDs in MODIFIED.
	_, status = r.cmd(`UID STORE 1:4 (UNCHANGEDSINCE 1) +FLAGS.SILENT (\Flagged)`)
	wantStatus(t, "UID STORE all modified", status, "OK [MODIFIED 1:4]")
	// Syntax.
	_, status = r.cmd(`STORE 1 (UNCHANGEDSINCE) +FLAGS (\Seen)`)
	wantStatus(t, "STORE UNCHANGEDSINCE without a number", status, "BAD")
	_, status = r.cmd(`STORE 1 (CHANGEDSINCE 5) +FLAGS (\Seen)`)
	wantStatus(t, "STORE with an unknown modifier", status, "BAD")
}

// TestCondstoreSearch follows RFC 7162 examples 15, 16 and 19, and the
// SORT form of §3.1.9.
func TestCondstoreSearch(t *testing.T) {
	e, r := condstoreEnv(t, envOptions{}, 3)
	r.cmd("SELECT INBOX")
	r.cmd(`STORE 2 +FLAGS (\Draft)`)
	m2, err := e.store.MailboxModSeq(context.Background(), e.inbox(testUser).ID)
	if err != nil {
		t.Fatal(err)
	}
	lines, status := r.cmd(fmt.Sprintf(`SEARCH MODSEQ "/flags/\\draft" all %d`, m2))
	wantStatus(t, "SEARCH MODSEQ", status, "OK")
	// Enabling CONDSTORE here reported HIGHESTMODSEQ first.
	wantLines(t, "SEARCH MODSEQ", lines, fmt.Sprintf("* OK [HIGHESTMODSEQ %d] Highest", m2), fmt.Sprintf("* SEARCH 2 (MODSEQ %d)", m2))
	lines, _ = r.cmd("SEARCH OR NOT MODSEQ 1 LARGER 50000")
	wantLines(t, "SEARCH with no match", lines, "* SEARCH")
	lines, _ = r.cmd("UID SEARCH MODSEQ 1")
	wantLines(t, "UID SEARCH MODSEQ 1", lines, fmt.Sprintf("* SEARCH 1 2 3 (MODSEQ %d)", m2))
	lines, _ = r.cmd("SEARCH RETURN (ALL) MODSEQ 1")
	wantLines(t, "ESEARCH MODSEQ", lines, fmt.Sprintf(`* ESEARCH (TAG "t%d") ALL 1:3 MODSEQ %d`, r.n, m2))
	lines, _ = r.cmd("SORT (ARRIVAL) UTF-8 MODSEQ 1")
	wantLines(t, "SORT MODSEQ", lines, fmt.Sprintf("* SORT 1 2 3 (MODSEQ %d)", m2))
	lines, _ = r.cmd("SORT RETURN (COUNT) (ARRIVAL) UTF-8 MODSEQ 1")
	wantLines(t, "ESORT MODSEQ", lines, fmt.Sprintf(`* ESEARCH (TAG "t%d") COUNT 3 MODSEQ %d`, r.n, m2))
	_, status = r.cmd(`SEARCH MODSEQ "/flags/\\draft" sometimes 1`)
	wantStatus(t, "SEARCH MODSEQ with a bad entry type", status, "BAD")
}

// TestQresyncSelect: one session changes flags and expunges while the
// client is away; SELECT (QRESYNC ...) brings it up to date in one
// command, ending with the same state as a full fetch (RFC 7162 §3.2.5,
// the example of §3.2.5.1).
func TestQresyncSelect(t *testing.T) {
	e, r := condstoreEnv(t, envOptions{}, 6)
	lines, status := r.cmd("SELECT INBOX (QRESYNC (1 1))")
	wantStatus(t, "QRESYNC before ENABLE", status, "BAD")
	r.cmd("ENABLE QRESYNC")
	lines, _ = r.cmd("SELECT INBOX")
	h0 := highest(t, lines...)
	validity := regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`).FindStringSubmatch(strings.Join(lines, "\n"))[1]
	// The client's cache: every UID with its flags at h0.
	cache := map[uint32]string{}
	lines, _ = r.cmd("UID FETCH 1:* (FLAGS)")
	for _, l := range lines {
		uid, flags := parseUIDFlags(t, l)
		cache[uid] = flags
	}
	r.cmd("LOGOUT")

	// Meanwhile, another client.
	o, _ := e.raw(e.addr)
	login(t, o)
	o.cmd("SELECT INBOX")
	o.cmd(`STORE 2 +FLAGS (\Seen $Forwarded)`)
	o.cmd(`STORE 3,5 +FLAGS (\Deleted)`)
	o.cmd("EXPUNGE")
	o.cmd(`STORE 4 +FLAGS (\Flagged)`)
	e.deliver(testUser, testMessage(7))

	r, _ = e.raw(e.addr)
	login(t, r)
	r.cmd("ENABLE QRESYNC")
	r.cmd("SELECT Archive")
	lines, status = r.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %d 1:6))", validity, h0))
	wantStatus(t, "SELECT QRESYNC", status, "OK [READ-WRITE]")
	if lines[0] != "* OK [CLOSED] Previous mailbox is now closed" {
		t.Errorf("first line %q, want CLOSED (§3.2.11)", lines[0])
	}
	var vanished []string
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "* VANISHED (EARLIER) "); ok {
			vanished = append(vanished, v)
			for _, u := range expandUIDs(t, v) {
				delete(cache, u)
			}
		} else if fetchRE.MatchString(l) {
			uid, flags := parseUIDFlags(t, l)
			if uid > 6 {
				t.Errorf("FETCH for UID %d outside the known UIDs: %q", uid, l)
			}
			cache[uid] = flags
		}
	}
	if !slices.Equal(vanished, []string{"3,5"}) {
		t.Errorf("VANISHED (EARLIER) %q, want 3,5 (in %q)", vanished, lines)
	}
	lines, _ = r.cmd("UID FETCH 1:6 (FLAGS)")
	full := map[uint32]string{}
	for _, l := range lines {
		uid, flags := parseUIDFlags(t, l)
		full[uid] = flags
	}
	if fmt.Sprint(cache) != fmt.Sprint(full) {
		t.Errorf("after QRESYNC the client has %v, a full fetch says %v", cache, full)
	}

	// Without known UIDs: 1:UIDNEXT-1, so the new message comes too.
	lines, _ = r.cmd(fmt.Sprintf("EXAMINE INBOX (QRESYNC (%s %d))", validity, h0))
	if !slices.Contains(lines, "* VANISHED (EARLIER) 3,5") || !strings.HasPrefix(lines[len(lines)-1], "* 5 FETCH (UID 7 FLAGS () MODSEQ (") {
		t.Errorf("EXAMINE QRESYNC without known UIDs: %q", lines)
	}
	// Up to date: nothing to say.
	now := highest(t, lines...)
	lines, _ = r.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %d 1:7))", validity, now))
	for _, l := range lines {
		if strings.HasPrefix(l, "* VANISHED") || strings.Contains(l, " FETCH ") {
			t.Errorf("QRESYNC from the current HIGHESTMODSEQ: %q", l)
		}
	}
	// Another UIDVALIDITY: the parameter is ignored (§3.2.5).
	lines, _ = r.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %d))", "12345", h0))
	for _, l := range lines {
		if strings.HasPrefix(l, "* VANISHED") || strings.Contains(l, " FETCH ") {
			t.Errorf("QRESYNC with another UIDVALIDITY: %q", l)
		}
	}
	_, status = r.cmd("SELECT INBOX (QRESYNC (1))")
	wantStatus(t, "QRESYNC without a mod-sequence", status, "BAD")
	_, status = r.cmd("SELECT INBOX (QRESYNC (1 2 1:4 (1:2)))")
	wantStatus(t, "QRESYNC with half the match data", status, "BAD")
}

// parseUIDFlags reads "* n FETCH (UID u FLAGS (...) ...)".
func parseUIDFlags(t *testing.T, l string) (uint32, string) {
	t.Helper()
	m := regexp.MustCompile(`UID (\d+) FLAGS \(([^)]*)\)`).FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("not a FETCH with UID and FLAGS: %q", l)
	}
	n, _ := strconv.ParseUint(m[1], 10, 32)
	// \Recent belongs to a session, not to the message.
	flags := strings.Fields(m[2])
	flags = slices.DeleteFunc(flags, func(f string) bool { return f == `\Recent` })
	return uint32(n), strings.Join(flags, " ")
}

// expandUIDs lists a UID set without "*".
func expandUIDs(t *testing.T, set string) []uint32 {
	t.Helper()
	var out []uint32
	for _, part := range strings.Split(set, ",") {
		lo, hi, found := strings.Cut(part, ":")
		a, err1 := strconv.ParseUint(lo, 10, 32)
		b := a
		var err2 error
		if found {
			b, err2 = strconv.ParseUint(hi, 10, 32)
		}
		if err1 != nil || err2 != nil {
			t.Fatalf("bad UID set %q", set)
		}
		for u := a; u <= b; u++ {
			out = append(out, uint32(u))
		}
	}
	return out
}

// TestQresyncVanishedFetch: UID FETCH (CHANGEDSINCE n VANISHED) (RFC 7162
// §3.2.6, example 1 there) and the modifier's errors.
func TestQresyncVanishedFetch(t *testing.T) {
	_, r := condstoreEnv(t, envOptions{}, 5)
	r.cmd("SELECT INBOX")
	_, status := r.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
	wantStatus(t, "VANISHED without ENABLE QRESYNC", status, "BAD")
	r.cmd("ENABLE QRESYNC") // not valid when selected (RFC 5161)
	r.cmd("UNSELECT")
	r.cmd("ENABLE QRESYNC")
	lines, _ := r.cmd("SELECT INBOX")
	h0 := highest(t, lines...)
	r.cmd(`STORE 2,4 +FLAGS.SILENT (\Deleted)`)
	lines, status = r.cmd("EXPUNGE")
	// §3.2.7: VANISHED instead of EXPUNGE, HIGHESTMODSEQ in the OK.
	wantLines(t, "EXPUNGE under QRESYNC", lines, "* VANISHED 2,4")
	h1 := highest(t, status)
	r.cmd(`UID STORE 3 +FLAGS (\Seen)`)
	lines, _ = r.cmd(fmt.Sprintf("UID FETCH 1:5 (FLAGS) (CHANGEDSINCE %d VANISHED)", h0))
	if len(lines) != 2 || lines[0] != "* VANISHED (EARLIER) 2,4" || !strings.HasPrefix(lines[1], `* 2 FETCH (UID 3 FLAGS (\Seen) MODSEQ (`) {
		t.Errorf("UID FETCH CHANGEDSINCE VANISHED: %q", lines)
	}
	lines, _ = r.cmd(fmt.Sprintf("UID FETCH 1:5 (FLAGS) (CHANGEDSINCE %d VANISHED)", h1))
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "* 2 FETCH (UID 3 ") {
		t.Errorf("UID FETCH CHANGEDSINCE VANISHED after the expunge: %q", lines)
	}
	for _, c := range []string{
		"FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)", // not a UID FETCH
		"UID FETCH 1:* (FLAGS) (VANISHED)",            // no CHANGEDSINCE
		"UID FETCH 1:* (FLAGS) (CHANGEDSINCE)",
		"UID FETCH 1:* (FLAGS) (SINCE 1)",
	} {
		_, status := r.cmd(c)
		wantStatus(t, c, status, "BAD")
	}
	// CLOSE sends no HIGHESTMODSEQ (§3.2.8).
	r.cmd(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	_, status = r.cmd("CLOSE")
	if status != "OK CLOSE completed" {
		t.Errorf("CLOSE: %q", status)
	}
}

// TestQresyncTwoSessions: a flag change in session A reaches session B
// with its MODSEQ, an expunge in A reaches B as VANISHED, and a removal B
// may not be told of yet (during FETCH) holds its HIGHESTMODSEQ back
// (RFC 7162 §3.2, §6).
func TestQresyncTwoSessions(t *testing.T) {
	e, a := condstoreEnv(t, envOptions{}, 4)
	b, _ := e.raw(e.addr)
	login(t, b)
	a.cmd("ENABLE QRESYNC")
	b.cmd("ENABLE QRESYNC")
	a.cmd("SELECT INBOX")
	lines, _ := b.cmd("SELECT INBOX")
	hb := highest(t, lines...)

	lines, _ = a.cmd(`STORE 1 +FLAGS (\Flagged)`)
	m1 := modseqOf(t, lines[0])
	lines, _ = b.cmd("NOOP")
	wantLines(t, "B after A's STORE", lines, fmt.Sprintf(`* 1 FETCH (UID 1 FLAGS (\Flagged) MODSEQ (%d))`, m1))

	a.cmd(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	lines, status := a.cmd("EXPUNGE")
	wantLines(t, "A's EXPUNGE", lines, "* VANISHED 2")
	ha := highest(t, status)
	// A FETCH may not remove messages: B hears of the change, and its
	// HIGHESTMODSEQ stays below the removal.
	lines, _ = b.cmd("FETCH 1 (FLAGS)")
	if len(lines) < 2 || lines[len(lines)-1] != fmt.Sprintf("* OK [HIGHESTMODSEQ %d] Removals not yet reported", m1) {
		t.Errorf("B's FETCH while a removal is pending: %q (before: %d)", lines, hb)
	}
	lines, _ = b.cmd("NOOP")
	wantLines(t, "B's NOOP", lines, "* VANISHED 2")
	// B's STORE from A's mod-sequence on: VANISHED is not repeated.
	lines, _ = b.cmd(fmt.Sprintf(`UID FETCH 1:4 (FLAGS) (CHANGEDSINCE %d VANISHED)`, ha))
	wantLines(t, "B's UID FETCH VANISHED after the removal", lines)
	lines, _ = b.cmd(fmt.Sprintf(`UID FETCH 1:4 (FLAGS) (CHANGEDSINCE %d VANISHED)`, hb))
	if len(lines) != 2 || lines[0] != "* VANISHED (EARLIER) 2" {
		t.Errorf("B's UID FETCH VANISHED from before: %q", lines)
	}
}

// TestQresyncPOP3Deletion: a POP3 DELE + QUIT is a VANISHED for an IMAP
// session with QRESYNC, and a tombstone for the next QRESYNC.
func TestQresyncPOP3Deletion(t *testing.T) {
	e, r := condstoreEnv(t, envOptions{}, 3)
	r.cmd("ENABLE QRESYNC")
	lines, _ := r.cmd("SELECT INBOX")
	h0 := highest(t, lines...)
	p := e.pop3(t)
	if l := p.cmd("DELE 2"); !strings.HasPrefix(l, "+OK") {
		t.Fatal(l)
	}
	p.cmd("QUIT")
	lines, _ = r.cmd("NOOP")
	wantLines(t, "NOOP after POP3 DELE", lines, "* VANISHED 2")
	lines, _ = r.cmd(fmt.Sprintf("UID FETCH 1:3 (FLAGS) (CHANGEDSINCE %d VANISHED)", h0))
	wantLines(t, "UID FETCH VANISHED after POP3 DELE", lines, "* VANISHED (EARLIER) 2")
}

// TestQresyncPruned: with tombstones pruned (here none kept), a client
// whose mod-sequence is older gets every known UID the mailbox lacks,
// narrowed by its sequence match data (RFC 7162 §3.2.5.2, §3.2.6 note).
func TestQresyncPruned(t *testing.T) {
	e, r := condstoreEnv(t, envOptions{keepExpunged: -1}, 6)
	r.cmd("ENABLE QRESYNC")
	r.cmd("SELECT INBOX")
	r.cmd(`STORE 1:2 +FLAGS.SILENT (\Deleted)`)
	r.cmd("EXPUNGE")
	// The client synchronised here: UIDs 3:6 are its messages 1:4.
	lines, _ := r.cmd("SELECT INBOX")
	h0 := highest(t, lines...)
	validity := regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`).FindStringSubmatch(strings.Join(lines, "\n"))[1]
	r.cmd(`UID STORE 5:6 +FLAGS.SILENT (\Deleted)`)
	r.cmd("UID EXPUNGE 5:6")
	e.deliver(testUser, testMessage(7))

	lines, _ = r.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %d 1:6))", validity, h0))
	if !slices.Contains(lines, "* VANISHED (EARLIER) 1:2,5:6") {
		t.Errorf("QRESYNC without tombstones: %q", lines)
	}
	lines, _ = r.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %d 1:6 (1:2 3:4)))", validity, h0))
	if !slices.Contains(lines, "* VANISHED (EARLIER) 5:6") {
		t.Errorf("QRESYNC with sequence match data: %q", lines)
	}
	// A pair that no longer matches does not narrow anything.
	lines, _ = r.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %d 1:6 (4 6)))", validity, h0))
	if !slices.Contains(lines, "* VANISHED (EARLIER) 1:2,5:6") {
		t.Errorf("QRESYNC with stale sequence match data: %q", lines)
	}
	lines, _ = r.cmd(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", h0))
	if len(lines) == 0 || lines[0] != "* VANISHED (EARLIER) 1:2,5:6" {
		t.Errorf("UID FETCH VANISHED without tombstones: %q", lines)
	}
}
