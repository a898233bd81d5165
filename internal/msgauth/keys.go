// Package msgauth is email authentication: DKIM keys and signing for
// outgoing mail (RFC 6376, Ed25519 per RFC 8463), and for incoming mail an
// SPF evaluator (RFC 7208), DKIM verification and DMARC policy evaluation
// (RFC 7489) summed up in an Authentication-Results header field (RFC
// 8601). DKIM and DMARC parsing come from emersion/go-msgauth; SPF, which
// it lacks, is ours. Every DNS query goes through internal/resolver.
package msgauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Key is one DKIM signing key: DIR/dkim/DOMAIN/SELECTOR.pem.
type Key struct {
	Domain, Selector string
	Signer           crypto.Signer
}

// Algorithms accepted by GenerateKey.
const (
	AlgoRSA     = "rsa"     // RSA-2048, rsa-sha256: what every verifier knows
	AlgoEd25519 = "ed25519" // ed25519-sha256 (RFC 8463): small, not yet verified everywhere
)

// LoadKeys reads every key under dir (DIR/dkim). A missing dir means no
// keys: signing is off until `pochta dkim keygen` makes one.
func LoadKeys(dir string) ([]Key, error) {
	domains, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var keys []Key
	for _, d := range domains {
		if !d.IsDir() {
			continue
		}
		files, err := filepath.Glob(filepath.Join(dir, d.Name(), "*.pem"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			k, err := loadKey(f)
			if err != nil {
				return nil, err
			}
			k.Domain, k.Selector = strings.ToLower(d.Name()), strings.TrimSuffix(filepath.Base(f), ".pem")
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func loadKey(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return Key{}, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return Key{}, fmt.Errorf("%s: not a signing key", path)
	}
	switch s.(type) {
	case *rsa.PrivateKey, ed25519.PrivateKey:
	default:
		return Key{}, fmt.Errorf("%s: DKIM keys are RSA or Ed25519, not %T", path, s)
	}
	return Key{Signer: s}, nil
}

// GenerateKey creates a key and writes it (mode 0600, never over an
// existing file) to dir/DOMAIN/SELECTOR.pem.
func GenerateKey(dir, domain, selector, algo string) (Key, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if domain == "" || strings.ContainsAny(domain, "/\\ @") || strings.HasPrefix(domain, ".") {
		return Key{}, fmt.Errorf("dkim: %q is not a domain name", domain)
	}
	if selector == "" || strings.ContainsAny(selector, "/\\ @;=") || strings.HasPrefix(selector, ".") {
		return Key{}, fmt.Errorf("dkim: %q is not a selector", selector)
	}
	var s crypto.Signer
	var err error
	switch algo {
	case AlgoRSA:
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case AlgoEd25519:
		_, s, err = ed25519.GenerateKey(rand.Reader)
	default:
		return Key{}, fmt.Errorf("dkim: algorithm %q: want rsa or ed25519", algo)
	}
	if err != nil {
		return Key{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(s)
	if err != nil {
		return Key{}, err
	}
	if err := os.MkdirAll(filepath.Join(dir, domain), 0o700); err != nil {
		return Key{}, err
	}
	f, err := os.OpenFile(filepath.Join(dir, domain, selector+".pem"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Key{}, err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return Key{}, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return Key{}, err
	}
	return Key{Domain: domain, Selector: selector, Signer: s}, f.Close()
}

// Record returns the DNS TXT record that publishes the key's public half:
// its name and its text (RFC 6376 3.6.1; RFC 8463 4 for Ed25519, whose p=
// is the bare 32-octet key).
func (k Key) Record() (name, text string) {
	name = k.Selector + "._domainkey." + k.Domain
	switch pub := k.Signer.Public().(type) {
	case ed25519.PublicKey:
		return name, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	default:
		der, _ := x509.MarshalPKIXPublicKey(pub)
		return name, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	}
}
