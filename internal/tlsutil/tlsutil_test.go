package tlsutil

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writePair(t *testing.T, dir, host string) (cert, key string) {
	t.Helper()
	cert, key = filepath.Join(dir, host+".crt"), filepath.Join(dir, host+".key")
	if err := WriteSelfSigned(SelfSigned{Hostname: host}, cert, key); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "mail.example.org")
	fi, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", fi.Mode().Perm())
	}
	s, err := NewCertStore(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.GetCertificate(nil)
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("mail.example.org"); err != nil {
		t.Fatal(err)
	}
	if leaf.NotAfter.Before(time.Now().Add(9 * 365 * 24 * time.Hour)) {
		t.Fatalf("expires too soon: %v", leaf.NotAfter)
	}
	if err := WriteSelfSigned(SelfSigned{Hostname: "x"}, cert, key); err == nil {
		t.Fatal("overwrote an existing key")
	}
	ipCert, ipKey := writePair(t, dir, "127.0.0.1")
	s2, err := NewCertStore(ipCert, ipKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := s2.GetCertificate(nil)
	if leaf, _ := x509.ParseCertificate(c2.Certificate[0]); leaf.VerifyHostname("127.0.0.1") != nil {
		t.Fatal("IP SAN missing")
	}
}

func TestReloadKeepsOldOnFailure(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "one.example")
	s, err := NewCertStore(cert, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.GetCertificate(nil)
	if err := os.WriteFile(cert, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Fatal("reload of garbage succeeded")
	}
	if after, _ := s.GetCertificate(nil); after != before {
		t.Fatal("failed reload replaced the certificate")
	}
	newCert, newKey := writePair(t, dir, "two.example")
	for _, p := range [][2]string{{newCert, cert}, {newKey, key}} {
		if err := os.Rename(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	after, _ := s.GetCertificate(nil)
	if leaf, _ := x509.ParseCertificate(after.Certificate[0]); leaf.Subject.CommonName != "two.example" {
		t.Fatalf("reload served %q", leaf.Subject.CommonName)
	}
}
