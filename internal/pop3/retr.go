package pop3

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/pochta-mail/pochta/internal/store"
)

// copyBufferSize is the chunk size bodies are read in.
const copyBufferSize = 32 << 10

// topReadMin is the read size of TOP: it stops at a line count, so it
// reads at most this much beyond what it sends, however large the body.
const topReadMin = 4 << 10

// cmdRetr: RETR msg, the whole message, dot-stuffed, then ".".
func (s *session) cmdRetr(args []string) error {
	i, err := s.message(args[0])
	if err != nil {
		return err
	}
	// Open before answering: a missing body can still get -ERR.
	body, err := s.openBody(i)
	if err != nil {
		return s.bodyUnavailable(i, err)
	}
	defer body.Close()
	s.aheadFrom = i + 1
	w := s.writer()
	b := append(w.AvailableBuffer(), "+OK "...)
	b = strconv.AppendInt(b, s.msgs[i].Size, 10)
	b = append(b, " octets\r\n"...)
	_, _ = w.Write(b)
	// Bodies without a line starting with "." need no stuffing: copy them
	// straight, no byte scanned, by sendfile(2) when possible.
	complete, err := false, error(nil)
	if !s.msgs[i].DotLines && s.msgs[i].Size >= sendFileMin {
		complete, err = s.sendFile(body, s.msgs[i].Size)
	}
	if !complete && err == nil {
		complete, err = s.sendBody(body, bodyWriter{stuff: s.msgs[i].DotLines, lines: -1}, copyBufferSize)
	}
	if err != nil {
		return err
	}
	s.retrievedFully(i, complete)
	s.nRetr++
	s.retrBytes += s.msgs[i].Size
	s.last = max(s.last, i+1)
	return nil
}

// cmdTop: TOP msg n, the header, the blank line and n body lines. A TOP
// that happens to send the whole message counts as a retrieval.
func (s *session) cmdTop(args []string) error {
	i, err := s.message(args[0])
	if err != nil {
		return err
	}
	n, ok := parseNumber(args[1])
	if !ok {
		return badCommand("Invalid number of lines")
	}
	body, err := s.openBody(i)
	if err != nil {
		return s.bodyUnavailable(i, err)
	}
	defer body.Close()
	s.ok("Top of message follows")
	lines := int64(-1) // a count beyond any message means all of it
	if n < 1<<63 {
		lines = int64(n)
	}
	complete, err := s.sendBody(body, bodyWriter{stuff: true, lines: lines}, topReadMin)
	if err != nil {
		return err
	}
	s.retrievedFully(i, complete)
	return nil
}

// openBody opens message i's body for RETR or TOP: the one readAhead
// opened, if it is that message's, else from the store.
func (s *session) openBody(i int) (io.ReadCloser, error) {
	if s.ahead != nil && s.aheadIdx == i {
		body := s.ahead
		s.ahead = nil
		return body, nil
	}
	s.dropAhead()
	return s.drop.Body(s.ctx, s.msgs[i].ID)
}

// readAhead runs after a RETR's answer is sent, before the session waits
// for the next command: it opens the body of the next message not marked
// deleted, which a client downloading its maildrop asks for next. With
// one client the store's read then overlaps the client's reading of the
// answer instead of adding to the time between two RETRs. It does
// nothing while a command is already waiting (pipelining: the answer is
// not even sent yet). The body opened is held until that message's RETR
// or TOP, another message's, QUIT or the end of the session: at most one
// per session. A message expunged by another session after readAhead
// opened it is still sent, as if the RETR had come a moment earlier.
func (s *session) readAhead() {
	from := s.aheadFrom
	s.aheadFrom = -1
	if from < 0 || s.w != nil || s.drop == nil || s.state != stateTransaction {
		return
	}
	for i := from; i < len(s.msgs); i++ {
		if s.deleted[i] {
			continue
		}
		if s.ahead != nil && s.aheadIdx == i {
			return
		}
		s.dropAhead()
		body, err := s.drop.Body(s.ctx, s.msgs[i].ID)
		if err == nil { // else RETR asks again and answers the error
			s.ahead, s.aheadIdx = body, i
		}
		return
	}
}

// dropAhead closes the body readAhead opened, if any.
func (s *session) dropAhead() {
	if s.ahead != nil {
		s.ahead.Close()
		s.ahead = nil
	}
}

// bodyUnavailable answers a RETR or TOP whose body cannot be opened. A
// message expunged since login by another session (IMAP, another process)
// is no server failure: plain "-ERR Message n expunged", as Dovecot says,
// not [SYS/PERM], which would tell the client to stop altogether. Asking
// again for a message at or below the highest one already reported
// counts as a bad command, so a client looping on it is eventually
// disconnected. Other failures keep their mapping (replyFor).
func (s *session) bodyUnavailable(i int, err error) error {
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.log.Info("pop3: message expunged by another session", "msg", i+1, "err", err)
	pe := &protoError{text: "Message " + strconv.Itoa(i+1) + " expunged"}
	if i < s.expungedUpTo {
		pe.bad = true
	}
	s.expungedUpTo = max(s.expungedUpTo, i+1)
	return pe
}

func (s *session) retrievedFully(i int, complete bool) {
	if !complete {
		return
	}
	if s.retrieved == nil {
		s.retrieved = make([]bool, len(s.msgs))
	}
	s.retrieved[i] = true
}

// sendBody streams a body to the client through bw, reading at most chunk
// octets at a time, and ends it with the terminating ".". It reports
// whether the whole body was sent (TOP may stop early). After "+OK" was
// sent no -ERR is possible, so a failure here ends the session.
func (s *session) sendBody(body io.Reader, bw bodyWriter, chunk int) (complete bool, err error) {
	bw.w = s.writer()
	if _, isFile := body.(*os.File); !isFile {
		if wt, ok := body.(io.WriterTo); ok {
			// A body in memory (the store's inline bodies) goes to the
			// writer whole: no copy through a buffer of ours.
			_, err = wt.WriteTo(&bw)
			return s.endBody(&bw, err)
		}
	}
	bufp, _ := s.srv.copyBuffers.Get().(*[]byte)
	if bufp == nil {
		b := make([]byte, copyBufferSize)
		bufp = &b
	}
	defer s.srv.copyBuffers.Put(bufp)
	// The struct hides WriterTo/ReaderFrom so io.CopyBuffer uses our
	// pooled buffer instead of allocating its own (a file's WriteTo would).
	_, err = io.CopyBuffer(&bw, struct{ io.Reader }{body}, (*bufp)[:min(chunk, len(*bufp))])
	return s.endBody(&bw, err)
}

// endBody finishes sendBody once the copy returned err.
func (s *session) endBody(bw *bodyWriter, err error) (complete bool, _ error) {
	switch {
	case errors.Is(err, errTopDone):
		complete = false
	case err != nil && bw.werr != nil:
		return false, &endSession{reason: "write failed"}
	case err != nil:
		return false, &endSession{reason: "body read failed", cause: fmt.Errorf("reading message body: %w", err)}
	default:
		complete = true
	}
	if !bw.atLineStart() {
		_, _ = bw.w.WriteString("\r\n") // RFC 1939 §3: the body ends with CRLF before "."
	}
	_, _ = bw.w.WriteString(".\r\n")
	return complete, nil
}

// sendFileMin is the smallest body worth a sendfile: below it, one
// buffered write with the "+OK" line is cheaper (measured by BenchmarkRETR).
const sendFileMin = 64 << 10

// sendFileChunk is how much one sendfile call may send: each chunk gets a
// fresh write deadline (setWriteDeadline), as each write does on the
// buffered path.
const sendFileChunk = 1 << 20

// sendFile sends a body that needs no stuffing from its file straight to
// the socket (sendfile(2) through net.TCPConn.ReadFrom), then the final
// ".". It reports false, having sent nothing, when the body is not a file
// or the connection is not a bare TCP connection (TLS, wrappers): the
// caller then copies through the buffer.
func (s *session) sendFile(body io.Reader, size int64) (bool, error) {
	f, ok := body.(*os.File)
	if !ok || size <= 0 {
		return false, nil
	}
	rf, ok := s.conn.(*net.TCPConn)
	if !ok {
		return false, nil
	}
	// The last byte decides whether a CRLF must precede the ".".
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return false, nil
	}
	if err := s.flush(); err != nil { // the "+OK" line and anything before it
		return false, &endSession{reason: "write failed"}
	}
	var sent int64
	for sent < size {
		s.setWriteDeadline()
		n, err := rf.ReadFrom(io.LimitReader(f, min(sendFileChunk, size-sent)))
		sent += n
		s.cw.n += n
		if err != nil {
			return false, &endSession{reason: "write failed"}
		}
		if n == 0 {
			return false, &endSession{reason: "body read failed",
				cause: fmt.Errorf("message body is %d octets, the store said %d", sent, size)}
		}
	}
	w := s.writer()
	if last[0] != '\n' {
		_, _ = w.WriteString("\r\n")
	}
	_, _ = w.WriteString(".\r\n")
	return true, nil
}
