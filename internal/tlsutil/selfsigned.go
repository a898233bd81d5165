package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// SelfSigned describes the certificate `pochta init` creates so TLS works
// from the first start; operators replace it with a CA-issued one.
type SelfSigned struct {
	Hostname string        // subject CN and DNS SAN (an IP literal becomes an IP SAN)
	Validity time.Duration // 0 = DefaultValidity
	Now      time.Time     // zero = time.Now()
}

// DefaultValidity is long because nobody renews a self-signed placeholder;
// clients that pin it would break on expiry.
const DefaultValidity = 10 * 365 * 24 * time.Hour

// WriteSelfSigned creates an ECDSA P-256 key and a self-signed certificate
// and writes them as PEM: the key with mode 0600, created exclusively so an
// existing key is never overwritten.
func WriteSelfSigned(o SelfSigned, certFile, keyFile string) error {
	if o.Validity == 0 {
		o.Validity = DefaultValidity
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tls: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("tls: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.Hostname},
		NotBefore:             o.Now.Add(-time.Hour), // tolerate clients with a slow clock
		NotAfter:              o.Now.Add(o.Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(o.Hostname); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{o.Hostname}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tls: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tls: marshal key: %w", err)
	}
	if err := writePEM(keyFile, 0o600, "PRIVATE KEY", keyDER); err != nil {
		return err
	}
	return writePEM(certFile, 0o644, "CERTIFICATE", der)
}

func writePEM(path string, mode os.FileMode, typ string, der []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("tls: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("tls: sync %s: %w", path, err)
	}
	return f.Close()
}
