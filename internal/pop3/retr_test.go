package pop3

import (
	"bufio"
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// stuff is the reference dot-stuffing: a "." is added before every line
// that starts with "."; the response ends with CRLF "." CRLF.
func stuff(body string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(body, "\r\n") {
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(l)
	}
	if body != "" && !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.String()
}

func TestRETRDotStuffingByteExact(t *testing.T) {
	t.Parallel()
	bodies := []string{
		msg1,
		crlf("Subject: dots\n\n.\n..\n...\n.hidden\nnot.a.dot\n. \n"),
		crlf("Subject: last line is a dot\n\ntext\n."), // no final CRLF: the store keeps it so
		crlf("Subject: last line is two dots\n\ntext\n..\n"),
		crlf(".Subject: header starting with a dot\n\nbody\n"),
		crlf("Subject: no final newline\n\nabc"),
		crlf("Subject: empty body\n\n"),
		"Subject: bare CR\rinside\r\n\r\nx\r\n",
		strings.Repeat(crlf(".dotted line of a long message\nplain line\n"), 5000), // crosses copy buffers
		crlf("Subject: big, no dots\n\n") + strings.Repeat("x", 3<<20) + "\r\nend", // sendfile path
		crlf("Subject: big, no dots\n\n") + strings.Repeat("y\r\n", 40000),         // sendfile path
	}
	e := newEnv(t, envOptions{})
	e.deliver(testUser, bodies...)
	stored := storedBodies(t, e)
	c := e.login()
	for i := range bodies {
		n := strconv.Itoa(i + 1)
		c.send("LIST " + n)
		listed := strings.TrimPrefix(c.expect("+OK "+n+" *"), "+OK "+n+" ")
		c.send("RETR " + n)
		c.expect("+OK " + listed + " octets")
		raw := c.rawMultiline()

		// The store keeps the delivered body with CRLF line ends (and may
		// end it with CRLF); LIST and "+OK n octets" give its size, RETR
		// sends exactly it, stuffed.
		want := crlf(bodies[i])
		if bodies[i] == "Subject: bare CR\rinside\r\n\r\nx\r\n" {
			want = "Subject: bare CR\r\ninside\r\n\r\nx\r\n"
		}
		if got := stored[i]; got != want && got != want+"\r\n" {
			t.Errorf("message %d: the store holds %q, delivered %q", i+1, trunc(got), trunc(want))
		}
		if listed != strconv.Itoa(len(stored[i])) {
			t.Errorf("message %d: LIST size %s, stored body is %d octets", i+1, listed, len(stored[i]))
		}
		if raw != stuff(stored[i]) {
			t.Errorf("message %d: RETR sent\n%q\nwant\n%q", i+1, trunc(raw), trunc(stuff(stored[i])))
		}
	}
}

// storedBodies reads the test user's bodies straight from the store.
func storedBodies(t *testing.T, e *env) []string {
	t.Helper()
	acct, err := e.store.Account(t.Context(), testUser)
	if err != nil {
		t.Fatal(err)
	}
	md, err := e.store.OpenMaildrop(t.Context(), acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	var out []string
	for _, m := range md.Messages() {
		r, err := md.Body(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != m.Size {
			t.Fatalf("store: Size %d but body has %d octets", m.Size, len(b))
		}
		out = append(out, string(b))
	}
	return out
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func TestTOP(t *testing.T) {
	t.Parallel()
	header := crlf("From: a@example.net\nSubject: top\n")
	body := crlf("line 1\n.line 2\nline 3\n")
	msg := header + "\r\n" + body
	headerOnly := crlf("From: a@example.net\nSubject: no body\n")
	e := newEnv(t, envOptions{})
	e.deliver(testUser, msg, headerOnly, crlf("Subject: x\n\n\n\nafter two blank lines\n"))
	c := e.login()
	cases := []struct {
		cmd  string
		want string
	}{
		{"TOP 1 0", header + "\r\n"},
		{"TOP 1 1", header + "\r\nline 1\r\n"},
		{"TOP 1 2", header + "\r\nline 1\r\n.line 2\r\n"},
		{"TOP 1 3", msg},
		{"TOP 1 1000", msg},
		{"TOP 1 99999999999999999999999999", msg},
		{"TOP 2 0", headerOnly},
		{"TOP 2 5", headerOnly},
		{"TOP 3 0", crlf("Subject: x\n\n")},
		{"TOP 3 1", crlf("Subject: x\n\n\n")},
		{"TOP 3 2", crlf("Subject: x\n\n\n\n")},
	}
	for _, tc := range cases {
		c.send(tc.cmd)
		c.expect("+OK Top of message follows")
		if got := c.rawMultiline(); got != stuff(tc.want) {
			t.Errorf("%s sent %q, want %q", tc.cmd, got, stuff(tc.want))
		}
	}
}

func TestBodyWriterChunking(t *testing.T) {
	t.Parallel()
	// The writer must give the same output however the body is split
	// into writes: line starts and blank lines may straddle chunks.
	bodies := []string{
		crlf("A: b\n\n.x\n..\nline\n.\n"),
		crlf("A: b\nC: d\n\n\n.\n\nz"),
		"",
		".",
		"\r\n.\r\n",
	}
	for _, body := range bodies {
		for _, lines := range []int64{-1, 0, 1, 2, 5} {
			want := bodyWriterOutput(t, body, len(body)+1, lines)
			for chunk := 1; chunk <= len(body); chunk++ {
				if got := bodyWriterOutput(t, body, chunk, lines); got != want {
					t.Fatalf("body %q lines %d chunk %d: %q, whole: %q", body, lines, chunk, got, want)
				}
			}
		}
	}
}

// bodyWriterOutput runs body through a bodyWriter in chunks of the given
// size and returns what a client would receive.
func bodyWriterOutput(t *testing.T, body string, chunk int, lines int64) string {
	t.Helper()
	var out strings.Builder
	w := bufio.NewWriter(&out)
	bw := bodyWriter{w: w, stuff: true, lines: lines}
	for rest := body; rest != ""; {
		n := min(chunk, len(rest))
		if _, err := bw.Write([]byte(rest[:n])); err != nil {
			if errors.Is(err, errTopDone) {
				break
			}
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if !bw.atLineStart() {
		w.WriteString("\r\n")
	}
	w.WriteString(".\r\n")
	w.Flush()
	return out.String()
}

// countingDrops is the real store with every body reader counting the
// octets the session reads from it.
type countingDrops struct {
	store.Maildrops
	read *atomic.Int64
}

func (c countingDrops) OpenMaildrop(ctx context.Context, id int64) (store.Maildrop, error) {
	m, err := c.Maildrops.OpenMaildrop(ctx, id)
	if err != nil {
		return nil, err
	}
	return countingDrop{m, c.read}, nil
}

type countingDrop struct {
	store.Maildrop
	read *atomic.Int64
}

func (c countingDrop) Body(ctx context.Context, id int64) (io.ReadCloser, error) {
	r, err := c.Maildrop.Body(ctx, id)
	if err != nil {
		return nil, err
	}
	return countingBody{r, c.read}, nil
}

type countingBody struct {
	io.ReadCloser
	read *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TOP on a large message reads from the store about what it sends, not
// the message: at most one small read (topReadMin) beyond the lines sent,
// however large the body.
func TestTOPReadsOnlyWhatItSends(t *testing.T) {
	t.Parallel()
	var read atomic.Int64
	e := newEnv(t, envOptions{maildrops: func(m store.Maildrops) store.Maildrops { return countingDrops{m, &read} }})
	header := crlf("From: a@example.net\nSubject: big\n")
	body := strings.Repeat(crlf(".a dotted body line of a large message\n"), 100000) // 4 MB, a file
	e.deliver(testUser, header+"\r\n"+body)
	c := e.login()
	for _, lines := range []int{0, 1, 10, 1000} {
		read.Store(0)
		c.send("TOP 1 " + strconv.Itoa(lines))
		c.expect("+OK Top of message follows")
		got := c.rawMultiline()
		want := header + "\r\n" + strings.Repeat(crlf(".a dotted body line of a large message\n"), lines)
		if got != stuff(want) {
			t.Fatalf("TOP 1 %d sent %q, want %q", lines, trunc(got), trunc(stuff(want)))
		}
		if n := read.Load(); n > int64(len(want))+topReadMin {
			t.Errorf("TOP 1 %d sent %d octets of the message and read %d of it (at most %d allowed)",
				lines, len(want), n, len(want)+topReadMin)
		}
	}
	// RETR still reads and sends all of it.
	c.send("RETR 1")
	c.expect("+OK " + itoa(len(header+"\r\n"+body)) + " octets")
	if got := c.rawMultiline(); got != stuff(header+"\r\n"+body) {
		t.Errorf("RETR sent %d octets, want %d", len(got), len(stuff(header+"\r\n"+body)))
	}
}

// bodyLog records, over the real store, which messages' bodies a session
// opened (by message number) and how many of them are still open.
type bodyLog struct {
	store.Maildrops
	mu     sync.Mutex
	opened []int
	open   int
}

func (l *bodyLog) OpenMaildrop(ctx context.Context, id int64) (store.Maildrop, error) {
	md, err := l.Maildrops.OpenMaildrop(ctx, id)
	if err != nil {
		return nil, err
	}
	return &loggedDrop{Maildrop: md, log: l}, nil
}

func (l *bodyLog) state() ([]int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.opened), l.open
}

type loggedDrop struct {
	store.Maildrop
	log *bodyLog
}

func (d *loggedDrop) Body(ctx context.Context, id int64) (io.ReadCloser, error) {
	r, err := d.Maildrop.Body(ctx, id)
	if err != nil {
		return nil, err
	}
	n := slices.IndexFunc(d.Messages(), func(m store.MaildropMessage) bool { return m.ID == id }) + 1
	d.log.mu.Lock()
	d.log.opened = append(d.log.opened, n)
	d.log.open++
	d.log.mu.Unlock()
	return &loggedBody{ReadCloser: r, log: d.log}, nil
}

type loggedBody struct {
	io.ReadCloser
	log    *bodyLog
	closed bool
}

func (b *loggedBody) Close() error {
	if !b.closed {
		b.closed = true
		b.log.mu.Lock()
		b.log.open--
		b.log.mu.Unlock()
	}
	return b.ReadCloser.Close()
}

// After a RETR the session opens the next message's body while the
// client reads the answer (readAhead): a download in order opens each
// body once, a RETR of another message or a DELE in between costs only
// the body opened for nothing, and every body opened is closed by the
// end of the session, whether it ends with QUIT or a dropped connection.
func TestRETRReadsAhead(t *testing.T) {
	t.Parallel()
	log := &bodyLog{}
	e := newEnv(t, envOptions{maildrops: func(m store.Maildrops) store.Maildrops { log.Maildrops = m; return log }})
	e.deliver(testUser, msg1, msg2, msg1, msg2)
	c := e.login()
	for i, want := range []string{msg1, msg2, msg1} {
		c.send("RETR " + strconv.Itoa(i+1))
		c.line()
		if got := c.multiline(); got != want {
			t.Fatalf("RETR %d = %q", i+1, got)
		}
	}
	c.run(`
C: DELE 4
S: +OK Message 4 deleted
C: RETR 2
S: +OK ` + itoa(len(msg2)) + ` octets
`)
	c.multiline()
	c.run(`
C: QUIT
S: +OK Logging out, messages deleted
`)
	c.expectClosed()
	e.waitIdle()
	// 1, 2 and 3 once each, 4 read ahead after RETR 3, then 2 again; after
	// RETR 2 the next message not deleted is 3.
	if opened, open := log.state(); !slices.Equal(opened, []int{1, 2, 3, 4, 2, 3}) || open != 0 {
		t.Errorf("bodies opened %v, %d left open; want [1 2 3 4 2 3], none open", opened, open)
	}

	// A connection dropped while a body is read ahead.
	e.deliver(testUser, msg1, msg2)
	c = e.login()
	c.send("RETR 1")
	c.line()
	c.multiline()
	c.conn.Close()
	e.waitIdle()
	if _, open := log.state(); open != 0 {
		t.Errorf("%d bodies left open after the client went away", open)
	}
}

// A body read ahead is let go when the client does not send its next
// command within the hold time, so an idle session holds none; the
// session goes on, and RETR then opens the body again.
func TestReadAheadLetGoWhenIdle(t *testing.T) {
	t.Parallel()
	log := &bodyLog{}
	e := newEnv(t, envOptions{maildrops: func(m store.Maildrops) store.Maildrops { log.Maildrops = m; return log }},
		func(s *Server) { s.aheadHold = 20 * time.Millisecond })
	e.deliver(testUser, msg1, msg2)
	c := e.login()
	c.send("RETR 1")
	c.line()
	c.multiline()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		opened, open := log.state()
		if len(opened) == 2 && open == 0 {
			break // 2 was read ahead, then let go
		}
		if time.Now().After(deadline) {
			t.Fatalf("bodies opened %v, %d still open 10 s after the RETR", opened, open)
		}
	}
	c.send("RETR 2")
	c.expect("+OK " + itoa(len(msg2)) + " octets")
	if got := c.multiline(); got != msg2 {
		t.Fatalf("RETR 2 after the hold = %q", got)
	}
	if opened, _ := log.state(); !slices.Equal(opened, []int{1, 2, 2}) {
		t.Errorf("bodies opened %v, want [1 2 2]", opened)
	}
}
