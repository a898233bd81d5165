package server

import (
	"cmp"
	"net"
	"sync"
	"time"
)

// Pacing bounds how slowly a client may talk, the same way on every
// protocol (config keys limits.line_timeout, limits.min_data_rate and
// limits.max_session). It works at the transport level, so it holds under
// TLS and needs no knowledge of the protocol's syntax:
//
//   - A burst is what the client sends between two replies of the server.
//     Its first byte may take the protocol's idle timeout (RFC 5321's 5
//     minutes, RFC 1939's 10, IMAP's 30) to arrive.
//   - Once it started, a burst must be done within LineTimeout plus one
//     second per MinRate octets received: a command line (bounded to a few
//     KiB) has about LineTimeout, message data (DATA, BDAT chunks, IMAP
//     APPEND literals) must keep MinRate octets per second on average. A
//     client that drips one byte every few seconds, before or inside DATA,
//     is cut off after LineTimeout.
//   - A session ends MaxSession after it started, however busy it is.
//
// The zero value applies the defaults below.
type Pacing struct {
	LineTimeout time.Duration // 0 = DefaultLineTimeout
	MinRate     int64         // octets per second; 0 = DefaultMinRate
	MaxSession  time.Duration // 0 = DefaultMaxSession
}

// Defaults of the Pacing fields (and of the config keys).
const (
	DefaultLineTimeout = time.Minute
	DefaultMinRate     = 1024
	DefaultMaxSession  = time.Hour
)

func (p Pacing) lineTimeout() time.Duration { return cmp.Or(p.LineTimeout, DefaultLineTimeout) }
func (p Pacing) minRate() int64             { return cmp.Or(p.MinRate, DefaultMinRate) }
func (p Pacing) maxSession() time.Duration  { return cmp.Or(p.MaxSession, DefaultMaxSession) }

// Start returns the pace of a session starting at now.
func (p Pacing) Start(now time.Time) *Pace {
	return &Pace{p: p, start: now, end: now.Add(p.maxSession())}
}

// Pace tracks one session against its Pacing. One goroutine reads the
// connection and calls Replied, ReadDeadline and Received; End, Cap,
// CapWrite and Expired may be called from any goroutine (a writer capping its
// deadline).
//
// A protocol that owns its reads calls Replied after writing a reply,
// ReadDeadline before each read and Received after it. One that reads
// line by line with its own idle/line phases (POP3's line.go) uses Cap to
// keep its deadlines inside the session's lifetime.
type Pace struct {
	p          Pacing
	start, end time.Time
	inBurst    bool
	burstStart time.Time
	burstBytes int64
}

// End is when the session's lifetime runs out.
func (s *Pace) End() time.Time { return s.end }

// Expired reports whether the session outlived MaxSession at now.
func (s *Pace) Expired(now time.Time) bool { return !now.Before(s.end) }

// Cap returns t, or the end of the session if that comes first.
func (s *Pace) Cap(t time.Time) time.Time {
	if t.After(s.end) {
		return s.end
	}
	return t
}

// FarewellGrace is how long after the end of a session a write may still
// take: the reply that says why the session ends must get out.
const FarewellGrace = 5 * time.Second

// CapWrite returns the write deadline t, or the end of the session plus
// FarewellGrace if that comes first: a client that stops reading cannot
// hold the session past its lifetime either.
func (s *Pace) CapWrite(t time.Time) time.Time {
	if end := s.end.Add(FarewellGrace); t.After(end) {
		return end
	}
	return t
}

// Replied records that the server answered: the client's next byte
// starts a new burst.
func (s *Pace) Replied() { s.inBurst = false }

// ReadDeadline is the deadline for the next read at now. idle is the
// protocol's wait for the first byte of a burst (and its bound on any
// single wait inside one, RFC 5321's 3-minute data block timeout say).
func (s *Pace) ReadDeadline(now time.Time, idle time.Duration) time.Time {
	d := now.Add(idle)
	if s.inBurst {
		rest := s.burstStart.Add(s.p.lineTimeout() + time.Duration(s.burstBytes*int64(time.Second)/s.p.minRate()))
		if rest.Before(d) {
			d = rest
		}
	}
	return s.Cap(d)
}

// Received records n octets read at now.
func (s *Pace) Received(now time.Time, n int) {
	if n <= 0 {
		return
	}
	if !s.inBurst {
		s.inBurst, s.burstStart, s.burstBytes = true, now, 0
	}
	s.burstBytes += int64(n)
}

// PacedConn applies a Pace to a connection whose reads the protocol does
// not own (a library's reader, an IMAP literal): every Read gets the
// deadline of its phase, every Write marks a reply. Idle gives the wait
// for the first byte of a burst at the moment of the read (it may depend
// on the session's state). Reads and writes may come from different
// goroutines.
type PacedConn struct {
	net.Conn
	Idle func() time.Duration
	Now  func() time.Time // nil = time.Now

	mu   sync.Mutex
	pace *Pace
}

// NewPacedConn wraps c with a fresh Pace of p.
func NewPacedConn(c net.Conn, p Pacing, idle func() time.Duration) *PacedConn {
	pc := &PacedConn{Conn: c, Idle: idle}
	pc.pace = p.Start(pc.now())
	return pc
}

func (c *PacedConn) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Read reads with the deadline of the session's phase; after the deadline
// it fails with an error for which os.IsTimeout is true.
func (c *PacedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	d := c.pace.ReadDeadline(c.now(), c.Idle())
	c.mu.Unlock()
	c.Conn.SetReadDeadline(d)
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.pace.Received(c.now(), n)
	c.mu.Unlock()
	return n, err
}

// Write writes p and marks a reply.
func (c *PacedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.pace.Replied()
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// Expired reports whether the session outlived limits.max_session.
func (c *PacedConn) Expired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pace.Expired(c.now())
}
