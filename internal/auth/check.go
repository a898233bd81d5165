package auth

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// CheckPassword verifies a login and password (USER/PASS, PLAIN, LOGIN) and
// returns the account. It runs argon2id at most once per call: on a cache
// miss for a known account, and also for an unknown account or one without
// a password hash, so that response time does not reveal which addresses
// exist. The memory of concurrent argon2id runs is bounded (see
// Service.argonMem); a call waiting for its share gives up when ctx ends.
func (s *Service) CheckPassword(ctx context.Context, login, password string) (store.Account, error) {
	addr, err := s.NormalizeLogin(login)
	if err != nil {
		return store.Account{}, s.fail(ctx, login, err.Error())
	}
	if password == "" || len(password) > maxPasswordLen {
		return store.Account{}, s.fail(ctx, addr, "empty or over-long password")
	}
	acct, err := s.lookup(ctx, addr)
	if errors.Is(err, ErrFailed) {
		if err := s.burnArgon(ctx, password); err != nil {
			return store.Account{}, err
		}
		return store.Account{}, ErrFailed
	}
	if err != nil {
		return store.Account{}, err
	}
	hash := acct.Credentials.PasswordHash
	if hash == "" {
		if err := s.burnArgon(ctx, password); err != nil {
			return store.Account{}, err
		}
		return store.Account{}, s.fail(ctx, addr, "account has no password hash")
	}
	if s.cache != nil && s.cache.hit(addr, password, hash, s.now()) {
		return acct, nil
	}
	native := IsNativeHash(hash)
	var ok bool
	if native {
		ok, err = s.verifyPassword(ctx, hash, password)
	} else {
		ok, err = verifyForeign(hash, password)
		// Most foreign schemes are fast: without this a refusal would
		// tell an imported account (not yet rehashed) from an unknown
		// one by its speed. A success costs an argon2id run anyway (the
		// rehash).
		if err == nil && !ok {
			if err := s.burnArgon(ctx, password); err != nil {
				return store.Account{}, err
			}
		}
	}
	switch {
	case errors.Is(err, errBadHash):
		s.log.WarnContext(ctx, "stored password hash is malformed", "login", addr)
		return store.Account{}, ErrFailed
	case err != nil:
		return store.Account{}, err
	case !ok:
		return store.Account{}, s.fail(ctx, addr, "wrong password")
	}
	if !native {
		if acct, err = s.rehash(ctx, acct, password); err != nil {
			return store.Account{}, err
		}
		hash = acct.Credentials.PasswordHash
	}
	if s.cache != nil {
		s.cache.add(addr, password, hash, s.now())
	}
	return acct, nil
}

// rehash replaces an imported (foreign) hash, just verified with password,
// by our own argon2id hash and SCRAM keys, keeping the legacy secret. A
// failure to store them is logged, not a failed login: the old hash stays
// and the next login tries again.
func (s *Service) rehash(ctx context.Context, acct store.Account, password string) (store.Account, error) {
	c, err := s.NewCredentials(password, false)
	if err != nil {
		return acct, err
	}
	c.LegacySecret = acct.Credentials.LegacySecret
	if err := s.dir.SetCredentials(ctx, acct.Address, c); err != nil {
		s.log.WarnContext(ctx, "replacing an imported password hash", "login", acct.Address, "err", err)
		return acct, nil
	}
	acct.Credentials = c
	s.log.InfoContext(ctx, "imported password hash replaced by argon2id", "login", acct.Address)
	return acct, nil
}

// CheckAPOP verifies a POP3 APOP command (RFC 1939 §7): digestHex must be
// the MD5 of timestamp (the banner's "<...>" including brackets) followed
// by the account's legacy secret. It fails unless Legacy is on and the
// account has a legacy secret.
func (s *Service) CheckAPOP(ctx context.Context, login, timestamp, digestHex string) (store.Account, error) {
	if !s.legacy {
		return store.Account{}, s.fail(ctx, login, "APOP disabled")
	}
	acct, secret, err := s.legacyAccount(ctx, login)
	if err != nil {
		return store.Account{}, err
	}
	sum := md5.Sum([]byte(timestamp + secret))
	if !equalHex(sum[:], digestHex) {
		return store.Account{}, s.fail(ctx, acct.Address, "wrong APOP digest")
	}
	return acct, nil
}

// legacyAccount looks up an account for APOP or CRAM-MD5 and returns its
// legacy secret, failing when it has none.
func (s *Service) legacyAccount(ctx context.Context, login string) (store.Account, string, error) {
	addr, err := s.NormalizeLogin(login)
	if err != nil {
		return store.Account{}, "", s.fail(ctx, login, err.Error())
	}
	acct, err := s.lookup(ctx, addr)
	if err != nil {
		return store.Account{}, "", err
	}
	if acct.Credentials.LegacySecret == "" {
		return store.Account{}, "", s.fail(ctx, addr, "account has no legacy secret")
	}
	return acct, acct.Credentials.LegacySecret, nil
}

// equalHex compares a digest with a client's hex string, case-insensitively
// and in constant time with respect to the digest.
func equalHex(digest []byte, clientHex string) bool {
	want := hex.EncodeToString(digest)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(clientHex))) == 1
}
