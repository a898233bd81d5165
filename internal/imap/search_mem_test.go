package imap

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/imap/imaptest"
	"github.com/pochta-mail/pochta/internal/store"
)

// repeatReader yields s over and over, n octets in all.
type repeatReader struct {
	s   string
	off int
	n   int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n)]
	k := 0
	for k < len(p) {
		c := copy(p[k:], r.s[r.off:])
		k += c
		r.off = (r.off + c) % len(r.s)
	}
	r.n -= int64(k)
	return k, nil
}

// resetPeakRSS resets the kernel's high-water mark of this process's
// resident set (Linux clear_refs 5); false where that is not available.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// rss reads a line of /proc/self/status in octets: "VmHWM" (the peak
// resident set since the last reset) or "VmRSS" (the resident set now).
func rss(field string) (n int64, ok bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), field+":"); found {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// TestSearchBodyBoundedMemory runs 20 SEARCH BODY at once over one 45 MB
// message (the old engine took 1.8 GB for that) and checks memory, not
// time: what the searches allocate (runtime.MemStats), and the peak RSS
// of the whole test process, server, store and clients included, against
// the 200 MB. Under the race detector (tens of times slower on
// byte loops) the message is 450 KB: the bound per SEARCH does not depend
// on the size. There the resident set before the searches holds what
// the tests run before this one left, with the race detector's shadow of
// it (203 MB in one full run of the suite), so an absolute bound
// failed or passed by the order of tests: the growth during the searches
// is bounded instead, at half the 200 MB (10 MB when run alone).
func TestSearchBodyBoundedMemory(t *testing.T) {
	const clients = 20
	size := int64(45 << 20)
	if raceEnabled {
		size /= 100
	}
	e := newEnv(t, envOptions{})
	head := "From: Ann <ann@example.org>\r\nSubject: big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
	body := io.MultiReader(strings.NewReader(head),
		&repeatReader{s: "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n", n: size},
		strings.NewReader("\r\nthe needle at the end\r\n"))
	a := e.account(testUser)
	if err := e.store.Deliver(context.Background(), store.Delivery{
		Recipients: []store.Recipient{{AccountID: a.ID}}, Body: body}); err != nil {
		t.Fatal(err)
	}
	conns := make([]*imaptest.Conn, clients)
	for i := range conns {
		// A loaded machine may take long over 20 scans of 45 MB on
		// few cores: this test is about memory, not time.
		conns[i] = loggedInOpts(t, e, imaptest.Options{Timeout: 5 * time.Minute})
		if _, err := conns[i].MustOK("SELECT", "INBOX"); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rssReset := resetPeakRSS()
	base, baseOK := rss("VmRSS")
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, c := range conns {
		wg.Go(func() {
			res, err := c.MustOK("SEARCH", "BODY", `"NEEDLE AT THE END"`)
			if err == nil && (len(res.Untagged) != 1 || strings.TrimSpace(res.Untagged[0].Raw) != "* SEARCH 1") {
				err = io.ErrUnexpectedEOF
			}
			errs <- err
		})
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d parallel SEARCH BODY over %d octets: %d octets allocated, heap in use %d MB",
		clients, size, alloc, after.HeapInuse>>20)
	if limit := uint64(clients) << 20; alloc > limit {
		t.Errorf("allocated %d octets, want at most %d (1 MiB per SEARCH)", alloc, limit)
	}
	if peak, ok := rss("VmHWM"); ok && rssReset && baseOK {
		t.Logf("peak RSS of the test process during the searches: %d MB (%d MB before them)", peak>>20, base>>20)
		switch {
		case !raceEnabled && peak > 200<<20:
			t.Errorf("peak RSS %d MB, want under 200 MB", peak>>20)
		case raceEnabled && peak-base > 100<<20:
			t.Errorf("peak RSS grew by %d MB during the searches, want under 100 MB", (peak-base)>>20)
		}
	}
}

// BenchmarkSearchBody10k: SEARCH BODY (and TEXT) for a string no message has, over
// a mailbox of 10,000 messages of 2-8 KB (plain text, and every third one
// multipart with a quoted-printable text part and a base64 attachment),
// so every message is opened and scanned. The target: no slower
// than Dovecot without an index (bench/imap-search-vs-dovecot.sh).
func BenchmarkSearchBody10k(b *testing.B) {
	e := newEnv(b, envOptions{})
	total := deliverMany(b, e, 10000, benchMessage)
	c := loggedIn(b, e)
	if _, err := c.MustOK("SELECT", "INBOX"); err != nil {
		b.Fatal(err)
	}
	for _, key := range []string{"BODY", "TEXT"} {
		b.Run(key, func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.MustOK("SEARCH", key, `"no such words anywhere"`)
				if err != nil || len(res.Untagged) != 1 || strings.TrimSpace(res.Untagged[0].Raw) != "* SEARCH" {
					b.Fatalf("%v %v", err, res)
				}
			}
		})
	}
}

// deliverMany delivers n messages to testUser's INBOX, in order of i
// only roughly (16 at a time share the store's commits), and returns
// their total size.
func deliverMany(t testing.TB, e *env, n int, msg func(i int) string) int64 {
	t.Helper()
	a := e.account(testUser)
	var total atomic.Int64
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				m := msg(i)
				total.Add(int64(len(m)))
				if err := e.store.Deliver(context.Background(), store.Delivery{
					Recipients: []store.Recipient{{AccountID: a.ID}}, Body: strings.NewReader(m)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return total.Load()
}

// benchMessage is message i of BenchmarkSearchBody10k.
func benchMessage(i int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "From: Sender %d <sender%d@example.test>\r\nTo: bench@example.com\r\n"+
		"Subject: benchmark message %d\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\nMessage-ID: <%d@example.test>\r\n"+
		"MIME-Version: 1.0\r\n", i%97, i%97, i, i)
	lines := 25 + i%75
	line := func(k int) string {
		return fmt.Sprintf("Line %d of message %d: the quick brown fox jumps over the lazy dog.\r\n", k, i)
	}
	if i%3 != 0 {
		sb.WriteString("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
		for k := range lines {
			sb.WriteString(line(k))
		}
		return sb.String()
	}
	sb.WriteString("Content-Type: multipart/mixed; boundary=\"=_b\"\r\n\r\n--=_b\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	for k := range lines / 2 {
		sb.WriteString(strings.Replace(line(k), "fox", "f=C3=B6x", 1))
	}
	sb.WriteString("--=_b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for range lines / 2 {
		sb.WriteString("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n")
	}
	sb.WriteString("--=_b--\r\n")
	return sb.String()
}
