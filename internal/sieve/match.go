package sieve

import (
	"errors"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// errSteps ends a run whose matching work exceeded Limits.MaxSteps.
var errSteps = errors.New("sieve: match work limit exceeded")

type comparator uint8

const (
	cmpCasemap comparator = iota // i;ascii-casemap, the default (RFC 5228 2.7.3)
	cmpOctet                     // i;octet
	cmpNumeric                   // i;ascii-numeric (RFC 4790 9.1), equality and order only
)

var comparators = map[string]comparator{"i;ascii-casemap": cmpCasemap, "i;octet": cmpOctet,
	"i;ascii-numeric": cmpNumeric}

type matchType uint8

const (
	mtIs matchType = iota // the default (RFC 5228 2.7.1)
	mtContains
	mtMatches
	mtValue // RFC 5231
	mtCount // RFC 5231
)

var matchTypes = map[string]matchType{"is": mtIs, "contains": mtContains, "matches": mtMatches,
	"value": mtValue, "count": mtCount}

// matcher is a comparator, a match type and the keys of one test.
type matcher struct {
	cmp  comparator
	mt   matchType
	rel  relation // mtValue, mtCount
	keys []string
}

// foldASCII maps A-Z to a-z and leaves every other byte alone, which is all
// i;ascii-casemap does (RFC 4790 9.2).
func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// match reports whether value matches any key, charging the work to r.
func (m *matcher) match(r *run, value string) (bool, error) {
	if m.cmp == cmpCasemap {
		value = foldASCII(value)
	}
	for _, k := range m.keys {
		if m.cmp == cmpCasemap {
			k = foldASCII(k)
		}
		cost := int64(len(value) + len(k) + 1)
		if m.mt == mtMatches {
			// The worst case of wildcard is one pass over the pattern
			// per byte of value.
			cost = int64(len(value)+1) * int64(len(k)+1)
		}
		if err := r.charge(cost); err != nil {
			return false, err
		}
		var ok bool
		switch m.mt {
		case mtIs:
			ok = value == k
			if m.cmp == cmpNumeric {
				ok = compareNumeric(value, k) == 0
			}
		case mtValue:
			ok = m.rel.holds(m.cmp.compare(value, k))
		case mtContains:
			ok = strings.Contains(value, k)
		case mtMatches:
			ok = wildcard(k, value)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// wildcard matches s against pattern with "*" (any sequence), "?" (one
// character) and "\" quoting the next character (RFC 5228 2.7.1). It keeps
// only the position after the last "*", so it runs in O(len(pattern) *
// len(s)) time without recursion.
func wildcard(pattern, s string) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starI = p+1, i
				p++
				continue
			case '?':
				_, n := utf8.DecodeRuneInString(s[i:])
				p++
				i += n
				continue
			default:
				pp := p
				if c == '\\' && p+1 < len(pattern) {
					pp = p + 1
				}
				if pattern[pp] == s[i] {
					p = pp + 1
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starI:])
		starI += n
		p, i = starP, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

type addressPart uint8

const (
	apAll addressPart = iota // the default (RFC 5228 2.7.4)
	apLocalpart
	apDomain
	apUser   // RFC 5233 subaddress
	apDetail // RFC 5233 subaddress
)

var addressParts = map[string]addressPart{"all": apAll, "localpart": apLocalpart, "domain": apDomain,
	"user": apUser, "detail": apDetail}

// subaddressSep separates user and detail in a local part (RFC 5233 2).
const subaddressSep = "+"

// part returns the requested part of an addr-spec. ok is false when the
// part does not exist: :detail of an address without a separator matches
// no key at all (RFC 5233 4).
func (ap addressPart) part(addr string) (string, bool) {
	local, domain := addr, ""
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		local, domain = addr[:at], addr[at+1:]
	}
	user, detail, hasDetail := strings.Cut(local, subaddressSep)
	switch ap {
	case apLocalpart:
		return local, true
	case apDomain:
		return domain, true
	case apUser:
		return user, true
	case apDetail:
		return detail, hasDetail
	}
	return addr, true
}

// headerAddresses returns the addr-specs in a header value. A value that
// does not parse as an address list is used whole, as one address, so a
// malformed From still has something to compare.
func headerAddresses(value string) []string {
	list, err := mail.ParseAddressList(value)
	if err != nil {
		v := strings.TrimSpace(value)
		if v == "" {
			return nil
		}
		return []string{strings.Trim(v, "<>")}
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.Address)
	}
	return out
}
