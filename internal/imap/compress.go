package imap

import (
	"bufio"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/pochta-mail/pochta/internal/inflate"
)

// COMPRESS=DEFLATE (RFC 4978): after the tagged OK both directions are one
// raw DEFLATE stream (RFC 1951) each, for the rest of the connection.
//
// Where it is offered: only on TLS connections (implicit or after
// STARTTLS) and on loopback. Compression before encryption invites
// CRIME-style attacks when an attacker can inject text next to a secret
// and watch the ciphertext's length; in IMAP the attacker's text (a
// delivered message) goes from server to client while the secret (the
// password, when COMPRESS comes before LOGIN as in RFC 4978's example)
// goes in the client's own stream, so they do not share a compression
// window and the concern does not apply as in HTTPS — but the issue asks for
// compression only where the link is already protected or local, and a
// cleartext non-loopback link has bigger problems than its size.
//
// Input goes through internal/inflate, not compress/flate: the latter
// keeps what it decoded until a stored block (a sync flush) arrives, so a
// client that ends its commands with zlib's Z_PARTIAL_FLUSH (isync's
// mbsync) waited for an answer that never came (61b85fe). inflate hands
// over what it has at the end of every block.
//
// Memory. Input: an inflater per session for as long as it lives (its
// 32 KiB window plus code tables, about 36 KiB; the client's stream
// refers back into that window, so it cannot be dropped). Output:
// a compressor is held only while the session writes. Each time the
// session flushes its output (end of a pipeline, an IDLE push, a full
// 32 KiB buffer) the compressor ends with a sync flush (RFC 1951 §3.2.4:
// an empty stored block, which makes the client's inflater hand over
// everything so far) and, when the session releases its output buffer, it
// goes back to a pool shared by all sessions. A new compressor after a
// sync flush only continues the same stream: its blocks refer to nothing
// it did not write itself. The price is that history is not shared
// across bursts; Go's compressor costs about 1.2 MiB (its hash tables are
// fixed arrays, whatever the level), so keeping one per idle connection
// is not an option. TestMemoryPerCompressedIdleConnection measures what
// an idle compressed connection costs.
//
// The level is flate.BestSpeed: its Reset (once per burst) is cheap,
// while the other levels clear 640 KiB of hash tables each time, and
// IMAP text compresses nearly as well with it.
const compressLevel = flate.BestSpeed

var deflaters = sync.Pool{New: func() any {
	w, err := flate.NewWriter(io.Discard, compressLevel)
	if err != nil {
		panic(err) // only for an invalid level
	}
	return w
}}

// deflateWriter is the session's output transport once COMPRESS is
// active: everything written is compressed and sync-flushed at once (the
// wire.Writer above it writes only when it flushes or its buffer is full).
type deflateWriter struct {
	dst io.Writer // the session's connWriter
	fw  *flate.Writer
}

func (d *deflateWriter) Write(p []byte) (int, error) {
	if d.fw == nil {
		d.fw = deflaters.Get().(*flate.Writer)
		d.fw.Reset(d.dst)
	}
	n, err := d.fw.Write(p)
	if err == nil {
		err = d.fw.Flush()
	}
	return n, err
}

// Release returns the compressor to the pool; wire.Writer.Release calls
// it once everything is flushed, when the session goes idle.
func (d *deflateWriter) Release() {
	if d.fw != nil {
		d.fw.Reset(io.Discard) // drop the conn and the sticky error
		deflaters.Put(d.fw)
		d.fw = nil
	}
}

// errBadCompression: the client's DEFLATE stream is corrupt; the session
// ends (nothing after it can be trusted).
var errBadCompression = errors.New("imap: corrupt compressed input")

// inflateReader turns the inflater's format errors into
// errBadCompression; read errors of the transport (timeouts, EOF) pass
// through as they are.
type inflateReader struct{ r io.Reader }

func (z inflateReader) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if errors.Is(err, inflate.ErrCorrupt) {
		err = fmt.Errorf("%w: %v", errBadCompression, err)
	}
	return n, err
}

// compressAllowed: see the package comment above on where COMPRESS is
// offered.
func (s *session) compressAllowed() bool { return s.isTLS || s.loopback }

// cmdCompress: COMPRESS (RFC 4978 §3), in any state: the RFC's example
// compresses right after STARTTLS, before LOGIN. (STARTTLS after COMPRESS
// is refused: cmdStartTLS.)
func (s *session) cmdCompress(tag string, _ bool) error {
	if err := s.p.SP(); err != nil {
		return err
	}
	mech, err := s.p.Atom()
	if err != nil {
		return err
	}
	if err := s.p.End(); err != nil {
		return err
	}
	switch {
	case !strings.EqualFold(mech, "DEFLATE"):
		return bad("Unknown compression mechanism")
	case s.compress != nil:
		return no("COMPRESSIONACTIVE", "DEFLATE is already active")
	case !s.compressAllowed():
		return no(codePrivacyReq, "COMPRESS needs TLS")
	}
	s.tagged(tag, "OK", "", "DEFLATE active")
	s.wmu.Lock()
	err = s.w.Release()
	if err == nil {
		// Input: the inflater reads the old buffered reader, so
		// compressed bytes that arrived with the command line are kept.
		s.r = bufio.NewReaderSize(inflateReader{inflate.NewReader(s.r)}, readerSize)
		s.p.Reset(s.r)
		s.compress = &deflateWriter{dst: &s.cw}
		s.w.Reset(s.compress)
	}
	s.wmu.Unlock()
	if err != nil {
		return &endSession{reason: "write failed"}
	}
	return errTaggedAlready
}
