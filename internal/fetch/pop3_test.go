package fetch

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// fakePOP3 is a scripted maildrop behind a minimal POP3 server
// (cleartext, USER/PASS), for the cases real servers do not produce:
// UIDLs handed out again, or shared by two messages.
type fakePOP3 struct {
	mu   sync.Mutex
	msgs []fakeMsg
	// pipelining offers PIPELINING, and answers a RETR only once the
	// RETR of the next message has arrived: a client that waits for each
	// reply before the next command gets no answer.
	pipelining bool
	// small makes LIST announce every message 10 octets.
	small bool
	// cut is the UIDL whose RETR the server cuts short: it sends half the
	// message and closes the connection.
	cut string
}

type fakeMsg struct{ uidl, body string }

func (f *fakePOP3) set(msgs ...fakeMsg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = msgs
}

func (f *fakePOP3) uidls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.msgs {
		out = append(out, m.uidl)
	}
	return out
}

func (f *fakePOP3) session(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	f.mu.Lock()
	drop := append([]fakeMsg(nil), f.msgs...)
	cut := f.cut
	f.mu.Unlock()
	deleted := map[int]bool{}
	fmt.Fprint(c, "+OK fake\r\n")
	next := "" // a command read ahead
	for {
		line := next
		if next = ""; line == "" {
			var err error
			if line, err = r.ReadString('\n'); err != nil {
				return
			}
		}
		cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		var n int
		fmt.Sscan(arg, &n)
		if f.pipelining && strings.EqualFold(cmd, "RETR") && n < len(drop) {
			var err error
			if next, err = r.ReadString('\n'); err != nil {
				return
			}
		}
		switch strings.ToUpper(cmd) {
		case "CAPA":
			capa := "+OK\r\nUSER\r\nUIDL\r\n"
			if f.pipelining {
				capa += "PIPELINING\r\n"
			}
			fmt.Fprint(c, capa+".\r\n")
		case "USER", "PASS":
			fmt.Fprint(c, "+OK\r\n")
		case "UIDL", "LIST":
			fmt.Fprint(c, "+OK\r\n")
			for i, m := range drop {
				if strings.EqualFold(cmd, "UIDL") {
					fmt.Fprintf(c, "%d %s\r\n", i+1, m.uidl)
				} else {
					size := len(m.body)
					if f.small {
						size = 10
					}
					fmt.Fprintf(c, "%d %d\r\n", i+1, size)
				}
			}
			fmt.Fprint(c, ".\r\n")
		case "RETR":
			if m := drop[n-1]; m.uidl == cut {
				fmt.Fprintf(c, "+OK\r\n%s", m.body[:len(m.body)/2])
				return
			}
			fmt.Fprintf(c, "+OK\r\n%s.\r\n", drop[n-1].body)
		case "DELE":
			deleted[n] = true
			fmt.Fprint(c, "+OK\r\n")
		case "QUIT":
			var keep []fakeMsg
			for i, m := range drop {
				if !deleted[i+1] {
					keep = append(keep, m)
				}
			}
			f.set(keep...)
			fmt.Fprint(c, "+OK\r\n")
			return
		default:
			fmt.Fprint(c, "-ERR unknown\r\n")
		}
	}
}

// newLocal is a store with one account and a fetch source for url.
func newLocal(t *testing.T, url string, del bool) (*sqlite.Store, store.Account, store.FetchSource) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.AddDomain(ctx, "local.test")
	a, err := st.CreateAccount(ctx, "me@local.test", store.Credentials{PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := st.AddFetchSource(ctx, store.FetchSource{AccountID: a.ID, URL: url, Password: "pw", Delete: del})
	if err != nil {
		t.Fatal(err)
	}
	return st, a, src
}

func body(s string) string { return "Subject: " + s + "\r\n\r\n" + s + "\r\n" }

func TestPOP3UIDLHandedOutAgain(t *testing.T) {
	srv := &fakePOP3{}
	srv.set(fakeMsg{"u1", body("first")}, fakeMsg{"u2", body("second")})
	addr := prototest.ServeLoopback(t, srv.session)
	st, a, src := newLocal(t, "pop3://me@"+addr+"/?cleartext", true)
	f := &Fetcher{Store: st, Deliverer: &delivery.Deliverer{Store: st}}
	if res, err := f.RunOnce(context.Background(), src); err != nil || res.Fetched != 2 || res.Deleted != 2 {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	// The server reuses u1 for a new message: it is fetched, not deleted
	// unseen as an old one.
	srv.set(fakeMsg{"u1", body("third")})
	if res, err := f.RunOnce(context.Background(), src); err != nil || res.Fetched != 1 || res.Deleted != 1 {
		t.Fatalf("run with a reused UIDL: %+v, %v", res, err)
	}
	got := storetest.Bodies(t, st, a.ID)
	if len(got) != 3 || !strings.Contains(got[2], "Subject: third") {
		t.Fatalf("stored %q", got)
	}
}

func TestPOP3SharedUIDLNotDeleted(t *testing.T) {
	srv := &fakePOP3{}
	srv.set(fakeMsg{"same", body("one")}, fakeMsg{"same", body("two")}, fakeMsg{"other", body("three")})
	addr := prototest.ServeLoopback(t, srv.session)
	st, a, src := newLocal(t, "pop3://me@"+addr+"/?cleartext", true)
	f := &Fetcher{Store: st, Deliverer: &delivery.Deliverer{Store: st}}
	res, err := f.RunOnce(context.Background(), src)
	if err != nil || res.Fetched != 2 || res.Deleted != 1 {
		t.Fatalf("run: %+v, %v; want 2 fetched, 1 deleted", res, err)
	}
	if left := srv.uidls(); len(left) != 2 || left[0] != "same" || left[1] != "same" {
		t.Fatalf("left on the server: %q, want both messages sharing a UIDL", left)
	}
	if n := len(storetest.Bodies(t, st, a.ID)); n != 2 {
		t.Fatalf("%d stored", n)
	}
}

// With PIPELINING the RETRs go ahead of their replies (the fake server
// answers one only once the next has arrived), the messages are stored in
// the server's order, and the DELEs follow the commit.
func TestPOP3Pipelining(t *testing.T) {
	srv := &fakePOP3{pipelining: true}
	var msgs []fakeMsg
	for i := range 70 { // more than the window, and a batch of one then
		msgs = append(msgs, fakeMsg{fmt.Sprintf("u%d", i), body(fmt.Sprintf("message %02d", i))})
	}
	srv.set(msgs...)
	addr := prototest.ServeLoopback(t, srv.session)
	st, a, src := newLocal(t, "pop3://me@"+addr+"/?cleartext", true)
	f := &Fetcher{Store: st, Deliverer: &delivery.Deliverer{Store: st}, Timeout: 20 * time.Second}
	if res, err := f.RunOnce(context.Background(), src); err != nil || res.Fetched != 70 || res.Deleted != 70 {
		t.Fatalf("run: %+v, %v", res, err)
	}
	got := storetest.Bodies(t, st, a.ID)
	for i, b := range got {
		if !strings.Contains(b, fmt.Sprintf("Subject: message %02d\r\n", i)) {
			t.Fatalf("message %d stored holds %.60q: not the server's order", i, b)
		}
	}
	if len(got) != 70 || len(srv.uidls()) != 0 {
		t.Fatalf("%d stored, %d left on the server", len(got), len(srv.uidls()))
	}
}

// A message larger than LIST said, past what a batch holds of one, is
// stored whole all the same (streamed into a commit of its own, not held).
func TestPOP3LargerThanListed(t *testing.T) {
	srv := &fakePOP3{small: true}
	big := body(strings.Repeat("x", bufferMax+100))
	srv.set(fakeMsg{"a", body("a")}, fakeMsg{"big", big}, fakeMsg{"c", body("c")})
	addr := prototest.ServeLoopback(t, srv.session)
	st, a, src := newLocal(t, "pop3://me@"+addr+"/?cleartext", true)
	f := &Fetcher{Store: st, Deliverer: &delivery.Deliverer{Store: st}, Timeout: 20 * time.Second}
	if res, err := f.RunOnce(context.Background(), src); err != nil || res.Fetched != 3 || res.Deleted != 3 {
		t.Fatalf("run: %+v, %v", res, err)
	}
	got := storetest.Bodies(t, st, a.ID)
	if len(got) != 3 || !strings.HasSuffix(got[1], big) || !strings.HasSuffix(got[2], body("c")) {
		t.Fatalf("stored %d messages, the second %d octets", len(got), len(got[1]))
	}
}

// A connection cut inside a RETR's body: nothing of that message is
// stored (the part that arrived is not a message), the one read whole
// before it is, nothing is deleted (no QUIT), and the next run fetches the
// rest, and nothing twice.
func TestPOP3CutShortFetchedAgain(t *testing.T) {
	srv := &fakePOP3{cut: "b"}
	big := body(strings.Repeat("y", 200<<10))
	srv.set(fakeMsg{"a", body("a")}, fakeMsg{"b", big}, fakeMsg{"c", body("c")})
	addr := prototest.ServeLoopback(t, srv.session)
	st, a, src := newLocal(t, "pop3://me@"+addr+"/?cleartext", true)
	f := &Fetcher{Store: st, Deliverer: &delivery.Deliverer{Store: st}, Timeout: 20 * time.Second}
	res, err := f.RunOnce(context.Background(), src)
	if err == nil {
		t.Fatalf("run against a server cutting a RETR short: %+v, no error", res)
	}
	got := storetest.Bodies(t, st, a.ID)
	if res.Fetched != 1 || len(got) != 1 || !strings.HasSuffix(got[0], body("a")) {
		t.Fatalf("first run: %+v, %v; stored %d messages, want only a, read whole before the cut", res, err, len(got))
	}
	if left := srv.uidls(); len(left) != 3 {
		t.Fatalf("left on the server after the cut: %q, want all three", left)
	}
	srv.mu.Lock()
	srv.cut = ""
	srv.mu.Unlock()
	if res, err := f.RunOnce(context.Background(), src); err != nil || res.Fetched != 2 || res.Deleted != 3 {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	got = storetest.Bodies(t, st, a.ID)
	if len(got) != 3 || !strings.HasSuffix(got[0], body("a")) || !strings.HasSuffix(got[1], big) || !strings.HasSuffix(got[2], body("c")) {
		t.Fatalf("stored %d messages after the second run, want a, b whole and c once each", len(got))
	}
	if left := srv.uidls(); len(left) != 0 {
		t.Fatalf("left on the server: %q", left)
	}
}

// Two sources of one account deliver the same message (the same
// Message-ID and text: one sent to both remote addresses). Both copies are
// kept, as fetchmail and getmail keep them: they are two deliveries (to
// two addresses, by two routes), a rule that merged them would lose one
// the user may look for in its own folder or with its own flags, and each
// source's own record already keeps its messages from being stored twice.
func TestSameMessageFromTwoSources(t *testing.T) {
	msg := "Message-ID: <same@example.org>\r\nSubject: to both\r\n\r\nhello\r\n"
	one, two := &fakePOP3{}, &fakePOP3{}
	one.set(fakeMsg{"x1", msg})
	two.set(fakeMsg{"y9", msg})
	st, a, src1 := newLocal(t, "pop3://me@"+prototest.ServeLoopback(t, one.session)+"/?cleartext", false)
	src2, err := st.AddFetchSource(context.Background(), store.FetchSource{AccountID: a.ID,
		URL: "pop3://other@" + prototest.ServeLoopback(t, two.session) + "/?cleartext", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	f := &Fetcher{Store: st, Deliverer: &delivery.Deliverer{Store: st}}
	for run := 1; run <= 2; run++ {
		for _, src := range []store.FetchSource{src1, src2} {
			res, err := f.RunOnce(context.Background(), src)
			if want := 2 - run; err != nil || res.Fetched != want {
				t.Fatalf("run %d of %s: %+v, %v; want %d fetched", run, src.URL, res, err, want)
			}
		}
	}
	got := storetest.Bodies(t, st, a.ID)
	if len(got) != 2 || !strings.HasSuffix(got[0], msg) || !strings.HasSuffix(got[1], msg) {
		t.Fatalf("stored %d messages, want the message once per source", len(got))
	}
}
