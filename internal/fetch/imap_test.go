package fetch

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
)

// A server that never ends a response (an endless UID SEARCH listing)
// fails the run once the step's bound is read, instead of growing the
// fetcher's memory (go-imap's client keeps a response whole) for as long
// as it sends.
func TestIMAPResponseBounded(t *testing.T) {
	old := maxIMAPStep
	maxIMAPStep = 256 << 10
	t.Cleanup(func() { maxIMAPStep = old })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	sent := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		fmt.Fprint(c, "* OK [CAPABILITY IMAP4rev1] fake\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
			switch cmd := strings.ToUpper(rest); {
			case strings.HasPrefix(cmd, "LOGIN"):
				fmt.Fprintf(c, "%s OK done\r\n", tag)
			case strings.HasPrefix(cmd, "SELECT"), strings.HasPrefix(cmd, "EXAMINE"):
				fmt.Fprintf(c, "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n%s OK [READ-ONLY] done\r\n", tag)
			case strings.HasPrefix(cmd, "UID SEARCH"):
				// "* SEARCH 1 2 3 ..." that never ends.
				var n int64
				k, _ := fmt.Fprint(c, "* SEARCH")
				n += int64(k)
				for i := 1; ; i++ {
					k, err := fmt.Fprintf(c, " %d", i)
					n += int64(k)
					if err != nil {
						sent <- n
						return
					}
				}
			default:
				fmt.Fprintf(c, "%s BAD what\r\n", tag)
			}
		}
	}()
	st, _, src := newLocal(t, "imap://me@"+ln.Addr().String()+"/INBOX?cleartext&auth=login", false)
	f := &Fetcher{Store: st, MaxMessageSize: 64 << 10}
	_, err = f.RunOnce(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), "UID SEARCH") {
		t.Fatalf("run against an endless SEARCH response: %v, want a UID SEARCH error", err)
	}
	ln.Close()
	// What the server managed to send before the fetcher hung up is about
	// the bound (plus what the socket buffers hold), not unbounded.
	if n := <-sent; n > 64<<20 {
		t.Errorf("the server sent %d octets before the fetcher gave up", n)
	}
}
