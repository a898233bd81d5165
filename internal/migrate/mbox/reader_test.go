package mbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/migrate"
)

type got struct {
	Line     int
	Sender   string
	UID      uint32
	UIDL     string
	Flags    []string
	Keywords []string
	Recent   bool
	Internal bool
	Warnings int
	Content  string
}

func readAll(t *testing.T, r *Reader) []got {
	t.Helper()
	var out []got
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		c, err := io.ReadAll(m.Content)
		if err != nil {
			t.Fatalf("content: %v", err)
		}
		out = append(out, got{m.Line, m.Sender, m.UID, m.UIDL, m.Flags, m.Keywords, m.Recent, m.Internal, len(m.Warnings), string(c)})
	}
}

func open(t *testing.T, name string, v Variant) *Reader {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return NewReader(f, Options{Variant: v, File: name})
}

func TestDovecotMbox(t *testing.T) {
	for _, v := range []Variant{MboxRD, MboxO} {
		t.Run(v.String(), func(t *testing.T) {
			r := open(t, "dovecot.mbox", v)
			msgs := readAll(t, r)
			quoted := ">From a doubly quoted one.\n"
			if v == MboxO {
				quoted = ">>From a doubly quoted one.\n"
			}
			want := []got{
				{Line: 1, Sender: "MAILER-DAEMON", Internal: true, Flags: []string{`\Seen`}, Content: "Date: Mon, 30 Nov 2026 10:00:00 +0000\n" +
					"From: Mail System Internal Data <MAILER-DAEMON@mx.example.org>\n" +
					"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n" +
					"Message-ID: <1764496800@mx.example.org>\n\n" +
					"This text is part of the internal format of your mail folder, and is not\n" +
					"a real message.  It is created automatically by the mail system software.\n" +
					"If deleted, important folder data will be lost, and it will be re-created\n" +
					"with the data reset to initial values.\n"},
				{Line: 14, Sender: "alice@example.org", UID: 1, UIDL: "1a2b3c4d",
					Flags: []string{`\Answered`, `\Flagged`, `\Seen`}, Keywords: []string{"$Label1"},
					Content: "Return-Path: <alice@example.org>\nFrom: Alice <alice@example.org>\nSubject: first\n\n" +
						"A body line.\nFrom the quoted one.\n" + quoted},
				{Line: 30, Sender: "bob@example.org", UID: 2, Keywords: []string{"Junk", "$Label1"},
					Content: "Subject: second\n folded\n\nsecond body\n"},
				{Line: 39, Sender: "carol@example.org", Recent: true, Warnings: 1,
					Content: "Subject: third\n\nthird body, no trailing newline\n"},
			}
			if !reflect.DeepEqual(msgs, want) {
				t.Errorf("got\n%#v\nwant\n%#v", msgs, want)
			}
			b := r.Base()
			if b == nil || b.UIDValidity != 1764496800 || b.UIDNext != 4 || !reflect.DeepEqual(b.Keywords, []string{"$Label1", "Junk"}) {
				t.Errorf("base %+v", b)
			}
		})
	}
}

func TestWarningNamesFileAndLine(t *testing.T) {
	r := open(t, "dovecot.mbox", MboxRD)
	var w *migrate.ParseError
	for {
		m, err := r.Next()
		if err != nil {
			break
		}
		if len(m.Warnings) > 0 {
			w = m.Warnings[0]
		}
	}
	if w == nil || w.Error() != `dovecot.mbox:40: X-UID "bogus" is not a UID` {
		t.Errorf("warning %v", w)
	}
}

func TestCRLF(t *testing.T) {
	msgs := readAll(t, open(t, "crlf.mbox", MboxRD))
	if len(msgs) != 2 || msgs[0].UID != 7 || msgs[0].Content != "Subject: crlf\r\n\r\nline\r\n\r\n" || msgs[1].Content != "Subject: two\r\n\r\nx\r\n" {
		t.Errorf("%#v", msgs)
	}
}

func TestSeparatorWithoutBlankLine(t *testing.T) {
	msgs := readAll(t, open(t, "noblank.mbox", MboxRD))
	if len(msgs) != 2 || msgs[0].Content != "Subject: one\n\nbody\nFrom a friend, not a separator\n" || msgs[1].Line != 6 {
		t.Errorf("%#v", msgs)
	}
}

func TestNotAnMbox(t *testing.T) {
	r := open(t, "notmbox.txt", MboxRD)
	_, err := r.Next()
	var pe *migrate.ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || !strings.HasPrefix(err.Error(), "notmbox.txt:2: not an mbox") {
		t.Fatalf("err %v", err)
	}
	if _, err2 := r.Next(); err2 != err {
		t.Errorf("error not sticky: %v", err2)
	}
}

func TestEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n"} {
		if _, err := NewReader(strings.NewReader(in), Options{}).Next(); !errors.Is(err, io.EOF) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestHeaderTooLongSkipsOneMessage(t *testing.T) {
	in := "From a@b Mon Nov 30 10:00:00 2026\nSubject: " + strings.Repeat("x", 300) + "\n\nbody\n\n" +
		"From a@b Mon Nov 30 10:00:00 2026\nSubject: ok\n\nbody\n"
	r := NewReader(strings.NewReader(in), Options{MaxHeaderBytes: 100, File: "big.mbox"})
	_, err := r.Next()
	var me *MessageError
	if !errors.As(err, &me) || me.Err.Line != 1 {
		t.Fatalf("want a MessageError at line 1, got %v", err)
	}
	m, err := r.Next()
	if err != nil || m.Line != 6 {
		t.Fatalf("after skip: %v %+v", err, m)
	}
	c, _ := io.ReadAll(m.Content)
	if string(c) != "Subject: ok\n\nbody\n" {
		t.Errorf("content %q", c)
	}
}

func TestUnreadContentIsSkipped(t *testing.T) {
	r := open(t, "dovecot.mbox", MboxRD)
	var lines []int
	for {
		m, err := r.Next()
		if err != nil {
			break
		}
		lines = append(lines, m.Line)
	}
	if !reflect.DeepEqual(lines, []int{1, 14, 30, 39}) {
		t.Errorf("lines %v", lines)
	}
}

func TestFromLineDates(t *testing.T) {
	for in, want := range map[string]time.Time{
		"From a@b Mon Nov 30 10:01:02 2026\n":       time.Date(2026, 11, 30, 10, 1, 2, 0, time.UTC),
		"From a@b Tue Dec  1 09:00:00 2026\n":       time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		"From  Tue Dec  1 09:00:00 2026\n":          time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		"From a@b Tue Dec  1 09:00:00 2026 +0200\n": time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC),
		"From a@b sometime\n":                       {},
	} {
		_, d := parseFromLine([]byte(in))
		if !d.Equal(want) {
			t.Errorf("%q: %v, want %v", in, d, want)
		}
	}
}

func TestContentLength(t *testing.T) {
	body := "x\n\nFrom c@d Mon Nov 30 10:00:00 2026\n>From y\n"
	in := fmt.Sprintf("From a@b Mon Nov 30 10:00:00 2026\nContent-Length: %d\n\n%s\n", len(body), body) +
		"From e@f Mon Nov 30 10:00:00 2026\nContent-Length: 99\n\n" + // a wrong length
		"z\n\nFrom g@h Mon Nov 30 10:00:00 2026\n\nw\n"
	// read from a strings.Reader, an io.ReaderAt: the wrong length is seen
	// before its body is read
	msgs := readAll(t, NewReader(strings.NewReader(in), Options{Variant: MboxCL2}))
	want := []string{"\n" + body, "\nz\n", "\nw\n"}
	// On a plain stream a right length is followed as well.
	if s := readAll(t, NewReader(struct{ io.Reader }{strings.NewReader(in)}, Options{Variant: MboxCL2})); len(s) == 0 || s[0].Content != want[0] {
		t.Errorf("stream: %#v", s)
	}
	if len(msgs) != len(want) {
		t.Fatalf("%#v", msgs)
	}
	for i := range want {
		if msgs[i].Content != want[i] {
			t.Errorf("message %d: %q, want %q", i, msgs[i].Content, want[i])
		}
	}
}

// writeRD writes messages the way an mboxrd writer does.
func writeRD(w *bytes.Buffer, msgs []string) {
	for _, m := range msgs {
		w.WriteString("From x@y Mon Nov 30 10:00:00 2026\n")
		for _, l := range strings.SplitAfter(m, "\n") {
			if strings.HasPrefix(strings.TrimLeft(l, ">"), "From ") {
				w.WriteByte('>')
			}
			w.WriteString(l)
		}
		w.WriteString("\n")
	}
}

func roundTrip(t *testing.T, msgs []string) {
	var buf bytes.Buffer
	writeRD(&buf, msgs)
	r := NewReader(&buf, Options{})
	got := readAll(t, r)
	if len(got) != len(msgs) {
		t.Fatalf("%d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if got[i].Content != msgs[i] {
			t.Fatalf("message %d: %q, want %q", i, got[i].Content, msgs[i])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	roundTrip(t, []string{
		"Subject: a\n\nFrom here\n>From there\n>>From everywhere\n\n\n",
		"Subject: b\n\n\nFrom \n",
		"Subject: c\n\n" + strings.Repeat("y", 3*bufSize) + "\nFrom long\n",
		"Subject: d\n\n>" + strings.Repeat(">", bufSize/2) + "From x\n",
	})
}

// FuzzRoundTrip: whatever a body holds, mboxrd gives it back unchanged.
func FuzzRoundTrip(f *testing.F) {
	f.Add("From x\n>From y\n\n", "b\n")
	f.Add("\r\n\r\n", ">>>From \n")
	f.Fuzz(func(t *testing.T, a, b string) {
		norm := func(s string) string {
			if !strings.HasSuffix(s, "\n") {
				s += "\n"
			}
			return "Subject: s\n\n" + s
		}
		roundTrip(t, []string{norm(a), norm(b)})
	})
}

// FuzzReader: any input ends in EOF or an error, never a panic, with line
// numbers only growing.
func FuzzReader(f *testing.F) {
	for _, n := range []string{"dovecot.mbox", "crlf.mbox", "noblank.mbox", "notmbox.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	f.Add([]byte("From a b\nContent-Length: 3\n\nab\n\nFrom b Mon Nov 30 10:00:00 2026\n"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, v uint8) {
		r := NewReader(bytes.NewReader(in), Options{Variant: Variant(v % 3), MaxHeaderBytes: 64})
		last := 0
		for i := 0; ; i++ {
			m, err := r.Next()
			var me *MessageError
			if errors.As(err, &me) {
				continue
			}
			if err != nil {
				return
			}
			if m.Line <= last {
				t.Fatalf("line %d after %d", m.Line, last)
			}
			last = m.Line
			if _, err := io.Copy(io.Discard, m.Content); err != nil {
				t.Fatal(err)
			}
			if i > len(in) {
				t.Fatal("more messages than bytes")
			}
		}
	})
}

// endless yields an mbox of n messages with bodies of size bytes each,
// generated as it is read without allocating.
type endless struct {
	n, size, left int
}

var (
	endlessHeader = []byte("From a@b Mon Nov 30 10:00:00 2026\nX-UID: 1\nSubject: big\n\n")
	endlessLine   = []byte("0123456789abcde\n")
)

func (e *endless) Read(p []byte) (int, error) {
	if e.left == 0 {
		if e.n == 0 {
			return 0, io.EOF
		}
		e.n--
		e.left = e.size
		return copy(p, endlessHeader), nil // p is larger than the header
	}
	n := 0
	for n+len(endlessLine) <= len(p) && e.left > 0 {
		n += copy(p[n:], endlessLine)
		e.left -= len(endlessLine)
	}
	if e.left <= 0 && n < len(p) {
		p[n] = '\n'
		n++
		e.left = 0
	}
	return n, nil
}

// TestBoundedMemory streams 128 MB in 16 MB messages; the heap must not grow
// with them.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 128 MB")
	}
	src := &endless{n: 8, size: 16 << 20}
	r := NewReader(&chunked{src}, Options{})
	var total int64
	var peak uint64
	var ms runtime.MemStats
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, m.Content)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	if total < 128<<20 {
		t.Fatalf("read %d bytes", total)
	}
	if peak > 16<<20 {
		t.Errorf("heap in use reached %d MB", peak>>20)
	}
}

// chunked hands out at most 1 MB per Read, as a file would, so the test's
// generator is not what holds memory.
type chunked struct{ r io.Reader }

func (c *chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), 1<<20)]) }
