// Package pop3 is Pochta's POP3 server: RFC 1939 with the extensions a
// modern client expects (RFC 2449 CAPA and response codes, RFC 2595 STLS,
// RFC 3206 response codes, RFC 5034 SASL AUTH, RFC 6856 UTF8 and LANG).
//
// A Server serves one connection per ServeConn call; listening, connection
// limits and TLS ports live in internal/server. The maildrop comes from a
// store.Maildrops and credentials are checked by an Authenticator (in
// production *auth.Service).
//
// The shape of a session: one command table (commands.go) says in which
// states each command is legal; the session loop (session.go) reads one
// bounded line (line.go), checks the table once and dispatches to the
// handler of the command group (auth.go, sasl.go, transaction.go, retr.go,
// capa.go, stls.go). Handlers return errors; replyError (errors.go) is the
// one place that turns them into "-ERR [CODE] text".
package pop3

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/store"
)

// Authenticator is what the POP3 server needs from internal/auth: exactly
// the *auth.Service methods it calls, so tests and other wirings can see the
// whole seam at a glance.
type Authenticator interface {
	// NormalizeLogin gives the canonical address for logs and throttling.
	NormalizeLogin(login string) (string, error)
	CheckPassword(ctx context.Context, login, password string) (store.Account, error)
	CheckAPOP(ctx context.Context, login, timestamp, digestHex string) (store.Account, error)
	// LegacyEnabled reports whether APOP (and CRAM-MD5) are on; the
	// greeting carries an APOP timestamp only then.
	LegacyEnabled() bool
	Mechanisms(plaintextOK bool) []string
	NewSASL(ctx context.Context, mech string, host string) (auth.SASLSession, error)
	// LoginFailed records a failed login and waits out its throttle delay.
	LoginFailed(ctx context.Context, login string, ip netip.Addr) time.Duration
	LoginSucceeded(login string, ip netip.Addr)
}

var _ Authenticator = (*auth.Service)(nil)

// Defaults for the zero-valued Server fields.
const (
	// DefaultIdleTimeout is the autologout timer in TRANSACTION state;
	// RFC 1939 §3 requires at least 10 minutes.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultAuthIdleTimeout bounds idleness before login. RFC 1939's
	// 10-minute floor protects users who have a maildrop open; an
	// unauthenticated connection holds nothing, so it gets the 3 minutes
	// Dovecot's login processes allow (lower still if IdleTimeout is).
	DefaultAuthIdleTimeout = 3 * time.Minute
	// DefaultLineTimeout bounds the rest of a command line once its first
	// byte arrived: a client that starts a command finishes it promptly.
	DefaultLineTimeout = time.Minute
	// DefaultWriteTimeout bounds every write to the client.
	DefaultWriteTimeout = 2 * time.Minute
	// DefaultMaxBadCommands closes sessions that keep sending errors.
	DefaultMaxBadCommands = 10
	// maxLastLogins bounds the LOGIN-DELAY memory (one entry per account).
	maxLastLogins = 100_000
)

// Metrics is what the server reports to a metrics collector.
type Metrics interface {
	Command(proto, name string, d time.Duration)
	BytesSent(proto string, n int64)
	// Panicked: a session ended in a recovered panic (a bug), counted
	// under the protocol's name as internal/server counts listeners'.
	Panicked(listener string)
}

// Server is a POP3 server. Set the fields before the first ServeConn and do
// not change them afterwards; every zero value is a usable default except
// Auth and Maildrops, which are required. A Server must not be copied after
// first use.
type Server struct {
	// Metrics, when set, records each command's latency and the bytes
	// sent per session (internal/metrics.Metrics).
	Metrics Metrics
	// Hostname appears in the greeting, the APOP timestamp and CRAM-MD5
	// challenges. "" = "localhost".
	Hostname string
	// Auth checks credentials (required).
	Auth Authenticator
	// Maildrops opens the users' maildrops (required).
	Maildrops store.Maildrops
	// Logger receives one line per session and errors; nil = discard.
	Logger *slog.Logger
	// TLSConfig enables STLS on plain connections; nil = no STLS.
	TLSConfig *tls.Config
	// AllowPlaintext allows USER/PASS and AUTH PLAIN/LOGIN on unencrypted
	// non-loopback connections (Dovecot's disable_plaintext_auth=no).
	// Loopback connections are always allowed.
	AllowPlaintext bool
	// IdleTimeout is the autologout timer once logged in; 0 = 10 minutes.
	// RFC 1939 §3 asks for at least 10 minutes; shorter values are
	// accepted (tests use them) but do not conform. On expiry the client
	// gets "-ERR Autologout; idle for too long" and nothing is deleted.
	IdleTimeout time.Duration
	// AuthIdleTimeout is the idle limit before login; 0 = 3 minutes. It is
	// never longer than IdleTimeout.
	AuthIdleTimeout time.Duration
	// LineTimeout bounds reading the rest of a line after its first byte;
	// 0 = 1 minute.
	LineTimeout time.Duration
	// Pacing bounds the session's lifetime (limits.max_session); the
	// line's own phases are IdleTimeout and LineTimeout (line.go).
	Pacing server.Pacing
	// WriteTimeout bounds each write to the client; 0 = 2 minutes.
	WriteTimeout time.Duration
	// LoginDelay is the RFC 2449 LOGIN-DELAY: the minimum time between two
	// logins of one account; 0 = none.
	LoginDelay time.Duration
	// Expire is how long messages are kept after their first retrieval
	// (RFC 2449 EXPIRE); 0 = forever (EXPIRE NEVER). Expired messages are
	// removed at login, before the maildrop is opened.
	Expire time.Duration
	// EnableLAST turns on the obsolete RFC 1725 LAST command.
	EnableLAST bool
	// MaxBadCommands is how many erroneous commands a session may send
	// before it is closed; 0 = 10.
	MaxBadCommands int
	// Now is the clock; nil = time.Now.
	Now func() time.Time

	nextID      atomic.Uint64
	panics      atomic.Int64
	writers     sync.Pool // *bufio.Writer, held only while answering
	copyBuffers sync.Pool // *[]byte of copyBufferSize, held only during RETR/TOP
	// aheadHold replaces defaultAheadHold (tests shorten it).
	aheadHold   time.Duration
	loginMu     sync.Mutex
	lastLogins  map[int64]time.Time // account ID -> last login, for LOGIN-DELAY
	discardOnce sync.Once
	discardLog  *slog.Logger
}

// RecoveredPanics reports how many sessions ended in a recovered panic.
// Tests fail when it is not zero.
func (s *Server) RecoveredPanics() int64 { return s.panics.Load() }

func (s *Server) hostname() string {
	if s.Hostname == "" {
		return "localhost"
	}
	return s.Hostname
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	s.discardOnce.Do(func() { s.discardLog = slog.New(slog.NewTextHandler(io.Discard, nil)) })
	return s.discardLog
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s *Server) idleTimeout() time.Duration { return orDefault(s.IdleTimeout, DefaultIdleTimeout) }

func (s *Server) authIdleTimeout() time.Duration {
	return min(orDefault(s.AuthIdleTimeout, DefaultAuthIdleTimeout), s.idleTimeout())
}

func (s *Server) lineTimeout() time.Duration  { return orDefault(s.LineTimeout, DefaultLineTimeout) }
func (s *Server) writeTimeout() time.Duration { return orDefault(s.WriteTimeout, DefaultWriteTimeout) }

func (s *Server) maxBadCommands() int {
	if s.MaxBadCommands <= 0 {
		return DefaultMaxBadCommands
	}
	return s.MaxBadCommands
}

// SharedLoginTimes is an ability of a store that several server nodes
// share (the PostgreSQL engine): each account's last POP3 login, kept for
// all nodes, so LOGIN-DELAY holds whichever node a client picks. The
// Server uses it when Maildrops has it (and LoginDelay is set).
type SharedLoginTimes interface {
	LastPOP3Login(ctx context.Context, accountID int64) (time.Time, error)
	RecordPOP3Login(ctx context.Context, accountID int64, at time.Time) error
}

// loginTooSoon reports whether the account logged in less than LoginDelay
// ago, on this node or (SharedLoginTimes) any other. It does not record
// anything: a refused login does not restart the delay. A shared store
// that cannot answer counts as no earlier login.
func (s *Server) loginTooSoon(ctx context.Context, accountID int64, now time.Time) bool {
	if s.LoginDelay <= 0 {
		return false
	}
	s.loginMu.Lock()
	last, ok := s.lastLogins[accountID]
	s.loginMu.Unlock()
	if ok && now.Sub(last) < s.LoginDelay {
		return true
	}
	if shared, ok := s.Maildrops.(SharedLoginTimes); ok {
		if last, err := shared.LastPOP3Login(ctx, accountID); err == nil && !last.IsZero() {
			return now.Sub(last) < s.LoginDelay
		}
	}
	return false
}

// recordLogin remembers a successful login for LOGIN-DELAY, here and
// (SharedLoginTimes) for the other nodes. The map is
// bounded: when full, entries older than LoginDelay (which can no longer
// refuse anything) are dropped; if that frees nothing, the whole map is
// dropped, which only ever lets a login through early.
func (s *Server) recordLogin(ctx context.Context, accountID int64, now time.Time) error {
	if s.LoginDelay <= 0 {
		return nil
	}
	s.loginMu.Lock()
	if s.lastLogins == nil {
		s.lastLogins = make(map[int64]time.Time)
	}
	if _, ok := s.lastLogins[accountID]; !ok && len(s.lastLogins) >= maxLastLogins {
		for id, t := range s.lastLogins {
			if now.Sub(t) >= s.LoginDelay {
				delete(s.lastLogins, id)
			}
		}
		if len(s.lastLogins) >= maxLastLogins {
			clear(s.lastLogins)
		}
	}
	s.lastLogins[accountID] = now
	s.loginMu.Unlock()
	if shared, ok := s.Maildrops.(SharedLoginTimes); ok {
		return shared.RecordPOP3Login(ctx, accountID, now)
	}
	return nil
}

// ServeConn serves one POP3 connection until it ends and closes c. c may
// be a *tls.Conn (POP3S); its handshake runs first. When ctx is cancelled
// the session ends at its next read without entering UPDATE (nothing is
// deleted); a session already in UPDATE finishes its transaction first.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	sess := newSession(ctx, s, c)
	defer sess.finish()
	defer func() {
		// A safety net, not control flow: log, count (tests fail on it)
		// and end only this session.
		if v := recover(); v != nil {
			s.panics.Add(1)
			if s.Metrics != nil {
				s.Metrics.Panicked("pop3")
			}
			sess.endReason = "panic"
			sess.log.Error("pop3: panic in session", "panic", v, "stack", stack())
		}
	}()
	sess.serve()
}
