package tlsutil

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// LetsEncrypt is the default ACME directory (tls.acme_directory).
const LetsEncrypt = acme.LetsEncryptURL

// ACMEOptions configure certificates from an ACME CA (RFC 8555).
type ACMEOptions struct {
	// CacheDir keeps the account key and certificates (mode 0700), so a
	// restart reuses them instead of asking the CA again.
	CacheDir     string
	Email        string // contact for the CA's expiry notices; may be empty
	DirectoryURL string // "" = Let's Encrypt
	// Hostname is the server's name: the certificate served when a client
	// sends no SNI (many mail clients) or a name not allowed.
	Hostname string
	// Allowed says which names may get a certificate; it must refuse
	// names that are not this server's, or anyone could make the server
	// request certificates for any name pointed at it.
	Allowed func(ctx context.Context, host string) error
	// RenewBefore is how long before expiry a certificate is renewed
	// (at most 30 days); 0 = when a third of its lifetime is left.
	RenewBefore time.Duration
	// HTTPClient talks to the CA; nil = the default (tests trust a test
	// CA through it).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// ACME obtains, caches, renews and serves certificates from an ACME CA,
// answering TLS-ALPN-01 challenges in the TLS handshake (port 443) and
// HTTP-01 challenges through HTTPHandler (port 80). A renewed certificate
// is used from the next handshake on, without a restart.
type ACME struct {
	m        *autocert.Manager
	hostname string
	log      *slog.Logger
}

// NewACME sets up the manager; nothing is requested until a handshake (or
// Prefetch) needs a certificate.
func NewACME(o ACMEOptions) *ACME {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := &acme.Client{DirectoryURL: o.DirectoryURL, HTTPClient: o.HTTPClient, UserAgent: "pochta"}
	if client.DirectoryURL == "" {
		client.DirectoryURL = LetsEncrypt
	}
	return &ACME{
		m: &autocert.Manager{
			Prompt:      autocert.AcceptTOS,
			Cache:       autocert.DirCache(o.CacheDir),
			HostPolicy:  hostPolicy(o.Allowed),
			RenewBefore: o.RenewBefore,
			Client:      client,
			Email:       o.Email,
		},
		hostname: strings.ToLower(o.Hostname),
		log:      log,
	}
}

// hostPolicy applies Allowed to the name without a port (an HTTP-01
// request's Host may carry ":80") and lower-case.
func hostPolicy(allowed func(context.Context, string) error) autocert.HostPolicy {
	return func(ctx context.Context, host string) error {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		if allowed == nil {
			return errors.New("acme: no names allowed")
		}
		return allowed(ctx, host)
	}
}

// TLSConfig serves the ACME certificates to every TLS listener. The
// acme-tls/1 protocol is offered only to a client asking for it (the CA's
// validator): advertising it, or any ALPN, to mail clients would make Go
// refuse those that offer other protocols.
func (a *ACME) TLSConfig() *tls.Config {
	base := &tls.Config{GetCertificate: a.GetCertificate, MinVersion: tls.VersionTLS12}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if !slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
			return nil, nil
		}
		c := base.Clone()
		c.GetConfigForClient = nil
		c.NextProtos = []string{acme.ALPNProto}
		return c, nil
	}
	return base
}

// GetCertificate returns the certificate for the client's SNI name, or
// the hostname's when the client sent none or a name that is not allowed
// (an IP address, a name of another server).
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
		return a.m.GetCertificate(hello) // the CA validating a challenge
	}
	if hello.ServerName != "" {
		cert, err := a.m.GetCertificate(hello)
		if err == nil || strings.EqualFold(hello.ServerName, a.hostname) {
			return cert, err
		}
		a.log.Debug("acme: no certificate for the requested name; serving the hostname's", "name", hello.ServerName, "err", err)
	}
	h := *hello
	h.ServerName = a.hostname
	return a.m.GetCertificate(&h)
}

// HTTPHandler answers HTTP-01 challenges under /.well-known/acme-challenge/
// and passes every other request to next.
func (a *ACME) HTTPHandler(next http.Handler) http.Handler {
	if next == nil {
		next = http.NotFoundHandler()
	}
	return a.m.HTTPHandler(next)
}

// Prefetch obtains the hostname's certificate now (in the background at
// start), so the first mail client does not wait for the CA.
func (a *ACME) Prefetch(ctx context.Context) error {
	hello := &tls.ClientHelloInfo{
		ServerName:        a.hostname,
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:   []tls.CurveID{tls.CurveP256},
		CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.m.GetCertificate(hello)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.Join(ctx.Err(), errors.New("acme: certificate request still running"))
	}
}
