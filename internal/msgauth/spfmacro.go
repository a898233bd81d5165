package msgauth

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// macroEnv holds the values SPF macros expand to (RFC 7208 7.3).
type macroEnv struct {
	sender string // <sender>: local-part@domain
	domain string // <domain> of the current check_host
	ip     netip.Addr
	helo   string
}

var errMacro = errors.New("spf: bad macro")

// expandMacros expands a domain-spec or explanation. With expand false it
// only checks the syntax.
func expandMacros(s string, env macroEnv, expand bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if c < 0x21 || c > 0x7e {
				return "", errMacro
			}
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", errMacro
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case '_':
			b.WriteByte(' ')
		case '-':
			b.WriteString("%20")
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", errMacro
			}
			v, err := macro(s[i+1:i+end], env, expand)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += end
		default:
			return "", errMacro
		}
	}
	return b.String(), nil
}

// macro expands one "letter [digits] [r] [delimiters]".
func macro(m string, env macroEnv, expand bool) (string, error) {
	if m == "" {
		return "", errMacro
	}
	letter, rest := m[0]|0x20, m[1:]
	var value string
	local, domain, _ := strings.Cut(env.sender, "@")
	switch letter {
	case 's':
		value = env.sender
	case 'l':
		value = local
	case 'o':
		value = domain
	case 'd':
		value = env.domain
	case 'i':
		value = dotted(env.ip)
	case 'p':
		value = "unknown" // no validated PTR lookups here (RFC 7208 5.5: SHOULD NOT be used)
	case 'v':
		value = "in-addr"
		if env.ip.Is6() && !env.ip.Is4In6() {
			value = "ip6"
		}
	case 'h':
		value = env.helo
	default:
		return "", errMacro
	}
	digits := 0
	for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
		digits = digits*10 + int(rest[0]-'0')
		rest = rest[1:]
		if digits > 128 {
			return "", errMacro
		}
	}
	reverse := false
	if len(rest) > 0 && (rest[0] == 'r' || rest[0] == 'R') {
		reverse, rest = true, rest[1:]
	}
	delims := "."
	if rest != "" {
		for _, c := range rest {
			if !strings.ContainsRune(".-+,/_=", c) {
				return "", errMacro
			}
		}
		delims = rest
	}
	if !expand {
		return "", nil
	}
	parts := strings.FieldsFunc(value, func(r rune) bool { return strings.ContainsRune(delims, r) })
	if reverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	if digits > 0 && digits < len(parts) {
		parts = parts[len(parts)-digits:]
	}
	return strings.Join(parts, "."), nil
}

// dotted writes an IPv4 address as usual and an IPv6 one as dotted
// nibbles (RFC 7208 7.3), so "r" reverses it into ip6.arpa order.
func dotted(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	if ip.Is4() || ip.Is4In6() {
		return ip.Unmap().String()
	}
	var nibbles []string
	for _, b := range ip.As16() {
		nibbles = append(nibbles, strconv.FormatUint(uint64(b>>4), 16), strconv.FormatUint(uint64(b&15), 16))
	}
	return strings.Join(nibbles, ".")
}
