package message

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// SortKey is s in the canonical form of the i;unicode-casemap collation
// (RFC 5051 §2): every character mapped to its titlecase, then the whole
// decomposed with NFKD. Two strings compare under the collation as their
// keys compare octet by octet (strings.Compare), and are equal under it
// when their keys are equal. IMAP SORT and THREAD compare their string
// keys with it (RFC 5256 §3, by way of I18NLEVEL=1: RFC 5255 §4.2).
//
// For ASCII that is upper case, which is not the order of lower case:
// "AAB" < "A_B" while "a_b" < "aab". Invalid UTF-8 becomes U+FFFD.
func SortKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s) // NFKD leaves ASCII as it is
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(unicode.ToTitle(r))
	}
	return norm.NFKD.String(b.String())
}
