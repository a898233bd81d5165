package message

import (
	"encoding/base64"
	"io"
	"runtime"
	"strings"
	"testing"
)

// segment is a piece of a generated message: text repeated count times.
type segment struct {
	text  string
	count int
}

// genReader produces a large message from a few segments without ever
// holding it, so a test can measure what the reader's consumer allocates.
type genReader struct {
	segs []segment
	off  int // into segs[0].text
}

func (g *genReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(g.segs) > 0 {
		s := &g.segs[0]
		k := copy(p[n:], s.text[g.off:])
		n += k
		g.off += k
		if g.off == len(s.text) {
			g.off = 0
			if s.count--; s.count == 0 {
				g.segs = g.segs[1:]
			}
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// bigMessage is a multipart message of about 45 MB: a base64 text part,
// a quoted-printable part, a Latin-1 part and a long-line part, with the
// only occurrence of "needle in the haystack" at the very end.
func bigMessage(scale int) ([]segment, int64) {
	line := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("hay and straw, ", 4)[:57])) + "\r\n"
	segs := []segment{
		{"From: Ann <ann@example.org>\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=XyZ\r\n\r\n--XyZ\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n", 1},
		{line, 300000 / scale},
		{"--XyZ\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", 1},
		{"Gr=C3=BC=C3=9Fe, a quoted-printable line that goes on and on and is soft =\r\nbroken here.\r\n", 100000 / scale},
		{"--XyZ\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n", 1},
		{"caf\xe9 cr\xe8me br\xfbl\xe9e, du th\xe9 et des g\xe2teaux\r\n", 200000 / scale},
		{"--XyZ\r\nContent-Type: text/plain\r\n\r\n", 1},
		{"one very long line without any end ", 300000 / scale},
		{"\r\nneedle in the haystack\r\n--XyZ--\r\n", 1},
	}
	var size int64
	for _, s := range segs {
		size += int64(len(s.text) * s.count)
	}
	return segs, size
}

// TestMatchBoundedMemory searches a 45 MB message and checks what the
// search allocates (runtime.MemStats deltas, not time): the old SEARCH
// copied the message and a lower-cased copy of it. Under the race
// detector the message is a tenth of that (the bound does not depend on
// the size).
func TestMatchBoundedMemory(t *testing.T) {
	scale := 1
	if raceEnabled {
		scale = 10
	}
	segs, size := bigMessage(scale)
	if size < 45<<20/int64(scale) {
		t.Fatalf("message is %d octets, want at least 45 MB/%d", size, scale)
	}
	qs := []MatchQuery{body("NEEDLE IN THE HAYSTACK"), text("absent text"), body("grüße, a quoted"),
		body("café crème"), header("Subject", "big"), address("From", "ann@")}
	m := NewMatcher(qs, true)
	// Warm up the reader pool and the charset tables.
	if _, err := m.Match(&genReader{segs: append([]segment(nil), segs[:2]...)}); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := m.Match(&genReader{segs: append([]segment(nil), segs...)})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range res.Found {
		if f != (i != 1) {
			t.Fatalf("found %v", res.Found)
		}
	}
	const limit = 1 << 20
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit {
		t.Fatalf("searching %d octets allocated %d octets, want at most %d", size, alloc, limit)
	} else {
		t.Logf("searching %d octets allocated %d octets in %d allocations", size, alloc, after.Mallocs-before.Mallocs)
	}
}

func BenchmarkMatchBody(b *testing.B) {
	segs, size := bigMessage(1)
	m := NewMatcher([]MatchQuery{body("absent needle")}, false)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Match(&genReader{segs: append([]segment(nil), segs...)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatchCJK: UTF-8 text without case, searched for an ASCII and
// for a CJK string, neither present.
func BenchmarkMatchCJK(b *testing.B) {
	line := strings.Repeat("日本語のテキストと漢字、ひらがなとカタカナ。", 4) + "\r\n"
	segs := []segment{{"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", 1}, {line, 100000}}
	size := int64(len(segs[0].text) + len(line)*100000)
	for _, needle := range []string{"absent needle", "存在しない"} {
		b.Run(needle, func(b *testing.B) {
			m := NewMatcher([]MatchQuery{body(needle)}, false)
			b.SetBytes(size)
			for b.Loop() {
				if _, err := m.Match(&genReader{segs: append([]segment(nil), segs...)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
