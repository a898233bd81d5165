package fetch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	if _, err := LoadSecrets(path, false); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadSecrets of a missing key without create: %v", err)
	}
	s, err := LoadSecrets(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	sealed := s.Seal("hunter2")
	if !strings.HasPrefix(sealed, sealedPrefix) || strings.Contains(sealed, "hunter2") || sealed == s.Seal("hunter2") {
		t.Fatalf("Seal = %q", sealed)
	}
	again, err := LoadSecrets(path, true) // exists: read, not replaced
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.openPassword(sealed); err != nil || got != "hunter2" {
		t.Fatalf("openPassword = %q, %v", got, err)
	}
	if got, err := again.openPassword("plain"); err != nil || got != "plain" {
		t.Fatalf("openPassword of an unsealed password = %q, %v", got, err)
	}
	other, _ := LoadSecrets(filepath.Join(t.TempDir(), KeyFile), true)
	if _, err := other.openPassword(sealed); err == nil || !strings.Contains(err.Error(), "cannot be opened") {
		t.Errorf("openPassword with another key: %v", err)
	}
	var none *Secrets
	if _, err := none.openPassword(sealed); err == nil || !strings.Contains(err.Error(), "fetch key (fetch.key) is missing") {
		t.Errorf("openPassword without a key: %v", err)
	}
}
