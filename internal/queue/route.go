package queue

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/resolver"
)

// Hop is a host to try for a domain: a name (for TLS and logs) and a
// port. A literal hop is an IP address, used without a lookup.
type Hop struct {
	Host    string
	Port    int
	Literal netip.Addr
}

func (h Hop) String() string {
	if h.Literal.IsValid() {
		return net.JoinHostPort(h.Literal.String(), strconv.Itoa(h.Port))
	}
	return net.JoinHostPort(h.Host, strconv.Itoa(h.Port))
}

// ParseHop reads "host:port", "[192.0.2.1]:25" or "[::1]:25"; the
// brackets (as in Postfix transport maps) or a bare IP mean no lookup.
// A missing port is defaultPort.
func ParseHop(s string, defaultPort int) (Hop, error) {
	host, port := s, strconv.Itoa(defaultPort)
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return Hop{}, fmt.Errorf("next hop %q: bad port", s)
	}
	h := Hop{Host: strings.ToLower(strings.TrimSuffix(host, ".")), Port: n}
	if a, err := netip.ParseAddr(host); err == nil {
		h.Literal = a
	} else if host == "" || strings.ContainsAny(host, " /@[]") {
		return Hop{}, fmt.Errorf("next hop %q: bad host", s)
	}
	return h, nil
}

// ParseRoutes reads "domain=hop, domain=hop" (the queue.routes key).
func ParseRoutes(s string, defaultPort int) (map[string]Hop, error) {
	routes := map[string]Hop{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		d, hop, ok := strings.Cut(item, "=")
		d = strings.ToLower(strings.TrimSpace(d))
		if !ok || d == "" || strings.ContainsAny(d, " @") {
			return nil, fmt.Errorf("route %q: want domain=host:port", item)
		}
		h, err := ParseHop(strings.TrimSpace(hop), defaultPort)
		if err != nil {
			return nil, fmt.Errorf("route for %s: %w", d, err)
		}
		routes[d] = h
	}
	return routes, nil
}

// hops lists the hosts to try for a domain, best first: the smarthost,
// else a static route, else the domain's MX hosts (RFC 5321 5.1), else
// the domain itself when it has no MX records (the implicit MX).
func (w *Worker) hops(ctx context.Context, domain string) ([]Hop, error) {
	if w.Smarthost != nil {
		return []Hop{w.Smarthost.Hop}, nil
	}
	if h, ok := w.Routes[domain]; ok {
		return []Hop{h}, nil
	}
	mx, err := w.Resolver.LookupMX(ctx, domain)
	switch {
	case resolver.IsNotFound(err) || (err == nil && len(mx) == 0):
		return []Hop{{Host: domain, Port: w.port()}}, nil
	case err != nil:
		return nil, temporaryf("4.4.3", "MX lookup for %s failed: %v", domain, err)
	}
	// RFC 7505: a single MX of "." says the domain accepts no mail.
	if len(mx) == 1 && (mx[0].Host == "." || mx[0].Host == "") {
		return nil, permanentf("5.1.10", "%s does not accept mail (null MX)", domain)
	}
	var out []Hop
	for _, m := range mx { // the resolver sorts by preference
		host := strings.ToLower(strings.TrimSuffix(m.Host, "."))
		if host == "" {
			continue
		}
		out = append(out, Hop{Host: host, Port: w.port()})
	}
	return out, nil
}

// addrs resolves a hop to the addresses to connect to. A name with no
// address at all is a permanent failure only when it is the domain's
// implicit MX; the caller decides.
func (w *Worker) addrs(ctx context.Context, h Hop) ([]netip.Addr, error) {
	if h.Literal.IsValid() {
		return []netip.Addr{h.Literal}, nil
	}
	return w.Resolver.LookupNetIP(ctx, "ip", h.Host)
}

func (w *Worker) port() int {
	if w.RemotePort != 0 {
		return w.RemotePort
	}
	return 25
}

// domainOf returns the lower-case domain of an address.
func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}
