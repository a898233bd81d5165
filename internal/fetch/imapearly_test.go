package fetch

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// A server may send a message's body before its UID ("* 1 FETCH (BODY[]
// {n} ... UID 1)"). The fetcher stores it all the same (go-imap hands such
// a response to a UID FETCH's caller not at all: bodies are fetched by
// sequence number), and does not hold it in memory until the UID comes:
// the octets a run allocates do not grow with the message (measured for
// two sizes; the fake server's writes allocate nothing).
func TestIMAPBodyBeforeUIDBounded(t *testing.T) {
	allocated := map[int]uint64{}
	sizes := []int{4 << 20, 20 << 20}
	for _, size := range sizes {
		msg := []byte("Subject: early\r\nMessage-ID: <fake@example.org>\r\n\r\n" +
			strings.Repeat(strings.Repeat("x", 76)+"\r\n", size/78))
		srv := &fakeIMAP{size: len(msg), body: func(c net.Conn, tag, _ string) bool {
			fmt.Fprintf(c, "* 1 FETCH (BODY[] {%d}\r\n", len(msg))
			c.Write(msg)
			fmt.Fprintf(c, " UID 1)\r\n%s OK done\r\n", tag)
			return true
		}}
		addr := prototest.ServeLoopback(t, srv.session)
		st, a, src := newLocal(t, "imap://me@"+addr+"/INBOX?cleartext&auth=login", false)
		f := &Fetcher{Store: st, Deliverer: &delivery.Deliverer{Store: st}}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res, err := f.RunOnce(context.Background(), src)
		runtime.ReadMemStats(&after)
		if err != nil || res.Fetched != 1 {
			t.Fatalf("run: %+v, %v", res, err)
		}
		allocated[size] = after.TotalAlloc - before.TotalAlloc
		t.Logf("a %d-octet message sent before its UID: %d octets allocated by the run", len(msg), allocated[size])
		got := storetest.Bodies(t, st, a.ID)
		if len(got) != 1 || !strings.HasSuffix(got[0], string(msg)) {
			t.Fatalf("stored %d messages, want the one, whole", len(got))
		}
	}
	small, large := allocated[sizes[0]], allocated[sizes[1]]
	if large > small+4<<20 {
		t.Errorf("%d octets more allocated for a message %d octets larger: the body is held in memory",
			large-small, sizes[1]-sizes[0])
	}
}

// A server may send EXPUNGE during a UID command (RFC 9051 section
// 7.5.1): here during the envelope UID FETCH, which renumbers UID 2 from
// sequence number 2 to 1. The fetcher asks for the envelopes again, so the
// body FETCH asks for the right number (this server, like a real one,
// refuses a number past the last message).
func TestIMAPExpungeDuringEnvelopes(t *testing.T) {
	msg := "Subject: two\r\nMessage-ID: <two@example.org>\r\n\r\nsecond\r\n"
	envelope := func(seq, uid int) string {
		return fmt.Sprintf("* %d FETCH (UID %d RFC822.SIZE %d INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" "+
			"ENVELOPE (NIL \"m\" NIL NIL NIL NIL NIL NIL NIL \"<m%d@example.org>\"))\r\n", seq, uid, len(msg), uid)
	}
	expunged := false
	srv := &fakeIMAP{exists: 2,
		search: func(c net.Conn, tag string) bool {
			fmt.Fprintf(c, "* SEARCH 1 2\r\n%s OK done\r\n", tag)
			return true
		},
		meta: func(c net.Conn, tag string) bool {
			if !expunged {
				expunged = true
				fmt.Fprint(c, envelope(1, 1)+envelope(2, 2)+"* 1 EXPUNGE\r\n")
			} else {
				fmt.Fprint(c, envelope(1, 2))
			}
			fmt.Fprintf(c, "%s OK done\r\n", tag)
			return true
		},
		body: func(c net.Conn, tag, cmd string) bool {
			if !strings.HasPrefix(cmd, "FETCH 1 ") {
				fmt.Fprintf(c, "%s BAD no such message: %s\r\n", tag, cmd)
				return true
			}
			fmt.Fprintf(c, "* 1 FETCH (UID 2 BODY[] {%d}\r\n%s)\r\n%s OK done\r\n", len(msg), msg, tag)
			return true
		},
	}
	addr := prototest.ServeLoopback(t, srv.session)
	st, a, src := newLocal(t, "imap://me@"+addr+"/INBOX?cleartext&auth=login", false)
	f := &Fetcher{Store: st, Deliverer: &delivery.Deliverer{Store: st}}
	if res, err := f.RunOnce(context.Background(), src); err != nil || res.Fetched != 1 {
		t.Fatalf("run: %+v, %v; want the one message left fetched", res, err)
	}
	if got := storetest.Bodies(t, st, a.ID); len(got) != 1 || !strings.HasSuffix(got[0], msg) {
		t.Fatalf("stored %q", got)
	}
}
