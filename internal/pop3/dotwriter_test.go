package pop3

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// referenceBody is the obviously correct model of bodyWriter: it takes
// the whole body at once, line by line. It returns what bodyWriter must
// send, how many input octets it must consume, whether TOP stops early
// and whether the output ends at a line start.
func referenceBody(body []byte, stuff bool, lines int64) (out []byte, consumed int, stopped, atLineStart bool) {
	inBody := false
	for consumed < len(body) {
		line := body[consumed:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		consumed += len(line)
		if stuff && line[0] == '.' {
			out = append(out, '.')
		}
		out = append(out, line...)
		if line[len(line)-1] != '\n' {
			return out, consumed, false, false
		}
		blank := string(line) == "\n" || string(line) == "\r\n"
		switch {
		case lines < 0:
		case !inBody:
			inBody = blank
			if blank && lines == 0 {
				return out, consumed, true, true
			}
		case lines > 0:
			lines--
			if lines == 0 {
				return out, consumed, true, true
			}
		}
	}
	return out, consumed, false, true
}

// FuzzBodyWriter compares bodyWriter, fed in arbitrary chunks, with
// referenceBody, byte for byte.
func FuzzBodyWriter(f *testing.F) {
	for _, body := range []string{
		crlf("A: b\n\n.x\n..\nline\n.\n"),
		crlf("A: b\nC: d\n\n\n.\n\nz"),
		"", ".", "\r\n.\r\n", "\r\r\n\n.", "a\r", benchBody(3000, true),
	} {
		f.Add([]byte(body), []byte{}, true, int8(-1))
		f.Add([]byte(body), []byte{1}, true, int8(0))
		f.Add([]byte(body), []byte{3, 0, 7}, true, int8(2))
		f.Add([]byte(body), []byte{2, 5}, false, int8(-1))
	}
	f.Fuzz(func(t *testing.T, body, cuts []byte, stuff bool, lines int8) {
		if lines < 0 {
			lines = -1
		}
		if !stuff {
			lines = -1 // RETR of a body without dot lines; TOP always stuffs
		}
		want, wantConsumed, wantStopped, wantAtStart := referenceBody(body, stuff, int64(lines))
		var out bytes.Buffer
		w := bufio.NewWriterSize(&out, 16) // small, so writes also pass through
		bw := bodyWriter{w: w, stuff: stuff, lines: int64(lines)}
		consumed, stopped := 0, false
		for i := 0; consumed < len(body) && !stopped; i++ {
			size := len(body)
			if len(cuts) > 0 {
				size = int(cuts[i%len(cuts)])
			}
			if size == 0 { // an empty write, then one octet
				if n, err := bw.Write(body[consumed:consumed]); n != 0 || err != nil {
					t.Fatalf("empty Write: %d, %v", n, err)
				}
				size = 1
			}
			chunk := body[consumed:min(consumed+size, len(body))]
			n, err := bw.Write(chunk)
			switch {
			case errors.Is(err, errTopDone):
				stopped = true
			case err != nil:
				t.Fatal(err)
			case n != len(chunk):
				t.Fatalf("Write took %d of %d octets without an error", n, len(chunk))
			}
			consumed += n
		}
		w.Flush()
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("sent %q, want %q", out.Bytes(), want)
		}
		if consumed != wantConsumed || stopped != wantStopped || bw.atLineStart() != wantAtStart {
			t.Errorf("consumed %d stopped %v at line start %v, want %d %v %v",
				consumed, stopped, bw.atLineStart(), wantConsumed, wantStopped, wantAtStart)
		}
	})
}

// BenchmarkBodyWriter runs a 1 MiB body with a "." starting every tenth
// line through the writer in the copy loop's 32 KiB chunks: RETR stuffing
// it, and TOP with a line count beyond its end.
func BenchmarkBodyWriter(b *testing.B) {
	body := []byte(benchBody(1<<20, true))
	for _, bc := range []struct {
		name  string
		lines int64
	}{{"retr", -1}, {"top", 1 << 40}} {
		b.Run(bc.name, func(b *testing.B) {
			w := bufio.NewWriterSize(io.Discard, 32<<10)
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				bw := bodyWriter{w: w, stuff: true, lines: bc.lines}
				for p := body; len(p) > 0; {
					n := min(len(p), copyBufferSize)
					if _, err := bw.Write(p[:n]); err != nil {
						b.Fatal(err)
					}
					p = p[n:]
				}
			}
		})
	}
}
