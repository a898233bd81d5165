package sieve

import (
	"errors"
	"net/mail"
	"regexp"
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
	mtRegex // draft-ietf-sieve-regex
)

var matchTypes = map[string]matchType{"is": mtIs, "contains": mtContains, "matches": mtMatches,
	"value": mtValue, "count": mtCount, "regex": mtRegex}

// matcher is a comparator, a match type and the keys of one test.
type matcher struct {
	cmp  comparator
	mt   matchType
	rel  relation // mtValue, mtCount
	keys []string
	// res are the keys of :regex compiled when the script was; nil for a
	// key with a variable reference, compiled when the test runs.
	res []*regexp.Regexp
	// flags: hasflag, whose keys are flag lists (normalised after
	// expansion).
	flags bool
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

// match reports whether value matches any of keys (the matcher's, with
// variables expanded), charging the work to r. A match by :matches or
// :regex sets the match variables when the script uses variables.
func (m *matcher) match(r *run, keys []string, value string) (bool, error) {
	orig := value
	if m.cmp == cmpCasemap && m.mt != mtRegex {
		value = foldASCII(value)
	}
	for i, k := range keys {
		if m.cmp == cmpCasemap && m.mt != mtRegex {
			k = foldASCII(k)
		}
		cost := int64(len(value) + len(k) + 1)
		if m.mt == mtMatches || m.mt == mtRegex {
			// The worst case of wildcard is one pass over the pattern
			// per byte of value; RE2 is bounded the same way.
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
			if !r.vars {
				ok = wildcard(k, value)
				break
			}
			var caps []int
			if ok = wildcardAt(k, value, &caps); ok {
				groups := []string{orig}
				for j := 0; j+1 < len(caps); j += 2 {
					groups = append(groups, orig[caps[j]:caps[j+1]])
				}
				r.setMatch(groups)
			}
		case mtRegex:
			re, err := m.regexp(r, i, k)
			if err != nil {
				return false, err
			}
			if !r.vars {
				ok = re.MatchString(value)
				break
			}
			if g := re.FindStringSubmatch(value); g != nil {
				ok = true
				r.setMatch(g)
			}
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// wildcard matches s against pattern with "*" (any sequence), "?" (one
// character) and "\" quoting the next character (RFC 5228 2.7.1).
func wildcard(pattern, s string) bool { return wildcardAt(pattern, s, nil) }

// wildcardAt is wildcard that, when caps is not nil, also returns where in
// s each wildcard matched (start, end pairs, in pattern order), for the
// match variables (RFC 5229 3.2). It keeps only the position after the
// last "*", so each "*" takes as little as it can (the RFC's "[*] *"
// example) and it runs in O(len(pattern) * len(s)) time without
// recursion.
func wildcardAt(pattern, s string, caps *[]int) bool {
	p, i := 0, 0
	starP, starI, starW := -1, 0, 0
	w := 0 // wildcards passed in pattern
	record := func(w, from, to int) {
		if caps == nil {
			return
		}
		for len(*caps) < 2*(w+1) {
			*caps = append(*caps, 0, 0)
		}
		(*caps)[2*w], (*caps)[2*w+1] = from, to
	}
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				record(w, i, i)
				starP, starI, starW = p+1, i, w
				p++
				w++
				continue
			case '?':
				_, n := utf8.DecodeRuneInString(s[i:])
				record(w, i, i+n)
				p++
				w++
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
		p, i, w = starP, starI, starW+1
		if caps != nil {
			(*caps)[2*starW+1] = starI
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		record(w, i, i)
		p++
		w++
	}
	if caps != nil && p == len(pattern) {
		*caps = (*caps)[:2*w]
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
