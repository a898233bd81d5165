package message_test

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/message/mailgen"
)

// TestIndexTermsNeverMiss is the index's safety property: whenever the
// Matcher finds a BODY, TEXT or HEADER string in a message, every term of
// the string is among the message's terms. Generated mail: non-ASCII,
// encoded words, base64 and quoted-printable parts in several charsets,
// multiparts, embedded messages, attachments.
func TestIndexTermsNeverMiss(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	n := 200
	if testing.Short() {
		n = 50
	}
	var found, narrowed, checked int
	for i := range n {
		m := mailgen.Generate(rng, i)
		terms, ok, err := message.IndexTerms(bytes.NewReader(m.Raw))
		if err != nil || !ok {
			t.Fatalf("message %d: IndexTerms: %v %v", i, ok, err)
		}
		needles := mailgen.Needles(rng, m, 30)
		var qs []message.MatchQuery
		for _, nd := range needles {
			qs = append(qs,
				message.MatchQuery{Kind: message.MatchBody, Value: nd},
				message.MatchQuery{Kind: message.MatchText, Value: nd},
				message.MatchQuery{Kind: message.MatchHeader, Field: "Subject", Value: nd})
		}
		res, err := message.NewMatcher(qs, false).Match(bytes.NewReader(m.Raw))
		if err != nil {
			t.Fatal(err)
		}
		for j, q := range qs {
			qt := message.QueryTerms(q.Value)
			if qt == nil {
				continue
			}
			checked++
			has := true
			for _, x := range qt {
				if _, ok := slices.BinarySearch(terms, x); !ok {
					has = false
				}
			}
			if res.Found[j] {
				found++
				if !has {
					t.Fatalf("message %d: kind %d %q found by the Matcher, but term missing from the index\n%s", i, q.Kind, q.Value, m.Raw)
				}
			} else if !has {
				narrowed++
			}
		}
	}
	t.Logf("%d queries with terms: %d found, %d ruled out by the terms", checked, found, narrowed)
	if found == 0 || narrowed == 0 {
		t.Fatalf("the generator exercises too little: %d found, %d ruled out", found, narrowed)
	}
}

func TestQueryTerms(t *testing.T) {
	for _, c := range []struct {
		needle string
		n      int
	}{
		{"", 0}, {"ab", 0}, {"a b c", 0}, {"abc", 1}, {"abcd", 2}, {"ab cd", 0},
		{"abc abc", 1}, {"Straße", 4}, {"東京会", 1}, {"x-ray", 1}, {"3.14159", 3},
	} {
		if got := message.QueryTerms(c.needle); len(got) != c.n {
			t.Errorf("QueryTerms(%q): %d terms, want %d", c.needle, len(got), c.n)
		}
	}
	// Case folding as the Matcher's: the Kelvin sign is K, long s is S.
	if a, b := message.QueryTerms("KELVIN"), message.QueryTerms("\u212aelvin"); !slices.Equal(a, b) {
		t.Errorf("Kelvin sign: %v, %v", a, b)
	}
	if a, b := message.QueryTerms("STRASSE"), message.QueryTerms("ſtrasse"); !slices.Equal(a, b) {
		t.Errorf("long s: %v, %v", a, b)
	}
}

// TestTermWriterPieces: terms do not depend on how the message is cut
// into writes.
func TestTermWriterPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		m := mailgen.Generate(rng, i)
		raw := append(bytes.Repeat([]byte("X-Long: "+strings.Repeat("abcdef ", 6000)+"\r\n"), 1), m.Raw...)
		want, _, _ := message.IndexTerms(bytes.NewReader(raw))
		w := message.NewTermWriter()
		for p := raw; len(p) > 0; {
			k := min(len(p), 1+rng.IntN(70000))
			w.Write(p[:k])
			p = p[k:]
		}
		got, ok := w.Terms()
		if !ok || !slices.Equal(got, want) {
			t.Fatalf("message %d: %d terms written in pieces, %d at once", i, len(got), len(want))
		}
		// A reader that is not an io.WriterTo goes through IndexTerms'
		// read buffer instead.
		read, ok, err := message.IndexTerms(iotest.HalfReader(bytes.NewReader(raw)))
		if err != nil || !ok || !slices.Equal(read, want) {
			t.Fatalf("message %d: %d terms read in halves (%v), %d at once", i, len(read), err, len(want))
		}
	}
}

func TestTermsTooMany(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: many\r\n\r\n")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 400000 {
		b.WriteRune(rune(0x4e00 + rng.IntN(20000)))
	}
	_, ok, err := message.IndexTerms(strings.NewReader(b.String()))
	if err != nil || ok {
		t.Fatalf("IndexTerms of random CJK text: ok %v, err %v; want not indexable", ok, err)
	}
}
