package imap

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

func listNames(t *testing.T, data []*goimap.ListData) map[string][]goimap.MailboxAttr {
	t.Helper()
	out := map[string][]goimap.MailboxAttr{}
	for _, d := range data {
		out[d.Mailbox] = d.Attrs
	}
	return out
}

func TestMailboxCommands(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1), testMessage(2))
	c := e.client(testUser, testPass, nil)

	all, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	names := listNames(t, all)
	for name, use := range map[string]goimap.MailboxAttr{"Sent": goimap.MailboxAttrSent, "Drafts": goimap.MailboxAttrDrafts,
		"Trash": goimap.MailboxAttrTrash, "Junk": goimap.MailboxAttrJunk, "Archive": goimap.MailboxAttrArchive} {
		if !slices.Contains(names[name], use) {
			t.Errorf("LIST: %s has %v, want %s", name, names[name], use)
		}
	}
	if _, ok := names["INBOX"]; !ok {
		t.Errorf("LIST * lacks INBOX: %v", names)
	}
	// LIST "" "" gives the delimiter.
	root, err := c.List("", "", nil).Collect()
	if err != nil || len(root) != 1 || root[0].Delim != '/' {
		t.Errorf(`LIST "" "": %+v, %v`, root, err)
	}

	// CREATE with hierarchy and CREATE-SPECIAL-USE.
	if err := c.Create("Projects/2024/Q1", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Flagged", &goimap.CreateOptions{SpecialUse: []goimap.MailboxAttr{goimap.MailboxAttrFlagged}}).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Projects", nil).Wait(); err == nil || !strings.Contains(err.Error(), "ALREADYEXISTS") {
		t.Errorf("CREATE of an existing mailbox: %v", err)
	}
	pct, err := c.List("", "Projects/%", nil).Collect()
	if err != nil || len(pct) != 1 || pct[0].Mailbox != "Projects/2024" || !slices.Contains(pct[0].Attrs, goimap.MailboxAttrHasChildren) {
		t.Errorf(`LIST "" Projects/%%: %+v, %v`, pct, err)
	}
	special, err := c.List("", "*", &goimap.ListOptions{SelectSpecialUse: true}).Collect()
	if err != nil || len(special) != 6 {
		t.Errorf("LIST (SPECIAL-USE): %d mailboxes, %v; want the 5 defaults and Flagged", len(special), err)
	}
	// LIST-STATUS.
	st, err := c.List("", "INBOX", &goimap.ListOptions{ReturnStatus: &goimap.StatusOptions{NumMessages: true, UIDNext: true, Size: true}}).Collect()
	if err != nil || len(st) != 1 || st[0].Status == nil || *st[0].Status.NumMessages != 2 || st[0].Status.UIDNext != 3 ||
		*st[0].Status.Size != int64(len(testMessage(1))+len(testMessage(2))) {
		t.Errorf("LIST RETURN (STATUS): %+v, %v", st, err)
	}

	// STATUS, including STATUS=SIZE and DELETED.
	sd, err := c.Status("INBOX", &goimap.StatusOptions{NumMessages: true, NumUnseen: true, UIDValidity: true, NumDeleted: true}).Wait()
	if err != nil || *sd.NumMessages != 2 || *sd.NumUnseen != 2 || sd.UIDValidity == 0 || *sd.NumDeleted != 0 {
		t.Errorf("STATUS: %+v, %v", sd, err)
	}
	if _, err := c.Status("Nope", &goimap.StatusOptions{NumMessages: true}).Wait(); err == nil {
		t.Errorf("STATUS of a missing mailbox succeeded")
	}

	// SUBSCRIBE / UNSUBSCRIBE / LSUB-style LIST.
	if err := c.Unsubscribe("Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	subs, err := c.List("", "*", &goimap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil || listNames(t, subs)["Junk"] != nil {
		t.Errorf("LIST (SUBSCRIBED) still has Junk: %v", err)
	}

	// RENAME with children; DELETE refuses a parent, then works.
	if err := c.Rename("Projects", "Old", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	all, _ = c.List("", "*", nil).Collect()
	names = listNames(t, all)
	if _, ok := names["Old/2024/Q1"]; !ok {
		t.Errorf("after RENAME Projects Old: %v", names)
	}
	if err := c.Delete("Old").Wait(); err == nil || !strings.Contains(err.Error(), "HASCHILDREN") {
		t.Errorf("DELETE of a parent: %v", err)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Errorf("DELETE INBOX succeeded")
	}
	for _, n := range []string{"Old/2024/Q1", "Old/2024", "Old"} {
		if err := c.Delete(n).Wait(); err != nil {
			t.Errorf("DELETE %s: %v", n, err)
		}
	}

	// RENAME INBOX moves its messages; INBOX stays, empty.
	if err := c.Rename("INBOX", "Saved", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sd, err = c.Status("Saved", &goimap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatalf("STATUS Saved: %v", err)
	} else if *sd.NumMessages != 2 {
		t.Errorf("Saved after RENAME INBOX: %+v, %v", sd, err)
	}
	sd, err = c.Status("INBOX", &goimap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatalf("STATUS INBOX: %v", err)
	} else if *sd.NumMessages != 0 {
		t.Errorf("INBOX after RENAME INBOX: %+v, %v", sd, err)
	}

	// NAMESPACE.
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("NAMESPACE: %+v, %v", ns, err)
	}
}

func TestAppend(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client(testUser, testPass, nil)
	msg := "Subject: draft\r\n\r\nunfinished\r\n"
	date := time.Date(2023, 2, 3, 4, 5, 6, 0, time.UTC)
	cmd := c.Append("Drafts", int64(len(msg)), &goimap.AppendOptions{Flags: []goimap.Flag{goimap.FlagDraft, "$Todo"}, Time: date})
	cmd.Write([]byte(msg))
	cmd.Close()
	data, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	drafts, _ := e.store.GetMailbox(e.ctx, e.account(testUser).ID, "Drafts")
	if data.UID != 1 || data.UIDValidity != drafts.UIDValidity {
		t.Errorf("APPENDUID %+v, want UID 1 and UIDVALIDITY %d", data, drafts.UIDValidity)
	}
	if _, err := c.Select("Drafts", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	whole := &goimap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Flags: true, InternalDate: true,
		BodySection: []*goimap.FetchItemBodySection{whole}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if string(m.FindBodySection(whole)) != msg || !m.InternalDate.Equal(date) ||
		!slices.Contains(m.Flags, goimap.FlagDraft) || !slices.Contains(m.Flags, "$Todo") {
		t.Errorf("appended message: %q %v %v", m.FindBodySection(whole), m.InternalDate, m.Flags)
	}
	// APPEND to a missing mailbox asks the client to create it.
	cmd = c.Append("Nope", int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	cmd.Close()
	if _, err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("APPEND to a missing mailbox: %v", err)
	}
}

func TestQuota(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1))
	if err := e.store.SetQuota(e.ctx, testUser, 10*1024); err != nil {
		t.Fatal(err)
	}
	r, _ := e.raw(e.addr)
	r.cmd(`LOGIN alice@example.com "correct horse"`)
	lines, status := r.cmd("GETQUOTAROOT INBOX")
	if strings.Join(lines, "|") != `* QUOTAROOT "INBOX" ""|* QUOTA "" (STORAGE 1 10)` || !strings.HasPrefix(status, "OK") {
		t.Errorf("GETQUOTAROOT: %q %q", lines, status)
	}
	if lines, _ := r.cmd(`GETQUOTA ""`); len(lines) != 1 || lines[0] != `* QUOTA "" (STORAGE 1 10)` {
		t.Errorf("GETQUOTA: %q", lines)
	}
	big := strings.Repeat("x", 12*1024)
	r.send(fmt.Sprintf("a1 APPEND Drafts {%d+}\r\n%s", len(big), big))
	if l := r.line(); !strings.HasPrefix(l, "a1 NO [OVERQUOTA]") {
		t.Errorf("APPEND over quota: %q", l)
	}
}

// RENAME to a name that exists, its own included, is NO [ALREADYEXISTS]
// (RFC 9051 §6.3.6, RFC 5530 §3), as Dovecot answers; renaming a mailbox
// to itself got NO [CANNOT].
func TestRenameToExisting(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.login(false, false)
	mustOK(t, r, `CREATE "with space"`)
	mustOK(t, r, `CREATE Other`)
	for _, cmd := range []string{`RENAME "with space" "with space"`, `RENAME "with space" Other`, `RENAME INBOX INBOX`} {
		if _, status := r.cmd(cmd); !strings.HasPrefix(status, "NO [ALREADYEXISTS]") {
			t.Errorf("%s: %q", cmd, status)
		}
	}
	if lines := mustOK(t, r, `LIST "" "*"`); index(lines, `* LIST (\HasNoChildren) "/" "with space"`) < 0 {
		t.Errorf("after the refused RENAMEs: %q", lines)
	}
}
