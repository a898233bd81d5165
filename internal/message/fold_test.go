package message

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestFoldRune checks foldRune for every rune against the definition
// (the smallest rune of the simple folding orbit), and that only the
// ASCII runes asciiWide names are reached from non-ASCII ones.
func TestFoldRune(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		want := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			want = min(want, f)
		}
		got := foldRune(r)
		if got != want {
			t.Fatalf("foldRune(%U) = %U, want %U", r, got, want)
		}
		if r >= utf8.RuneSelf && got < utf8.RuneSelf && !asciiWide[got] {
			t.Fatalf("%U folds to %q, which asciiWide lacks", r, got)
		}
	}
	if !asciiWide['K'] || !asciiWide['S'] || asciiWide['A'] {
		t.Fatalf("asciiWide: K %v S %v A %v", asciiWide['K'], asciiWide['S'], asciiWide['A'])
	}
}
