package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestRefilterEditheaderDuplicate: re-filtering stored mail as
// Pigeonhole's sieve-filter does. A duplicate test is false for every
// stored message (a stored message's id is on record from its own
// delivery, and would make each one a duplicate of itself) and records
// nothing. A copy whose header the script edits is stored as a new
// message with the edited header, the body byte for byte and the
// original's flags and date, and the original is removed (sieve-filter
// -e -W: "a new message is stored and the old one is expunged"); a dry
// run reports the edit and changes nothing.
func TestRefilterEditheaderDuplicate(t *testing.T) {
	f := newFiltering(t)
	f.d.PlusFolders = false
	// Delivered through a duplicate test, so each id is on record.
	f.script(t, "alice@example.org", `require ["duplicate", "fileinto"]; if duplicate { fileinto "Dups"; }`)
	msg := func(subject, id string) string {
		return strings.NewReplacer("Subject: Hello", "Subject: "+subject+"\r\nX-Junk: 1",
			"<1@remote.example>", "<"+id+"@remote.example>").Replace(plainMsg)
	}
	for i, subj := range []string{"plain", "edit me", "edit and file", "edit and copy"} {
		f.deliver(t, "dan@remote.example", msg(subj, fmt.Sprint(i)), "alice@example.org")
	}
	if n := f.count(t, "alice@example.org", "INBOX"); n != 4 {
		t.Fatalf("INBOX holds %d, want 4", n)
	}
	ctx := context.Background()
	alice := f.accts["alice@example.org"]
	inbox, err := f.st.GetMailbox(ctx, alice.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.UpdateFlags(ctx, inbox.ID, []uint32{2}, store.FlagsAdd, []string{`\Answered`}); err != nil {
		t.Fatal(err)
	}
	before, _ := f.messages(t, "alice@example.org", "INBOX")
	f.script(t, "alice@example.org", `require ["fileinto", "mailbox", "editheader", "duplicate", "imap4flags"];
if duplicate { fileinto :create "Dups"; stop; }
if header :is "subject" "edit me" { addheader "X-Refiltered" "yes"; }
elsif header :is "subject" "edit and file" { deleteheader "X-Junk"; fileinto :create :flags "\\Flagged" "Filed"; }
elsif header :is "subject" "edit and copy" { fileinto :create "Copies"; addheader "X-Late" "after the copy"; keep; }`)
	run := func(apply bool) []string { return f.refilter(t, "alice@example.org", apply) }
	want := []string{"1 keep moved=false", "2 keep (header edited) moved=false",
		`3 fileinto Filed flags=\Flagged (header edited) moved=false`, "4 fileinto Copies; keep (header edited) moved=false"}
	if got := run(false); !slices.Equal(got, want) {
		t.Errorf("dry run:\n%q\nwant\n%q", got, want)
	}
	if got, _ := f.messages(t, "alice@example.org", "INBOX"); len(got) != 4 || got[3].UID != 4 {
		t.Errorf("a dry run changed INBOX: %+v", got)
	}
	want = []string{"1 keep moved=false", "2 keep (header edited) moved=true",
		`3 fileinto Filed flags=\Flagged (header edited) moved=true`, "4 fileinto Copies; keep (header edited) moved=true"}
	if got := run(true); !slices.Equal(got, want) {
		t.Errorf("applied:\n%q\nwant\n%q", got, want)
	}
	if n := f.count(t, "alice@example.org", "Dups"); n != 0 {
		t.Errorf("Dups holds %d: stored messages were their own duplicates", n)
	}
	after, _ := f.messages(t, "alice@example.org", "INBOX")
	var uids []uint32
	for _, m := range after {
		uids = append(uids, m.UID)
	}
	// 1 stays; 2 and 4 come back edited, 3 went to Filed.
	if !slices.Equal(uids, []uint32{1, 5, 6}) {
		t.Fatalf("INBOX UIDs %v, want [1 5 6]", uids)
	}
	if !slices.Equal(after[1].Flags, []string{`\Answered`}) || !after[1].InternalDate.Equal(before[1].InternalDate) {
		t.Errorf("the edited copy has flags %v and date %v, want the original's %v and %v",
			after[1].Flags, after[1].InternalDate, before[1].Flags, before[1].InternalDate)
	}
	const rp = "Return-Path: <dan@remote.example>\r\n" // added at delivery
	wantEdited := "X-Refiltered: yes\r\n" + rp + msg("edit me", "1")
	if got := f.storedBody(t, "alice@example.org", "INBOX", 2); got != wantEdited {
		t.Errorf("edited message:\n%q\nwant\n%q", got, wantEdited)
	}
	if got, want := f.storedBody(t, "alice@example.org", "Filed", 1), rp+strings.Replace(msg("edit and file", "2"), "X-Junk: 1\r\n", "", 1); got != want {
		t.Errorf("filed message:\n%q\nwant\n%q", got, want)
	}
	if got := f.box(t, "alice@example.org", "Filed"); got != `(\Flagged)` {
		t.Errorf("Filed holds %q", got)
	}
	// Each copy has the header as it stood when its action ran.
	if got, want := f.storedBody(t, "alice@example.org", "Copies", 1), rp+msg("edit and copy", "3"); got != want {
		t.Errorf("copy filed before the edit:\n%q\nwant\n%q", got, want)
	}
	if got, want := f.storedBody(t, "alice@example.org", "INBOX", 3), "X-Late: after the copy\r\n"+rp+msg("edit and copy", "3"); got != want {
		t.Errorf("kept after the edit:\n%q\nwant\n%q", got, want)
	}
	// Re-filtering records no ids: the next delivery of a message with a
	// new id is not a duplicate.
	f.deliver(t, "dan@remote.example", msg("new", "9"), "alice@example.org")
	f.deliver(t, "dan@remote.example", msg("new", "9"), "alice@example.org")
	if n := f.count(t, "alice@example.org", "Dups"); n != 1 {
		t.Errorf("Dups holds %d after a message delivered twice, want 1", n)
	}
}
