package auth

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLoginLen bounds a login in bytes (an address is at most 254 octets in
// practice; RFC 5321 §4.5.3.1.3).
const maxLoginLen = 255

// NormalizeLogin turns what a user typed into the lower-case address the
// directory knows:
//
//	"User@Example.COM"  -> "user@example.com"
//	"user+example.com"  -> "user@example.com"  (when '+' is a separator)
//	"user%example.com"  -> "user@example.com"  (when '%' is a separator)
//	"user"              -> "user@<DefaultDomain>"
//
// Nothing is trimmed: a login with spaces or control characters is refused,
// not repaired, so what is checked is what was sent. An '@' always wins over
// the separators, so "first+tag@example.com" keeps its "+tag". Without '@',
// the login is split at the last separator followed by something that looks
// like a domain (it contains a dot), so "first+tag+example.com" is
// "first+tag@example.com" and "john+smith" (no domain) gets DefaultDomain.
// Errors wrap ErrFailed.
func (s *Service) NormalizeLogin(login string) (string, error) {
	if login == "" {
		return "", fmt.Errorf("%w: empty login", ErrFailed)
	}
	if len(login) > maxLoginLen {
		return "", fmt.Errorf("%w: login longer than %d bytes", ErrFailed, maxLoginLen)
	}
	if !utf8.ValidString(login) {
		return "", fmt.Errorf("%w: login is not UTF-8", ErrFailed)
	}
	for _, r := range login {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", fmt.Errorf("%w: login contains space or control character %U", ErrFailed, r)
		}
	}
	login = strings.ToLower(login)

	local, domain, ok := splitLogin(login, s.separators)
	if !ok {
		if s.defaultDomain == "" {
			return "", fmt.Errorf("%w: login has no domain and there is no default domain", ErrFailed)
		}
		local, domain = login, strings.ToLower(s.defaultDomain)
	}
	if local == "" || strings.Contains(local, "@") {
		return "", fmt.Errorf("%w: bad local part", ErrFailed)
	}
	if !validDomain(domain) {
		return "", fmt.Errorf("%w: bad domain", ErrFailed)
	}
	return local + "@" + domain, nil
}

// splitLogin splits a lower-cased login into local part and domain, or
// reports false when the login names no domain.
func splitLogin(login, separators string) (local, domain string, ok bool) {
	if i := strings.LastIndexByte(login, '@'); i >= 0 {
		return login[:i], login[i+1:], true
	}
	for i := len(login) - 1; i > 0; i-- {
		if strings.IndexByte(separators, login[i]) >= 0 && looksLikeDomain(login[i+1:]) {
			return login[:i], login[i+1:], true
		}
	}
	return "", "", false
}

// looksLikeDomain tells a domain after an SDPS separator ("example.com")
// from a "+tag": a valid domain with at least one dot.
func looksLikeDomain(d string) bool {
	return strings.Contains(d, ".") && validDomain(d)
}

// validDomain accepts dot-separated non-empty labels of letters, digits and
// '-' ("localhost" too): not a full RFC 1035/5890 check, since the directory
// decides whether the domain exists. Non-ASCII letters are allowed for
// internationalised domains typed as U-labels.
func validDomain(d string) bool {
	if d == "" {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" {
			return false
		}
		for _, r := range label {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				return false
			}
		}
	}
	return true
}
