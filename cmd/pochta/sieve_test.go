package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestSieveCLI: scripts managed with pochta sieve, and pochta deliver
// running the active one.
func TestSieveCLI(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	must(t, "pw\n", "-d", dir, "user", "add", "alice@example.test", "--password-stdin")
	script := "require [\"fileinto\", \"mailbox\", \"imap4flags\"];\nif header :contains \"subject\" \"report\" {\n  fileinto :create :flags \"\\\\Seen\" \"Reports/Daily\";\n}\n"
	must(t, script, "-d", dir, "sieve", "put", "alice@example.test", "filters", "--activate")
	must(t, "keep;\n", "-d", dir, "sieve", "put", "alice@example.test", "spare")
	if out := must(t, "", "-d", dir, "sieve", "list", "alice@example.test"); out != "filters 142 (active)\nspare 6\n" {
		t.Errorf("sieve list:\n%s", out)
	}
	if out := must(t, "", "-d", dir, "sieve", "get", "alice@example.test", "filters"); out != script {
		t.Errorf("sieve get: %q", out)
	}
	expect(t, exitError, "sieve: line 1, column 1: fileinto needs require", "fileinto \"x\";\n", "-d", dir, "sieve", "check")
	expect(t, exitError, "sieve: line 1, column 1: fileinto needs require", "fileinto \"x\";\n", "-d", dir, "sieve", "put", "alice@example.test", "bad")
	expect(t, exitError, "is active", "", "-d", dir, "sieve", "delete", "alice@example.test", "filters")
	expect(t, exitError, "is active", "", "-d", dir, "sieve", "del", "alice@example.test", "filters")
	expect(t, exitError, "user nobody@example.test does not exist", "", "-d", dir, "sieve", "list", "nobody@example.test")
	expect(t, exitUsage, "usage: pochta sieve", "", "-d", dir, "sieve", "frob")
	must(t, "", "-d", dir, "sieve", "delete", "alice@example.test", "spare")

	must(t, "Subject: daily report\n\nnumbers\n", "-d", dir, "deliver", "alice@example.test")
	must(t, "Subject: hello\n\nhi\n", "-d", dir, "deliver", "alice@example.test")
	st := openStore(t, dir)
	ctx := context.Background()
	acct, _ := st.Account(ctx, "alice@example.test")
	mb, err := st.GetMailbox(ctx, acct.ID, "Reports/Daily")
	if err != nil {
		t.Fatalf("Reports/Daily: %v", err)
	}
	msgs, _ := st.ListMessages(ctx, mb.ID, store.MessageQuery{})
	if len(msgs) != 1 || !msgs[0].HasFlag(`\Seen`) {
		t.Errorf("Reports/Daily holds %+v", msgs)
	}
	if got := inbox(t, st, "alice@example.test"); len(got) != 1 || !strings.Contains(got[0], "Subject: hello") {
		t.Errorf("INBOX holds %q", got)
	}
	st.Close()
	must(t, "require \"reject\";\nreject \"No reports, please.\";\n", "-d", dir, "sieve", "put", "alice@example.test", "no", "--activate")
	expect(t, exitNoPerm, "No reports, please.", "Subject: x\n\nhi\n", "-d", dir, "deliver", "alice@example.test")
	must(t, "", "-d", dir, "sieve", "activate", "alice@example.test", "filters")
	must(t, "", "-d", dir, "sieve", "del", "alice@example.test", "no") // del: delete's alias
	must(t, "", "-d", dir, "sieve", "deactivate", "alice@example.test")
	if out := must(t, "", "-d", dir, "sieve", "list", "alice@example.test"); out != "filters 142\n" {
		t.Errorf("after deactivate:\n%s", out)
	}
	// Mail that arrived without a script, filtered afterwards.
	must(t, "Subject: weekly report\n\nmore numbers\n", "-d", dir, "deliver", "alice@example.test")
	expect(t, exitError, "has no active script", "", "-d", dir, "sieve", "run", "alice@example.test")
	must(t, "", "-d", dir, "sieve", "activate", "alice@example.test", "filters")
	dry := "1 keep\n2 fileinto Reports/Daily flags=\\Seen\n2 messages; nothing changed (dry run: --apply files and flags them)\n"
	if out := must(t, "", "-d", dir, "sieve", "run", "alice@example.test"); out != dry {
		t.Errorf("sieve run:\n%s", out)
	}
	if out := must(t, "", "-d", dir, "sieve", "run", "alice@example.test", "--apply"); !strings.HasSuffix(out, "2 messages filtered, 1 moved out of INBOX\n") {
		t.Errorf("sieve run --apply:\n%s", out)
	}
	expect(t, exitError, `mailbox "Nope" of alice@example.test does not exist`, "", "-d", dir, "sieve", "run", "alice@example.test", "--mailbox", "Nope")
}

// TestSieveBefore: delivery.sieve_before runs before the account's script;
// one that does not compile fails delivery temporarily.
func TestSieveBefore(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	must(t, "pw\n", "-d", dir, "user", "add", "alice@example.test", "--password-stdin")
	setConfig(t, dir, "delivery", "sieve_before", `"before.sieve"`)
	if err := os.WriteFile(filepath.Join(dir, "before.sieve"), []byte("fileinto \"Junk\";\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect(t, exitTempFail, "delivery.sieve_before", "Subject: x\n\nhi\n", "-d", dir, "deliver", "alice@example.test")
	if err := os.WriteFile(filepath.Join(dir, "before.sieve"), []byte("require \"fileinto\";\nif header :is \"x-spam\" \"yes\" { fileinto \"Junk\"; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, "X-Spam: yes\nSubject: x\n\nhi\n", "-d", dir, "deliver", "alice@example.test")
	st := openStore(t, dir)
	acct, _ := st.Account(context.Background(), "alice@example.test")
	mb, err := st.GetMailbox(context.Background(), acct.ID, "Junk")
	if err != nil {
		t.Fatal(err)
	}
	if msgs, _ := st.ListMessages(context.Background(), mb.ID, store.MessageQuery{}); len(msgs) != 1 {
		t.Errorf("Junk holds %d messages", len(msgs))
	}
}
