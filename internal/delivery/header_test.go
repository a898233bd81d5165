package delivery

import (
	"strings"
	"testing"
)

// Header.Raw gives each field as received, so a header that editheader
// changed keeps the fields it did not touch byte for byte: joined, the
// fields are the section up to its blank line.
func TestHeaderRaw(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"A: 1\r\nB:  2 \r\n\tfolded\r\n\r\nbody", "A: 1\r\nB:  2 \r\n\tfolded\r\n"},
		{"A: 1\nno colon here\nB: 2\n\nbody", "A: 1\nno colon here\nB: 2\n"},
		{"A: 1\r\nB: 2", "A: 1\r\nB: 2\r\n"}, // a message that ends in its header
		{"\r\nbody", ""},
	} {
		names, fields := ParseHeader([]byte(c.in)).Raw()
		if got := strings.Join(fields, ""); got != c.want || len(names) != len(fields) {
			t.Errorf("Raw(%q) = %q (%d names), want %q", c.in, got, len(names), c.want)
		}
	}
	h := ParseHeader([]byte("Subject: a\r\n b\r\n\r\n"))
	if v := h.Get("subject"); v != "a b" {
		t.Errorf("unfolded value %q", v)
	}
}
