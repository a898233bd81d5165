package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// section reads a section's octets from raw the way FETCH does: by the
// offsets, filtering for HEADER.FIELDS.
func section(t testing.TB, s *Summary, raw string, path []int, spec string, fields ...string) (string, bool) {
	t.Helper()
	off, n, ok := s.Range(path, spec)
	if !ok {
		return "", false
	}
	if off < 0 || n < 0 || off+n > int64(len(raw)) {
		t.Fatalf("range %v %s: [%d,+%d) outside %d octets", path, spec, off, n, len(raw))
	}
	b := raw[off : off+n]
	if spec == SpecHeaderFields || spec == SpecHeaderNot {
		var out bytes.Buffer
		if _, err := FilterHeader(&out, strings.NewReader(b), fields, spec == SpecHeaderNot); err != nil {
			t.Fatal(err)
		}
		return out.String(), true
	}
	return b, true
}

func TestSections(t *testing.T) {
	s, err := Summarize(strings.NewReader(mixed))
	if err != nil {
		t.Fatal(err)
	}
	header := mixed[:strings.Index(mixed, "\r\n\r\n")+4]
	for _, tc := range []struct {
		path   []int
		spec   string
		fields []string
		want   string
	}{
		{nil, SpecNone, nil, mixed},
		{nil, SpecHeader, nil, header},
		{nil, SpecText, nil, mixed[len(header):]},
		{nil, SpecHeaderFields, []string{"subject", "TO"}, "To: bob@example.net, Carol <carol@example.com>\r\n" +
			"Subject: =?utf-8?q?caf=C3=A9?= and\r\n more\r\n\r\n"},
		{nil, SpecHeaderNot, []string{"subject", "to", "from", "date", "message-id", "in-reply-to", "mime-version"},
			"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"},
		{[]int{1}, SpecNone, nil, "line one\r\nline two"},
		{[]int{1}, SpecMIME, nil, "Content-Type: text/plain; charset=utf-8\r\n\r\n"},
		{[]int{2}, SpecNone, nil, "Subject: inner\r\nFrom: dan@example.org\r\n\r\ninner body"},
		{[]int{2}, SpecHeader, nil, "Subject: inner\r\nFrom: dan@example.org\r\n\r\n"},
		{[]int{2}, SpecHeaderFields, []string{"From"}, "From: dan@example.org\r\n\r\n"},
		{[]int{2}, SpecText, nil, "inner body"},
		{[]int{2, 1}, SpecNone, nil, "inner body"},
		{[]int{2, 1}, SpecMIME, nil, "Subject: inner\r\nFrom: dan@example.org\r\n\r\n"},
		{[]int{3}, SpecNone, nil, "AAAA"},
	} {
		got, ok := section(t, s, mixed, tc.path, tc.spec, tc.fields...)
		if !ok || got != tc.want {
			t.Errorf("BODY[%v.%s %v] = %q, %v; want %q", tc.path, tc.spec, tc.fields, got, ok, tc.want)
		}
	}
	for _, missing := range []struct {
		path []int
		spec string
	}{{[]int{4}, SpecNone}, {[]int{0}, SpecNone}, {[]int{1, 1}, SpecNone}, {[]int{1}, SpecHeader},
		{[]int{3}, SpecText}, {[]int{2, 2}, SpecNone}, {nil, SpecMIME}} {
		if got, ok := section(t, s, mixed, missing.path, missing.spec); ok {
			t.Errorf("BODY[%v.%s] = %q; want no such section", missing.path, missing.spec, got)
		}
	}
}

func TestSectionsNested(t *testing.T) {
	raw := "Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\n" +
		"Content-Type: multipart/alternative; boundary=inner\r\n\r\n" +
		"--inner\r\n\r\nplain\r\n" +
		"--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n" +
		"--inner--\r\nepilogue\r\n" +
		"--outer\r\n" +
		"Content-Type: message/rfc822\r\n\r\n" +
		"Subject: fwd\r\nContent-Type: multipart/mixed; boundary=\"in msg\"\r\n\r\n" +
		"--in msg\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--in msg\r\n\r\nsecond\r\n--in msg--\r\n" +
		"--outer--\r\n"
	s, err := Summarize(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path []int
		spec string
		want string
	}{
		{[]int{1, 1}, SpecNone, "plain"},
		{[]int{1, 2}, SpecNone, "<p>html</p>"},
		{[]int{1, 2}, SpecMIME, "Content-Type: text/html\r\n\r\n"},
		{[]int{1}, SpecNone, "--inner\r\n\r\nplain\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--inner--\r\nepilogue"},
		{[]int{2, 1}, SpecNone, "first"},
		{[]int{2, 2}, SpecNone, "second"},
		{[]int{2, 2}, SpecMIME, "\r\n"},
		{[]int{2}, SpecHeaderFields, "Subject: fwd\r\n\r\n"},
	} {
		got, ok := section(t, s, raw, tc.path, tc.spec, "subject")
		if !ok || got != tc.want {
			t.Errorf("BODY[%v.%s] = %q, %v; want %q", tc.path, tc.spec, got, ok, tc.want)
		}
	}
	alt := s.Structure.Parts[0]
	if alt.Subtype != "alternative" || len(alt.Parts) != 2 || alt.Parts[1].Subtype != "html" || alt.Parts[0].Lines != 0 {
		t.Errorf("alternative %+v", alt)
	}
	emb := s.Structure.Parts[1]
	if emb.Embedded == nil || emb.Embedded.Envelope.Subject != "fwd" || len(emb.Embedded.Structure.Parts) != 2 || emb.Lines != 10 {
		t.Errorf("embedded %+v (lines %d)", emb.Embedded, emb.Lines)
	}
}

func TestStructureEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		check     func(*Summary) string
	}{
		{"no body", "Subject: x\r\n", func(s *Summary) string {
			if p := s.Structure; p.BodyStart != 12 || p.End != 12 || p.Lines != 0 || s.Envelope.Subject != "x" {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
		{"lf only", "Subject: y\n\nhello\nworld\n", func(s *Summary) string {
			if p := s.Structure; p.BodyStart != 12 || p.Lines != 2 || s.Envelope.Subject != "y" {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
		{"empty multipart", "Content-Type: multipart/mixed; boundary=x\r\n\r\nno parts here\r\n", func(s *Summary) string {
			if p := s.Structure; len(p.Parts) != 1 || p.Parts[0].Type != "text" || p.Parts[0].Size() != 0 {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
		{"truncated multipart", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nrest", func(s *Summary) string {
			if p := s.Structure; len(p.Parts) != 1 || p.Parts[0].Size() != 4 || p.Parts[0].Lines != 0 {
				return fmt.Sprintf("%+v", p.Parts[0])
			}
			return ""
		}},
		{"digest default", "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n\r\nbody\r\n--d--\r\n", func(s *Summary) string {
			if p := s.Structure.Parts[0]; !p.isMessage() || p.Embedded == nil || p.Embedded.Envelope.Subject != "in" {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
		{"boundary with trailing space and prefix lookalike", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b \t\r\n\r\none\r\n--bb\r\n--b--\r\n", func(s *Summary) string {
			if p := s.Structure; len(p.Parts) != 1 || p.Parts[0].Size() != len64("one\r\n--bb") {
				return fmt.Sprintf("%+v", p.Parts)
			}
			return ""
		}},
		{"outer boundary closes inner parts", "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\nx\r\n--o\r\n\r\ny\r\n--o--\r\n", func(s *Summary) string {
			if p := s.Structure; len(p.Parts) != 2 || len(p.Parts[0].Parts) != 1 || p.Parts[0].Parts[0].Size() != 1 || p.Parts[1].Size() != 1 {
				return fmt.Sprintf("%+v", p.Parts)
			}
			return ""
		}},
		{"params", "Content-Type: Text/HTML (c); Charset=\"UTF-8\"; name*0*=utf-8''a%20b; junk; Charset=x\r\n" +
			"Content-Disposition: attachment; filename=\"a \\\"q\\\".txt\"\r\nContent-Language: en, de (x)\r\n" +
			"Content-Transfer-Encoding: QUOTED-PRINTABLE\r\nContent-MD5: abc\r\n\r\n", func(s *Summary) string {
			p := s.Structure
			if p.Type != "text" || p.Subtype != "html" || !reflect.DeepEqual(p.Params, []string{"charset", "UTF-8", "name*0*", "utf-8''a%20b"}) ||
				p.Disposition != "attachment" || paramValue(p.DispParams, "filename") != `a "q".txt` ||
				!reflect.DeepEqual(p.Language, []string{"en", "de"}) || p.Encoding != "quoted-printable" || p.MD5 != "abc" {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
		{"long lines", "Subject: " + strings.Repeat("s", 100000) + "\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\n" +
			strings.Repeat("x", 3*readSize) + "\r\n--z\r\n\r\nshort\r\n--z--\r\n", func(s *Summary) string {
			if len(s.Envelope.Subject) != maxField-1 || len(s.Structure.Parts) != 2 || s.Structure.Parts[0].Size() != 3*readSize {
				return fmt.Sprintf("%d %+v", len(s.Envelope.Subject), s.Structure.Parts)
			}
			return ""
		}},
		{"multipart without boundary", "Content-Type: multipart/mixed\r\n\r\n--x\r\n", func(s *Summary) string {
			if p := s.Structure; p.Type != "application" || len(p.Parts) != 0 {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
	} {
		s, err := Summarize(strings.NewReader(tc.raw))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if msg := tc.check(s); msg != "" {
			t.Errorf("%s: %s", tc.name, msg)
		}
		checkOffsets(t, s, int64(len(tc.raw)))
	}
}

func len64(s string) int64 { return int64(len(s)) }

// checkOffsets verifies the invariants FETCH relies on: every range lies
// in the message, children lie in their parent's body, in order.
func checkOffsets(t testing.TB, s *Summary, size int64) {
	t.Helper()
	var walk func(p *Part, lo, hi int64)
	walk = func(p *Part, lo, hi int64) {
		if !(lo <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.End && p.End <= hi) {
			t.Fatalf("part %s/%s offsets %d %d %d outside [%d,%d]", p.Type, p.Subtype, p.HeaderStart, p.BodyStart, p.End, lo, hi)
		}
		if p.Lines < 0 || p.Lines > p.Size()+1 {
			t.Fatalf("part lines %d for %d octets", p.Lines, p.Size())
		}
		last := p.BodyStart
		for _, c := range p.Parts {
			walk(c, last, p.End)
			last = c.End
		}
		if p.Embedded != nil {
			if p.Embedded.Envelope == nil || p.Embedded.Structure.HeaderStart != p.BodyStart || p.Embedded.Structure.End != p.End {
				t.Fatalf("embedded message at %d-%d in part %d-%d", p.Embedded.Structure.HeaderStart, p.Embedded.Structure.End, p.BodyStart, p.End)
			}
			walk(p.Embedded.Structure, p.BodyStart, p.End)
		}
	}
	if s.Structure.HeaderStart != 0 || s.Structure.End != size || s.Envelope == nil {
		t.Fatalf("root %d-%d, message of %d octets", s.Structure.HeaderStart, s.Structure.End, size)
	}
	walk(s.Structure, 0, size)
}

func TestReadPiecewise(t *testing.T) {
	want, err := Summarize(strings.NewReader(mixed))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Summarize(iotest.OneByteReader(strings.NewReader(mixed)))
	if err != nil || !bytes.Equal(got.Marshal(), want.Marshal()) {
		t.Errorf("one byte at a time: %v\n%s\n%s", err, got.Marshal(), want.Marshal())
	}
	if _, err := Summarize(iotest.TimeoutReader(strings.NewReader(mixed))); err == nil {
		t.Errorf("a read error was not reported")
	}
}

func TestStaleCache(t *testing.T) {
	old := `{"e":{"s":"x"},"s":{"t":"text","s":"plain","z":3}}` // version 1: no offsets
	if _, err := UnmarshalSummary([]byte(old)); err != ErrStaleSummary {
		t.Errorf("old cache: %v, want ErrStaleSummary", err)
	}
}

// nestedMessage builds a message nested depth levels deep, alternating
// multiparts and embedded messages, with a little text at each level.
func nestedMessage(depth int) string {
	var b strings.Builder
	for i := range depth {
		if i%2 == 0 {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		} else {
			b.WriteString("Content-Type: message/rfc822\r\n\r\nSubject: level\r\n")
		}
	}
	b.WriteString("\r\ninnermost\r\n")
	for i := depth - 1; i >= 0; i-- {
		if i%2 == 0 {
			fmt.Fprintf(&b, "--b%d--\r\n", i)
		}
	}
	return b.String()
}

// TestDeepNestingLinear asserts by operation count (not by time) that
// parsing grows linearly with the size of a deeply nested message.
func TestDeepNestingLinear(t *testing.T) {
	cost := func(depth int) (ops, size int64) {
		raw := nestedMessage(depth)
		s, ops, err := parse(strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		checkOffsets(t, s, int64(len(raw)))
		return ops, int64(len(raw))
	}
	ops1, size1 := cost(1000)
	ops2, size2 := cost(10000)
	// Per octet, the deep message costs no more than the shallow one
	// (with slack for constant overheads).
	if float64(ops2)/float64(size2) > 1.2*float64(ops1)/float64(size1) {
		t.Errorf("10,000 deep: %d ops for %d octets; 1,000 deep: %d ops for %d octets: not linear", ops2, size2, ops1, size1)
	}
	if ops2 > size2 {
		t.Errorf("%d ops for %d octets", ops2, size2)
	}
}

func TestPartsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=p\r\n\r\n")
	for range maxParts + 50 {
		b.WriteString("--p\r\n\r\nx\r\n")
	}
	b.WriteString("--p--\r\n")
	s, err := Summarize(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Structure.Parts); n != maxParts {
		t.Errorf("%d parts described, want the bound %d", n, maxParts)
	}
	checkOffsets(t, s, int64(b.Len()))
}

func TestEnvelopeGroups(t *testing.T) {
	s, err := Summarize(strings.NewReader("To: A Group:Ed Jones <c@a.test>,joe@where.test;, Mary <mary@x.test>\r\n" +
		"Cc: Undisclosed recipients:;\r\nBcc: <user (comment)@ (comment) domain.org>\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	mb := func(name, mailbox, host string) ListedAddress {
		return ListedAddress{Kind: AddressMailbox, Address: Address{name, mailbox, host}}
	}
	start := func(name string) ListedAddress {
		return ListedAddress{Kind: AddressGroupStart, Address: Address{Name: name}}
	}
	end := ListedAddress{Kind: AddressGroupEnd}
	e := s.Envelope
	for _, c := range []struct {
		got, want []ListedAddress
	}{
		{e.To, []ListedAddress{start("A Group"), mb("Ed Jones", "c", "a.test"), mb("", "joe", "where.test"), end, mb("Mary", "mary", "x.test")}},
		{e.Cc, []ListedAddress{start("Undisclosed recipients"), end}},
		{e.Bcc, []ListedAddress{mb("", "user", "domain.org")}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("got %+v\nwant %+v", c.got, c.want)
		}
	}
	back, err := UnmarshalSummary(s.Marshal())
	if err != nil || !reflect.DeepEqual(back.Envelope, e) {
		t.Errorf("cache round trip: %v %+v", err, back)
	}
}

func TestDecoders(t *testing.T) {
	for _, tc := range []struct{ enc, in, want string }{
		{"base64", "aGVsbG8g\r\nd29ybGQ=\r\n", "hello world"},
		{"BASE64", "aGV sbG8*!", "hello"},
		{"base64", "aGk", "hi"},
		{"base64", "aGk=aGk=", "hihi"},
		{"quoted-printable", "a=3Db =\r\nc  \r\nd=\r\n", "a=b c\r\nd"},
		{"quoted-printable", "x=ZZ y=3 =3d=\r", "x=ZZ y=3 ="},
		{"quoted-printable", "tab\t=\r\nend \t", "tab\tend"},
		{"quoted-printable", "soft = \r\nbreak", "soft break"},
		{"7bit", "as is\r\n", "as is\r\n"},
		{"binary", "\x00\xff", "\x00\xff"},
	} {
		for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
			dec, ok := NewDecoder(tc.enc, r)
			if !ok {
				t.Fatalf("%s unknown", tc.enc)
			}
			got, err := io.ReadAll(dec)
			if err != nil || string(got) != tc.want {
				t.Errorf("%s %q = %q, %v; want %q", tc.enc, tc.in, got, err, tc.want)
			}
		}
	}
	if _, ok := NewDecoder("x-uuencode", strings.NewReader("")); ok {
		t.Errorf("x-uuencode accepted")
	}
}

// FuzzSummarize: any input parses without panicking, into offsets that
// stay inside the message, and the cache round-trips.
func FuzzSummarize(f *testing.F) {
	for _, seed := range []string{mixed, nestedMessage(40), "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--a--",
		"Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/digest; boundary=\"q\"\r\n\r\n--q\r\n\r\n\r\n--q--\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := Summarize(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		checkOffsets(t, s, int64(len(raw)))
		back, err := UnmarshalSummary(s.Marshal())
		if err != nil || !bytes.Equal(back.Marshal(), s.Marshal()) {
			t.Fatalf("cache round trip: %v", err)
		}
		for _, spec := range []string{SpecNone, SpecHeader, SpecText, SpecMIME} {
			for _, path := range [][]int{nil, {1}, {1, 1}, {2, 1, 1}} {
				section(t, s, string(raw), path, spec)
			}
		}
		for _, enc := range []string{"base64", "quoted-printable"} {
			dec, _ := NewDecoder(enc, bytes.NewReader(raw))
			if _, err := io.Copy(io.Discard, dec); err != nil {
				t.Fatal(err)
			}
		}
		ParseAddressList(string(raw))
	})
}

func BenchmarkSummarize(b *testing.B) {
	raw := []byte(mixed + strings.Repeat("filler line of an ordinary length for mail text\r\n", 200))
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Summarize(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalSummary(b *testing.B) {
	s, _ := Summarize(strings.NewReader(mixed))
	m := s.Marshal()
	for b.Loop() {
		if _, err := UnmarshalSummary(m); err != nil {
			b.Fatal(err)
		}
	}
}

func TestUnmarshalEnvelope(t *testing.T) {
	s, err := Summarize(strings.NewReader(mixed))
	if err != nil {
		t.Fatal(err)
	}
	e, end, err := UnmarshalEnvelope(s.Marshal())
	if err != nil || !reflect.DeepEqual(e, s.Envelope) {
		t.Errorf("envelope %+v, %v", e, err)
	}
	if end != s.Structure.End || end != int64(len(mixed)) {
		t.Errorf("end %d, want %d (the message's size)", end, len(mixed))
	}
	if _, _, err := UnmarshalEnvelope([]byte("{}")); err == nil {
		t.Errorf("accepted an old cache")
	}
	// Cut short, an entry either fails or still gives the right answer
	// (the cut is past the root part's End).
	m := s.Marshal()
	for n := range len(m) - 1 {
		e, end, err := UnmarshalEnvelope(m[:n])
		if err == nil && (end != s.Structure.End || !reflect.DeepEqual(e, s.Envelope)) {
			t.Errorf("a cache cut at %d of %d octets gives end %d, %+v", n, len(m), end, e)
			break
		}
	}
}

// TestCachedWire: the rendered envelope a summary carries (Summary.Wire)
// comes back from the cache entry byte for byte, read without decoding
// the rest, and whole summaries keep it; an entry cut short fails or
// gives the right answer.
func TestCachedWire(t *testing.T) {
	s, err := Summarize(strings.NewReader(mixed))
	if err != nil {
		t.Fatal(err)
	}
	s.Wire = [2][]byte{[]byte(`("date" "subject" NIL)`), []byte(`("date" "sübject" NIL)`)}
	m := s.Marshal()
	w, end, err := CachedWire(m)
	if err != nil || string(w[0]) != string(s.Wire[0]) || string(w[1]) != string(s.Wire[1]) || end != int64(len(mixed)) {
		t.Errorf("CachedWire: %q, %d, %v", w, end, err)
	}
	back, err := UnmarshalSummary(m)
	if err != nil || string(back.Wire[0]) != string(s.Wire[0]) || string(back.Wire[1]) != string(s.Wire[1]) {
		t.Errorf("UnmarshalSummary: %v, wire %q", err, back.Wire)
	}
	if e, _, err := UnmarshalEnvelope(m); err != nil || !reflect.DeepEqual(e, s.Envelope) {
		t.Errorf("UnmarshalEnvelope after the wire: %+v, %v", e, err)
	}
	one := *s
	one.Wire[1] = nil // the same for both kinds of client
	if w, _, err := CachedWire(one.Marshal()); err != nil || w[1] != nil || string(w[0]) != string(s.Wire[0]) {
		t.Errorf("one rendering: %q, %v", w, err)
	}
	for n := range len(m) - 1 {
		w, end, err := CachedWire(m[:n])
		if err == nil && (end != s.Structure.End || string(w[0]) != string(s.Wire[0]) || string(w[1]) != string(s.Wire[1])) {
			t.Errorf("a cache cut at %d of %d octets gives %q, %d", n, len(m), w, end)
			break
		}
	}
	old := append([]byte{cacheMagic, summaryVersion - 1}, m[2:]...)
	if _, _, err := CachedWire(old); !errors.Is(err, ErrStaleSummary) {
		t.Errorf("an entry of version %d: %v, want ErrStaleSummary", summaryVersion-1, err)
	}
}
