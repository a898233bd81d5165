package queue

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net/textproto"
	"testing"
)

// TestDotWriterMatchesTextproto: on CRLF bodies (what the queue holds)
// dotWriter sends what net/textproto's DotWriter sends, however the body
// is cut into writes: dots at the start of the body, of lines and of a
// write, lone dots, a last line without its CRLF, an empty body.
func TestDotWriterMatchesTextproto(t *testing.T) {
	bodies := []string{
		"",
		".",
		"..\r\n",
		".\r\n",
		"Subject: x\r\n\r\n.hidden\r\n.\r\n..two\r\nend\r\n",
		"no line end",
		"a\r\n.b",
		"line\r\n\r\n.\r\n.\r\n",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var b bytes.Buffer
		for range rng.IntN(40) {
			switch rng.IntN(4) {
			case 0:
				b.WriteString(".")
			case 1:
				b.WriteString("\r\n")
			case 2:
				b.WriteString("..x")
			default:
				b.WriteString("text")
			}
		}
		if rng.IntN(2) == 0 {
			b.WriteString("\r\n")
		}
		body := bytes.ReplaceAll(b.Bytes(), []byte("\r\n\n"), []byte("\r\n")) // CRLF only
		bodies = append(bodies, string(bytes.ReplaceAll(body, []byte("\r\r"), []byte("\r"))))
	}
	for _, body := range bodies {
		var want bytes.Buffer
		tw := bufio.NewWriter(&want)
		dw := textproto.NewWriter(tw).DotWriter()
		dw.Write([]byte(body))
		dw.Close()
		tw.Flush()
		for range 5 {
			var got bytes.Buffer
			w := bufio.NewWriterSize(&got, 16)
			d := &dotWriter{w: w}
			for rest := []byte(body); len(rest) > 0; {
				n := 1 + rng.IntN(len(rest))
				if k, err := d.Write(rest[:n]); k != n || err != nil {
					t.Fatalf("Write = %d, %v", k, err)
				}
				rest = rest[n:]
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if got.String() != want.String() {
				t.Fatalf("body %q:\n got %q\nwant %q", body, got.String(), want.String())
			}
		}
	}
}
