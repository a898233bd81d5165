package imap

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pochta-mail/pochta/internal/server"
)

// front is the net.Conn imapserver reads and writes. It sits between the
// socket and the library and does only what the library cannot:
//
//   - on input, it finds command boundaries (lines and literals) and
//     answers STARTTLS, ID and the QUOTA commands itself; everything else
//     passes through unchanged, one command line at a time, so a command
//     it answers never overtakes one the library is still answering (the
//     library flushes its reply before it reads the next command);
//   - on output, it adds the capability words of what it answers (and
//     LOGINDISABLED, STARTTLS) to every CAPABILITY list, and passes the
//     rest, literals included, through.
//
// TLS is terminated here (implicit TLS by internal/server, STARTTLS by the
// front), so the library sees a plain connection; the plaintext policy is
// ours (plaintextOK), as in the POP3 server.
type front struct {
	srv      *Server
	raw      net.Conn // the accepted connection: deadlines, addresses
	id       uint64
	remote   string
	user     atomic.Pointer[string] // set at login, for the log
	start    time.Time
	ip       netip.Addr
	loopback bool
	isTLS    atomic.Bool
	sess     atomic.Pointer[session]

	wmu  sync.Mutex // serialises writes: the library's, ours, the BYE at shutdown
	conn net.Conn   // raw, or TLS over raw after STARTTLS; changed under wmu
	out  outFilter  // under wmu
	// cork, while set (under wmu), gathers output so a FETCH of many
	// messages costs a write per corkSize instead of one per message (the
	// library flushes after every response).
	cork *[]byte

	// Input state, used only by the goroutine that calls Read.
	r       *bufio.Reader
	pending []byte // the current line, handed to the library piecewise
	literal int64  // literal octets still to pass through
	midLine bool   // the next input continues the current command line
	tail    []byte // last octets of the current line, for the literal marker
	idling  bool   // an IDLE passed: the next line is its DONE

	stopping  atomic.Bool
	done      chan struct{}
	closeOnce sync.Once
}

// inputBuffer is small on purpose: an idle connection holds it, and lines
// longer than it simply pass through in pieces.
const inputBuffer = 512

func newFront(srv *Server, c net.Conn, id uint64) *front {
	f := &front{srv: srv, raw: c, conn: c, start: time.Now(), done: make(chan struct{})}
	f.r = bufio.NewReaderSize(c, inputBuffer)
	f.ip = server.RemoteIP(c)
	f.loopback = f.ip.IsLoopback()
	_, isTLS := c.(*tls.Conn)
	f.isTLS.Store(isTLS)
	f.out.f = f
	f.id, f.remote = id, c.RemoteAddr().String()
	return f
}

// logger returns the connection's logger. It is built per use, not kept:
// log lines are few per session, and 10,000 idle connections should not
// each hold a logger with preformatted attributes.
func (f *front) logger() *slog.Logger {
	l := f.srv.logger().With("proto", "imap", "cid", f.id, "remote", f.remote)
	if u := f.user.Load(); u != nil {
		l = l.With("user", *u)
	}
	return l
}

// plaintextOK reports whether passwords may cross this connection in
// clear: over TLS, from loopback, or when the operator allows it
// (RFC 9051 section 11.1 asks servers to refuse them otherwise).
func (f *front) plaintextOK() bool {
	return f.isTLS.Load() || f.loopback || f.srv.AllowPlaintext
}

func (f *front) authenticated() bool {
	s := f.sess.Load()
	return s != nil && s.authenticated()
}

// Read hands the library the client's input, minus the commands the front
// answers itself.
func (f *front) Read(p []byte) (int, error) {
	for len(f.pending) == 0 {
		if f.stopping.Load() {
			return 0, io.EOF // the library ends the session quietly
		}
		if f.literal > 0 {
			n, err := f.r.Read(p[:min(int64(len(p)), f.literal)])
			f.literal -= int64(n)
			if f.literal == 0 {
				f.midLine = true // the command goes on after its literal
			}
			return n, err
		}
		chunk, err := f.r.ReadSlice('\n')
		if len(chunk) == 0 {
			return 0, err
		}
		startsCommand := !f.midLine
		f.noteTail(chunk, startsCommand)
		complete := chunk[len(chunk)-1] == '\n'
		f.midLine = !complete
		if complete {
			f.literal = literalSize(f.tail)
		}
		if startsCommand && complete && f.literal == 0 {
			if f.idling {
				f.idling = false // this is DONE: the library checks it
			} else if f.intercept(chunk) {
				continue
			}
		}
		if startsCommand {
			_, name := commandName(chunk)
			f.idling = name == "IDLE"
		}
		f.pending = chunk
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

// noteTail keeps the last octets of the current line.
func (f *front) noteTail(chunk []byte, newLine bool) {
	if newLine {
		f.tail = f.tail[:0]
	}
	f.tail = append(f.tail, chunk[max(0, len(chunk)-32):]...)
	if len(f.tail) > 32 {
		f.tail = append(f.tail[:0], f.tail[len(f.tail)-32:]...)
	}
}

// literalSize parses a literal announcement at the end of a line:
// "{123}\r\n", "{123+}\r\n" (RFC 7888) or "~{123}\r\n" (RFC 3516). It
// returns 0 when the line has none.
func literalSize(line []byte) int64 {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0
	}
	digits := bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// commandName splits "tag NAME ..." and returns the tag and the upper-cased
// name ("" when the line is not shaped like a command).
func commandName(line []byte) (tag, name string) {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return "", ""
	}
	rest := line[sp+1:]
	end := bytes.IndexAny(rest, " \r\n")
	if end < 0 {
		end = len(rest)
	}
	if end > 16 {
		return "", "" // no command we look at is this long
	}
	return string(line[:sp]), string(bytes.ToUpper(rest[:end]))
}

// writeRaw writes a reply of the front's own, under the write lock.
func (f *front) writeRaw(b []byte) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	_ = f.raw.SetWriteDeadline(time.Now().Add(time.Minute))
	_, err := f.conn.Write(b)
	return err
}

// corkSize is how much corked output is gathered before it is written.
const corkSize = 32 << 10

// corked runs fn with output gathered, then writes what is left.
func (f *front) corked(fn func() error) error {
	f.wmu.Lock()
	f.cork = outBuffers.Get().(*[]byte)
	*f.cork = (*f.cork)[:0]
	f.wmu.Unlock()
	err := fn()
	f.wmu.Lock()
	defer f.wmu.Unlock()
	werr := f.send(nil)
	outBuffers.Put(f.cork)
	f.cork = nil
	if err == nil {
		err = werr
	}
	return err
}

// send writes b to the client, or gathers it while corked (then also
// writing once enough gathered; nil b forces the write). Called under wmu.
func (f *front) send(b []byte) error {
	if f.cork == nil {
		_, err := f.conn.Write(b)
		return err
	}
	*f.cork = append(*f.cork, b...)
	if (len(*f.cork) < corkSize && b != nil) || len(*f.cork) == 0 {
		return nil
	}
	_, err := f.conn.Write(*f.cork)
	*f.cork = (*f.cork)[:0]
	return err
}

// Write passes the library's output through the capability filter.
func (f *front) Write(p []byte) (int, error) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return f.out.write(p)
}

func (f *front) Close() error {
	f.closeOnce.Do(func() {
		f.wmu.Lock()
		_ = f.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = f.conn.Close()
		f.wmu.Unlock()
		close(f.done)
	})
	return nil
}

// shutdown says BYE (unless a response is half written) and makes the
// next read fail, so the library's loop ends.
func (f *front) shutdown() {
	f.stopping.Store(true)
	f.wmu.Lock()
	if f.out.atBoundary() {
		_ = f.raw.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = f.conn.Write([]byte("* BYE Server shutting down\r\n"))
	}
	f.wmu.Unlock()
	_ = f.raw.SetReadDeadline(time.Now())
}

func (f *front) LocalAddr() net.Addr  { return f.raw.LocalAddr() }
func (f *front) RemoteAddr() net.Addr { return f.raw.RemoteAddr() }

func (f *front) SetDeadline(t time.Time) error {
	return errors.Join(f.SetReadDeadline(t), f.SetWriteDeadline(t))
}

// SetReadDeadline forwards the library's deadlines, except that once the
// server is stopping reads stay interrupted.
func (f *front) SetReadDeadline(t time.Time) error {
	if f.stopping.Load() {
		return f.raw.SetReadDeadline(time.Now())
	}
	return f.raw.SetReadDeadline(t)
}

func (f *front) SetWriteDeadline(t time.Time) error { return f.raw.SetWriteDeadline(t) }
