package migrate_test

// The readers against the real thing: Dovecot (Debian's dovecot-core, run
// privately from a temporary directory) delivers with dovecot-lda, sets
// flags and keywords with doveadm, saves POP3 UIDLs through its own pop3
// binary, and then what the readers make of its files must equal what
// doveadm fetch reports for the same messages.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/migrate"
	"github.com/pochta-mail/pochta/internal/migrate/dovecottest"
	"github.com/pochta-mail/pochta/internal/migrate/maildir"
	"github.com/pochta-mail/pochta/internal/migrate/mbox"
	"github.com/pochta-mail/pochta/internal/store"
)

// flagsOf splits doveadm's flags into system flags (without \Recent) and
// keywords, as the readers give them.
func flagsOf(s string) (flags, keywords []string) {
	for _, f := range strings.Fields(s) {
		switch {
		case f == `\Recent`:
		case strings.HasPrefix(f, `\`):
			flags = append(flags, store.CanonicalFlag(f))
		default:
			keywords = append(keywords, f)
		}
	}
	slices.Sort(flags)
	slices.Sort(keywords)
	return flags, keywords
}

func msg(subject, body string) string {
	return "From: a@example.org\nTo: tester@example.org\nSubject: " + subject + "\n\n" + body
}

func TestDovecotMaildir(t *testing.T) {
	d := dovecottest.Start(t, "maildir:~/Maildir")
	d.Doveadm("mailbox", "create", "-u", "tester", "Lists.foo", "Sent", "Sent Items", "Entwürfe", "Junk")
	for i := 1; i <= 4; i++ {
		d.Deliver("INBOX", msg(fmt.Sprint("inbox ", i), "hello\n"))
	}
	d.Deliver("Lists.foo", msg("list", "to the list\n"))
	d.Deliver("Entwürfe", msg("draft", "unfinished\n"))
	d.Doveadm("flags", "add", "-u", "tester", `\Seen \Answered $Label1`, "mailbox", "INBOX", "uid", "1")
	d.Doveadm("flags", "add", "-u", "tester", `\Flagged $Junk $Forwarded`, "mailbox", "INBOX", "uid", "2")
	d.Doveadm("flags", "add", "-u", "tester", `\Deleted \Draft`, "mailbox", "INBOX", "uid", "3")
	d.Doveadm("flags", "add", "-u", "tester", `$Label1`, "mailbox", "Lists.foo", "uid", "1")
	d.Doveadm("expunge", "-u", "tester", "mailbox", "INBOX", "uid", "4")
	d.Deliver("INBOX", msg("inbox 5", "after the expunge\n"))
	// A POP3 session with pop3_save_uidl writes the P fields.
	out := d.Run("UIDL\r\nQUIT\r\n", filepath.Join(d.Lib, "pop3"), "-c", d.Conf, "-u", "tester")
	if !strings.Contains(out, "+OK Logging out") {
		t.Fatalf("pop3: %s", out)
	}

	root := filepath.Join(d.Home, "Maildir")
	refs, warns, err := maildir.Folders(root)
	if err != nil || len(warns) > 0 {
		t.Fatal(err, warns)
	}
	folders := map[string]*maildir.Folder{}
	var names []string
	for _, ref := range refs {
		f, err := maildir.ReadFolder(ref)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Warnings) > 0 {
			t.Errorf("%s: %v", ref.Name, f.Warnings)
		}
		folders[strings.ReplaceAll(ref.Name, "/", ".")] = f
		names = append(names, ref.Name+"="+ref.SpecialUse)
	}
	if want := []string{"INBOX=", "Entwürfe=", `Junk=\Junk`, "Lists/foo=", `Sent=\Sent`, `Sent Items=\Sent`}; !slices.Equal(names, want) {
		t.Errorf("folders %q, want %q", names, want)
	}

	for _, st := range d.Table("mailbox", "status", "-u", "tester", "uidvalidity uidnext messages", "*") {
		f := folders[st["mailbox"]]
		if f == nil {
			t.Errorf("Dovecot's mailbox %q not read", st["mailbox"])
			continue
		}
		if fmt.Sprint(f.UIDValidity) != st["uidvalidity"] || fmt.Sprint(f.UIDNext) != st["uidnext"] || fmt.Sprint(len(f.Messages)) != st["messages"] {
			t.Errorf("%s: UIDVALIDITY %d, UIDNEXT %d, %d messages; Dovecot says %v", st["mailbox"], f.UIDValidity, f.UIDNext, len(f.Messages), st)
		}
		if f.UIDSource != "dovecot-uidlist" {
			t.Errorf("%s: UIDs from %q", st["mailbox"], f.UIDSource)
		}
	}
	rows := d.Table("fetch", "-u", "tester", "mailbox uid flags pop3.uidl", "all")
	if len(rows) != 6 {
		t.Fatalf("Dovecot lists %d messages, want 6", len(rows))
	}
	for _, row := range rows {
		f := folders[row["mailbox"]]
		if f == nil {
			t.Fatalf("no folder %q", row["mailbox"])
		}
		uid, _ := strconv.Atoi(row["uid"])
		i := slices.IndexFunc(f.Messages, func(m maildir.Message) bool { return m.UID == uint32(uid) })
		if i < 0 {
			t.Errorf("%s UID %d not read", row["mailbox"], uid)
			continue
		}
		m := f.Messages[i]
		flags, kw := flagsOf(row["flags"])
		got := slices.Clone(m.Keywords)
		slices.Sort(got)
		if !slices.Equal(m.Flags, flags) || !slices.Equal(got, kw) || !m.UIDFromSource {
			t.Errorf("%s UID %d: flags %v keywords %v; Dovecot: %q", row["mailbox"], uid, m.Flags, got, row["flags"])
		}
		if row["mailbox"] == "INBOX" && (m.UIDL != row["pop3.uidl"] || m.UIDL == "") {
			t.Errorf("INBOX UID %d: UIDL %q, Dovecot %q", uid, m.UIDL, row["pop3.uidl"])
		}
	}
}

func TestDovecotMbox(t *testing.T) {
	d := dovecottest.Start(t, "mbox:~/mail:INBOX=~/mail/inbox")
	bodies := []string{
		"one\nFrom the start of a line\n>From quoted already\n",
		"two\n\nFrom someone Mon Nov 30 10:00:00 2026\nlooks like a separator, is body\n",
		"three\n",
	}
	for i, b := range bodies {
		d.Deliver("INBOX", msg(fmt.Sprint("m", i+1), b))
	}
	d.Doveadm("flags", "add", "-u", "tester", `\Seen \Answered $Label1`, "mailbox", "INBOX", "uid", "1")
	d.Doveadm("flags", "add", "-u", "tester", `\Flagged \Draft \Deleted Work`, "mailbox", "INBOX", "uid", "3")

	fh, err := os.Open(filepath.Join(d.Home, "mail", "inbox"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r := mbox.NewReader(fh, mbox.Options{Variant: mbox.MboxCL2, File: "inbox"})
	type got struct {
		flags, kw []string
		content   string
	}
	read := map[uint32]got{}
	for m, err := r.Next(); !errors.Is(err, io.EOF); m, err = r.Next() {
		var c []byte
		if err == nil {
			c, err = io.ReadAll(m.Content)
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Internal {
			continue
		}
		kw := slices.Clone(m.Keywords)
		slices.Sort(kw)
		read[m.UID] = got{m.Flags, kw, string(c)}
	}
	st := d.Table("mailbox", "status", "-u", "tester", "uidvalidity uidnext", "INBOX")[0]
	if b := r.Base(); b == nil || fmt.Sprint(b.UIDValidity) != st["uidvalidity"] || fmt.Sprint(b.UIDNext) != st["uidnext"] {
		t.Errorf("base %+v, Dovecot %v", b, st)
	}
	rows := d.Table("fetch", "-u", "tester", "uid flags", "mailbox", "INBOX", "all")
	if len(rows) != len(bodies) || len(read) != len(bodies) {
		t.Fatalf("Dovecot has %d messages, read %d", len(rows), len(read))
	}
	for _, row := range rows {
		uid, _ := strconv.Atoi(row["uid"])
		g, ok := read[uint32(uid)]
		if !ok {
			t.Errorf("UID %d not read", uid)
			continue
		}
		flags, kw := flagsOf(row["flags"])
		if !slices.Equal(g.flags, flags) || !slices.Equal(g.kw, kw) {
			t.Errorf("UID %d: flags %v keywords %v; Dovecot %q", uid, g.flags, g.kw, row["flags"])
		}
		text := strings.TrimPrefix(d.Doveadm("fetch", "-u", "tester", "text", "mailbox", "INBOX", "uid", row["uid"]), "text:\n")
		if g.content != text {
			t.Errorf("UID %d content\n%q\nDovecot serves\n%q", uid, g.content, text)
		}
	}
}

// TestDovecotUIDLFormats: for messages Dovecot never saved UIDLs for, the
// UIDLs computed from pop3_uidl_format equal those Dovecot's pop3 lists.
func TestDovecotUIDLFormats(t *testing.T) {
	d := dovecottest.Start(t, "maildir:~/Maildir")
	for i := 1; i <= 3; i++ {
		d.Deliver("INBOX", msg(fmt.Sprint("m", i), "hello\n"))
	}
	refs, _, err := maildir.Folders(filepath.Join(d.Home, "Maildir"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := maildir.ReadFolder(refs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%08Xu%08Xv", "%v.%u", "%f", "%g", "UID%u-%Xv", "%1.8Lf", "%012XUv"} {
		out := d.Run("UIDL\r\nQUIT\r\n", filepath.Join(d.Lib, "pop3"), "-c", d.Conf,
			"-o", "pop3_save_uidl=no", "-o", "pop3_uidl_format="+format, "-u", "tester")
		var dovecot []string
		for _, l := range strings.Split(out, "\r\n") {
			if n, uidl, ok := strings.Cut(l, " "); ok && n != "" && n[0] >= '1' && n[0] <= '9' {
				dovecot = append(dovecot, uidl)
			}
		}
		uf, err := migrate.ParseUIDLFormat(format)
		if err != nil {
			t.Fatal(err)
		}
		var ours []string
		for _, m := range f.Messages {
			u, err := uf.Format(migrate.UIDLVars{UID: m.UID, UIDValidity: f.UIDValidity, FileName: maildir.ParseName(filepath.Base(m.Path)).Base})
			if err != nil {
				t.Fatal(err)
			}
			ours = append(ours, u)
		}
		if !slices.Equal(ours, dovecot) || len(ours) != 3 {
			t.Errorf("%s: ours %q, Dovecot %q", format, ours, dovecot)
		}
	}
}
