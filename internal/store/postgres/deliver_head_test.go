package postgres

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadUpTo: readBody's reader stops at the limit or at EOF, whatever
// the reads return and whatever buffer it starts with.
func TestReadUpTo(t *testing.T) {
	body := strings.Repeat("0123456789", 1000) // 10,000 octets
	for _, tc := range []struct {
		name  string
		r     func() io.Reader
		start []byte
		limit int
		want  string
	}{
		{"shorter than the limit", func() io.Reader { return strings.NewReader(body) }, make([]byte, 0, 32<<10), 20000, body},
		{"cut at the limit", func() io.Reader { return strings.NewReader(body) }, make([]byte, 0, 32<<10), 4097, body[:4097]},
		{"exactly the limit", func() io.Reader { return strings.NewReader(body) }, nil, 10000, body},
		{"grows from nothing", func() io.Reader { return strings.NewReader(body) }, nil, 20000, body},
		{"one octet per read", func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) }, make([]byte, 0, 100), 20000, body},
		{"data with EOF", func() io.Reader { return iotest.DataErrReader(strings.NewReader(body)) }, nil, 20000, body},
		{"empty", func() io.Reader { return strings.NewReader("") }, nil, 20000, ""},
	} {
		got, err := readUpTo(tc.start, tc.r(), tc.limit)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %d octets, %v; want %d octets", tc.name, len(got), err, len(tc.want))
		}
	}
	broken := errors.New("connection reset")
	got, err := readUpTo(nil, io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(broken)), 100)
	if !errors.Is(err, broken) || !bytes.Equal(got, []byte("abc")) {
		t.Errorf("failing reader: got %q, %v; want \"abc\", %v", got, err, broken)
	}
}
