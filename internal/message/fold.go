package message

import (
	"unicode"
	"unicode/utf8"
)

// Case-insensitive matching compares runes after Unicode simple case
// folding (the relation unicode.SimpleFold walks, as strings.EqualFold
// does): each rune is mapped to one representative of its folding orbit,
// the smallest code point in it. "k", "K" and the Kelvin sign U+212A all
// become "K"; "ſ" (U+017F), "s" and "S" become "S".
//
// Folding is done rune by rune while streaming, so no folded copy of the
// text is ever made.

// foldTableSize covers ASCII, Latin, Greek, Cyrillic, Armenian, Hebrew
// and Arabic with a table lookup; rarer runes walk their orbit.
const foldTableSize = 0x800

var foldTable = func() *[foldTableSize]rune {
	var t [foldTableSize]rune
	for r := range rune(foldTableSize) {
		t[r] = foldOrbit(r)
	}
	return &t
}()

// foldOrbit returns the smallest rune of r's simple folding orbit.
func foldOrbit(r rune) rune {
	low := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		low = min(low, f)
	}
	return low
}

// foldRune maps r to its folding representative.
func foldRune(r rune) rune {
	switch {
	case r >= 0 && r < foldTableSize:
		return foldTable[r]
	case r >= 0x3040 && r < 0xA640, r >= 0xAC00 && r < 0xD7A4:
		// Kana, CJK ideographs, Yi, Lisu, Vai and Hangul syllables
		// have no case (TestFoldRune checks every rune).
		return r
	}
	return foldOrbit(r)
}

// asciiWide[f] is set for the folded ASCII runes that a non-ASCII rune
// also folds to ("K": the Kelvin sign U+212A; "S": long s U+017F), so
// that a needle starting with any other ASCII rune cannot start matching
// at a non-ASCII octet.
var asciiWide = func() (t [utf8.RuneSelf]bool) {
	for b := range rune(utf8.RuneSelf) {
		for f := unicode.SimpleFold(b); f != b; f = unicode.SimpleFold(f) {
			if f >= utf8.RuneSelf {
				t[foldTable[b]] = true
			}
		}
	}
	return t
}()

// foldString folds every rune of s (invalid UTF-8 becomes U+FFFD).
func foldString(s string) []rune {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		out = append(out, foldRune(r))
	}
	return out
}
