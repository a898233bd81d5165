// Package resolver is the DNS seam of the mail server: the three lookups
// outbound delivery and sender authentication need (MX, A/AAAA, TXT), so
// tests and offline installations plug in a fixed table instead of the
// network. *net.Resolver is the production implementation.
package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
)

// Resolver looks up DNS records. Errors are *net.DNSError values (or wrap
// one), so IsNotFound and IsTemporary tell "no such record" from "try
// again later" whichever implementation answered.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	// LookupNetIP takes network "ip", "ip4" or "ip6".
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

var _ Resolver = (*net.Resolver)(nil)

// IsNotFound reports an authoritative "no such name / no such record".
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// IsTemporary reports a failure worth retrying (timeout, SERVFAIL).
// Anything that is not a clear "not found" counts: delivery must not
// bounce mail because a resolver hiccupped.
func IsTemporary(err error) bool {
	return err != nil && !IsNotFound(err)
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
