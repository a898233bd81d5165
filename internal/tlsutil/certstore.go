// Package tlsutil holds Pochta's TLS plumbing: a certificate store that
// reloads from disk (SIGHUP) without a restart, and the self-signed
// certificate `pochta init` creates.
package tlsutil

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
)

// CertStore serves one certificate/key pair through GetCertificate, so a
// reload takes effect for the next handshake while sessions already running
// keep theirs.
type CertStore struct {
	certFile, keyFile string
	logger            *slog.Logger

	mu   sync.RWMutex
	cert *tls.Certificate
}

// NewCertStore loads the pair; an error here is fatal for the caller (there
// is no old certificate to keep).
func NewCertStore(certFile, keyFile string, logger *slog.Logger) (*CertStore, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &CertStore{certFile: certFile, keyFile: keyFile, logger: logger}
	cert, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cert = cert
	return s, nil
}

func (s *CertStore) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load %s and %s: %w", s.certFile, s.keyFile, err)
	}
	return &cert, nil
}

// Reload reads the files again. On failure the old certificate stays in
// service (a half-copied file must not take TLS down) and the error is
// logged and returned.
func (s *CertStore) Reload() error {
	cert, err := s.load()
	if err != nil {
		s.logger.Error("certificate reload failed; keeping the old certificate", "err", err)
		return err
	}
	s.mu.Lock()
	s.cert = cert
	s.mu.Unlock()
	subject := ""
	if cert.Leaf != nil {
		subject = cert.Leaf.Subject.String()
	}
	s.logger.Info("certificate reloaded", "cert", s.certFile, "subject", subject)
	return nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (s *CertStore) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cert, nil
}

// TLSConfig returns a server configuration serving the store's
// certificate. TLS 1.2 is the floor (RFC 8996 deprecates 1.0 and 1.1).
func (s *CertStore) TLSConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: s.GetCertificate,
		MinVersion:     tls.VersionTLS12,
	}
}
