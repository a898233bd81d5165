// Package smtp is Pochta's SMTP server: the MX service (mail for local
// domains from anyone, never relaying) and message submission (RFC 6409,
// on STARTTLS and implicit-TLS ports, AUTH required).
//
// The protocol layer is ours: a session per connection (conn.go) reading
// bounded lines (line.go), one command table with the states each command
// is legal in (commands.go), a file per command group (hello.go: EHLO,
// HELO, STARTTLS; mail.go: MAIL, RCPT; data.go: DATA, BDAT; auth.go:
// AUTH with internal/auth's SASL sessions), and replies as values
// (errors.go). It replaced emersion/go-smtp's server, whose fixed replies,
// command parser and BDAT goroutine could not be changed (issue 10).
//
// Every message goes through internal/delivery, the path `pochta deliver`
// shares: recipient resolution at RCPT time, quotas, trace fields, and one
// durable store transaction before the 250 reply. Errors become SMTP
// replies in one place, errors.go.
package smtp

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/store"
)

// Authenticator is what submission needs from internal/auth.
type Authenticator interface {
	Mechanisms(plaintextOK bool) []string
	NewSASL(ctx context.Context, mech string, host string) (auth.SASLSession, error)
	LoginFailed(ctx context.Context, login string, ip netip.Addr) time.Duration
	LoginSucceeded(login string, ip netip.Addr)
}

var _ Authenticator = (*auth.Service)(nil)

// Mode is what a listener is for.
type Mode uint8

const (
	// ModeMX receives mail for local domains from anyone; no AUTH.
	ModeMX Mode = iota
	// ModeSubmission takes mail from authenticated users to anywhere.
	ModeSubmission
)

func (m Mode) String() string {
	if m == ModeSubmission {
		return "submission"
	}
	return "smtp"
}

// Defaults for zero-valued Server fields.
const (
	// DefaultCommandTimeout is RFC 5321 section 4.5.3.2.7's server timeout.
	DefaultCommandTimeout = 5 * time.Minute
	// DefaultDataTimeout is RFC 5321 section 4.5.3.2.5's data block timeout.
	DefaultDataTimeout   = 3 * time.Minute
	DefaultMaxRecipients = 100
	DefaultMaxLineLength = 16384
	DefaultMaxErrors     = 20
	DefaultMaxSize       = 50 << 20
	// handshakeTimeout bounds the implicit-TLS handshake.
	handshakeTimeout = 30 * time.Second
)

// Metrics is what the server reports to a metrics collector.
type Metrics interface {
	Command(proto, name string, d time.Duration)
	BytesSent(proto string, n int64)
}

// Server is an SMTP server. Set the fields, then take a Handler per
// listener; do not change them afterwards. Resolver and Deliverer are
// required, Auth too for submission.
type Server struct {
	Hostname  string // greeting and Received fields; "" = "localhost"
	Auth      Authenticator
	Resolver  *delivery.Resolver
	Deliverer *delivery.Deliverer
	Logger    *slog.Logger // nil = discard
	// Metrics, when set, records the latency of every command (DATA and
	// BDAT include receiving the message) and the bytes sent per session.
	Metrics Metrics
	// TLSConfig enables STARTTLS (and is required for implicit TLS).
	TLSConfig *tls.Config
	// AllowPlaintext offers PLAIN and LOGIN on unencrypted non-loopback
	// connections (auth.allow_plaintext). Loopback clients always may.
	AllowPlaintext bool
	MaxMessageSize int64 // octets; 0 = DefaultMaxSize
	MaxRecipients  int
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	MaxLineLength  int
	// RejectBareLF refuses DATA with a line ending in a bare LF (550 5.5.2)
	// instead of storing it as CRLF.
	RejectBareLF bool
	// MaxErrors is how many refused commands a session may collect before
	// it is closed with 421.
	MaxErrors int
	// FromAny lets submission accounts write any From: header
	// (smtp.from_policy = any); by default every From: address must be
	// theirs.
	FromAny bool
	// RecipientsPerHour bounds the recipients one submission account may
	// send to in any hour; 0 = unlimited. They are counted in SendLog.
	RecipientsPerHour int
	// SendLog counts what each account sent, in the store, so every
	// server on the database counts together and a restart forgets
	// nothing; nil applies no RecipientsPerHour.
	SendLog store.SendLog
	// Pacing bounds slow clients and session lifetimes (limits.*): the
	// idle waits are CommandTimeout and DataTimeout.
	Pacing server.Pacing
	// QuotaPermanent answers over-quota recipients with 552 5.2.2 instead
	// of 452 4.2.2.
	QuotaPermanent bool
	// Checker, when set, runs SPF, DKIM and DMARC on MX mail and adds an
	// Authentication-Results field (authcheck.go). DMARCReject refuses a
	// message failing DMARC under a p=reject policy with 550 5.7.1.
	Checker     InboundChecker
	DMARCReject bool

	nextID  atomic.Uint64
	writers sync.Pool // *bufio.Writer, held only while answering
}

func (s *Server) hostname() string {
	if s.Hostname == "" {
		return "localhost"
	}
	return s.Hostname
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (s *Server) maxSize() int64 { return orDefault(s.MaxMessageSize, DefaultMaxSize) }
func (s *Server) maxErrors() int { return orDefault(s.MaxErrors, DefaultMaxErrors) }
func (s *Server) maxLine() int   { return orDefault(s.MaxLineLength, DefaultMaxLineLength) }
func (s *Server) maxRecipients() int {
	return orDefault(s.MaxRecipients, DefaultMaxRecipients)
}
func (s *Server) commandTimeout() time.Duration {
	return orDefault(s.CommandTimeout, DefaultCommandTimeout)
}
func (s *Server) dataTimeout() time.Duration { return orDefault(s.DataTimeout, DefaultDataTimeout) }

// writeTimeout bounds writing held replies; a client that reads nothing
// for this long is gone.
func (s *Server) writeTimeout() time.Duration { return time.Minute }
