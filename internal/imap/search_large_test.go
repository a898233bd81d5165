package imap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// largeMailbox imports n small messages into the test user's INBOX, every
// other one \Seen, so SEARCH SEEN has n/2 results and no two adjacent.
func largeMailbox(tb testing.TB, n int) *env {
	e := newEnv(tb, envOptions{})
	ctx := context.Background()
	inbox, err := e.store.GetMailbox(ctx, e.account(testUser).ID, "INBOX")
	if err != nil {
		tb.Fatal(err)
	}
	const batch = 5000
	for from := 0; from < n; from += batch {
		var msgs []store.ImportMessage
		for i := from; i < min(n, from+batch); i++ {
			var flags []string
			if i%2 == 0 {
				flags = []string{store.FlagSeen}
			}
			body := fmt.Sprintf("Subject: m%d\r\n\r\nx\r\n", i)
			msgs = append(msgs, store.ImportMessage{Key: fmt.Sprint("k", i), Flags: flags, InternalDate: testDate,
				Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }})
		}
		if _, err := e.store.ImportMessages(ctx, inbox.ID, msgs); err != nil {
			tb.Fatal(err)
		}
	}
	return e
}

// longLines is a client for answers whose lines exceed any buffer: it
// counts the octets of the untagged data up to the tagged status.
type longLines struct {
	tb   testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (c *longLines) run(cmd string) (untaggedOctets int) {
	tag, _, _ := strings.Cut(cmd, " ")
	if _, err := io.WriteString(c.conn, cmd+"\r\n"); err != nil {
		c.tb.Fatal(err)
	}
	start := true
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			c.tb.Fatalf("%s: %v", cmd, err)
		}
		if start && strings.HasPrefix(string(line), tag+" ") {
			if !strings.HasPrefix(string(line), tag+" OK") {
				c.tb.Fatalf("%s: %s", cmd, line)
			}
			return untaggedOctets
		}
		untaggedOctets += len(line)
		start = err == nil
	}
}

// BenchmarkSearchLargeResult: SEARCH answers listing 50,000 scattered
// numbers out of 100,000 messages, in SEARCH, ESEARCH ALL, UID ESEARCH ALL
// and SAVE forms (issue 8's leftover: results are unbounded in size; see
// docs/BENCHMARKS.md). It reports the peak of the process's heap above
// its level before the command, per result: the UIDs found (4 octets
// each) and the listing batches, while the answer streams to the socket.
//
//	go test -run '^$' -bench SearchLargeResult -benchtime 3x ./internal/imap
func BenchmarkSearchLargeResult(b *testing.B) {
	const n = 100_000
	e := largeMailbox(b, n)
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	c := &longLines{tb: b, conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	if _, err := c.r.ReadSlice('\n'); err != nil {
		b.Fatal(err)
	}
	c.run(`a LOGIN ` + testUser + ` "` + testPass + `"`)
	c.run("b SELECT INBOX")
	for _, cmd := range []string{"c SEARCH SEEN", "d SEARCH RETURN (ALL) SEEN", "e UID SEARCH RETURN (ALL) SEEN", "f SEARCH RETURN (SAVE ALL) SEEN"} {
		b.Run(strings.SplitN(cmd, " ", 2)[1], func(b *testing.B) {
			var worst uint64
			for b.Loop() {
				worst = max(worst, heapPeakDuring(func() { c.run(cmd) }))
			}
			b.ReportMetric(float64(worst)/(n/2), "peak-heap-B/result")
		})
	}
}

// heapPeakDuring runs f and returns the highest HeapInuse seen while it
// ran, above the level after a GC before it.
func heapPeakDuring(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	done, peak := make(chan struct{}), make(chan uint64)
	go func() {
		var top uint64
		for {
			select {
			case <-done:
				peak <- top
				return
			case <-time.After(2 * time.Millisecond):
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			top = max(top, ms.HeapInuse)
		}
	}()
	f()
	close(done)
	top := <-peak
	return top - min(top, base)
}
