package pop3

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"time"
	"unicode/utf8"
)

const (
	// maxCommandLine is the longest command line, terminator included
	// (RFC 2449 §4: 255 octets).
	maxCommandLine = 255
	// maxSASLLine bounds AUTH command lines and SASL continuation lines
	// (RFC 5034 §4 lets them exceed 255 octets); 8 KiB holds any real
	// initial response or SCRAM message.
	maxSASLLine = 8 << 10
)

var (
	errLineTooLong = errors.New("pop3: line too long")
	errShutdown    = errors.New("pop3: server shutting down")
)

// readCommandLine reads one command line. AUTH lines may be as long as
// SASL lines; everything else is cut at 255 octets.
func (s *session) readCommandLine() ([]byte, error) {
	return s.readLine(maxCommandLine, true)
}

// readSASLLine reads one SASL continuation line (RFC 5034).
func (s *session) readSASLLine() ([]byte, error) {
	return s.readLine(maxSASLLine, false)
}

// idleTimeout is how long the session may wait for the first byte of its
// next line: tighter before login, RFC 1939's autologout timer after.
func (s *session) idleTimeout() time.Duration {
	if s.state == stateAuthorization {
		return s.srv.authIdleTimeout()
	}
	return s.srv.idleTimeout()
}

// keepDeadline reports whether a deadline cur, set earlier on the
// connection, may stand for want, the deadline of a timeout d starting
// now: when it runs out no earlier than d/64 before want. Setting one
// costs a runtime timer update and clock reads; a one-client RETR load set
// three per command (a tenth of the server's CPU), though the connection
// was never near a timeout. A timeout up to 1/64 short changes nothing a
// client can tell. A zero cur is unknown (nothing set yet, or something
// else set it): never kept.
func keepDeadline(cur, want time.Time, d time.Duration) bool {
	ahead := want.Sub(cur)
	return !cur.IsZero() && ahead >= 0 && ahead <= d/64
}

// setReadDeadline sets a read deadline (or keeps the one set, see
// keepDeadline), then checks ctx: a cancellation
// that happened before cannot be undone by the new deadline, one that
// happens after sets its own (see serve).
func (s *session) setReadDeadline(d time.Duration) error {
	return s.setReadDeadlineWithin(d, d)
}

// setReadDeadlineWithin is setReadDeadline keeping a deadline set up to
// of/64 before the one wanted (keepDeadline).
func (s *session) setReadDeadlineWithin(d, of time.Duration) error {
	// Never past the session's lifetime (limits.max_session).
	if want := s.pace.Cap(time.Now().Add(d)); !keepDeadline(s.readDL, want, of) {
		_ = s.conn.SetReadDeadline(want)
		s.readDL = want
	}
	if s.ctx.Err() != nil {
		return errShutdown
	}
	return nil
}

// readLine returns one line without its terminator (CRLF, or a bare LF as
// lenient clients send). A line longer than limit octets, terminator
// included, is consumed to its end without being kept and reported as
// errLineTooLong. When authLong is set, a line starting with "AUTH " may be
// as long as maxSASLLine. A line cut by EOF is not a line
// (io.ErrUnexpectedEOF). The slice is valid until the next read.
func (s *session) readLine(limit int, authLong bool) ([]byte, error) {
	// Phase deadlines: a long wait for the first byte of a line, a short
	// one for the rest.
	if s.r.Buffered() == 0 {
		if err := s.awaitWithAhead(); err != nil {
			return nil, err
		}
	}
	if s.r.Buffered() == 0 {
		if err := s.setReadDeadline(s.idleTimeout()); err != nil {
			return nil, err
		}
		if _, err := s.r.Peek(1); err != nil {
			return nil, err
		}
	}
	// A line already buffered whole needs no read, so no deadline: the
	// common case, which then sets no deadline at all (keepDeadline).
	if buf, _ := s.r.Peek(s.r.Buffered()); !containsLF(buf) {
		if err := s.setReadDeadline(s.srv.lineTimeout()); err != nil {
			return nil, err
		}
	}

	s.line = s.line[:0]
	tooLong := false
	for {
		// ReadSlice never holds more than the reader's fixed buffer: the
		// line is bounded before anything is buffered beyond it.
		frag, err := s.r.ReadSlice('\n')
		n := len(s.line) + len(frag)
		if !tooLong && n > limit && authLong && limit < maxSASLLine && isAuthPrefix(s.line, frag) {
			limit = maxSASLLine
		}
		if n > limit {
			tooLong = true
			s.line = s.line[:0]
		}
		switch {
		case err == nil && tooLong:
			return nil, errLineTooLong
		case err == nil && len(s.line) == 0:
			return trimEOL(frag), nil // the common case: no copy
		case err == nil:
			s.line = append(s.line, frag...)
			return trimEOL(s.line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			if !tooLong {
				s.line = append(s.line, frag...)
			}
		default:
			if n > 0 && errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// defaultAheadHold is how long a body read ahead (readAhead) is kept
// for a client that has not sent its next command yet.
const defaultAheadHold = time.Second

// awaitWithAhead waits at most the hold time (and at least half of it)
// for the next command while a body is read ahead: a client that takes
// longer is not downloading its messages in a row, so the body is let go
// and an idle session holds none. The wait then goes on under the idle
// timeout.
func (s *session) awaitWithAhead() error {
	if s.ahead == nil {
		return nil
	}
	hold := s.srv.aheadHold
	if hold <= 0 {
		hold = defaultAheadHold
	}
	// The hold need not be exact: a deadline set up to half a hold earlier
	// stands, so a download in a row resets it about twice per hold, not
	// at every RETR that comes 1/64 of the hold after the last reset
	// (measured: 1-3% of RETR MB/s).
	if err := s.setReadDeadlineWithin(hold, 32*hold); err != nil {
		return err
	}
	_, err := s.r.Peek(1)
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	s.dropAhead()
	return nil
}

func isAuthPrefix(acc, frag []byte) bool {
	p := acc
	if len(p) == 0 {
		p = frag
	}
	return len(p) >= 5 && bytes.EqualFold(p[:5], []byte("AUTH "))
}

func trimEOL(b []byte) []byte {
	b = b[:len(b)-1] // the LF
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// checkLine refuses control characters (NUL, bare CR, ...) and invalid
// UTF-8 anywhere in a line. Valid UTF-8 is accepted in every mode (CAPA
// says "UTF8 USER": RFC 6856 §2), so a UTF-8 password works before the
// client sends UTF8.
func checkLine(line []byte) error {
	ascii := true
	for _, c := range line {
		if c < 0x20 || c == 0x7f {
			return badCommand("Control characters are not allowed in commands")
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(line) {
		return badCommand("Invalid UTF-8 in command")
	}
	return nil
}

// splitCommand splits a command line into its keyword (upper-cased, 3 or
// 4 letters: RFC 1939 §3; digits after the first, for RFC 6856 "UTF8") and the argument text after the single space
// that follows it.
func splitCommand(line []byte) (name [4]byte, rest []byte, err error) {
	if err := checkLine(line); err != nil {
		return name, nil, err
	}
	kw := line
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		kw, rest = line[:i], line[i+1:]
	}
	if len(kw) < 3 || len(kw) > 4 {
		return name, nil, badCommand("Unknown command")
	}
	for i, c := range kw {
		switch {
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9' && i > 0: // "UTF8"
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		default:
			return name, nil, badCommand("Unknown command")
		}
		name[i] = c
	}
	return name, rest, nil
}

// splitArgs splits argument text at spaces. Runs of spaces count as one
// and leading/trailing spaces are ignored, as Dovecot does: RFC 1939 asks
// for single spaces, but being lenient here harms nobody.
func splitArgs(rest []byte, dst []string) []string {
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			i = len(rest)
		}
		if i > 0 {
			dst = append(dst, string(rest[:i]))
		}
		rest = rest[min(i+1, len(rest)):]
	}
	return dst
}
