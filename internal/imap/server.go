// Package imap is Pochta's IMAP server: IMAP4rev2 (RFC 9051) and IMAP4rev1
// (RFC 3501) over the same store the POP3 server uses, with our own wire
// layer (internal/imap/wire).
//
// The shape of a session, as in internal/pop3: one command table
// (commands.go) says in which states each command is legal; the session
// loop (session.go) starts each command with the bounded parser, checks the
// table once and dispatches to the handler of the command group (auth.go,
// misc.go, mailboxes.go, select.go, fetch.go, search.go, store.go,
// append.go). Handlers parse their own arguments with the parser, write
// untagged responses with the writer and return an error; replyFor
// (errors.go) is the one place that turns errors into tagged BAD/NO with
// RFC 5530 response codes.
//
// A selected mailbox is a view (view.go): the UIDs the client knows, in
// sequence order. Changes from anywhere (other sessions, POP3, deliveries,
// other processes) arrive as store events; the view turns them into
// EXISTS, EXPUNGE and FETCH FLAGS at the points RFC 9051 §7.5.1 allows,
// so sequence numbers never change in the middle of a command.
package imap

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/store"
)

// Authenticator is what the IMAP server needs from internal/auth.
type Authenticator interface {
	CheckPassword(ctx context.Context, login, password string) (store.Account, error)
	Mechanisms(plaintextOK bool) []string
	NewSASL(ctx context.Context, mech string, host string) (auth.SASLSession, error)
	LoginFailed(ctx context.Context, login string, ip netip.Addr) time.Duration
	LoginSucceeded(login string, ip netip.Addr)
}

var _ Authenticator = (*auth.Service)(nil)

// Metrics is what the server reports to a metrics collector
// (internal/metrics.Metrics).
type Metrics interface {
	// Command: one command and its latency, named from the command
	// table ("UID FETCH", "unknown"), never from client input.
	Command(proto, name string, d time.Duration)
	// BytesSent: the octets a session wrote, reported when it ends
	// (TLS record overhead not included).
	BytesSent(proto string, n int64)
	// Panicked: a session or command ended in a recovered panic (a bug),
	// counted under the protocol's name as internal/server counts
	// listeners'.
	Panicked(listener string)
}

// Defaults for zero-valued Server fields.
const (
	// DefaultAppendLimit is the largest APPEND accepted (APPENDLIMIT).
	DefaultAppendLimit = 50 << 20
	// DefaultMaxFetchBatch bounds how many messages a command reads from
	// the store per query, so a huge mailbox streams in steps.
	DefaultMaxFetchBatch = 500
	// DefaultIdleTimeout is the autologout timer once logged in; RFC 9051
	// §5.4 asks for at least 30 minutes.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultAuthIdleTimeout bounds idleness before login.
	DefaultAuthIdleTimeout = 3 * time.Minute
	// DefaultLineTimeout bounds each read once a command has started:
	// the rest of a command line, a literal's next bytes.
	DefaultLineTimeout = time.Minute
	// DefaultWriteTimeout bounds every write to the client.
	DefaultWriteTimeout = 2 * time.Minute
	// DefaultMaxBadCommands closes sessions that keep sending errors.
	DefaultMaxBadCommands = 20
)

// Server is an IMAP server. Set the fields before the first ServeConn; Auth
// and Store are required. A Server must not be copied after first use.
type Server struct {
	Hostname string // "" = "localhost"
	Auth     Authenticator
	Store    store.Mailboxes
	Logger   *slog.Logger // nil = discard
	// TLSConfig enables STARTTLS on plain connections; nil = none.
	TLSConfig *tls.Config
	// AllowPlaintext allows LOGIN and AUTHENTICATE PLAIN on unencrypted
	// non-loopback connections; otherwise they get LOGINDISABLED.
	AllowPlaintext bool
	// AppendLimit is the largest message APPEND accepts; 0 = 50 MiB.
	AppendLimit int64
	// Version is announced by ID; "" = "dev".
	Version string
	// IdleTimeout is the autologout timer once logged in; 0 = 30 minutes.
	IdleTimeout time.Duration
	// AuthIdleTimeout is the idle limit before login; 0 = 3 minutes.
	AuthIdleTimeout time.Duration
	// LineTimeout bounds each read inside a command; 0 = 1 minute.
	LineTimeout time.Duration
	// WriteTimeout bounds each write; 0 = 2 minutes.
	WriteTimeout time.Duration
	// MaxBadCommands is how many erroneous commands in a row a session
	// may send before it is closed; 0 = 20.
	MaxBadCommands int
	// Pacing bounds slow clients and the life of a session, as for every
	// protocol (limits.line_timeout, limits.min_data_rate,
	// limits.max_session): see internal/server.Pacing.
	Pacing server.Pacing
	// Metrics, when set, records each command's latency and the bytes
	// sent per session.
	Metrics Metrics
	// SortCacheSize is how many messages' SORT and THREAD keys the server
	// keeps in memory (sortcache.go); 0 = DefaultSortCacheSize, negative
	// = none.
	SortCacheSize int
	// MaxContextResults bounds the results a session's live SEARCH and
	// SORT contexts (RETURN (UPDATE), searchctx.go) hold when one is
	// made; 0 = DefaultMaxContextResults.
	MaxContextResults int

	nextID    atomic.Uint64
	panics    atomic.Int64
	discardMu sync.Once
	discard   *slog.Logger
	sorts     sortCache
}

// RecoveredPanics reports how many sessions ended in a recovered panic.
// Tests fail when it is not zero.
func (s *Server) RecoveredPanics() int64 { return s.panics.Load() }

func (s *Server) countPanic() {
	s.panics.Add(1)
	if s.Metrics != nil {
		s.Metrics.Panicked("imap")
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	s.discardMu.Do(func() { s.discard = slog.New(slog.NewTextHandler(io.Discard, nil)) })
	return s.discard
}

func (s *Server) hostname() string {
	if s.Hostname == "" {
		return "localhost"
	}
	return s.Hostname
}

func (s *Server) version() string {
	if s.Version == "" {
		return "dev"
	}
	return s.Version
}

func (s *Server) appendLimit() int64 {
	if s.AppendLimit <= 0 {
		return DefaultAppendLimit
	}
	return min(s.AppendLimit, 1<<32-1)
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

func (s *Server) sortCacheSize() int {
	if s.SortCacheSize == 0 {
		return DefaultSortCacheSize
	}
	return max(s.SortCacheSize, 0)
}

func (s *Server) maxContextResults() int {
	if s.MaxContextResults <= 0 {
		return DefaultMaxContextResults
	}
	return s.MaxContextResults
}

func (s *Server) maxBadCommands() int {
	if s.MaxBadCommands <= 0 {
		return DefaultMaxBadCommands
	}
	return s.MaxBadCommands
}

// ServeConn serves one IMAP connection until it ends, and closes c. c may
// be a *tls.Conn (IMAPS); its handshake runs first. When ctx is cancelled
// the session says BYE and ends at its next read.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	sess := newSession(ctx, s, c)
	defer sess.finish()
	defer func() {
		// A safety net, not control flow: log, count (tests fail on it)
		// and end only this session.
		if v := recover(); v != nil {
			s.countPanic()
			sess.endReason = "panic"
			sess.log.Error("imap: panic in session", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	sess.serve()
}
