package message

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// normalise runs in through a CRLFWriter, writing it in chunks of the given
// size (0 = one write) so that state carried across writes is exercised.
func normalise(t testing.TB, in []byte, chunk int) (out []byte, size int64, dot bool) {
	var buf bytes.Buffer
	w := NewCRLFWriter(&buf)
	if chunk <= 0 {
		chunk = len(in) + 1
	}
	for len(in) > 0 {
		n := min(chunk, len(in))
		if m, err := w.Write(in[:n]); err != nil || m != n {
			t.Fatalf("Write = %d, %v; want %d, nil", m, err, n)
		}
		in = in[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.Size(), w.DotLines()
}

// reference is an obviously correct (and slow) model of CRLFWriter.
func reference(in []byte) (out []byte, dot bool) {
	s := strings.ReplaceAll(string(in), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if s != "" && !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return []byte(s), strings.HasPrefix(s, ".") || strings.Contains(s, "\r\n.")
}

func TestCRLFWriter(t *testing.T) {
	tests := []struct {
		name, in, want string
		dot            bool
	}{
		{"empty", "", "", false},
		{"crlf kept", "a\r\nb\r\n", "a\r\nb\r\n", false},
		{"bare lf", "a\nb\n", "a\r\nb\r\n", false},
		{"bare cr", "a\rb\r", "a\r\nb\r\n", false},
		{"cr cr lf", "a\r\r\nb", "a\r\n\r\nb\r\n", false},
		{"lf cr", "a\n\rb", "a\r\n\r\nb\r\n", false},
		{"unterminated last line", "abc", "abc\r\n", false},
		{"blank lines", "\n\n", "\r\n\r\n", false},
		{"dot first line", ".a\n", ".a\r\n", true},
		{"dot later line", "a\n.b\n", "a\r\n.b\r\n", true},
		{"dot after bare cr", "a\r.\r", "a\r\n.\r\n", true},
		{"dot inside line", "a.b\n", "a.b\r\n", false},
		{"lone dot", ".", ".\r\n", true},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1, 2, 3} {
			out, size, dot := normalise(t, []byte(tt.in), chunk)
			if string(out) != tt.want || size != int64(len(tt.want)) || dot != tt.dot {
				t.Errorf("%s (chunk %d): got %q size %d dot %v; want %q size %d dot %v",
					tt.name, chunk, out, size, dot, tt.want, len(tt.want), tt.dot)
			}
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestCRLFWriterPropagatesErrors(t *testing.T) {
	w := NewCRLFWriter(failWriter{})
	if _, err := w.Write([]byte("x\n")); err == nil {
		t.Fatal("Write to a failing writer succeeded")
	}
}

func TestCRLFWriterCloseTwice(t *testing.T) {
	var buf bytes.Buffer
	w := NewCRLFWriter(&buf)
	w.Write([]byte("a"))
	w.Close()
	w.Close()
	if buf.String() != "a\r\n" {
		t.Fatalf("got %q", buf.String())
	}
}

// FuzzCRLFWriter checks the writer against the reference model, for any
// input and any split into writes, and that normalising is idempotent.
func FuzzCRLFWriter(f *testing.F) {
	for _, s := range []string{"", "a\r\n", "\r\r\n\n", ".\r.\n.", "x\ry\nz\r\n."} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		want, wantDot := reference(in)
		out, size, dot := normalise(t, in, int(chunk))
		if !bytes.Equal(out, want) || size != int64(len(want)) || dot != wantDot {
			t.Fatalf("in %q chunk %d: got %q size %d dot %v; want %q dot %v", in, chunk, out, size, dot, want, wantDot)
		}
		again, _, _ := normalise(t, out, 0)
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q", out, again)
		}
	})
}

// BenchmarkCRLFWriter normalises a 10 KB body in the 32 KiB writes
// store.CopyBody makes: as SMTP delivers it (CRLF already) and with bare
// LF line ends (a file imported from Unix).
//
//	go test -run XXX -bench CRLFWriter ./internal/message
func BenchmarkCRLFWriter(b *testing.B) {
	line := "The quick brown fox jumps over the lazy dog, 0123456789 abcdefghij."
	for _, tc := range []struct{ name, eol string }{{"crlf", "\r\n"}, {"lf", "\n"}} {
		body := []byte(strings.Repeat(line+tc.eol+"."+line+tc.eol, 75))
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				w := NewCRLFWriter(io.Discard)
				w.Write(body)
				w.Close()
			}
		})
	}
}
