package msgauth

import (
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/pochta-mail/pochta/internal/resolver"
)

// DMARC is the outcome of RFC 7489 evaluation for one message.
type DMARC struct {
	Result string // pass, fail, none, temperror, permerror
	Domain string // the RFC5322.From domain
	// Policy is what the domain asks for a failing message (none,
	// quarantine, reject): p=, or sp= for a subdomain found through its
	// organizational domain.
	Policy dmarc.Policy
}

// evaluateDMARC finds the From domain's policy (RFC 7489 6.6.3: the
// domain's own record, else its organizational domain's) and checks that
// SPF or DKIM passed for an aligned domain.
func evaluateDMARC(ctx context.Context, r resolver.Resolver, from string, spf SPFResult, spfDomain string, dkimPass []string) DMARC {
	out := DMARC{Result: "none", Domain: from}
	lookup := &dmarc.LookupOptions{LookupTXT: func(name string) ([]string, error) { return r.LookupTXT(ctx, name) }}
	rec, err := dmarc.LookupWithOptions(from, lookup)
	sub := false
	if errors.Is(err, dmarc.ErrNoPolicy) {
		if org := orgDomain(from); org != from {
			rec, err = dmarc.LookupWithOptions(org, lookup)
			sub = true
		}
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		return out
	case dmarc.IsTempFail(err):
		out.Result = "temperror"
		return out
	case err != nil:
		out.Result = "permerror"
		return out
	}
	out.Policy = rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		out.Policy = rec.SubdomainPolicy
	}
	out.Result = "fail"
	if spf == SPFPass && aligned(spfDomain, from, rec.SPFAlignment) {
		out.Result = "pass"
	}
	for _, d := range dkimPass {
		if aligned(d, from, rec.DKIMAlignment) {
			out.Result = "pass"
		}
	}
	return out
}

// aligned compares an authenticated domain with the From domain: equal
// in strict mode, same organizational domain in relaxed mode (the
// default, RFC 7489 3.1).
func aligned(d, from string, mode dmarc.AlignmentMode) bool {
	d, from = strings.ToLower(strings.TrimSuffix(d, ".")), strings.ToLower(strings.TrimSuffix(from, "."))
	if d == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return d == from
	}
	return orgDomain(d) == orgDomain(from)
}

// orgDomain is the registered domain under the public suffix list
// (RFC 7489 3.2), or the name itself when it has none.
func orgDomain(d string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}
