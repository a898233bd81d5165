package fetch

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// sealedPrefix marks a password sealed with a Secrets key in the store.
const sealedPrefix = "sealed:v1:"

// Secrets seals the passwords of fetch sources with a key kept in a file
// of its own (mode 0600, the server's user only), so the database alone
// — a dump, a backup, a PostgreSQL operator, a group that may read
// DIR — does not reveal them. The fetcher must present the passwords,
// so they cannot be hashed; this is the next best thing.
type Secrets struct {
	aead cipher.AEAD
}

// KeyFile is the key's file name in the installation directory.
const KeyFile = "fetch.key"

// LoadSecrets reads the key file; with create, a missing one is made
// (exclusively, mode 0600). Without create a missing file is
// fs.ErrNotExist.
func LoadSecrets(path string, create bool) (*Secrets, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		key := make([]byte, 32)
		rand.Read(key)
		f, cerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(cerr, fs.ErrExist) {
			return LoadSecrets(path, false) // made meanwhile by another process
		} else if cerr != nil {
			return nil, fmt.Errorf("creating the fetch key: %w", cerr)
		}
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("writing the fetch key: %w", err)
		}
		b, err = []byte(hex.EncodeToString(key)), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the fetch key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("the fetch key %s is not 64 hex digits", path)
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	return &Secrets{aead: aead}, nil
}

// Seal returns the password as the store keeps it.
func (s *Secrets) Seal(password string) string {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(password), nil))
}

// openPassword returns the password of a stored value: a sealed one is
// opened with s, anything else is the password itself (sources added
// through the store directly, e.g. by tests).
func (s *Secrets) openPassword(stored string) (string, error) {
	if !strings.HasPrefix(stored, sealedPrefix) {
		return stored, nil
	}
	if s == nil {
		return "", fmt.Errorf("the password is sealed and the fetch key (%s) is missing: add the source again", KeyFile)
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(stored, sealedPrefix))
	n := s.aead.NonceSize()
	if err == nil && len(b) > n {
		var plain []byte
		if plain, err = s.aead.Open(nil, b[:n], b[n:], nil); err == nil {
			return string(plain), nil
		}
	}
	return "", fmt.Errorf("the password cannot be opened with the fetch key (%s was replaced?): add the source again", KeyFile)
}
