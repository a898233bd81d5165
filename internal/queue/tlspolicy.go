package queue

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

// policyFor decides the TLS policy of one domain's hop: the smarthost and
// queue.require_tls domains need verified TLS; elsewhere TLS is
// opportunistic (RFC 7435) and the certificate is not checked.
func (w *Worker) policyFor(domain string, hop Hop) tlsPolicy {
	switch {
	case w.Smarthost != nil:
		return tlsPolicy{required: true, verify: true, implicit: hop.Port == 465}
	case w.RequireTLS[domain]:
		return tlsPolicy{required: true, verify: true}
	}
	return tlsPolicy{}
}
