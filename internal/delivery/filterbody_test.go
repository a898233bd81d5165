package delivery

import (
	"context"
	"io"
	"strings"
	"testing"
)

// storedBody reads message uid of a mailbox.
func (f *filtering) storedBody(t *testing.T, addr, name string, uid uint32) string {
	t.Helper()
	ctx := context.Background()
	mb, err := f.st.GetMailbox(ctx, f.accts[addr].ID, name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.st.OpenMessage(ctx, mb.ID, uid)
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
