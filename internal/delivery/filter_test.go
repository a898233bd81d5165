package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/sieve"
	"github.com/pochta-mail/pochta/internal/store"
)

// filtering is a fixture with the Sieve filter step wired as serve wires it.
type filtering struct {
	*fixture
	d   *Deliverer
	log *bytes.Buffer
	now time.Time
}

func newFiltering(t *testing.T) *filtering {
	f := &filtering{fixture: newFixture(t), log: &bytes.Buffer{}, now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	f.d = &Deliverer{Store: f.st, Hostname: "mx.example.org",
		Filter:      &SieveFilter{Store: f.st, Hostname: "mx.example.org", Now: clock},
		PlusFolders: true, Delimiters: "+", Resolver: f.r, Replies: f.st, Duplicates: f.st, Now: clock,
		Logger: slog.New(slog.NewTextHandler(f.log, nil))}
	return f
}

func (f *filtering) script(t *testing.T, addr, src string) {
	t.Helper()
	ctx := context.Background()
	a := f.accts[addr]
	if err := f.st.PutSieveScript(ctx, a.ID, "main", src); err != nil {
		t.Fatal(err)
	}
	if err := f.st.ActivateSieveScript(ctx, a.ID, "main"); err != nil {
		t.Fatal(err)
	}
}

// deliver sends msg from sender to the given RCPT addresses.
func (f *filtering) deliver(t *testing.T, from, msg string, rcpts ...string) {
	t.Helper()
	m := Message{From: from, ReturnPath: true, Body: strings.NewReader(msg), LocalTo: map[int64]string{}}
	for _, r := range rcpts {
		res, err := f.r.Resolve(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range res.Accounts {
			m.Local = append(m.Local, a)
			m.LocalTo[a.ID] = r
		}
	}
	if err := f.d.Deliver(context.Background(), m); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
}

// messages lists a mailbox; nil, false when it does not exist.
func (f *filtering) messages(t *testing.T, addr, name string) ([]store.Message, bool) {
	t.Helper()
	ctx := context.Background()
	mb, err := f.st.GetMailbox(ctx, f.accts[addr].ID, name)
	if err != nil {
		return nil, false
	}
	msgs, err := f.st.ListMessages(ctx, mb.ID, store.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return msgs, true
}

func (f *filtering) count(t *testing.T, addr, name string) int {
	t.Helper()
	msgs, _ := f.messages(t, addr, name)
	return len(msgs)
}

// box returns "(flags)(flags)" for the messages in a mailbox, "-" if it
// does not exist.
func (f *filtering) box(t *testing.T, addr, name string) string {
	t.Helper()
	msgs, ok := f.messages(t, addr, name)
	if !ok {
		return "-"
	}
	var out []string
	for _, m := range msgs {
		out = append(out, "("+strings.Join(m.Flags, " ")+")")
	}
	return strings.Join(out, "")
}

func (f *filtering) queued(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	q, err := f.st.QueuedMessages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range q {
		r, err := f.st.QueuedBody(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		out = append(out, "<"+m.Envelope.From+"> "+m.Envelope.Recipients[0].Address+"\n"+string(b))
	}
	return out
}

const plainMsg = "From: Dan <dan@remote.example>\r\nTo: alice@example.org\r\nSubject: Hello\r\nMessage-ID: <1@remote.example>\r\n\r\nhi\r\n"

func TestFilterFileintoFlags(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `require ["fileinto", "imap4flags", "mailbox"];
if header :contains "subject" "hello" {
	fileinto :create :flags ["\\Seen", "$Greeting"] "Lists/Hello";
	addflag "\\Flagged";
	keep;
}`)
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org", "bob@example.org")
	if got := f.box(t, "alice@example.org", "Lists/Hello"); got != `($Greeting \Seen)` {
		t.Errorf("Lists/Hello holds %q", got)
	}
	if got := f.box(t, "alice@example.org", "INBOX"); got != `(\Flagged)` {
		t.Errorf("alice's INBOX holds %q", got)
	}
	if got := f.box(t, "bob@example.org", "INBOX"); got != "()" {
		t.Errorf("bob (no script) INBOX holds %q, want one message without flags", got)
	}
}

func TestFilterDiscardAndErrors(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `if header :is "subject" "Hello" { discard; }`)
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
	if got := f.box(t, "alice@example.org", "INBOX"); got != "" {
		t.Errorf("discarded message stored: INBOX %q", got)
	}
	// A script that no longer compiles keeps the message, and says so.
	f.script(t, "alice@example.org", `require "nosuchext"; discard;`)
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
	if got := f.box(t, "alice@example.org", "INBOX"); got != "()" {
		t.Errorf("INBOX after a broken script: %q, want one message", got)
	}
	if !strings.Contains(f.log.String(), "filter failed; kept in INBOX") {
		t.Errorf("no log line for the broken script:\n%s", f.log)
	}
	// A plus-address folder is not used when the script fails either.
	f.deliver(t, "dan@remote.example", plainMsg, "alice+Archive@example.org")
	if got := f.box(t, "alice@example.org", "Archive"); got != "" {
		t.Errorf("Archive after a broken script: %q, want nothing", got)
	}
}

func TestFilterPlusFolder(t *testing.T) {
	f := newFiltering(t)
	f.deliver(t, "dan@remote.example", plainMsg, "bob+Archive@example.org")
	f.deliver(t, "dan@remote.example", plainMsg, "bob+nothere@example.org")
	if got := f.box(t, "bob@example.org", "Archive"); got != "()" {
		t.Errorf("Archive: %q, want one message", got)
	}
	if got := f.box(t, "bob@example.org", "INBOX"); got != "()" {
		t.Errorf("INBOX: %q, want one message (no folder nothere)", got)
	}
	if got := f.box(t, "bob@example.org", "nothere"); got != "-" {
		t.Errorf("a plus tag created mailbox nothere")
	}
}

func TestFilterSizeSpool(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `require ["fileinto", "mailbox"]; if size :over 2M { fileinto :create "Big"; }`)
	big := plainMsg + strings.Repeat("0123456789abcdef\r\n", 200000) // 3.6 MB: spooled to a file
	f.deliver(t, "dan@remote.example", big, "alice@example.org")
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
	if got := f.box(t, "alice@example.org", "Big"); got != "()" {
		t.Fatalf("Big: %q", got)
	}
	if got := f.box(t, "alice@example.org", "INBOX"); got != "()" {
		t.Errorf("INBOX: %q", got)
	}
	mb, _ := f.st.GetMailbox(context.Background(), f.accts["alice@example.org"].ID, "Big")
	r, err := f.st.OpenMessage(context.Background(), mb.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	if !strings.HasSuffix(string(b), big) {
		t.Errorf("spooled message stored as %d octets, not ending with the %d sent", len(b), len(big))
	}
}

func TestFilterRedirect(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `redirect "far@remote.example"; redirect "bob@example.org";`)
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
	q := f.queued(t)
	if len(q) != 1 || !strings.HasPrefix(q[0], "<dan@remote.example> far@remote.example\nX-Sieve-Redirected-From: <alice@example.org>\r\n") ||
		!strings.HasSuffix(q[0], plainMsg) {
		t.Fatalf("queue holds %q", q)
	}
	if n := f.count(t, "alice@example.org", "INBOX"); n != 0 {
		t.Errorf("redirect cancels the keep, but INBOX holds %d", n)
	}
	if got := f.box(t, "bob@example.org", "INBOX"); got != "()" {
		t.Errorf("bob (local redirect) INBOX %q, want one message", got)
	}
	// The copy coming back with alice's own mark is kept, not sent again.
	f.deliver(t, "dan@remote.example", "X-Sieve-Redirected-From: <alice@example.org>\r\n"+plainMsg, "alice@example.org")
	if q := f.queued(t); len(q) != 1 {
		t.Errorf("loop: %d messages queued, want still 1", len(q))
	}
	if got := f.box(t, "alice@example.org", "INBOX"); got != "()" {
		t.Errorf("looped message not kept: INBOX %q", got)
	}
}

func TestFilterVacation(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `require "vacation";
vacation :days 3 :subject "Away" "I am away until Monday.";`)
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org") // same period: no second reply
	q := f.queued(t)
	if len(q) != 1 {
		t.Fatalf("%d replies queued, want 1: %q", len(q), q)
	}
	for _, want := range []string{"<> dan@remote.example\n", "\r\nTo: <dan@remote.example>\r\n", "\r\nSubject: Away\r\n",
		"\r\nAuto-Submitted: auto-replied", "\r\nIn-Reply-To: <1@remote.example>\r\n", "From: <alice@example.org>\r\n",
		"\r\n\r\nI am away until Monday.\r\n"} {
		if !strings.Contains(q[0], want) {
			t.Errorf("reply lacks %q:\n%s", want, q[0])
		}
	}
	if got := f.box(t, "alice@example.org", "INBOX"); got != "()()" {
		t.Errorf("vacation keeps the message: INBOX %q, want two messages", got)
	}
	f.now = f.now.Add(3 * 24 * time.Hour)
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
	if q := f.queued(t); len(q) != 2 {
		t.Errorf("after :days 3, %d replies queued, want 2", len(q))
	}
	// Never a reply to these (RFC 5230 4.5, 4.6; RFC 3834).
	for _, tt := range []struct{ from, msg string }{
		{"", plainMsg},
		{"MAILER-DAEMON@remote.example", plainMsg},
		{"list-request@remote.example", plainMsg},
		{"ann@remote.example", "Auto-Submitted: auto-generated\r\n" + plainMsg},
		{"ann@remote.example", "List-Id: <l.remote.example>\r\n" + plainMsg},
		{"ann@remote.example", "Precedence: bulk\r\n" + plainMsg},
		{"owner-golang@remote.example", plainMsg},
		{"golang-owner@remote.example", plainMsg},
		{"postmaster@remote.example", plainMsg},
		{"listserv@remote.example", plainMsg},
		{"ann@remote.example", "Auto-Submitted: auto-replied (vacation)\r\n" + plainMsg},
		{"ann@remote.example", "List-Unsubscribe: <mailto:leave@remote.example>\r\n" + plainMsg},
		{"ann@remote.example", "List-Post: <mailto:l@remote.example>\r\n" + plainMsg},
		{"ann@remote.example", "Precedence: list\r\n" + plainMsg},
		{"ann@remote.example", "Precedence: Junk\r\n" + plainMsg},
		{"ann@remote.example", "X-Auto-Response-Suppress: All\r\n" + plainMsg},
		{"ann@remote.example", strings.Replace(plainMsg, "To: alice@example.org", "To: someone@remote.example", 1)},
		{"alice@example.org", plainMsg},
	} {
		f.deliver(t, tt.from, tt.msg, "alice@example.org")
		if q := f.queued(t); len(q) != 2 {
			t.Fatalf("a reply to <%s> with\n%s\n%d queued, want still 2", tt.from, strings.SplitN(tt.msg, "\r\n\r\n", 2)[0], len(q))
		}
	}
	// A local sender gets the reply in its INBOX, not through the queue.
	f.deliver(t, "bob@example.org", strings.Replace(plainMsg, "dan@remote.example", "bob@example.org", 1), "alice@example.org")
	if q := f.queued(t); len(q) != 2 {
		t.Errorf("a reply to a local sender was queued")
	}
	if n := f.count(t, "bob@example.org", "INBOX"); n != 1 {
		t.Errorf("bob's INBOX holds %d messages, want the reply", n)
	}
	// Auto-Submitted: no is a person.
	f.deliver(t, "ann@remote.example", "Auto-Submitted: no\r\n"+plainMsg, "alice@example.org")
	if q := f.queued(t); len(q) != 3 {
		t.Errorf("Auto-Submitted: no got no reply")
	}
}

// newFetching is newFiltering with a fetch source of alice's, whose
// discarded messages are recorded.
func newFetching(t *testing.T) (*filtering, store.FetchSource) {
	f := newFiltering(t)
	f.d.Marks = f.st
	src, err := f.st.AddFetchSource(context.Background(), store.FetchSource{AccountID: f.accts["alice@example.org"].ID,
		URL: "pop3s://a@pop.remote.example/", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return f, src
}

// TestFilterFetched: a fetched message the script discards or only
// redirects is still recorded as fetched, so the fetcher neither fetches
// it again nor redirects it twice.
func TestFilterFetched(t *testing.T) {
	f, src := newFetching(t)
	ctx := context.Background()
	alice := f.accts["alice@example.org"]
	fetch := func(id string) error {
		// Looked up for each message, as SMTP and pochta deliver do: an
		// Account read before a script change has the SieveVersion of
		// before it, and the filter would run the script of then.
		alice, err := f.st.Account(ctx, alice.Address)
		if err != nil {
			return err
		}
		return f.d.Deliver(ctx, Message{Local: []store.Account{alice}, Body: strings.NewReader(plainMsg),
			Fetched: &store.FetchMark{SourceID: src.ID, FetchedID: store.FetchedID{Scope: "pop3", ID: id}}})
	}
	f.script(t, "alice@example.org", `discard;`)
	if err := fetch("1"); err != nil {
		t.Fatal(err)
	}
	f.script(t, "alice@example.org", `redirect "far@remote.example";`)
	if err := fetch("2"); err != nil {
		t.Fatal(err)
	}
	// Fetched again (a crash before the source was told): refused as
	// recorded, nothing redirected twice.
	if err := fetch("2"); !errors.Is(err, store.ErrExists) {
		t.Errorf("second fetch of a redirected message: %v, want ErrExists", err)
	}
	ids, err := f.st.FetchedIDs(ctx, src.ID, "pop3")
	if err != nil || len(ids) != 2 {
		t.Errorf("fetched ids %+v, %v; want 1 and 2", ids, err)
	}
	if q := f.queued(t); len(q) != 1 {
		t.Errorf("%d redirects queued, want 1", len(q))
	}
	if n := f.count(t, "alice@example.org", "INBOX"); n != 0 {
		t.Errorf("INBOX holds %d", n)
	}
}

// TestFilterReject: RFC 5429 at delivery: the reason as the error when
// everyone rejects, a notice to the sender when others get the message.
func TestFilterReject(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `require "reject"; reject "Not from you.";`)
	err := f.d.Deliver(context.Background(), Message{From: "dan@remote.example", Body: strings.NewReader(plainMsg),
		Local: []store.Account{f.accts["alice@example.org"]}})
	var re *RejectedError
	if !errors.As(err, &re) || re.WireText() != "Not from you." {
		t.Fatalf("Deliver = %v, want the reject reason", err)
	}
	if n := f.count(t, "alice@example.org", "INBOX"); n != 0 {
		t.Errorf("rejected message stored")
	}
	if q := f.queued(t); len(q) != 0 {
		t.Errorf("a notice was queued although the reply carries the reason: %q", q)
	}
	// With another recipient: bob gets it, dan a notice.
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org", "bob@example.org")
	if n := f.count(t, "bob@example.org", "INBOX"); n != 1 {
		t.Errorf("bob's INBOX holds %d", n)
	}
	q := f.queued(t)
	if len(q) != 1 || !strings.HasPrefix(q[0], "<> dan@remote.example\n") || !strings.Contains(q[0], "Not from you.") ||
		!strings.Contains(q[0], "Subject: Rejected: Hello") || !strings.Contains(q[0], "Auto-Submitted: auto-replied") {
		t.Errorf("notice: %q", q)
	}
	// No notice to the null sender.
	f.deliver(t, "", plainMsg, "alice@example.org", "bob@example.org")
	if q := f.queued(t); len(q) != 1 {
		t.Errorf("a notice went to the null sender")
	}
	if got := (&RejectedError{Reason: "a\r\nb\x00 \u00e9" + strings.Repeat("x", 300)}).WireText(); strings.ContainsAny(got, "\r\n\x00") || len(got) > 201 || !strings.HasPrefix(got, "a b? ?") {
		t.Errorf("WireText = %q", got)
	}
}

// refilter runs Refilter over addr's INBOX: a line per message.
func (f *filtering) refilter(t *testing.T, addr string, apply bool) []string {
	t.Helper()
	var out []string
	err := Refilter(context.Background(), f.st, &SieveFilter{Store: f.st}, f.accts[addr], RefilterOptions{Mailbox: "INBOX", Apply: apply}, func(r RefilterResult) error {
		out = append(out, fmt.Sprintf("%d %s moved=%v", r.UID, strings.Join(r.Actions, "; "), r.Moved))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRefilter: the active script over stored mail, dry and applied.
func TestRefilter(t *testing.T) {
	f := newFiltering(t)
	f.d.Filter = nil // store plainly first
	f.d.PlusFolders = false
	for _, subj := range []string{"go news", "hello", "spam offer", "go and flag"} {
		f.deliver(t, "dan@remote.example", strings.Replace(plainMsg, "Subject: Hello", "Subject: "+subj, 1), "alice@example.org")
	}
	f.script(t, "alice@example.org", `require ["fileinto", "mailbox", "imap4flags"];
if header :is "subject" "go news" { fileinto :create "Go"; }
elsif header :is "subject" "spam offer" { discard; }
elsif header :is "subject" "go and flag" { fileinto :create :flags "\\Flagged" "Go"; keep :flags "$Seen2"; }`)
	run := func(apply bool) []string { return f.refilter(t, "alice@example.org", apply) }
	want := []string{"1 fileinto Go moved=false", "2 keep moved=false", "3 discard (left in place) moved=false",
		`4 fileinto Go flags=\Flagged; keep flags=$Seen2 moved=false`}
	if got := run(false); !slices.Equal(got, want) {
		t.Errorf("dry run:\n%q\nwant\n%q", got, want)
	}
	if got := f.box(t, "alice@example.org", "Go"); got != "-" {
		t.Errorf("a dry run created Go: %q", got)
	}
	want[0] = "1 fileinto Go moved=true"
	if got := run(true); !slices.Equal(got, want) {
		t.Errorf("applied:\n%q\nwant\n%q", got, want)
	}
	if got := f.box(t, "alice@example.org", "Go"); got != `()(\Flagged)` {
		t.Errorf("Go holds %q", got)
	}
	if got := f.box(t, "alice@example.org", "INBOX"); got != `()()($Seen2)` {
		t.Errorf("INBOX holds %q", got)
	}
}

// TestRefilterUIDs: with UIDs, only those messages are filtered (what
// pochta import --sieve put into INBOX); an empty list filters nothing.
func TestRefilterUIDs(t *testing.T) {
	f := newFiltering(t)
	f.d.Filter = nil
	for range 4 {
		f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
	}
	f.script(t, "alice@example.org", `require ["fileinto", "mailbox"]; fileinto :create "Go";`)
	run := func(uids []uint32) []uint32 {
		var got []uint32
		err := Refilter(context.Background(), f.st, &SieveFilter{Store: f.st}, f.accts["alice@example.org"],
			RefilterOptions{Mailbox: "INBOX", UIDs: uids, Apply: true}, func(r RefilterResult) error {
				got = append(got, r.UID)
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := run([]uint32{}); len(got) != 0 {
		t.Errorf("an empty UID list filtered %v", got)
	}
	if got := run([]uint32{4, 2}); !slices.Equal(got, []uint32{2, 4}) {
		t.Errorf("filtered %v, want [2 4]", got)
	}
	if n := f.count(t, "alice@example.org", "Go"); n != 2 {
		t.Errorf("Go holds %d, want 2", n)
	}
	if n := f.count(t, "alice@example.org", "INBOX"); n != 2 {
		t.Errorf("INBOX holds %d, want 2", n)
	}
}

// TestRefilterScriptFails: a message on which the script fails is left
// as it was and reported; the run goes on with the next.
func TestRefilterScriptFails(t *testing.T) {
	f := newFiltering(t)
	f.d.Filter = nil
	for _, subj := range []string{"bad", "good"} {
		f.deliver(t, "dan@remote.example", strings.Replace(plainMsg, "Subject: Hello", "Subject: "+subj, 1), "alice@example.org")
	}
	f.script(t, "alice@example.org", `require ["fileinto", "mailbox", "reject", "vacation"];
if header :is "subject" "bad" { reject "no"; }
fileinto :create "Go";`)
	got := f.refilter(t, "alice@example.org", true)
	if len(got) != 2 || !strings.HasPrefix(got[0], `1 keep (script "main": sieve: runtime error: reject together with fileinto)`) || got[1] != "2 fileinto Go moved=true" {
		t.Errorf("refilter: %q", got)
	}
	if n := f.count(t, "alice@example.org", "INBOX"); n != 1 {
		t.Errorf("INBOX holds %d, want the message the script failed on", n)
	}
}

// failingReader fails after its data: a client cut short.
type failingReader struct{ r io.Reader }

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// TestFilterRejectCutShort: a message cut short fails as such, whatever
// the script says of its header.
func TestFilterRejectCutShort(t *testing.T) {
	f := newFiltering(t)
	f.script(t, "alice@example.org", `require "reject"; reject "no";`)
	err := f.d.Deliver(context.Background(), Message{From: "dan@remote.example",
		Body: &failingReader{strings.NewReader(plainMsg + strings.Repeat("x", 100000))}, Local: []store.Account{f.accts["alice@example.org"]}})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Deliver = %v, want the reader's error", err)
	}
}

// TestFilterBefore: the operator's script runs first; the account's only
// when the operator's did nothing but keep.
func TestFilterBefore(t *testing.T) {
	f := newFiltering(t)
	before, err := sieve.Compile(`require ["fileinto", "mailbox"]; if header :contains "x-spam" "yes" { fileinto :create "Junk"; }`, sieve.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	f.d.Filter.(*SieveFilter).Before = before
	f.script(t, "alice@example.org", `require "fileinto"; fileinto "Archive";`)
	f.deliver(t, "dan@remote.example", "X-Spam: yes\r\n"+plainMsg, "alice@example.org")
	f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
	if n := f.count(t, "alice@example.org", "Junk"); n != 1 {
		t.Errorf("Junk holds %d, want the spam", n)
	}
	if n := f.count(t, "alice@example.org", "Archive"); n != 1 {
		t.Errorf("Archive holds %d, want the other message (the account's script)", n)
	}
}
