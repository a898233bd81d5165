package queue

import (
	"context"

	"github.com/pochta-mail/pochta/internal/mtasts"
	"github.com/pochta-mail/pochta/internal/tlsrpt"
)

// STSPolicies gives remote domains' MTA-STS policies (RFC 8461);
// *mtasts.Fetcher is the implementation.
type STSPolicies interface {
	// Policy looks up (and caches) the domain's policy; nil = none.
	Policy(ctx context.Context, domain string) *mtasts.Policy
	// Cached returns what Policy last found, without lookups.
	Cached(domain string) *mtasts.Policy
}

// tlsPolicy is how a session with one hop must use TLS. It is part of a
// pooled session's key (connKey), so a session is only reused under the
// policy it was set up for.
//
// MTA-STS (RFC 8461) and DANE (RFC 7672) extend this: their policy is
// decided per domain and hop in policyFor, and a stricter policy becomes
// more fields here (for MTA-STS "enforce": required and verify, plus the
// check that the hop matches the policy's mx patterns, which belongs in
// policyFor or in hops, before any connection is made).
type tlsPolicy struct {
	required bool // no session without TLS: defer instead
	verify   bool // the certificate must verify for the hop's name
	implicit bool // TLS from the first byte (a smarthost on port 465)
}

// policyFor decides the TLS policy of one domain's hop: the smarthost,
// queue.require_tls domains and domains with an MTA-STS policy in enforce
// mode need verified TLS; elsewhere TLS is opportunistic (RFC 7435) and
// the certificate is not checked.
func (w *Worker) policyFor(domain string, hop Hop) tlsPolicy {
	switch {
	case w.Smarthost != nil:
		return tlsPolicy{required: true, verify: true, implicit: hop.Port == 465}
	case w.RequireTLS[domain]:
		return tlsPolicy{required: true, verify: true}
	case w.stsEnforced(domain):
		return tlsPolicy{required: true, verify: true}
	}
	return tlsPolicy{}
}

// stsApplies says whether MTA-STS governs a domain's delivery: not
// through the smarthost or a static route, which the operator chose.
func (w *Worker) stsApplies(domain string) bool {
	_, routed := w.Routes[domain]
	return w.MTASTS != nil && w.Smarthost == nil && !routed
}

func (w *Worker) stsEnforced(domain string) bool {
	if !w.stsApplies(domain) {
		return false
	}
	p := w.MTASTS.Cached(domain)
	return p != nil && p.Mode == mtasts.ModeEnforce
}

// stsHops applies a domain's MTA-STS policy to its MX hosts (RFC 8461
// section 5): in enforce mode only hosts matching the policy's mx
// patterns are used, and none matching is a temporary failure (the
// policy or the MX may be mid-change); in testing mode a mismatch is only
// logged.
func (w *Worker) stsHops(ctx context.Context, domain string, hops []Hop) ([]Hop, error) {
	if !w.stsApplies(domain) {
		return hops, nil
	}
	p := w.MTASTS.Policy(ctx, domain)
	if p == nil {
		return hops, nil
	}
	var ok []Hop
	for _, h := range hops {
		if p.Matches(h.Host) {
			ok = append(ok, h)
		} else {
			w.log().Info("mta-sts: MX host not in the domain's policy", "domain", domain, "host", h.Host, "mode", p.Mode)
		}
	}
	if p.Mode != mtasts.ModeEnforce {
		return hops, nil
	}
	if len(ok) == 0 {
		if w.TLSReports != nil && len(hops) > 0 {
			w.TLSReports.Fail(w.now(), tlsrpt.STSPolicy(domain, p), tlsrpt.Failure{ResultType: tlsrpt.ResultValidationFailure,
				ReceivingMX: hops[0].Host, ReasonCode: "MX host not listed in the MTA-STS policy"})
		}
		return nil, temporaryf("4.7.5", "no MX host of %s matches its MTA-STS policy", domain)
	}
	return ok, nil
}
