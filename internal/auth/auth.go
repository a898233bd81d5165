// Package auth authenticates mail users: password hashes (argon2id), the
// SCRAM-SHA-256 keys of RFC 5802/7677, the SASL mechanisms the protocol
// servers offer (PLAIN, LOGIN, SCRAM-SHA-256, CRAM-MD5), the POP3 APOP check,
// a cache of verified credentials and a brute-force throttle.
//
// Every credential problem (unknown user, wrong password, bad SASL syntax,
// legacy mechanism disabled) is reported as ErrFailed, so the wire never
// tells an attacker which part was wrong; the reason is logged at debug level
// with the login, never with the password. Backend failures wrap
// store.ErrTemporary.
package auth

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/pochta-mail/pochta/internal/store"
)

var (
	// ErrFailed means bad login, password, proof or syntax; it never says which.
	ErrFailed = errors.New("auth: authentication failed")
	// ErrUnknownMechanism is returned by NewSASL for a mechanism this
	// service does not offer.
	ErrUnknownMechanism = errors.New("auth: unknown SASL mechanism")
)

// Options configure a Service. The zero value of every field is usable
// except Directory, which is required.
type Options struct {
	Directory store.Directory
	Logger    *slog.Logger     // nil = discard
	Now       func() time.Time // nil = time.Now
	// CacheTTL is how long a verified password stays in the credentials
	// cache; 0 = 5 minutes; <0 disables the cache.
	CacheTTL time.Duration
	// DefaultDomain is appended to logins without a domain; "" = such
	// logins fail.
	DefaultDomain string
	// Separators are SDPS-style characters accepted instead of '@' in
	// logins ("user+example.com"); "" = none. The config default is "+%".
	Separators string
	// Legacy enables APOP and CRAM-MD5 server-wide. An account still needs
	// its own legacy secret.
	Legacy bool
	// SCRAMIterations is the PBKDF2 iteration count NewCredentials uses;
	// 0 = 4096 (the RFC 7677 minimum).
	SCRAMIterations int
	// Argon2 is the cost of new password hashes (and of the dummy hash
	// spent on unknown accounts); zero fields take RFC 9106's second
	// recommended option (64 MiB, 3 passes, 4 lanes). Existing hashes are
	// checked with the parameters stored in them. Tests lower it: argon2id
	// under the race detector is slow.
	Argon2 Argon2Params
	// HashMemory bounds the argon2id memory (bytes) that concurrent
	// password checks may hold at once; 0 = 256 MiB. Logins beyond it
	// wait for their turn (and give up when their context ends). It is
	// never less than one hash of Argon2's cost, and concurrency is also
	// capped at GOMAXPROCS hashes of that cost, since each is CPU work.
	HashMemory int64
}

// Argon2Params are argon2id cost parameters.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

const (
	defaultCacheTTL        = 5 * time.Minute
	defaultSCRAMIterations = 4096
	defaultHashMemory      = 256 << 20
	// maxPasswordLen bounds what we hash. Longer passwords are refused
	// rather than silently truncated.
	maxPasswordLen = 1024
)

// Service authenticates users against a store.Directory. It is safe for
// concurrent use.
type Service struct {
	dir           store.Directory
	log           *slog.Logger
	now           func() time.Time
	defaultDomain string
	separators    string
	legacy        bool
	scramIter     int

	// argonMem bounds the memory of concurrent argon2id computations, in
	// KiB (argonBudget of it): each one holds the memory its parameters
	// name (a stored hash may name more than new hashes use), so a login
	// flood costs at most argonBudget KiB plus one collection's garbage;
	// extra logins queue (and give up when their context ends) instead of
	// exhausting memory.
	argonMem    *semaphore.Weighted
	argonBudget int64
	// argonHeld and argonPeak are the KiB of argon2id memory in use now and
	// at most so far; tests read the peak.
	argonHeld, argonPeak atomic.Int64
	// hashParams are the costs of new hashes (Options.Argon2).
	hashParams argonParams
	// burnParams are the costs burnArgon spends for unknown accounts: the
	// same as new hashes, so refusals take as long as checks.
	burnParams argonParams
	// argonRuns counts argon2id computations; tests use it to prove that
	// cache hits skip the hash.
	argonRuns atomic.Int64

	cache    *credCache // nil when disabled
	throttle *throttle
	shared   SharedThrottle // the cluster's counters, when the store has them

	// random fills nonces and salts; tests replace it to replay RFC vectors.
	random io.Reader
	// scramNonce, when set, replaces the random SCRAM server nonce (tests
	// replay the RFC 7677 example with it).
	scramNonce func() string
	// processKey keys the cache's password hashes and the fake SCRAM salts
	// of unknown users. It never leaves the process.
	processKey [32]byte
}

// New returns a Service using o.
func New(o Options) *Service {
	s := &Service{
		dir:           o.Directory,
		log:           o.Logger,
		now:           o.Now,
		defaultDomain: o.DefaultDomain,
		separators:    o.Separators,
		legacy:        o.Legacy,
		scramIter:     o.SCRAMIterations,
		random:        rand.Reader,
	}
	s.hashParams = argonParams{
		memory:  cmp.Or(o.Argon2.MemoryKiB, defaultArgon.memory),
		time:    cmp.Or(o.Argon2.Time, defaultArgon.time),
		threads: cmp.Or(o.Argon2.Threads, defaultArgon.threads),
	}
	s.burnParams = s.hashParams
	// The budget: HashMemory, but no more than GOMAXPROCS hashes of the
	// new-hash cost run at once (each is CPU work), and never less than one.
	one := int64(s.hashParams.memory)
	s.argonBudget = max(one, min(cmp.Or(o.HashMemory, defaultHashMemory)>>10, int64(runtime.GOMAXPROCS(0))*one))
	s.argonMem = semaphore.NewWeighted(s.argonBudget)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.scramIter <= 0 {
		s.scramIter = defaultSCRAMIterations
	}
	rand.Read(s.processKey[:]) // crypto/rand.Read never fails (Go 1.24+)
	ttl := o.CacheTTL
	if ttl == 0 {
		ttl = defaultCacheTTL
	}
	if ttl > 0 {
		s.cache = newCredCache(ttl, s.processKey)
	}
	s.throttle = newThrottle()
	s.shared, _ = o.Directory.(SharedThrottle)
	return s
}

// LegacyEnabled reports whether APOP and CRAM-MD5 are enabled server-wide.
func (s *Service) LegacyEnabled() bool { return s.legacy }

// Mechanisms lists the SASL mechanisms to advertise, in this order: PLAIN,
// LOGIN (both only when plaintextOK, i.e. on TLS), SCRAM-SHA-256, CRAM-MD5
// (only when Legacy).
func (s *Service) Mechanisms(plaintextOK bool) []string {
	var m []string
	if plaintextOK {
		m = append(m, mechPLAIN, mechLOGIN)
	}
	m = append(m, mechSCRAMSHA256)
	if s.legacy {
		m = append(m, mechCRAMMD5)
	}
	return m
}

// lookup fetches the account for a normalised address, mapping "no such
// account" to ErrFailed and backend trouble to store.ErrTemporary.
func (s *Service) lookup(ctx context.Context, addr string) (store.Account, error) {
	a, err := s.dir.Account(ctx, addr)
	switch {
	case err == nil:
		return a, nil
	case errors.Is(err, store.ErrNotFound):
		s.log.DebugContext(ctx, "auth failed", "login", addr, "reason", "unknown account")
		return store.Account{}, ErrFailed
	case ctx.Err() != nil:
		return store.Account{}, fmt.Errorf("auth: looking up %s: %w", addr, ctx.Err())
	case errors.Is(err, store.ErrTemporary):
		return store.Account{}, fmt.Errorf("auth: looking up %s: %w", addr, err)
	default:
		return store.Account{}, fmt.Errorf("auth: looking up %s: %w: %w", addr, store.ErrTemporary, err)
	}
}

// fail logs why a login failed and returns ErrFailed.
func (s *Service) fail(ctx context.Context, login, reason string) error {
	s.log.DebugContext(ctx, "auth failed", "login", login, "reason", reason)
	return ErrFailed
}
