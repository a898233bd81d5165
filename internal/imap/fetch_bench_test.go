package imap

import (
	"bufio"
	"bytes"
	"context"

	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store"
)

// BenchmarkFetchMailbox is the full-mailbox FETCH: over one
// logged-in connection, FETCH 1:* (ENVELOPE) then FETCH 1:* (BODY.PEEK[])
// of a mailbox of 2,000 messages of 2-8 KB (benchMessage). MB/s counts
// the message octets of one round (bench/imap-vs-dovecot.sh compares with
// Dovecot). The client only frames the responses (literals skipped by
// length), so the server's cost dominates. Summaries are cached by the
// first round, as they are on a server that has seen the mailbox once.
func BenchmarkFetchMailbox(b *testing.B) {
	const n = 2000
	e, total := benchMailbox(b, n)
	c := selectedFraming(b, e)
	round := func() {
		if got := c.run("c FETCH 1:* (ENVELOPE)"); got != n {
			b.Fatalf("%d ENVELOPE responses", got)
		}
		if got := c.run("d FETCH 1:* (BODY.PEEK[])"); got != n {
			b.Fatalf("%d BODY[] responses", got)
		}
	}
	round() // fills the summary cache
	b.SetBytes(total)
	b.ReportAllocs()
	prototest.ReportCPU(b)
	b.ResetTimer()
	for b.Loop() {
		round()
	}
}

// BenchmarkFetchEnvelopeUncached: FETCH 1:* (ENVELOPE) of 1,000 messages
// whose summaries are not cached (a first sync, or a cache of an older
// format): every message is read and parsed, and its summary cached.
func BenchmarkFetchEnvelopeUncached(b *testing.B) {
	const n = 1000
	e, total := benchMailbox(b, n)
	ctx := context.Background()
	mb, err := e.store.GetMailbox(ctx, e.account(testUser).ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	msgs, err := e.store.ListMessages(ctx, mb.ID, store.MessageQuery{})
	if err != nil {
		b.Fatal(err)
	}
	clear := make([]store.SummaryUpdate, len(msgs))
	for i, m := range msgs {
		clear[i] = store.SummaryUpdate{MessageID: m.ID}
	}
	c := selectedFraming(b, e)
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if err := e.store.SetSummaries(ctx, clear); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if got := c.run("c FETCH 1:* (ENVELOPE)"); got != n {
			b.Fatalf("%d ENVELOPE responses", got)
		}
	}
}

// benchMailbox delivers n messages (benchMessage) to the test user's INBOX
// and returns their total size.
func benchMailbox(b *testing.B, n int) (*env, int64) {
	e := newEnv(b, envOptions{})
	a := e.account(testUser)
	var total int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 { // concurrent deliveries share the store's commits
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				msg := benchMessage(i)
				if err := e.store.Deliver(context.Background(), store.Delivery{
					Recipients: []store.Recipient{{AccountID: a.ID}}, Body: strings.NewReader(msg)}); err != nil {
					b.Error(err)
				}
				mu.Lock()
				total += int64(len(msg))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return e, total
}

// selectedFraming logs a framing client in and selects INBOX.
func selectedFraming(b *testing.B, e *env) *framing {
	c := newFraming(b, e.addr)
	c.run("a LOGIN " + testUser + ` "` + testPass + `"`)
	c.run("b SELECT INBOX")
	return c
}

// framing is a client that reads responses only as far as needed to find
// their ends: lines, and literals by their announced length.
type framing struct {
	tb   testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func newFraming(tb testing.TB, addr string) *framing {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	f := &framing{tb: tb, conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	if _, err := f.r.ReadSlice('\n'); err != nil {
		tb.Fatal(err)
	}
	return f
}

// run sends a tagged command, reads to its OK and returns the number of
// untagged FETCH responses.
func (f *framing) run(cmd string) int {
	tag, _, _ := strings.Cut(cmd, " ")
	if _, err := io.WriteString(f.conn, cmd+"\r\n"); err != nil {
		f.tb.Fatal(err)
	}
	fetches := 0
	lineStart := true
	for {
		line, err := f.r.ReadSlice('\n')
		if err != nil {
			f.tb.Fatalf("%s: %v", cmd, err)
		}
		if lineStart {
			if bytes.HasPrefix(line, []byte(tag+" ")) {
				if !bytes.HasPrefix(line, []byte(tag+" OK")) {
					f.tb.Fatalf("%s: %s", cmd, line)
				}
				return fetches
			}
			if bytes.Contains(line, []byte(" FETCH (")) {
				fetches++
			}
		}
		lineStart = true
		// A line ending in "{n}" is followed by n octets of literal.
		if t := bytes.TrimRight(line, "\r\n"); len(t) > 0 && t[len(t)-1] == '}' {
			if i := bytes.LastIndexByte(t, '{'); i >= 0 {
				size, err := strconv.ParseInt(string(t[i+1:len(t)-1]), 10, 64)
				if err != nil {
					f.tb.Fatalf("literal size in %q", t)
				}
				if _, err := f.r.Discard(int(size)); err != nil {
					f.tb.Fatal(err)
				}
				lineStart = false
			}
		}
	}
}
