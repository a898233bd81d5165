// Package mailgen generates varied test messages for the search tests:
// non-ASCII text, RFC 2047 encoded words, base64 and quoted-printable
// parts in several charsets, multiparts, embedded messages and binary
// attachments. Each message comes with the plain texts it was built
// from, so a test can pick search strings that are in it, cut across
// its parts, or are in its attachments only.
package mailgen

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"strings"

	"golang.org/x/text/encoding/charmap"
)

// Words the texts are made of: ASCII, Latin with diacritics, Greek,
// Cyrillic, CJK, runes whose case folding is special (Kelvin sign, long
// s, dotted I, sharp s) and digits.
var words = strings.Fields(`the invoice report meeting server mailbox
Grüße Köln café naïve Straße façade smörgåsbord ÆØÅ
Ωμέγα ΣΊΣΥΦΟΣ σοφία Привет МИР ёлка Ёжик съезд
東京 会議 メール 資料 한국어 안녕하세요
KELVIN ſtraße İstanbul ıi ǅemal ﬁnance
2026 404 3.14 x-ray e-mail foo_bar`)

// Message is one generated message.
type Message struct {
	Raw []byte // CRLF line endings
	// Texts are the decoded strings that occur in the searched text of
	// the message (header values and text parts), Hidden those that
	// occur only where BODY and TEXT do not look (attachments of other
	// media types).
	Texts  []string
	Hidden []string
}

// Generate returns message number i of the sequence rng gives.
func Generate(rng *rand.Rand, i int) Message {
	g := &gen{rng: rng}
	var b strings.Builder
	subject := g.sentence(2, 6)
	g.texts = append(g.texts, subject)
	from := g.sentence(1, 2)
	g.texts = append(g.texts, from)
	fmt.Fprintf(&b, "From: %s <sender%d@example.test>\n", g.header(from), i%13)
	fmt.Fprintf(&b, "To: rcpt@example.test\n")
	fmt.Fprintf(&b, "Subject: %s\n", g.header(subject))
	fmt.Fprintf(&b, "Date: Mon, 6 May 2024 07:%02d:09 +0200\n", i%60)
	fmt.Fprintf(&b, "Message-ID: <%d@example.test>\n", i)
	b.WriteString("MIME-Version: 1.0\n")
	g.part(&b, 0)
	raw := strings.ReplaceAll(b.String(), "\n", "\r\n")
	return Message{Raw: []byte(raw), Texts: g.texts, Hidden: g.hidden}
}

type gen struct {
	rng    *rand.Rand
	texts  []string
	hidden []string
	n      int // boundaries made
}

func (g *gen) word() string {
	return words[g.rng.IntN(len(words))]
}

func (g *gen) sentence(lo, hi int) string {
	n := lo + g.rng.IntN(hi-lo+1)
	ws := make([]string, n)
	for i := range ws {
		w := g.word()
		switch g.rng.IntN(5) {
		case 0:
			w = strings.ToUpper(w)
		case 1:
			w = strings.ToLower(w)
		}
		ws[i] = w
	}
	sep := " "
	if g.rng.IntN(6) == 0 {
		sep = ", "
	}
	return strings.Join(ws, sep)
}

// header writes a header value: as it is when ASCII, else as encoded
// words (B or Q, UTF-8 or ISO-8859-1 when it fits), sometimes raw UTF-8
// (RFC 6532).
func (g *gen) header(v string) string {
	if isASCII(v) || g.rng.IntN(4) == 0 {
		return v
	}
	if g.rng.IntN(3) == 0 {
		if l1, err := charmap.ISO8859_1.NewEncoder().String(v); err == nil {
			return mime.QEncoding.Encode("iso-8859-1", l1)
		}
	}
	if g.rng.IntN(2) == 0 {
		return mime.BEncoding.Encode("utf-8", v)
	}
	return mime.QEncoding.Encode("utf-8", v)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// part writes a Content-Type header, the blank line and a body.
func (g *gen) part(b *strings.Builder, depth int) {
	kind := g.rng.IntN(10)
	if depth >= 2 && kind >= 6 {
		kind = g.rng.IntN(6)
	}
	switch {
	case kind < 4:
		g.textPart(b)
	case kind < 5:
		g.attachment(b)
	case kind < 6 && depth > 0:
		g.embedded(b, depth)
	default:
		g.n++
		boundary := fmt.Sprintf("b%d-%d", depth, g.n)
		sub := []string{"mixed", "alternative", "related"}[g.rng.IntN(3)]
		fmt.Fprintf(b, "Content-Type: multipart/%s; boundary=%q\n\n", sub, boundary)
		b.WriteString("This is a multi-part message in MIME format.\n")
		for range 1 + g.rng.IntN(3) {
			fmt.Fprintf(b, "--%s\n", boundary)
			g.part(b, depth+1)
		}
		fmt.Fprintf(b, "--%s--\n", boundary)
	}
}

func (g *gen) textPart(b *strings.Builder) {
	var lines []string
	for range 1 + g.rng.IntN(8) {
		s := g.sentence(1, 12)
		g.texts = append(g.texts, s)
		lines = append(lines, s)
	}
	text := strings.Join(lines, "\n")
	charset := "utf-8"
	data := []byte(text)
	if g.rng.IntN(3) == 0 {
		for _, cs := range []struct {
			name string
			cm   *charmap.Charmap
		}{{"iso-8859-1", charmap.ISO8859_1}, {"koi8-r", charmap.KOI8R}, {"windows-1253", charmap.Windows1253}} {
			if enc, err := cs.cm.NewEncoder().String(text); err == nil {
				charset, data = cs.name, []byte(enc)
				break
			}
		}
	}
	sub := "plain"
	if g.rng.IntN(4) == 0 {
		sub = "html"
	}
	fmt.Fprintf(b, "Content-Type: text/%s; charset=%s\n", sub, charset)
	switch g.rng.IntN(3) {
	case 0:
		b.WriteString("Content-Transfer-Encoding: base64\n\n")
		b.WriteString(wrap(base64.StdEncoding.EncodeToString(data), 76))
	case 1:
		b.WriteString("Content-Transfer-Encoding: quoted-printable\n\n")
		var qb strings.Builder
		w := quotedprintable.NewWriter(&qb)
		w.Write(data)
		w.Close()
		b.WriteString(strings.ReplaceAll(qb.String(), "\r\n", "\n"))
		b.WriteString("\n")
	default:
		if charset != "utf-8" {
			b.WriteString("Content-Transfer-Encoding: 8bit\n")
		}
		b.WriteString("\n")
		b.Write(data)
		b.WriteString("\n")
	}
}

func (g *gen) attachment(b *strings.Builder) {
	s := g.sentence(2, 6)
	g.hidden = append(g.hidden, s)
	name := g.word()
	fmt.Fprintf(b, "Content-Type: application/octet-stream; name=%q\n", "file.bin")
	fmt.Fprintf(b, "Content-Disposition: attachment; filename=%s\n", g.header(name+".bin"))
	g.texts = append(g.texts, name+".bin") // TEXT sees the decoded header
	b.WriteString("Content-Transfer-Encoding: base64\n\n")
	data := append([]byte{0, 1, 2, 0xff}, s...)
	b.WriteString(wrap(base64.StdEncoding.EncodeToString(data), 76))
}

func (g *gen) embedded(b *strings.Builder, depth int) {
	b.WriteString("Content-Type: message/rfc822\n\n")
	s := g.sentence(1, 4)
	g.texts = append(g.texts, s)
	fmt.Fprintf(b, "Subject: %s\n", g.header(s))
	b.WriteString("From: inner@example.test\n")
	g.part(b, depth+1)
}

func wrap(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	return b.String() + s + "\n"
}

// Needles returns search strings for m: pieces of its texts (some
// shorter than three runes, some with their case changed), pieces that
// span two texts, pieces of its hidden texts, and words it may lack.
func Needles(rng *rand.Rand, m Message, n int) []string {
	var out []string
	piece := func(s string) string {
		r := []rune(s)
		if len(r) == 0 {
			return ""
		}
		i := rng.IntN(len(r))
		j := i + 1 + rng.IntN(min(len(r)-i, 12))
		p := string(r[i:j])
		switch rng.IntN(4) {
		case 0:
			p = strings.ToUpper(p)
		case 1:
			p = strings.ToLower(p)
		}
		return p
	}
	for len(out) < n {
		switch k := rng.IntN(10); {
		case k < 5 && len(m.Texts) > 0:
			out = append(out, piece(m.Texts[rng.IntN(len(m.Texts))]))
		case k < 6 && len(m.Texts) > 1:
			i := rng.IntN(len(m.Texts) - 1)
			out = append(out, piece(m.Texts[i]+" "+m.Texts[i+1]))
		case k < 7 && len(m.Hidden) > 0:
			out = append(out, piece(m.Hidden[rng.IntN(len(m.Hidden))]))
		default:
			w := words[rng.IntN(len(words))]
			if rng.IntN(2) == 0 {
				w += " " + words[rng.IntN(len(words))]
			}
			out = append(out, w)
		}
	}
	return out
}
