package msgauth

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/pochta-mail/pochta/internal/resolver"
)

// SPFResult is an RFC 7208 2.6 result.
type SPFResult string

const (
	SPFNone      SPFResult = "none"
	SPFNeutral   SPFResult = "neutral"
	SPFPass      SPFResult = "pass"
	SPFFail      SPFResult = "fail"
	SPFSoftFail  SPFResult = "softfail"
	SPFTempError SPFResult = "temperror"
	SPFPermError SPFResult = "permerror"
)

// RFC 7208 4.6.4: at most 10 terms that cause DNS queries, at most 2 of
// them with empty answers, at most 10 MX names looked up per mx term.
const (
	spfMaxLookups = 10
	spfMaxVoid    = 2
	spfMaxMX      = 10
)

// spfError carries a result that ends evaluation (temperror, permerror).
type spfError struct {
	result SPFResult
	why    string
}

func (e *spfError) Error() string { return "spf: " + string(e.result) + ": " + e.why }

// spfCheck is one evaluation with its shared DNS budget.
type spfCheck struct {
	r       resolver.Resolver
	ip      netip.Addr
	sender  string
	helo    string
	lookups int
	voids   int
}

// CheckSPF evaluates the SPF policy of domain for a client at ip sending
// as sender (MAIL FROM, or postmaster@HELO for the null sender): RFC 7208
// check_host(). The reason explains non-pass results, for the header.
func CheckSPF(ctx context.Context, r resolver.Resolver, ip netip.Addr, domain, sender, helo string) (SPFResult, string) {
	c := &spfCheck{r: r, ip: ip.Unmap(), sender: sender, helo: helo}
	res, err := c.checkHost(ctx, strings.ToLower(strings.TrimSuffix(domain, ".")), 0)
	if err != nil {
		var se *spfError
		if errors.As(err, &se) {
			return se.result, se.why
		}
		return SPFTempError, err.Error()
	}
	return res, ""
}

func (c *spfCheck) checkHost(ctx context.Context, domain string, depth int) (SPFResult, error) {
	if depth > spfMaxLookups {
		return "", &spfError{SPFPermError, "include/redirect loop"}
	}
	if !validDomain(domain) {
		return SPFNone, nil // RFC 7208 4.3
	}
	txts, err := c.r.LookupTXT(ctx, domain)
	if resolver.IsNotFound(err) {
		return SPFNone, nil
	} else if err != nil {
		return "", &spfError{SPFTempError, "TXT lookup for " + domain + " failed"}
	}
	var record string
	n := 0
	for _, t := range txts {
		if f := strings.Fields(t); len(f) > 0 && strings.EqualFold(f[0], "v=spf1") {
			record, n = t, n+1
		}
	}
	switch n {
	case 0:
		return SPFNone, nil
	case 1:
	default:
		return "", &spfError{SPFPermError, domain + " has several SPF records"}
	}
	terms, err := parseSPF(record)
	if err != nil {
		return "", &spfError{SPFPermError, err.Error()}
	}
	env := macroEnv{sender: c.sender, domain: domain, ip: c.ip, helo: c.helo}
	var redirect string
	for _, t := range terms {
		if t.mech == "" {
			if t.modifier == "redirect" {
				redirect = t.value
			}
			continue
		}
		match, err := c.matches(ctx, t, env, depth)
		if err != nil {
			return "", err
		}
		if match {
			return qualifierResult(t.qualifier), nil
		}
	}
	if redirect != "" {
		// RFC 7208 6.1: the redirect's result is ours; "none" there is
		// a permerror here.
		target, err := c.target(redirect, env)
		if err != nil {
			return "", err
		}
		if err := c.count(); err != nil {
			return "", err
		}
		res, err := c.checkHost(ctx, target, depth+1)
		if err == nil && res == SPFNone {
			return "", &spfError{SPFPermError, "redirect to " + target + " without SPF record"}
		}
		return res, err
	}
	return SPFNeutral, nil
}

func qualifierResult(q byte) SPFResult {
	switch q {
	case '-':
		return SPFFail
	case '~':
		return SPFSoftFail
	case '?':
		return SPFNeutral
	}
	return SPFPass
}

// count charges one DNS-querying term to the budget.
func (c *spfCheck) count() error {
	if c.lookups++; c.lookups > spfMaxLookups {
		return &spfError{SPFPermError, "more than 10 DNS lookups"}
	}
	return nil
}

// void records an empty answer; more than two are a permerror.
func (c *spfCheck) void(err error) error {
	if !resolver.IsNotFound(err) {
		return &spfError{SPFTempError, "DNS lookup failed"}
	}
	if c.voids++; c.voids > spfMaxVoid {
		return &spfError{SPFPermError, "more than 2 void lookups"}
	}
	return nil
}

func (c *spfCheck) target(spec string, env macroEnv) (string, error) {
	if spec == "" {
		return env.domain, nil
	}
	d, err := expandMacros(spec, env, true)
	if err != nil {
		return "", &spfError{SPFPermError, err.Error()}
	}
	// RFC 7208 7.3: an expansion over 253 octets drops labels on the left.
	for len(d) > 253 {
		_, d, _ = strings.Cut(d, ".")
	}
	return strings.ToLower(strings.TrimSuffix(d, ".")), nil
}

func (c *spfCheck) matches(ctx context.Context, t spfTerm, env macroEnv, depth int) (bool, error) {
	switch t.mech {
	case "all":
		return true, nil
	case "ip4", "ip6":
		return t.ip.Contains(c.ip), nil
	}
	if err := c.count(); err != nil {
		return false, err
	}
	target, err := c.target(t.domain, env)
	if err != nil {
		return false, err
	}
	switch t.mech {
	case "include":
		res, err := c.checkHost(ctx, target, depth+1)
		if err != nil {
			return false, err
		}
		switch res {
		case SPFPass:
			return true, nil
		case SPFNone:
			return false, &spfError{SPFPermError, "include of " + target + " without SPF record"}
		}
		return false, nil
	case "exists":
		addrs, err := c.r.LookupNetIP(ctx, "ip4", target)
		if err != nil {
			return false, c.void(err)
		}
		return len(addrs) > 0, nil
	case "a":
		return c.hostMatches(ctx, target, t)
	case "mx":
		mxs, err := c.r.LookupMX(ctx, target)
		if err != nil {
			return false, c.void(err)
		}
		if len(mxs) > spfMaxMX {
			return false, &spfError{SPFPermError, "more than 10 MX names"}
		}
		for _, mx := range mxs {
			ok, err := c.hostMatches(ctx, strings.TrimSuffix(mx.Host, "."), t)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case "ptr":
		// RFC 7208 5.5: "SHOULD NOT be used". Without validated reverse
		// lookups it never matches; it still costs a lookup.
		return false, nil
	}
	return false, &spfError{SPFPermError, "unknown mechanism " + t.mech}
}

// hostMatches looks up a name's addresses of the client's family and
// compares under the term's prefix lengths.
func (c *spfCheck) hostMatches(ctx context.Context, host string, t spfTerm) (bool, error) {
	network, bits := "ip6", t.prefix6
	if c.ip.Is4() {
		network, bits = "ip4", t.prefix4
	}
	addrs, err := c.r.LookupNetIP(ctx, network, host)
	if err != nil {
		if resolver.IsNotFound(err) {
			return false, c.void(err)
		}
		return false, &spfError{SPFTempError, "address lookup for " + host + " failed"}
	}
	for _, a := range addrs {
		a = a.Unmap()
		n := bits
		if n < 0 {
			n = a.BitLen()
		}
		if p, err := a.Prefix(n); err == nil && a.Is4() == c.ip.Is4() && p.Contains(c.ip) {
			return true, nil
		}
	}
	return false, nil
}

// validDomain: at least two labels, none empty or over 63 octets.
func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}
