package message

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// bufSizes are the read buffer sizes every case runs with: the pooled
// one, and small ones that cut long lines into pieces at many places.
var bufSizes = []int{0, 512, 513, 1021}

// matchAll runs the queries over msg with every buffer size and fails
// if the answers differ.
func matchAll(t testing.TB, msg string, qs []MatchQuery) MatchResult {
	t.Helper()
	var first MatchResult
	for i, size := range bufSizes {
		m := NewMatcher(qs, true)
		m.bufSize = size
		res, err := m.Match(strings.NewReader(msg))
		if err != nil {
			t.Fatalf("Match: %v", err)
		}
		if i == 0 {
			first = res
			continue
		}
		if !slices.Equal(res.Found, first.Found) || !res.Date.Equal(first.Date) {
			t.Fatalf("buffer %d: %v %v; pooled buffer: %v %v", size, res.Found, res.Date, first.Found, first.Date)
		}
	}
	return first
}

func body(v string) MatchQuery       { return MatchQuery{Kind: MatchBody, Value: v} }
func text(v string) MatchQuery       { return MatchQuery{Kind: MatchText, Value: v} }
func header(f, v string) MatchQuery  { return MatchQuery{Kind: MatchHeader, Field: f, Value: v} }
func address(f, v string) MatchQuery { return MatchQuery{Kind: MatchAddress, Field: f, Value: v} }
func crlf(s string) string           { return strings.ReplaceAll(s, "\n", "\r\n") }
func b64lines(s string, n int) string { // base64 of s in lines of n characters
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(enc) > n {
		b.WriteString(enc[:n] + "\n")
		enc = enc[n:]
	}
	return b.String() + enc + "\n"
}

const nested = `From: "Ann Example" <ann@example.org>
To: bob@example.net, Carol <carol@example.com>
Subject: =?utf-8?q?caf=C3=A9?= and
 more
Date: Mon, 6 May 2024 07:08:09 +0200
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

preamble words
--b1
Content-Type: multipart/alternative; boundary=b2

--b2
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe aus K=C3=B6ln, a long soft=
 broken line
--b2
Content-Type: text/html; charset=iso-8859-1

<p>Gr=FC&szlig;e ` + "\xe0 la cr\xe8me" + `</p>
--b2--
alternative epilogue
--b1
Content-Type: message/rfc822
Content-Disposition: attachment; filename=inner.eml

Subject: inner subject
From: dan@example.org

inner body text
--b1
Content-Type: application/pdf; name=secret.pdf
Content-Transfer-Encoding: base64

` + "U0VDUkVUIFBERiBTVFVGRg==" + `
--b1
Content-Type: text/plain; charset=windows-1251
Content-Transfer-Encoding: base64

` + "z/Do4uXyIOjnINLz6/s=" + `
--b1--
outer epilogue
`

func TestMatchTable(t *testing.T) {
	cp1251 := "\xcf\xf0\xe8\xe2\xe5\xf2 \xec\xe8\xf0" // "Привет мир" in windows-1251
	sjis := "\x93\xfa\x96\x7b\x8c\xea"                // "日本語" in Shift_JIS
	tests := []struct {
		name string
		msg  string
		q    MatchQuery
		want bool
	}{
		{"body ascii case", "Subject: x\n\nHello World\n", body("hello WORLD"), true},
		{"body absent", "Subject: x\n\nHello World\n", body("planet"), false},
		{"body not header", "Subject: findme\n\nbody\n", body("findme"), false},
		{"text header", "Subject: findme\n\nbody\n", text("subject: FINDME"), true},
		{"text body", "Subject: x\n\nthe body\n", text("BODY"), true},
		{"body empty needle", "Subject: x\n\n", body(""), true},
		{"body across lines", "Subject: x\n\nend of\nline\n", body("of\r\nline"), true},
		{"no header at all", "\nonly a body\n", body("only"), true},
		{"unfolded value", "Subject: a\n b\n\n", header("subject", "a b"), true},
		{"header wrong field", "Subject: abc\nX-Other: def\n\n", header("Subject", "def"), false},
		{"header empty present", "X-Spam: \n\n", header("x-spam", ""), true},
		{"header empty absent", "Subject: x\n\n", header("x-spam", ""), false},
		{"header 2047 q", "Subject: =?utf-8?q?caf=C3=A9?=\n\n", header("Subject", "CAFÉ"), true},
		{"header 2047 b latin1", "Subject: =?ISO-8859-1?B?Y2Fm6Q==?=\n\n", header("Subject", "café"), true},
		{"header 2047 adjacent", "Subject: =?utf-8?q?a?= =?utf-8?q?b?=\n\n", header("Subject", "ab"), true},
		{"header 2047 koi8", "Subject: =?koi8-r?b?8NLJ18XU?=\n\n", header("Subject", "ПРИВЕТ"), true},
		{"header utf8 raw", "Subject: Grüße\n\n", header("Subject", "GRÜSSE"), false},
		{"header utf8 raw fold", "Subject: Grüße\n\n", header("Subject", "GRÜßE"), true},
		{"header multiple fields", "X-A: one\nX-A: two\n\n", header("X-A", "two"), true},
		{"header body not searched", "Subject: x\n\nX-A: y\n", header("X-A", ""), false},
		{"kelvin sign", "Subject: x\n\n\u212Aelvin\n", body("kelvin"), true},
		{"long s", "Subject: x\n\nmi\u017Fs\n", body("MISS"), true},
		{"greek sigma", "Subject: x\n\nΣΊΣΥΦΟΣ\n", body("σίσυφος"), true},
		{"final sigma", "Subject: x\n\nσίσυφος\n", body("ΣΊΣΥΦΟς"), true},
		{"ascii needle in cjk", "Subject: x\n\n日本語のテキスト abc 漢字\n", body("ABC"), true},
		{"ascii needle absent in cjk", "Subject: x\n\n日本語のテキスト ab 漢字\n", body("abc"), false},
		{"cjk needle", "Subject: x\n\n日本語のテキスト abc 漢字\n", body("テキスト abc"), true},
		{"long s after cjk", "Subject: x\n\n日本\u017Fun\n", body("sun"), true},
		{"qp soft break", "Content-Transfer-Encoding: quoted-printable\n\nhel=\nlo\n", body("hello"), true},
		{"qp soft break padded", "Content-Transfer-Encoding: quoted-printable\n\nhel=  \nlo\n", body("hello"), true},
		{"qp escapes", "Content-Transfer-Encoding: quoted-printable\nContent-Type: text/plain; charset=utf-8\n\ncaf=C3=A9\n", body("CAFÉ"), true},
		{"qp not raw", "Content-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9\n", body("=C3"), false},
		{"qp bad escape literal", "Content-Transfer-Encoding: quoted-printable\n\na=ZZb =4\n", body("a=ZZb =4"), true},
		{"base64", "Content-Transfer-Encoding: base64\n\n" + b64lines("the quick brown fox", 8), body("QUICK BROWN"), true},
		{"base64 not raw", "Content-Transfer-Encoding: base64\n\n" + b64lines("the quick brown fox", 8), body("dGhl"), false},
		{"latin1", "Content-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9\n", body("CAFÉ"), true},
		{"cp1251", "Content-Type: text/plain; charset=windows-1251\n\n" + cp1251 + "\n", body("привет МИР"), true},
		{"shift_jis", "Content-Type: text/plain; charset=shift_jis\n\n" + sjis + "\n", body("日本語"), true},
		{"invalid utf8 no false match", "Content-Type: text/plain; charset=utf-8\n\ncaf\xe9\n", body("café"), false},
		{"unknown charset as utf8", "Content-Type: text/plain; charset=x-nonesuch\n\ncafé\n", body("café"), true},
		{"charset quoted param", "Content-Type: text/plain; charset=\"ISO-8859-1\"\n\ncaf\xe9\n", body("café"), true},
		{"bad content-type params", "Content-Type: text/plain; charset=iso-8859-1; foo\n\ncaf\xe9\n", body("café"), true},
		{"attachment skipped", "Content-Type: application/octet-stream\n\nsecret\n", body("secret"), false},
		{"attachment header in text", "Content-Type: application/octet-stream\n\nsecret\n", text("octet-stream"), true},

		{"nested qp utf8", nested, body("GRÜßE AUS KÖLN"), true},
		{"nested soft break", nested, body("soft broken line"), true},
		{"nested latin1 html", nested, body("À LA CRÈME"), true},
		{"nested preamble skipped", nested, body("preamble"), false},
		{"nested epilogue skipped", nested, body("epilogue"), false},
		{"nested boundary skipped", nested, text("--b2"), false},
		{"nested pdf skipped", nested, body("secret pdf"), false},
		{"nested embedded body", nested, body("inner body text"), true},
		{"nested embedded header not body", nested, body("inner subject"), false},
		{"nested embedded header text", nested, text("inner subject"), true},
		{"nested part header text", nested, text("filename=inner.eml"), true},
		{"nested part header not body", nested, body("filename=inner.eml"), false},
		{"nested base64 cp1251", nested, body("ПРИВЕТ ИЗ тулы"), true},
		{"nested base64 cp1251 raw", nested, body("z/Do4uXy"), false},
		{"nested subject", nested, header("subject", "café and more"), true},
		{"nested from name", nested, address("From", "ann example"), true},
		{"nested from addr", nested, address("from", "ANN@example.org"), true},
		{"nested from name quoted", nested, address("From", `"Ann example" <ann@`), true},
		{"nested to second", nested, address("To", "carol <carol@"), true},
		{"nested cc absent", nested, address("Cc", ""), false},
		{"nested embedded from not top", nested, address("From", "dan@"), false},

		{"address comments", "From: <user (comment)@ (comment) domain.org>\n\n", address("From", "user@domain.org"), true},
		{"address comment text ignored", "From: <user (comment)@ (comment) domain.org>\n\n", address("From", "comment"), false},
		{"address named comments", "From: Joe (x) <user (c)@ (c) domain.org>\n\n", address("From", "joe <user@domain.org>"), true},
		{"address comment as name", "From: ann@example.org (Ann Example)\n\n", address("From", "ann example"), true},
		{"address group", "To: friends: a@x.org, b@y.org;\n\n", address("To", "b@y.org"), true},
		{"address group name", "To: friends: a@x.org, b@y.org;\n\n", address("To", "friends:"), true},
		{"address 2047 name", "From: =?utf-8?q?J=C3=B6rg?= <j@x.org>\n\n", address("From", "jörg"), true},
		{"address route", "From: <@relay.org,@r2.org:user@domain.org>\n\n", address("From", "user@domain.org"), true},
		{"address garbage", "From: ???\n\n", address("From", "???"), true},
		{"address folded", "To: a@x.org,\n  b@y.org\n\n", address("To", "b@y.org"), true},

		{"no match across parts", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst end\n--b\n\nsecond\n--b--\n", body("end\r\nsecond"), false},
		{"no match across fields", "X-A: ab\nX-B: cd\n\n", text("abcd"), false},
		{"crlf before boundary not text", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nlast\n--b--\n", body("last\r\n"), false},
		{"crlf between lines is text", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nlast\nline\n--b--\n", body("last\r\n"), true},
		{"boundary with padding", "Content-Type: multipart/mixed; boundary=b\n\n--b  \n\nin\n--b--\t\nout\n", body("out"), false},
		{"boundary prefix only", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\n--bc\nstill in\n--b--\n", body("still in"), true},
		{"unclosed multipart", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\ntail text", body("tail text"), true},
		{"nested reuses boundary", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\ninner\n--b--\nafter inner close\n--b--\n", body("after inner close"), false},
		{"nested reuses boundary inner", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\ninner\n--b--\nafter inner close\n--b--\n", body("inner"), true},
		{"innermost of b and b--", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=b--\n\n--b--\n\ninner text\n--b----\nepi\n--b--\n", body("inner text"), true},
		{"innermost of b and b-- epilogue", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=b--\n\n--b--\n\ninner text\n--b----\nepi\n--b--\n", body("epi"), false},
		{"outer boundary ends inner", "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\ninner\n--o\n\nnext part\n--o--\n", body("next part"), true},
		{"multipart without boundary skipped", "Content-Type: multipart/mixed\n\nplain words\n", body("plain words"), false},
		{"digest default rfc822", "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: dig\n\ndigest body\n--d--\n", body("subject: dig"), false},
		{"digest body", "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: dig\n\ndigest body\n--d--\n", body("digest body"), true},
		{"rfc822 base64 skipped", "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + b64lines("Subject: s\r\n\r\nhidden", 76), body("hidden"), false},
		{"long line", "Subject: x\n\n" + strings.Repeat("a", 5000) + "needle" + strings.Repeat("b", 5000) + "\n", body("aneedleb"), true},
		{"long header field", "Subject: " + strings.Repeat("a", 5000) + "needle\n\n", header("Subject", "aneedle"), true},
		{"cr in line", "Subject: x\n\na\rb\n", body("a\rb"), true},
		{"bare lf message", "Subject: x\n\nfirst\nsecond\n", body("first"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := crlf(tt.msg)
			if tt.name == "bare lf message" {
				msg = tt.msg
			}
			res := matchAll(t, msg, []MatchQuery{tt.q})
			if res.Found[0] != tt.want {
				t.Errorf("%+v: got %v, want %v", tt.q, res.Found[0], tt.want)
			}
		})
	}
}

func TestMatchManyQueriesOnePass(t *testing.T) {
	qs := []MatchQuery{
		body("grüße"), body("nowhere"), text("inner subject"), header("Subject", "café"),
		address("To", "bob@example.net"), address("From", "bob"), body(""), header("X-None", ""),
	}
	res := matchAll(t, crlf(nested), qs)
	want := []bool{true, false, true, true, true, false, true, false}
	if !slices.Equal(res.Found, want) {
		t.Fatalf("got %v, want %v", res.Found, want)
	}
	wantDate := time.Date(2024, 5, 6, 5, 8, 9, 0, time.UTC)
	if !res.Date.Equal(wantDate) {
		t.Fatalf("date %v, want %v", res.Date, wantDate)
	}
}

func TestMatchReuse(t *testing.T) {
	m := NewMatcher([]MatchQuery{body("needle")}, false)
	for i, msg := range []string{"S: x\r\n\r\nneedle\r\n", "S: x\r\n\r\nhay\r\n", "S: x\r\n\r\nneedle\r\n"} {
		res, err := m.Match(strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if res.Found[0] != (i != 1) {
			t.Fatalf("message %d: %v", i, res.Found[0])
		}
	}
}

// countingReader counts what Match reads.
type countingReader struct {
	r *strings.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestMatchStopsEarly(t *testing.T) {
	msg := "Subject: hello\r\n\r\n" + strings.Repeat("x", 1<<20) + "\r\n"
	for _, tc := range []struct {
		q    MatchQuery
		date bool
	}{
		{header("Subject", "hello"), false},
		{header("Subject", "nothing"), false}, // the header settles it
		{header("Subject", "hello"), true},
		{text("hello"), false},
	} {
		cr := &countingReader{r: strings.NewReader(msg)}
		if _, err := NewMatcher([]MatchQuery{tc.q}, tc.date).Match(cr); err != nil {
			t.Fatal(err)
		}
		if cr.n >= len(msg) {
			t.Errorf("%+v: read the whole message (%d octets)", tc.q, cr.n)
		}
	}
}

// deepMultipart nests n multiparts, each with one text line.
func deepMultipart(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeepest text\r\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.String()
}

// deepRFC822 nests n messages in message/rfc822 parts.
func deepRFC822(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n", i)
	}
	b.WriteString("Subject: last\r\n\r\ndeepest text\r\n")
	return b.String()
}

// TestMatchDeepNesting: a message nested 20,000 deep is searched in one
// linear pass (the old search took 88 s for it); the bound below is two
// orders of magnitude above what a linear pass needs, even under -race.
func TestMatchDeepNesting(t *testing.T) {
	for name, tc := range map[string]struct{ msg, deepText string }{
		"multipart": {deepMultipart(20000), "boundary=b19999"},
		"rfc822":    {deepRFC822(20000), "level 19999"},
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			msg := tc.msg
			res, err := NewMatcher([]MatchQuery{body("deepest TEXT"), text(tc.deepText), body("absent")}, false).Match(strings.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Found[0] || !res.Found[1] || res.Found[2] {
				t.Fatalf("found %v", res.Found)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("%d octets took %v", len(msg), d)
			}
		})
	}
}

// reference is an obviously correct model for a message without MIME
// fields: BODY looks for the folded needle in the folded body text.
func referenceBody(msg, needle string) (bool, bool) {
	head, rest, ok := strings.Cut(msg, "\r\n\r\n")
	if !ok || strings.Contains(strings.ToLower(head), "content-") || !utf8.ValidString(rest) {
		return false, false
	}
	if strings.HasPrefix(msg, "\r\n") {
		return false, false
	}
	return strings.Contains(string(foldRunes(rest)), string(foldRunes(needle))), true
}

func foldRunes(s string) []rune { return foldString(s) }

func FuzzMatch(f *testing.F) {
	for _, s := range []string{crlf(nested), deepMultipart(3), deepRFC822(3), "Subject: x\r\n\r\nhello\r\n",
		crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--b--\n")} {
		f.Add([]byte(s), "hello", uint16(0))
	}
	f.Fuzz(func(t *testing.T, msg []byte, needle string, size uint16) {
		if !utf8.ValidString(needle) {
			return
		}
		qs := []MatchQuery{body(needle), text(needle), header("Subject", needle), address("From", needle)}
		m := NewMatcher(qs, true)
		want, err := m.Match(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		m.bufSize = 512 + int(size%2048)
		got, err := m.Match(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Found, want.Found) {
			t.Fatalf("buffer %d: %v; pooled: %v", m.bufSize, got.Found, want.Found)
		}
		if ref, ok := referenceBody(string(msg), needle); ok && ref != want.Found[0] {
			t.Fatalf("BODY %q: %v, reference %v", needle, want.Found[0], ref)
		}
		if want.Found[0] && !want.Found[1] {
			t.Fatalf("BODY matched but TEXT did not")
		}
	})
}
