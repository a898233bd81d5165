// go-imap (v2.0.0-beta.8) races with itself when the connection ends
// inside a literal: FetchCommand.Close reads the rest of the literal while
// its reader goroutine, resumed, decodes the next response. Not ours: this
// test is left out of -race builds.

//go:build !race

package fetch

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// A server that hangs up inside a message's literal does not get the part
// it sent stored: go-imap's literal just ends there.
func TestIMAPCutShortNotStored(t *testing.T) {
	msg := "Subject: cut\r\n\r\n" + strings.Repeat("x", 84) + "\r\n"
	srv := &fakeIMAP{size: len(msg), body: func(c net.Conn, tag, _ string) bool {
		fmt.Fprintf(c, "* 1 FETCH (UID 1 BODY[] {%d}\r\n%s", len(msg), msg[:len(msg)/2])
		return false
	}}
	addr := prototest.ServeLoopback(t, srv.session)
	st, a, src := newLocal(t, "imap://me@"+addr+"/INBOX?cleartext&auth=login", false)
	f := &Fetcher{Store: st, Deliverer: &delivery.Deliverer{Store: st}}
	if res, err := f.RunOnce(context.Background(), src); err == nil || res.Fetched != 0 {
		t.Errorf("run against a server hanging up inside a message: %+v, %v; want an error", res, err)
	}
	if got := storetest.Bodies(t, st, a.ID); len(got) != 0 {
		t.Fatalf("stored %q, cut short", got)
	}
}
