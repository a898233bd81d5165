package wire

import (
	"bytes"
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
