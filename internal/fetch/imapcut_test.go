// go-imap (v2.0.0-beta.8) races with itself when the connection ends
// inside a literal: FetchCommand.Close reads the rest of the literal while
// its reader goroutine, resumed, decodes the next response. Not ours: this
// test is left out of -race builds.

//go:build !race

package fetch

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// A server that hangs up inside a message's literal does not get the part
// it sent stored: go-imap's literal just ends there.
func TestIMAPCutShortNotStored(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	msg := "Subject: cut\r\n\r\n" + strings.Repeat("x", 84) + "\r\n"
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
			case strings.HasPrefix(cmd, "LIST"):
				fmt.Fprintf(c, "* LIST () \"/\" INBOX\r\n%s OK done\r\n", tag)
			case strings.HasPrefix(cmd, "SELECT"), strings.HasPrefix(cmd, "EXAMINE"):
				fmt.Fprintf(c, "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 2] n\r\n%s OK [READ-ONLY] done\r\n", tag)
			case strings.HasPrefix(cmd, "UID SEARCH"):
				fmt.Fprintf(c, "* SEARCH 1\r\n%s OK done\r\n", tag)
			case strings.HasPrefix(cmd, "UID FETCH") && strings.Contains(cmd, "ENVELOPE"):
				fmt.Fprintf(c, "* 1 FETCH (UID 1 RFC822.SIZE %d INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" ENVELOPE (NIL \"cut\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n%s OK done\r\n", len(msg), tag)
			case strings.HasPrefix(cmd, "UID FETCH"):
				fmt.Fprintf(c, "* 1 FETCH (UID 1 BODY[] {%d}\r\n%s", len(msg), msg[:len(msg)/2])
				return
			default:
				fmt.Fprintf(c, "%s BAD what\r\n", tag)
			}
		}
	}()
	st, a, src := newLocal(t, "imap://me@"+ln.Addr().String()+"/INBOX?cleartext&auth=login", false)
	f := &Fetcher{Store: st, Deliverer: &delivery.Deliverer{Store: st}}
	if res, err := f.RunOnce(context.Background(), src); err == nil || res.Fetched != 0 {
		t.Errorf("run against a server hanging up inside a message: %+v, %v; want an error", res, err)
	}
	if got := storetest.Bodies(t, st, a.ID); len(got) != 0 {
		t.Fatalf("stored %q, cut short", got)
	}
}
