package msgauth

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// An SPF record (RFC 7208 4.5, 12) parsed into terms. Parsing is separate
// from evaluation so the fuzzer can hammer it without DNS.

type spfTerm struct {
	qualifier byte   // '+', '-', '~', '?'
	mech      string // all, include, a, mx, ptr, ip4, ip6, exists; "" for a modifier
	domain    string // domain-spec (macros unexpanded); "" = the current domain
	prefix4   int    // CIDR lengths for a and mx; -1 = none
	prefix6   int
	ip        netip.Prefix // ip4 and ip6
	modifier  string       // redirect, exp, or an unknown name (ignored)
	value     string
}

var errNotSPF = errors.New("spf: not an SPF record")

// parseSPF parses one "v=spf1 ..." record.
func parseSPF(record string) ([]spfTerm, error) {
	fields := strings.Fields(record)
	if len(fields) == 0 || !strings.EqualFold(fields[0], "v=spf1") {
		return nil, errNotSPF
	}
	var terms []spfTerm
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		t, err := parseTerm(f)
		if err != nil {
			return nil, err
		}
		if t.mech == "" {
			name := strings.ToLower(t.modifier)
			// RFC 7208 6: redirect and exp appear at most once.
			if (name == "redirect" || name == "exp") && seen[name] {
				return nil, fmt.Errorf("spf: %s given twice", name)
			}
			seen[name] = true
		}
		terms = append(terms, t)
	}
	return terms, nil
}

func parseTerm(f string) (spfTerm, error) {
	t := spfTerm{qualifier: '+', prefix4: -1, prefix6: -1}
	// A modifier is name=value where name is ALPHA *(ALPHA/DIGIT/-/_/.).
	if i := strings.IndexByte(f, '='); i > 0 && isName(f[:i]) {
		t.modifier, t.value = strings.ToLower(f[:i]), f[i+1:]
		if err := checkMacros(t.value); err != nil {
			return t, err
		}
		return t, nil
	}
	switch f[0] {
	case '+', '-', '~', '?':
		t.qualifier, f = f[0], f[1:]
	}
	name, arg, hasArg := f, "", false
	if i := strings.IndexAny(f, ":/"); i >= 0 {
		name, arg, hasArg = f[:i], f[i:], true
	}
	t.mech = strings.ToLower(name)
	switch t.mech {
	case "all":
		if hasArg {
			return t, fmt.Errorf("spf: %q: all takes no argument", f)
		}
	case "include", "exists":
		if !strings.HasPrefix(arg, ":") || len(arg) < 2 {
			return t, fmt.Errorf("spf: %q needs a domain", f)
		}
		t.domain = arg[1:]
	case "a", "mx", "ptr":
		spec, cidr := arg, ""
		if t.mech != "ptr" {
			if i := strings.IndexByte(arg, '/'); i >= 0 {
				spec, cidr = arg[:i], arg[i:]
			}
		}
		if spec != "" {
			if !strings.HasPrefix(spec, ":") || len(spec) < 2 {
				return t, fmt.Errorf("spf: %q: bad domain", f)
			}
			t.domain = spec[1:]
		}
		if err := t.parseDualCIDR(cidr); err != nil {
			return t, fmt.Errorf("spf: %q: %w", f, err)
		}
	case "ip4", "ip6":
		if !strings.HasPrefix(arg, ":") {
			return t, fmt.Errorf("spf: %q needs an address", f)
		}
		p, err := parseNet(arg[1:], t.mech == "ip4")
		if err != nil {
			return t, fmt.Errorf("spf: %q: %w", f, err)
		}
		t.ip = p
	default:
		return t, fmt.Errorf("spf: unknown mechanism %q", f)
	}
	if err := checkMacros(t.domain); err != nil {
		return t, err
	}
	return t, nil
}

// parseDualCIDR reads "/n", "//m" or "/n//m" after a and mx.
func (t *spfTerm) parseDualCIDR(s string) error {
	if s == "" {
		return nil
	}
	v4, v6, dual := s, "", false
	if i := strings.Index(s, "//"); i >= 0 {
		v4, v6, dual = s[:i], s[i+2:], true
	}
	if v4 != "" {
		n, err := cidrLen(strings.TrimPrefix(v4, "/"), 32)
		if err != nil || !strings.HasPrefix(v4, "/") {
			return errors.New("bad ip4 prefix length")
		}
		t.prefix4 = n
	}
	if dual {
		n, err := cidrLen(v6, 128)
		if err != nil {
			return errors.New("bad ip6 prefix length")
		}
		t.prefix6 = n
	}
	return nil
}

func cidrLen(s string, limit int) (int, error) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("bad length")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > limit {
		return 0, errors.New("bad length")
	}
	return n, nil
}

func parseNet(s string, v4 bool) (netip.Prefix, error) {
	addr, bits, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Is4() != v4 || a.Zone() != "" {
		return netip.Prefix{}, errors.New("bad address")
	}
	n := a.BitLen()
	if hasBits {
		if n, err = cidrLen(bits, a.BitLen()); err != nil {
			return netip.Prefix{}, err
		}
	}
	return a.Prefix(n)
}

func isName(s string) bool {
	for i, r := range s {
		alpha := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !(alpha || (i > 0 && ((r >= '0' && r <= '9') || r == '-' || r == '_' || r == '.'))) {
			return false
		}
	}
	return s != ""
}

// checkMacros validates macro syntax (RFC 7208 7.1) without expanding.
func checkMacros(s string) error {
	_, err := expandMacros(s, macroEnv{}, false)
	return err
}
