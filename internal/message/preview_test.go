package message

import (
	"strings"
	"testing"
)

func TestPreview(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{mixed, "line one line two"},
		{"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9  au\r\n\r\nlait\r\n", "café au lait"},
		{"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>you</b></p>\r\n--b--\r\n", "Hello you"},
		{"Content-Type: image/png\r\n\r\nxxxx\r\n", ""},
		{"Subject: long\r\n\r\n" + strings.Repeat("é", 300) + "\r\n", strings.Repeat("é", PreviewLimit)},
	} {
		s, err := Summarize(strings.NewReader(tc.raw))
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if p := s.PreviewPart(); p != nil {
			if got, err = Preview(p, strings.NewReader(tc.raw[p.BodyStart:p.End])); err != nil {
				t.Fatal(err)
			}
		}
		if got != tc.want {
			t.Errorf("preview %q, want %q", got, tc.want)
		}
	}
}
