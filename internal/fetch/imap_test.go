package fetch

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// A server that never ends a response (an endless UID SEARCH listing)
// fails the run once the step's bound is read, instead of growing the
// fetcher's memory (go-imap's client keeps a response whole) for as long
// as it sends.
func TestIMAPResponseBounded(t *testing.T) {
	old := maxIMAPStep
	maxIMAPStep = 256 << 10
	t.Cleanup(func() { maxIMAPStep = old })
	sent := make(chan int64, 1)
	srv := &fakeIMAP{search: func(c net.Conn, tag string) bool {
		// "* SEARCH 1 2 3 ..." that never ends.
		var n int64
		k, _ := fmt.Fprint(c, "* SEARCH")
		n += int64(k)
		for i := 1; ; i++ {
			k, err := fmt.Fprintf(c, " %d", i)
			n += int64(k)
			if err != nil {
				sent <- n
				return false
			}
		}
	}}
	addr := prototest.ServeLoopback(t, srv.session)
	st, _, src := newLocal(t, "imap://me@"+addr+"/INBOX?cleartext&auth=login", false)
	f := &Fetcher{Store: st, MaxMessageSize: 64 << 10}
	_, err := f.RunOnce(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), "UID SEARCH") {
		t.Fatalf("run against an endless SEARCH response: %v, want a UID SEARCH error", err)
	}
	// What the server managed to send before the fetcher hung up is about
	// the bound (plus what the socket buffers hold), not unbounded.
	if n := <-sent; n > 64<<20 {
		t.Errorf("the server sent %d octets before the fetcher gave up", n)
	}
}
