package auth

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argonParams are the argon2id cost parameters.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32 // passes
	threads uint8  // lanes
}

// defaultArgon is RFC 9106 §4's second recommended option: m=64 MiB, t=3,
// p=4. The first option (2 GiB) is out of reach for a mail server that must
// take many logins at once on a small box. With the semaphore in Service
// (GOMAXPROCS slots) a 2-core machine holds at most 128 MiB of argon2 memory
// however many logins arrive, and each check costs on the order of 100 ms of
// CPU, which the credentials cache pays once per TTL for clients that poll.
// The parameters are stored in every hash, so raising them later only
// affects new hashes.
var defaultArgon = argonParams{memory: 64 * 1024, time: 3, threads: 4}

const (
	argonSaltLen = 16
	argonKeyLen  = 32
	// Limits on parameters read back from the store: a corrupted or hostile
	// row must not make one login allocate gigabytes or spin for minutes.
	argonMaxMemory = 1024 * 1024 // 1 GiB
	argonMaxTime   = 64
)

var b64 = base64.RawStdEncoding // PHC strings use unpadded standard base64

// errBadHash marks a stored hash we cannot parse; it is an admin problem,
// logged, and reported to the client as ErrFailed.
var errBadHash = errors.New("auth: malformed argon2id hash")

// hashPassword returns the PHC string of password under p with a new salt.
func (s *Service) hashPassword(ctx context.Context, password string, p argonParams) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := s.random.Read(salt); err != nil {
		return "", fmt.Errorf("auth: reading salt: %w", err)
	}
	key, err := s.argon2id(ctx, []byte(password), salt, p, argonKeyLen)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verifyPassword checks password against a PHC string. It returns
// (false, nil) for a wrong password and errBadHash for a malformed hash.
func (s *Service) verifyPassword(ctx context.Context, phc, password string) (bool, error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got, err := s.argon2id(ctx, []byte(password), salt, p, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// burnArgon spends the time of one default verification without a stored
// hash, so that unknown users take as long to refuse as known ones.
func (s *Service) burnArgon(ctx context.Context, password string) error {
	_, err := s.argon2id(ctx, []byte(password), s.processKey[:argonSaltLen], s.burnParams, argonKeyLen)
	return err
}

// argon2id runs one argon2id computation inside a semaphore slot, waiting
// for a slot no longer than ctx allows.
func (s *Service) argon2id(ctx context.Context, password, salt []byte, p argonParams, keyLen uint32) ([]byte, error) {
	select {
	case s.argonSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("auth: waiting to hash: %w", ctx.Err())
	}
	defer func() { <-s.argonSlots }()
	s.argonRuns.Add(1)
	return argon2.IDKey(password, salt, p.time, p.memory, p.threads, keyLen), nil
}

// parsePHC parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash".
func parsePHC(phc string) (argonParams, []byte, []byte, error) {
	var p argonParams
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errBadHash
	}
	for _, kv := range strings.Split(f[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, errBadHash
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, errBadHash
			}
			p.threads = uint8(n)
		default:
			return p, nil, nil, errBadHash
		}
	}
	if p.time < 1 || p.time > argonMaxTime || p.threads < 1 ||
		p.memory < 8*uint32(p.threads) || p.memory > argonMaxMemory {
		return p, nil, nil, errBadHash
	}
	salt, err1 := b64.DecodeString(f[4])
	key, err2 := b64.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}
