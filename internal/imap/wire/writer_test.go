package wire

import (
	"bytes"
	"runtime"
	"testing"
)

func TestWriterString(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		utf8     bool
	}{
		{"", `""`, false},
		{"plain text", `"plain text"`, false},
		{`a"b\c`, `"a\"b\\c"`, false},
		{`""\\`, `"\"\"\\\\"`, false},
		{`end\`, `"end\\"`, false},
		{"two\r\nlines", "{10}\r\ntwo\r\nlines", false},
		{"naïve", "{6}\r\nnaïve", false},
		{`naïve "x"`, `"naïve \"x\""`, true},
	} {
		var out bytes.Buffer
		w := NewWriter(&out)
		w.UTF8 = tc.utf8
		w.String(tc.in)
		if err := w.Flush(); err != nil || out.String() != tc.want {
			t.Errorf("String(%q) wrote %q, %v; want %q", tc.in, out.String(), err, tc.want)
		}
	}
}

func TestWriterNumberAndLiteral(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.Number(0)
	w.SP()
	w.Number(1<<64 - 1)
	w.SP()
	if err := w.Literal(5, bytes.NewReader([]byte("hello, world"))); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil || out.String() != "0 18446744073709551615 {5}\r\nhello" {
		t.Errorf("wrote %q, %v", out.String(), err)
	}
	w = NewWriter(&out)
	if err := w.Literal(5, bytes.NewReader([]byte("hi"))); err != ErrShortLiteral {
		t.Errorf("short source: %v", err)
	}
}

func TestWriterNumSet(t *testing.T) {
	for _, nums := range [][]uint32{nil, {5}, {1, 2, 3, 7, 9, 10}, {1, 3, 5}, {4294967294, 4294967295}, {1, 2, 4, 5, 6, 8}} {
		var out bytes.Buffer
		w := NewWriter(&out)
		w.NumSet(len(nums), func(i int) uint32 { return nums[i] })
		if err := w.Flush(); err != nil || out.String() != FormatNums(nums) {
			t.Errorf("NumSet(%v) wrote %q, %v; want %q", nums, out.String(), err, FormatNums(nums))
		}
	}
}

// countingWriter counts what it is given and keeps nothing.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// TestWriterNumSetBoundedMemory writes the ESEARCH ALL of a million
// scattered UIDs (every other one of two million: no two adjacent, 7.9
// MB of set) and checks that what it allocates does not grow with the
// set: at most the output buffer, where building the set as a string
// took it whole, and more while the string grew.
func TestWriterNumSetBoundedMemory(t *testing.T) {
	const n = 1_000_000
	dst := &countingWriter{}
	w := NewWriter(dst)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w.NumSet(n, func(i int) uint32 { return uint32(2*i + 1) })
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if dst.n < 7_000_000 {
		t.Fatalf("wrote %d octets", dst.n)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 2*BufferSize {
		t.Errorf("allocated %d octets writing %d octets of set; want at most %d", got, dst.n, 2*BufferSize)
	}
}
