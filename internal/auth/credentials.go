package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/pochta-mail/pochta/internal/store"
)

// NewCredentials hashes password for storage: an argon2id PHC string for
// PLAIN/LOGIN/USER+PASS, SCRAM-SHA-256 keys, and, when legacy is true, the
// plaintext-equivalent secret APOP and CRAM-MD5 need. APOP hashes the
// timestamp with the password itself, so the legacy secret IS the password:
// anyone who reads the database can log in as the user. That is why it is
// per-account opt-in.
func (s *Service) NewCredentials(password string, legacy bool) (store.Credentials, error) {
	if password == "" {
		return store.Credentials{}, errors.New("auth: empty password")
	}
	if len(password) > maxPasswordLen {
		return store.Credentials{}, fmt.Errorf("auth: password longer than %d bytes", maxPasswordLen)
	}
	phc, err := s.hashPassword(context.Background(), password, s.hashParams)
	if err != nil {
		return store.Credentials{}, err
	}
	salt := make([]byte, scramSaltLen)
	if _, err := s.random.Read(salt); err != nil {
		return store.Credentials{}, fmt.Errorf("auth: reading salt: %w", err)
	}
	keys, err := deriveSCRAM(password, salt, s.scramIter)
	if err != nil {
		return store.Credentials{}, err
	}
	c := store.Credentials{PasswordHash: phc, SCRAMSHA256: keys.String()}
	if legacy {
		c.LegacySecret = password
	}
	return c, nil
}
