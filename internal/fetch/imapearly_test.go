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
		srv := &fakeIMAP{size: len(msg), body: func(c net.Conn, tag string) bool {
			fmt.Fprintf(c, "* 1 FETCH (BODY[] {%d}\r\n", len(msg))
			c.Write(msg)
			fmt.Fprintf(c, " UID 1)\r\n%s OK done\r\n", tag)
			return true
		}}
		addr := prototest.ServeLoopback(t, srv.session)
		st, a, src := newLocal(t, "imap://me@"+addr+"/INBOX?cleartext&auth=login", false)
		f := &Fetcher{Store: st, Deliverer: &delivery.Deliverer{Store: st}, SpoolDir: t.TempDir()}
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
