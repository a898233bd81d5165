package delivery

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// storedBody reads message uid of a mailbox.
func (f *filtering) storedBody(t *testing.T, addr, name string, n int) string {
	t.Helper()
	ctx := context.Background()
	mb, err := f.st.GetMailbox(ctx, f.accts[addr].ID, name)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := f.messages(t, addr, name)
	if len(msgs) < n {
		t.Fatalf("%s has %d messages", name, len(msgs))
	}
	r, err := f.st.OpenMessage(ctx, mb.ID, msgs[n-1].UID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

// The body test (RFC 5173) reads the message the filter step spooled,
// in memory or in a file, and the message is stored as sent.
func TestFilterBody(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `require ["fileinto", "mailbox", "body"];
if body :text :contains "project schedule" { fileinto :create "Schedule"; }
elsif body :raw :contains "=E9" { fileinto :create "Encoded"; }`)
	small := plainMsg[:len(plainMsg)-len("hi\r\n")] + "the project schedule\r\n"
	big := plainMsg + strings.Repeat("0123456789abcdef\r\n", 80000) + "=E9\r\n" // 1.4 MB: a file, and past MaxBody
	qp := "From: dan@remote.example\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nthe project=20schedule=E9\r\n"
	f.deliver(t, "dan@remote.example", small, "alice@example.org")
	f.deliver(t, "dan@remote.example", big, "alice@example.org")
	f.deliver(t, "dan@remote.example", qp, "alice@example.org")
	if got := f.count(t, "alice@example.org", "Schedule"); got != 2 {
		t.Errorf("Schedule: %d messages", got)
	}
	if got := f.count(t, "alice@example.org", "INBOX"); got != 1 {
		t.Errorf("INBOX: %d messages (the big one's =E9 is past the body test's 1 MiB)", got)
	}
	if got := f.storedBody(t, "alice@example.org", "Schedule", 1); !strings.HasSuffix(got, small) {
		t.Errorf("stored %q", got)
	}
	if got := f.storedBody(t, "alice@example.org", "INBOX", 1); !strings.HasSuffix(got, big) {
		t.Errorf("big message stored as %d octets", len(got))
	}
}

// editheader (RFC 5293): the edited header reaches the stored copies and
// the redirected one, the body and the untouched fields byte for byte;
// a copy filed before the edit keeps the header received.
func TestFilterEditheader(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `require ["fileinto", "mailbox", "editheader", "variables", "copy"];
fileinto :copy :create "Before";
if header :matches "subject" "*" { set "s" "${1}"; }
deleteheader "Subject";
addheader :last "Subject" "[filtered] ${s}";
addheader "X-Score" "Grüße";
redirect :copy "far@remote.example";
`)
	head := "From: Dan <dan@remote.example>\r\nTo: alice@example.org\r\nSubject: Hello\r\n\tfolded\r\nX-Odd:   spacing  \r\n\r\n"
	body := "line one\r\n.dot\r\n\r\nend\r\n"
	f.deliver(t, "dan@remote.example", head+body, "alice@example.org")
	wantHead := "X-Score: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nFrom: Dan <dan@remote.example>\r\nTo: alice@example.org\r\nX-Odd:   spacing  \r\nSubject: [filtered] Hello folded\r\n\r\n"
	got := f.storedBody(t, "alice@example.org", "INBOX", 1)
	if !strings.HasSuffix(got, wantHead+body) {
		t.Errorf("INBOX copy:\n%q\nwant suffix\n%q", got, wantHead+body)
	}
	if !strings.HasPrefix(got, "Return-Path: <dan@remote.example>\r\n") {
		t.Errorf("INBOX copy lost its Return-Path: %q", got)
	}
	if got := f.storedBody(t, "alice@example.org", "Before", 1); !strings.HasSuffix(got, head+body) {
		t.Errorf("copy filed before the edits:\n%q", got)
	}
	q := f.queued(t)
	if len(q) != 1 || !strings.HasSuffix(q[0], wantHead+body) || !strings.Contains(q[0], RedirectedHeader+": <alice@example.org>\r\n") {
		t.Errorf("queued: %q", q)
	}
}

// A script that edits the header and then fails keeps the message as
// received.
func TestFilterEditheaderError(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `require ["editheader", "variables"];
addheader "X-A" "1"; set "p" "@"; redirect "${p}";`)
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
	if got := f.storedBody(t, "alice@example.org", "INBOX", 1); !strings.HasSuffix(got, "\r\n"+plainMsg) || strings.Contains(got, "X-A") {
		t.Errorf("stored %q", got)
	}
}

// duplicate (RFC 7352): the id is recorded once the message is stored;
// the same Message-ID within the period is a duplicate, after it not.
func TestFilterDuplicate(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `require ["duplicate", "fileinto", "mailbox"];
if duplicate :seconds 3600 { fileinto :create "Dups"; }`)
	f.script(t, "bob@example.org", `require "duplicate"; if duplicate :seconds 3600 { discard; }`)
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org", "bob@example.org")
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org", "bob@example.org")
	if a, d, b := f.count(t, "alice@example.org", "INBOX"), f.count(t, "alice@example.org", "Dups"), f.count(t, "bob@example.org", "INBOX"); a != 1 || d != 1 || b != 1 {
		t.Errorf("alice INBOX %d, Dups %d; bob INBOX %d; want 1 each", a, d, b)
	}
	f.now = f.now.Add(time.Hour)
	f.deliver(t, "dan@remote.example", plainMsg, "bob@example.org")
	if b := f.count(t, "bob@example.org", "INBOX"); b != 2 {
		t.Errorf("bob INBOX %d after the period, want 2", b)
	}
}

// redirect :copy (RFC 3894) is loop-protected as redirect is: the copy
// coming back with the account's own mark is kept once, not sent again,
// even when the script removed the mark from its header first.
func TestFilterRedirectCopyLoop(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `require ["copy", "editheader"];
deleteheader "X-Sieve-Redirected-From"; redirect :copy "far@remote.example";`)
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
	q := f.queued(t)
	if len(q) != 1 || !strings.Contains(q[0], RedirectedHeader+": <alice@example.org>\r\n") {
		t.Fatalf("queue holds %q", q)
	}
	f.deliver(t, "dan@remote.example", q[0][strings.Index(q[0], "\n")+1:], "alice@example.org")
	if q := f.queued(t); len(q) != 1 {
		t.Errorf("loop: %d messages queued, want still 1", len(q))
	}
	if n := f.count(t, "alice@example.org", "INBOX"); n != 2 {
		t.Errorf("INBOX holds %d, want 2 (the first :copy and the looped one)", n)
	}
}

// A redirect to a local account stores the header as the script edited it.
func TestFilterEditheaderLocalRedirect(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `require "editheader"; addheader "X-Via" "alice"; redirect "bob@example.org";`)
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
	if got := f.storedBody(t, "bob@example.org", "INBOX", 1); !strings.HasSuffix(got, "X-Via: alice\r\n"+plainMsg) {
		t.Errorf("bob's copy: %q", got)
	}
	if n := f.count(t, "alice@example.org", "INBOX"); n != 0 {
		t.Errorf("alice INBOX holds %d, want 0", n)
	}
}
