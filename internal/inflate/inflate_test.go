package inflate

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// Streams from compress/flate at every level, with sync flushes at
// random points, decode to the original.
func TestMatchesCompressFlate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 60 {
		plain := sample(rng, rng.IntN(100<<10))
		level := i%11 - 1 // -1 (default) ... 9
		if i%23 == 0 {
			level = flate.HuffmanOnly
		}
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, level)
		for rest := plain; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(40<<10))
			_, _ = w.Write(rest[:n])
			if rng.IntN(2) == 0 {
				_ = w.Flush()
			}
			rest = rest[n:]
		}
		_ = w.Close()
		// Byte by byte, and with bytes taken ahead from a bufio.Reader.
		for _, src := range []io.ByteReader{bytes.NewReader(b.Bytes()), bufio.NewReaderSize(bytes.NewReader(b.Bytes()), 1+rng.IntN(5000))} {
			got, err := io.ReadAll(NewReader(src))
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("stream %d (level %d, %d octets): got %d octets, %v", i, level, len(plain), len(got), err)
			}
		}
	}
}

// sample makes text-like data with repeats, so back-references of every
// distance occur, and runs of random bytes.
func sample(rng *rand.Rand, n int) []byte {
	words := []string{"a ", "FETCH ", "1:* ", "(FLAGS) ", "BODY[] ", "\r\n", "UID ", "INBOX ", "{3}\r\n"}
	var b []byte
	for len(b) < n {
		switch rng.IntN(4) {
		case 0:
			for range rng.IntN(64) {
				b = append(b, byte(rng.UintN(256)))
			}
		case 1:
			if len(b) > 0 {
				start := rng.IntN(len(b))
				b = append(b, b[start:start+rng.IntN(len(b)-start)%300]...)
			}
		default:
			b = append(b, words[rng.IntN(len(words))]...)
		}
	}
	return b[:n]
}

// untilEmpty is an input that fails instead of blocking once what was
// written is used up, like a connection with nothing more to read.
type untilEmpty struct{ buf bytes.Buffer }

var errWouldBlock = errors.New("read past what the client sent")

func (u *untilEmpty) ReadByte() (byte, error) {
	if u.buf.Len() == 0 {
		return 0, errWouldBlock
	}
	return u.buf.ReadByte()
}

// A client that flushes (sync flush) gets each command through without
// the Reader asking for input the client has not sent.
func TestSyncFlushHandsOver(t *testing.T) {
	var src untilEmpty
	w, _ := flate.NewWriter(&src.buf, flate.BestSpeed)
	z := NewReader(&src)
	for i, cmd := range []string{"a LOGIN x y\r\n", "b SELECT INBOX\r\n", string(bytes.Repeat([]byte("c NOOP\r\n"), 9000))} {
		_, _ = w.Write([]byte(cmd))
		_ = w.Flush()
		expect(t, z, i, cmd)
	}
}

// Z_PARTIAL_FLUSH, as zlib (and so isync) does it: the data block ends,
// then an empty fixed-code block of 10 bits follows, of which only whole
// bytes are sent. compress/flate's reader stalls here; this one must not.
func TestPartialFlushHandsOver(t *testing.T) {
	var src untilEmpty
	var bw bitWriter
	z := NewReader(&src)
	for i, cmd := range []string{"a LOGIN x y\r\n", "b NAMESPACE\r\n", "c LIST \"\" *\r\n"} {
		bw.fixedBlock([]byte(cmd))
		bw.emptyFixedBlock()
		src.buf.Write(bw.takeBytes())
		expect(t, z, i, cmd)
	}
}

func expect(t *testing.T, z *Reader, i int, want string) {
	t.Helper()
	got := make([]byte, 0, len(want))
	buf := make([]byte, 1024)
	for len(got) < len(want) {
		n, err := z.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("command %d: after %q: %v", i, got, err)
		}
	}
	if string(got) != want {
		t.Fatalf("command %d: got %q, want %q", i, got, want)
	}
}

// bitWriter writes fixed-code blocks (RFC 1951 §3.2.6) like zlib does.
type bitWriter struct {
	out   []byte
	bits  uint64
	nbits uint
}

func (b *bitWriter) put(v uint64, n uint) {
	b.bits |= v << b.nbits
	b.nbits += n
	for b.nbits >= 8 {
		b.out = append(b.out, byte(b.bits))
		b.bits >>= 8
		b.nbits -= 8
	}
}

// putCode writes a Huffman code, most significant bit first.
func (b *bitWriter) putCode(code uint64, n uint) {
	var r uint64
	for i := range n {
		r |= (code >> i & 1) << (n - 1 - i)
	}
	b.put(r, n)
}

func (b *bitWriter) literal(c byte) {
	if c < 144 {
		b.putCode(0x30+uint64(c), 8)
	} else {
		b.putCode(0x190+uint64(c)-144, 9)
	}
}

func (b *bitWriter) fixedBlock(data []byte) {
	b.put(1<<1, 3) // not final, type 01
	for _, c := range data {
		b.literal(c)
	}
	b.putCode(0, 7) // end of block (256)
}

func (b *bitWriter) emptyFixedBlock() {
	b.put(1<<1, 3)
	b.putCode(0, 7)
}

// takeBytes returns the whole bytes written so far; up to 7 bits stay.
func (b *bitWriter) takeBytes() []byte {
	out := b.out
	b.out = nil
	return out
}

// Corrupt and truncated input ends in an error, never a panic or a loop.
func TestCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, rng.IntN(10))
		_, _ = w.Write(sample(rng, rng.IntN(4096)))
		_ = w.Close()
		data := b.Bytes()
		switch rng.IntN(3) {
		case 0:
			data[rng.IntN(len(data))] ^= 1 << rng.UintN(8)
		case 1:
			data = data[:rng.IntN(len(data))]
		default:
			for i := range data {
				data[i] = byte(rng.UintN(256))
			}
		}
		_, _ = io.Copy(io.Discard, NewReader(bytes.NewReader(data)))
	}
}

func FuzzInflate(f *testing.F) {
	f.Add([]byte{0x00, 0x00, 0x00, 0xff, 0xff})
	f.Add([]byte{0x4b, 0x4c, 0x4a, 0x06, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := io.ReadAll(NewReader(bytes.NewReader(data)))
		want, werr := io.ReadAll(flate.NewReader(bytes.NewReader(data)))
		if err == nil && werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("decoded %q, compress/flate %q", got, want)
		}
		if (err == nil) != (werr == nil) {
			t.Logf("errors differ: %v, compress/flate %v", err, werr)
		}
	})
}

func BenchmarkInflate(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	plain := sample(rng, 1<<20)
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	_, _ = w.Write(plain)
	_ = w.Close()
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if _, err := io.Copy(io.Discard, NewReader(bufio.NewReader(bytes.NewReader(buf.Bytes())))); err != nil {
			b.Fatal(err)
		}
	}
}
