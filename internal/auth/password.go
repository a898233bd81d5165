package auth

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
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
// take many logins at once on a small box. With the memory semaphore in
// Service (Options.HashMemory, at most GOMAXPROCS hashes) a 2-core machine
// holds at most 128 MiB of argon2 memory however many logins arrive, and each check costs on the order of 100 ms of
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

// argon2id runs one argon2id computation once the memory it needs is free
// (argonMem), waiting no longer than ctx allows. A hash that needs more than
// the whole budget (a stored hash with a high cost) waits for all of it, so
// it runs alone.
func (s *Service) argon2id(ctx context.Context, password, salt []byte, p argonParams, keyLen uint32) ([]byte, error) {
	w := min(int64(p.memory), s.argonBudget)
	if err := s.argonMem.Acquire(ctx, w); err != nil {
		return nil, fmt.Errorf("auth: waiting to hash: %w", err)
	}
	defer s.argonMem.Release(w)
	held := s.argonHeld.Add(int64(p.memory))
	defer s.argonHeld.Add(-int64(p.memory))
	for {
		peak := s.argonPeak.Load()
		if held <= peak || s.argonPeak.CompareAndSwap(peak, held) {
			break
		}
	}
	s.argonRuns.Add(1)
	key := argon2.IDKey(password, salt, p.time, p.memory, p.threads, keyLen)
	if p.memory >= gcAfterHashKiB {
		// The hash's memory is garbage now, the largest allocation the
		// process makes, and the collector's pacer would let such garbage
		// pile up to the size of everything live (hashes in flight
		// included) before collecting: 20 logins at once took a 2-core
		// server to 288 MB without this, 158 MB with it. Collecting while
		// the memory is still counted as held means the next hash reuses
		// it; a collection costs a few ms against the hash's ~100 ms.
		runtime.GC()
	}
	return key, nil
}

// gcAfterHashKiB: hashes of at least this much memory are collected at
// once (the default 64 MiB ones; not the cheap hashes of tests).
const gcAfterHashKiB = 16 << 10

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
