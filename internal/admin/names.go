package admin

import (
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// idnaProfile converts internationalized names (RFC 5890-5893): U-labels
// to A-labels, checking the Unicode rules, hyphens and DNS lengths.
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.ValidateLabels(true),
	idna.StrictDomainName(true), idna.VerifyDNSLength(true), idna.CheckHyphens(true))

// Domain checks a domain name typed by an operator and returns the form
// stored: lower-case ASCII, internationalized labels as A-labels
// ("пример.test" is "xn--e1afmkfd.test"), no trailing dot. The error says
// what is wrong in the operator's words.
func Domain(name string) (string, error) {
	orig := name
	name = strings.TrimSuffix(strings.TrimSpace(name), ".")
	bad := func(why string) error { return invalidf("%q is not a domain name: %s", orig, why) }
	if name == "" {
		return "", bad("it is empty")
	}
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		// Structure first, so "x..пример" says "empty label" like ASCII does.
		if err := checkLabels(name, false); err != nil {
			return "", bad(err.Error())
		}
		a, err := idnaProfile.ToASCII(name)
		if err != nil {
			return "", bad("not a valid internationalized name")
		}
		name = a
	}
	name = strings.ToLower(name)
	if err := checkLabels(name, true); err != nil {
		return "", bad(err.Error())
	}
	if strings.Contains(name, "xn--") {
		if _, err := idnaProfile.ToUnicode(name); err != nil {
			return "", bad("an xn-- label is not a valid A-label")
		}
	}
	if len(name) > 253 {
		return "", bad("longer than 253 octets")
	}
	last := name[strings.LastIndexByte(name, '.')+1:]
	if strings.Trim(last, "0123456789") == "" {
		return "", bad("it looks like an IP address (an address literal is not a mail domain)")
	}
	return name, nil
}

// checkLabels applies the DNS label rules (RFC 1035 2.3.1, RFC 5890 2.3.1);
// ldh also limits ASCII labels to letters, digits and hyphens.
func checkLabels(name string, ldh bool) error {
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return fmt.Errorf("empty label")
		case len(label) > 63:
			return fmt.Errorf("a label is longer than 63 octets")
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("a label starts or ends with a hyphen")
		}
		if !ldh {
			continue
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%q is not allowed (letters, digits and hyphens only)", string(rune(c)))
			}
		}
	}
	return nil
}

// UnicodeDomain is the U-label form of a stored domain, or "" when it has
// no internationalized label.
func UnicodeDomain(stored string) string {
	if !strings.Contains(stored, "xn--") {
		return ""
	}
	u, err := idnaProfile.ToUnicode(stored)
	if err != nil || u == stored {
		return ""
	}
	return u
}

// Address checks user@domain and returns it as stored: the local part
// lower-case (Pochta's addresses are case-insensitive), the domain as
// Domain returns it.
func Address(addr string) (string, error) {
	orig := addr
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "", invalidf("%q is not an address of the form user@domain", orig)
	}
	local := strings.ToLower(addr[:at])
	if len(local) > 64 || strings.ContainsAny(local, "@ \t\r\n\"<>()[],;:\\") || strings.HasPrefix(local, ".") ||
		strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "", invalidf("%q is not an address: bad user part %q", orig, local)
	}
	domain, err := Domain(addr[at+1:])
	if err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}

// AliasAddress accepts user@domain, or @domain for a catch-all.
func AliasAddress(a string) (string, error) {
	if d, ok := strings.CutPrefix(strings.TrimSpace(a), "@"); ok {
		d, err := Domain(d)
		if err != nil {
			return "", err
		}
		return "@" + d, nil
	}
	return Address(a)
}
