package message

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestSortKey(t *testing.T) {
	for in, want := range map[string]string{
		"":         "",
		"a_b":      "A_B",
		"Zoe Zeta": "ZOE ZETA",
		"Émile":    "E\u0301MILE",
		"ǆemal":    "Dz\u030cEMAL", // U+01C6: titlecase U+01C5, which NFKD makes "Dž"
		"ﬁle":      "fiLE",         // the ligature has no titlecase; NFKD splits it after
		"straße":   "STRA\u00dfE",  // no simple titlecase for ß
		"\xff":     "\ufffd",
	} {
		if got := SortKey(in); got != want {
			t.Errorf("SortKey(%q) = %q, want %q", in, got, want)
		}
	}
	// The order the keys give.
	ordered := []string{"aab", "a_b", "eclair", "Éclair", "zeta"}
	for i := 1; i < len(ordered); i++ {
		if SortKey(ordered[i-1]) >= SortKey(ordered[i]) {
			t.Errorf("%q does not sort before %q", ordered[i-1], ordered[i])
		}
	}
	if SortKey("ÉCLAIR") != SortKey("\u00e9clair") || SortKey("E\u0301clair") != SortKey("éclair") {
		t.Error("composed, decomposed and case variants differ")
	}
}

// FuzzSortKey: the ASCII shortcut agrees with the general mapping, and a
// key is its own key.
func FuzzSortKey(f *testing.F) {
	for _, s := range []string{"a_b", "Émile", "ǆ", "ﬁ", "\xff", "ß"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := SortKey(s)
		var b strings.Builder
		for _, r := range s {
			b.WriteRune(unicode.ToTitle(r))
		}
		if slow := norm.NFKD.String(b.String()); k != slow {
			t.Fatalf("SortKey(%q) = %q, the general mapping gives %q", s, k, slow)
		}
		if !utf8.ValidString(k) {
			t.Fatalf("SortKey(%q) = %q is not UTF-8", s, k)
		}
	})
}
