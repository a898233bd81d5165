package main

import (
	"strconv"
	"strings"
	"testing"
)

func itoa(n int) string { return strconv.Itoa(n) }

// TestAliasQuotaQueueCommands drives alias, user quota and queue through
// the CLI and checks deliver honours them.
func TestAliasQuotaQueueCommands(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t) // alice@example.test
	must(t, "pw\n", "-d", dir, "user", "add", "bob@example.test", "--password-stdin")
	must(t, "", "-d", dir, "alias", "add", "team@example.test", "alice@example.test", "bob@example.test", "far@remote.test")
	must(t, "", "-d", dir, "alias", "add", "@example.test", "bob@example.test")
	// abuse@ and postmaster@ came with alice, the domain's first user.
	if got := must(t, "", "-d", dir, "alias", "list"); got != "@example.test bob@example.test\n"+
		"abuse@example.test alice@example.test\npostmaster@example.test alice@example.test\n"+
		"team@example.test alice@example.test bob@example.test far@remote.test\n" {
		t.Fatalf("alias list: %q", got)
	}
	expect(t, exitUsage, "usage", "", "-d", dir, "alias", "add", "team@example.test")
	expect(t, exitUsage, "user@domain", "", "-d", dir, "alias", "add", "x@example.test", "not-an-address")
	expect(t, exitError, "nowhere.test", "", "-d", dir, "alias", "add", "x@nowhere.test", "alice@example.test")
	expect(t, exitError, "is a user; an alias cannot have the same address", "", "-d", dir, "alias", "add", "alice@example.test", "bob@example.test")

	// deliver resolves aliases (remote targets are queued), plus-addresses
	// and the catch-all; -f records the Return-Path on local copies only.
	must(t, msg, "-d", dir, "deliver", "-f", "sender@remote.test", "team@example.test")
	must(t, msg, "-d", dir, "deliver", "alice+tag@example.test", "anyone@example.test")
	st := openStore(t, dir)
	rp := "Return-Path: <sender@remote.test>\r\n"
	if got := inbox(t, st, "alice@example.test"); len(got) != 2 || got[0] != rp+msg || got[1] != msg {
		t.Errorf("alice: %q", got)
	}
	if got := inbox(t, st, "bob@example.test"); len(got) != 2 || got[0] != rp+msg || got[1] != msg {
		t.Errorf("bob (alias and catch-all): %q", got)
	}
	st.Close()
	list := must(t, "", "-d", dir, "queue", "list")
	if !strings.HasPrefix(list, "1 ") || !strings.Contains(list, "<sender@remote.test> <far@remote.test>") {
		t.Errorf("queue list: %q", list)
	}
	show := must(t, "", "-d", dir, "queue", "show", "1")
	if !strings.Contains(show, "to: <far@remote.test>") || !strings.HasSuffix(show, "\n\n"+msg) {
		t.Errorf("queue show (no Return-Path in the queued copy): %q", show)
	}
	expect(t, exitError, "does not exist", "", "-d", dir, "queue", "show", "99")
	expect(t, exitUsage, "usage", "", "-d", dir, "queue", "show")

	// Quotas: shown in user list, enforced by deliver (75 by default).
	must(t, "", "-d", dir, "user", "quota", "alice@example.test", "1KiB")
	used := len(rp + msg + msg)
	if got := must(t, "", "-d", dir, "user", "list"); !strings.Contains(got, "alice@example.test used="+itoa(used)+" quota=1KiB last_login=never\n") {
		t.Errorf("user list: %q", got)
	}
	expect(t, exitTempFail, "mailbox full", strings.Repeat("x", 2000), "-d", dir, "deliver", "alice@example.test")
	setConfig(t, dir, "delivery", "quota_temporary", "false")
	expect(t, exitUnavailable, "mailbox full", strings.Repeat("x", 2000), "-d", dir, "deliver", "alice@example.test")
	must(t, "", "-d", dir, "user", "quota", "alice@example.test", "none")
	must(t, strings.Repeat("x", 2000), "-d", dir, "deliver", "alice@example.test")
	expect(t, exitUsage, "not a size", "", "-d", dir, "user", "quota", "alice@example.test", "lots")

	must(t, "", "-d", dir, "alias", "del", "team@example.test", "far@remote.test")
	must(t, "", "-d", dir, "alias", "del", "@example.test")
	expect(t, exitNoUser, "anyone@example.test", msg, "-d", dir, "deliver", "anyone@example.test")
	expect(t, exitError, "alias @example.test does not exist", "", "-d", dir, "alias", "del", "@example.test")
}
