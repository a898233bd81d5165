// Package web is Pochta's HTTP side: what mail clients fetch to configure
// themselves (Thunderbird autoconfig, Outlook autodiscover, Apple
// configuration profiles), the MTA-STS policy other servers fetch
// (RFC 8461), and, on a separate operator address, Prometheus metrics and
// health checks. It is standard library net/http served through
// internal/server, so the mail listeners' connection limits and graceful
// shutdown apply (see Serve).
package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/idna"
)

// Security is how a client secures a connection to a service.
type Security uint8

const (
	// Implicit TLS from the first byte (RFC 8314): 993, 995, 465.
	Implicit Security = iota
	// STARTTLS (or STLS) on a plain port: 143, 110, 587.
	StartTLS
	// Plain: no TLS at all (only offered when TLS is off).
	Plain
)

// Endpoint is one client-facing service: a port and how it is secured.
// Port 0 means the service is off.
type Endpoint struct {
	Port     int
	Security Security
}

// Services are the endpoints mail clients are told about, in the order of
// preference within each kind.
type Services struct {
	IMAP       []Endpoint // IMAPS first
	POP3       []Endpoint
	Submission []Endpoint
}

// DomainChecker reports whether the server handles mail for domain
// (lower-case A-labels).
type DomainChecker func(ctx context.Context, domain string) (bool, error)

// Site is the public HTTP side: autoconfig, autodiscover, the
// mobileconfig profile and the MTA-STS policy, for every domain the
// server handles.
type Site struct {
	// Hostname is the server clients connect to (the certificate's name).
	Hostname string
	// IsDomain says which domains get answers; others get 404, so the site
	// does not advertise itself for domains it does not serve.
	IsDomain DomainChecker
	// MTASTS is the policy published at mta-sts.DOMAIN; Mode "" publishes
	// none (404).
	MTASTS Policy
	Logger *slog.Logger

	services atomic.Pointer[Services]
}

// SetServices sets the endpoints announced to clients; it may be called
// while serving (serve sets the bound ports once the listeners are up).
func (s *Site) SetServices(sv Services) { s.services.Store(&sv) }

func (s *Site) svc() Services {
	if p := s.services.Load(); p != nil {
		return *p
	}
	return Services{}
}

// Handler returns the site's handler; other paths are 404.
func (s *Site) Handler() http.Handler {
	mux := http.NewServeMux()
	// Thunderbird: https://autoconfig.DOMAIN/mail/config-v1.1.xml, then
	// https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml (docs/CLIENTS.md).
	mux.HandleFunc("GET /mail/config-v1.1.xml", s.autoconfig)
	mux.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", s.autoconfig)
	// Outlook POSTs a POX request; paths are matched without case below.
	mux.HandleFunc("POST /autodiscover/autodiscover.xml", s.autodiscover)
	mux.HandleFunc("GET /mail.mobileconfig", s.mobileconfig)
	mux.HandleFunc("GET /.well-known/mta-sts.txt", s.mtaSTS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Outlook versions differ in the case of "Autodiscover".
		if strings.EqualFold(r.URL.Path, "/autodiscover/autodiscover.xml") {
			r.URL.Path = "/autodiscover/autodiscover.xml"
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Site) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// requestHost is the request's Host without port and trailing dot,
// lower-case.
func requestHost(r *http.Request) string {
	h := r.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// addressDomain splits an address given by a client into a lower-case
// address and its domain; ok is false when it is not user@domain.
func addressDomain(addr string) (address, domain string, ok bool) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 || len(addr) > 254 || strings.ContainsAny(addr, " \t\r\n<>\"") {
		return "", "", false
	}
	domain = addr[i+1:]
	if a, err := idna.Lookup.ToASCII(domain); err == nil {
		domain = a // domains are stored as A-labels
	}
	return addr, domain, true
}

// served checks the domain against IsDomain, answering the error itself
// when it is not served (404) or the check failed (503).
func (s *Site) served(w http.ResponseWriter, r *http.Request, domain string) bool {
	if domain == "" || s.IsDomain == nil {
		http.NotFound(w, r)
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	ok, err := s.IsDomain(ctx, domain)
	if err != nil {
		s.log().Error("web: domain lookup failed", "domain", domain, "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return false
	}
	if !ok {
		http.NotFound(w, r)
		return false
	}
	return true
}
