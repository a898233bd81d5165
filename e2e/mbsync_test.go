package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// A real sync client: mbsync (isync) pulls the account, folders included,
// into a local Maildir; a flag set and a message deleted locally are
// pushed back and seen over IMAP.
func TestMbsync(t *testing.T) {
	prototest.NeedProgram(t, "mbsync", "isync")
	in := newInstance(t, "example.test")
	in.addUser("dave@example.test", "pw-dave-456")
	for _, m := range testMessages {
		in.deliver("dave@example.test", m)
	}
	in.deliver("dave@example.test", "From: x@example.org\nSubject: third\n\nthird body\n")
	in.serve([]string{"imap"})

	c := dialIMAP(t, in.addrs["imap"], "dave@example.test", "pw-dave-456")
	if err := c.Create("Lists/go", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	listMsg := "Subject: from a list\r\n\r\nlist traffic\r\n"
	app := c.Append("Lists/go", int64(len(listMsg)), nil)
	app.Write([]byte(listMsg))
	app.Close()
	if _, err := app.Wait(); err != nil {
		t.Fatal(err)
	}

	local := filepath.Join(t.TempDir(), "mail")
	config := prototest.MbsyncConfig(t, in.addrs["imap"], "dave@example.test", "pw-dave-456", local)
	mbsync := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		// -Dn: the network trace, to see COMPRESS in use.
		out, err := exec.CommandContext(ctx, "mbsync", "-Dn", "-c", config, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
		// mbsync turns COMPRESS=DEFLATE on whenever offered (here on
		// loopback) and flushes with Z_PARTIAL_FLUSH, on which the
		// compress/flate reader stalled (61b85fe; internal/inflate).
		if !strings.Contains(string(out), "COMPRESS DEFLATE") {
			t.Fatalf("mbsync did not use COMPRESS=DEFLATE:\n%s", out)
		}
	}
	mbsync()

	inbox := maildirFiles(t, filepath.Join(local, "INBOX"))
	if len(inbox) != 3 {
		t.Fatalf("local INBOX has %d messages, want 3: %v", len(inbox), inbox)
	}
	if got := maildirFiles(t, filepath.Join(local, "Lists", "go")); len(got) != 1 {
		t.Fatalf("local Lists/go has %d messages, want 1", len(got))
	}
	for _, f := range []string{"Sent", "Drafts", "Trash", "Junk", "Archive"} {
		if _, err := os.Stat(filepath.Join(local, f, "cur")); err != nil {
			t.Errorf("special folder %s not synced: %v", f, err)
		}
	}
	// mbsync stores LF line endings and adds its X-TUID header; the rest
	// is the message as delivered.
	body, err := os.ReadFile(inbox[0])
	var kept []string
	for _, l := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(l, "X-TUID: ") {
			kept = append(kept, l)
		}
	}
	if err != nil || strings.Join(kept, "\n") != testMessages[0] {
		t.Errorf("synced message 1 = %q, %v", trunc(string(body)), err)
	}

	// Locally: flag the first message, delete the second.
	flagged := inbox[0]
	base, info, _ := strings.Cut(flagged, ":2,")
	if err := os.Rename(flagged, base+":2,"+sortFlags(info+"F")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(inbox[1]); err != nil {
		t.Fatal(err)
	}
	mbsync()

	// Over IMAP: UID 1 is \Flagged, UID 2 is gone, UID 3 untouched.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var all goimap.UIDSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &goimap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var uids []goimap.UID
	for _, m := range msgs {
		uids = append(uids, m.UID)
		if m.UID == 1 && !slices.Contains(m.Flags, goimap.FlagFlagged) {
			t.Errorf("UID 1 flags %v, want \\Flagged pushed by mbsync", m.Flags)
		}
	}
	if !slices.Equal(uids, []goimap.UID{1, 3}) {
		t.Errorf("INBOX UIDs after the sync %v, want [1 3]", uids)
	}

	// A message written locally is pushed (APPEND) and gets UID 4.
	pushed := "From: dave@example.test\nTo: list@example.org\nSubject: written offline\n\nsent from the train\n"
	if err := os.WriteFile(filepath.Join(local, "INBOX", "new", "1700000000.P1Q1.laptop"), []byte(pushed), 0o600); err != nil {
		t.Fatal(err)
	}
	mbsync()
	remote := func() string {
		t.Helper()
		ic := imapSession(t, in.addrs["imap"], "dave@example.test", "pw-dave-456")
		defer ic.Close()
		res, err := ic.MustOK("EXAMINE INBOX")
		if err == nil {
			res, err = ic.MustOK("UID FETCH 1:* (UID FLAGS RFC822.SIZE)")
		}
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, r := range res.Named("FETCH") {
			lines = append(lines, r.String())
		}
		return strings.Join(lines, "\n")
	}
	after := remote()
	if !strings.Contains(after, "UID 4") {
		t.Errorf("the locally written message was not pushed as UID 4:\n%s", after)
	}
	ic := imapSession(t, in.addrs["imap"], "dave@example.test", "pw-dave-456")
	if _, err := ic.MustOK("EXAMINE INBOX"); err != nil {
		t.Fatal(err)
	}
	res, err := ic.MustOK("UID FETCH 4 BODY.PEEK[]")
	if err != nil || len(res.Named("FETCH")) != 1 {
		t.Fatalf("UID FETCH 4: %v %v", res, err)
	}
	if body, _ := res.Named("FETCH")[0].FetchItem("BODY[]"); !strings.Contains(body.S, "sent from the train") {
		t.Errorf("pushed message on the server: %q", trunc(body.S))
	}

	// A second run with nothing changed on either side is a no-op.
	localBefore := strings.Join(maildirFiles(t, filepath.Join(local, "INBOX")), "\n")
	mbsync()
	if got := strings.Join(maildirFiles(t, filepath.Join(local, "INBOX")), "\n"); got != localBefore {
		t.Errorf("a no-op sync changed the local INBOX:\nbefore %s\nafter  %s", localBefore, got)
	}
	if got := remote(); got != after {
		t.Errorf("a no-op sync changed the server's INBOX:\nbefore %s\nafter  %s", after, got)
	}
}

func dialIMAP(t testing.TB, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// maildirFiles lists a Maildir folder's messages (new and cur), sorted by
// the UID mbsync puts in the name.
func maildirFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatalf("reading %s: %v", dir, err)
		}
		for _, e := range entries {
			out = append(out, filepath.Join(dir, sub, e.Name()))
		}
	}
	slices.SortFunc(out, func(a, b string) int { return uidOf(a) - uidOf(b) })
	return out
}

func uidOf(name string) int {
	_, rest, ok := strings.Cut(filepath.Base(name), ",U=")
	if !ok {
		return 0
	}
	n := 0
	for _, ch := range rest {
		if ch < '0' || ch > '9' {
			break
		}
		n = n*10 + int(ch-'0')
	}
	return n
}

func sortFlags(f string) string {
	b := []byte(f)
	slices.Sort(b)
	return string(slices.Compact(b))
}
