package maildir

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// mutf7 is the base64 alphabet of IMAP's modified UTF-7 (RFC 3501 5.1.3):
// ',' in place of '/', no padding.
var mutf7Encoding = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// decodeMUTF7 decodes a mailbox name in modified UTF-7, the form Dovecot and
// Courier give Maildir++ directory names: "Entw&APw-rfe" is "Entwürfe".
func decodeMUTF7(s string) (string, error) {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "", errors.New("control character in folder name")
	}
	if !strings.Contains(s, "&") {
		return s, nil
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i+1:]
		j := strings.IndexByte(s, '-')
		if j < 0 {
			return "", errors.New("unterminated modified UTF-7 in folder name")
		}
		if j == 0 {
			b.WriteByte('&')
			s = s[1:]
			continue
		}
		raw, err := mutf7Encoding.DecodeString(s[:j]) // (the control-character check above keeps out the \r and \n it would skip)
		if err != nil || len(raw) == 0 || len(raw)%2 != 0 {
			return "", errors.New("invalid modified UTF-7 in folder name")
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError || r < 0x20 {
				return "", errors.New("invalid character in modified UTF-7 folder name")
			}
			b.WriteRune(r)
		}
		s = s[j+1:]
	}
	return b.String(), nil
}
