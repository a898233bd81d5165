package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/delivery"
)

var (
	// errTooBig: the message outgrew MaxMessageSize (552 5.3.4).
	errTooBig = errors.New("smtp: message too big")
	// errDataCut: the connection failed before the end of the data; the
	// message must not be stored (451 if the client is still there).
	errDataCut = errors.New("smtp: message data cut short")
	// errDataReset: RSET or QUIT between BDAT chunks abandons the message.
	errDataReset = errors.New("smtp: chunked message abandoned")
)

var errDataLineTooLong = reply(500, 5, 4, 0, "Line too long in message data")

// cmdDATA: DATA (RFC 5321 section 4.1.1.4). The message is read through
// a dot reader and stored by receive; whatever receive did not read (it
// stops at the first error) is read to the end of data before the reply,
// so the next command is where the client thinks it is.
func (ss *session) cmdDATA(arg []byte) *Reply {
	if len(arg) > 0 {
		return syntaxError("DATA takes no argument")
	}
	ss.writeReply(&Reply{Code: 354, Message: "Start mail input; end with <CRLF>.<CRLF>"})
	if err := ss.flush(); err != nil {
		ss.endReason, ss.closing = "write failed", true
		return nil
	}
	dr := &dotReader{r: ss.r, limit: ss.srv.maxSize(), maxLine: ss.srv.maxLine(),
		rejectBareLF: ss.srv.RejectBareLF, lineStart: true, afterCRLF: true}
	ss.in.inData = true
	r := ss.receive(dr)
	err := dr.drain()
	ss.in.inData = false
	ss.reset()
	if err != nil {
		ss.readFailed(err)
		ss.closing = true
		return nil
	}
	if dr.lineTooLong {
		return errDataLineTooLong
	}
	return r
}

// cmdBDAT: BDAT size [LAST] (RFC 3030). One receive runs for the whole
// message; the reader it reads (bdatReader) acknowledges each chunk and
// reads the next BDAT itself, so the message streams into the store
// without a goroutine or a buffer per chunk.
func (ss *session) cmdBDAT(arg []byte) *Reply {
	size, last, err := parseBDAT(arg)
	if err != nil {
		return syntaxError("Syntax: BDAT size [LAST]")
	}
	br := &bdatReader{ss: ss, remaining: size, last: last, announced: size, limit: ss.srv.maxSize()}
	ss.in.inData = true
	r := ss.receive(br)
	ss.in.inData = false
	if br.readErr != nil {
		ss.readFailed(br.readErr)
		ss.closing = true
		return nil
	}
	ss.reset()
	if br.next != nil {
		// RSET or QUIT (or one error too many) between chunks.
		return br.next
	}
	// receive may have stopped in the middle of a chunk (too big, a
	// refused From:): the rest of the chunk is still on its way.
	if !ss.skip(br.remaining) {
		return nil
	}
	return r
}

// parseBDAT reads "size [LAST]".
func parseBDAT(arg []byte) (size int64, last bool, err error) {
	f := strings.Fields(string(arg))
	if len(f) == 0 || len(f) > 2 || (len(f) == 2 && !strings.EqualFold(f[1], "LAST")) {
		return 0, false, errors.New("bad BDAT arguments")
	}
	n, err := strconv.ParseUint(f[0], 10, 62)
	if err != nil {
		return 0, false, err
	}
	return int64(n), len(f) == 2, nil
}

// skip reads and drops n octets of a refused chunk (RFC 3030 section 2:
// the chunk follows the command whatever the reply); false when the
// connection failed (the session then ends). A chunk larger than the
// message size limit is not read before the reply: no acceptable message
// holds it, and reading it would cost what the client chooses (BDAT
// 4611686018427387903). The session ends after the caller's reply
// instead, as the unread octets cannot be told from commands; linger
// then drops what the client is still sending, up to twice the limit.
func (ss *session) skip(n int64) bool {
	if n == 0 {
		return true
	}
	if n > ss.srv.maxSize() {
		ss.log.Info("smtp: refused BDAT chunk over the size limit, closing", "octets", n)
		ss.endReason, ss.closing = "BDAT chunk over the size limit", true
		ss.lingerFor = min(n, 2*ss.srv.maxSize())
		return true
	}
	ss.in.inData = true
	_, err := io.CopyN(io.Discard, ss.r, n)
	ss.in.inData = false
	if err != nil {
		ss.readFailed(err)
		ss.closing = true
		return false
	}
	return true
}

// receive stores the message read from body for the transaction, and
// returns the reply: our 250 naming the id the Received field and the
// log carry, or the refusal.
func (ss *session) receive(body io.Reader) *Reply {
	start := time.Now()
	t := ss.txn
	var r io.Reader = body
	if ss.mode == ModeMX && ss.srv.Checker != nil {
		checked, done, err := ss.authenticate(r, t.from)
		if err != nil {
			ss.log.Info("smtp: message refused", "from", t.from, "err", err)
			return ss.fail(err)
		}
		defer done()
		r = checked
	}
	tr := &delivery.Trace{
		Helo: ss.helo, RemoteIP: ss.ip, ESMTP: ss.esmtp, SMTPUTF8: t.opts.utf8, TLS: ss.tls,
		ID: delivery.NewID(), Time: start,
	}
	if ss.account != nil {
		tr.AuthUser = ss.account.Address
	}
	if len(t.rcpts) == 1 {
		tr.For = t.rcpts[0]
	}
	if ss.mode == ModeSubmission && ss.account != nil && !ss.srv.FromAny {
		checked, err := ss.checkFrom(r)
		if err != nil {
			return ss.fail(err)
		}
		r = checked
	}
	if ss.mode == ModeSubmission {
		r = completeHeader(r, ss.srv.hostname(), tr.ID, start)
	}
	if err := ss.reserveSent(len(t.rcpts)); err != nil {
		return ss.fail(err)
	}
	err := ss.srv.Deliverer.Deliver(ss.ctx, delivery.Message{
		From: t.from, Local: t.local, LocalTo: t.localTo, Remote: t.remote,
		ReturnPath: true, Trace: tr, Body: r,
		DSNReturn: t.opts.ret, DSNEnvelopeID: t.opts.envelopeID, SMTPUTF8: t.opts.utf8,
	})
	if err != nil {
		ss.log.Info("smtp: message refused", "id", tr.ID, "from", t.from, "err", err)
		ss.releaseSent(len(t.rcpts))
		return ss.fail(err)
	}
	ss.messages++
	ss.log.Info("smtp: message accepted", "id", tr.ID, "from", t.from, "local", len(t.local),
		"remote", len(t.remote), "ms", time.Since(start).Milliseconds())
	return reply(250, 2, 0, 0, "Message accepted for delivery, id "+tr.ID)
}

// errBareLFFound is what the dot reader fails with under RejectBareLF;
// replyFor maps it.
var errBareLFFound = errors.New("smtp: bare LF in message data")

// dotReader reads DATA's message text (RFC 5321 section 4.5.2): it ends
// at CRLF "." CRLF only (a "." line after a bare LF is not the end: SMTP
// smuggling), drops the leading dot of every line that has one (after a
// bare LF too, so "\n..x" is "\n.x" as Postfix reads it), bounds lines
// and the whole, and fails with errDataCut if the connection fails
// first. Bare LFs stay in the text (the store writes CRLF) unless
// rejectBareLF. Fragments are passed on from the bufio.Reader's buffer,
// never collected.
type dotReader struct {
	r            *bufio.Reader
	limit        int64
	maxLine      int
	rejectBareLF bool

	pending     []byte // the rest of the current fragment
	lineStart   bool   // the next octet starts a line
	afterCRLF   bool   // ... after a CRLF (or at the start): "." CRLF ends
	last        byte   // the last octet read from the wire
	lineLen     int
	n           int64
	done        bool  // the end of data was read
	err         error // the first problem, returned by Read from then on
	readErr     error // the connection failed
	lineTooLong bool
}

func (d *dotReader) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.next()
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	d.n += int64(n)
	if d.n > d.limit {
		d.pending = nil
		d.setErr(errTooBig)
		return 0, d.err
	}
	return n, nil
}

func (d *dotReader) setErr(err error) {
	if d.err == nil {
		d.err = err
	}
}

// next reads one fragment: a line, or a part of a long one.
func (d *dotReader) next() {
	frag, err := d.r.ReadSlice('\n')
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		// Whatever came before the failure is not a line.
		d.readErr = err
		d.err = errDataCut
		return
	}
	orig := frag
	if d.lineStart {
		if d.afterCRLF && string(frag) == ".\r\n" {
			d.done = true
			return
		}
		if frag[0] == '.' {
			frag = frag[1:]
		}
	}
	d.lineLen += len(orig)
	if d.lineLen > d.maxLine && !d.lineTooLong {
		d.lineTooLong = true
		d.setErr(errLineTooLongRead)
	}
	if orig[len(orig)-1] == '\n' {
		prev := d.last
		if len(orig) >= 2 {
			prev = orig[len(orig)-2]
		}
		d.afterCRLF = prev == '\r'
		if !d.afterCRLF && d.rejectBareLF {
			d.setErr(errBareLFFound)
		}
		d.lineStart, d.lineLen = true, 0
	} else {
		d.lineStart = false
	}
	d.last = orig[len(orig)-1]
	d.pending = frag
}

// drain reads to the end of data, dropping it, after receive stopped
// reading; it returns the connection's error if the end never came.
func (d *dotReader) drain() error {
	for !d.done && d.readErr == nil {
		d.pending = nil
		d.next()
	}
	return d.readErr
}

// bdatReader reads a chunked message (RFC 3030): the current chunk from
// the connection, then, at its end, the chunk's 250 and the next
// command, which must be BDAT (RSET and QUIT abandon the message, NOOP is
// answered, anything else refused with 503). The message ends after the
// LAST chunk.
type bdatReader struct {
	ss        *session
	remaining int64 // octets of the current chunk not read yet
	last      bool  // the current chunk is the last
	announced int64 // the sizes of the chunks so far
	limit     int64
	received  int64
	err       error
	readErr   error  // the connection failed
	next      *Reply // the reply that ends the session's part (RSET, QUIT)
}

func (b *bdatReader) Read(p []byte) (int, error) {
	for b.remaining == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.last {
			return 0, io.EOF
		}
		b.nextChunk()
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.announced > b.limit {
		// Refused before its octets are read (cmdBDAT skips them).
		b.err = errTooBig
		return 0, b.err
	}
	n, err := b.ss.r.Read(p[:min(int64(len(p)), b.remaining)])
	b.remaining -= int64(n)
	b.received += int64(n)
	if err != nil && b.remaining > 0 {
		b.readErr, b.err = err, errDataCut
		return n, b.err
	}
	return n, nil
}

// nextChunk acknowledges the chunk just read and reads commands until
// the next BDAT.
func (b *bdatReader) nextChunk() {
	ss := b.ss
	ss.writeReply(reply(250, 2, 0, 0, strconv.FormatInt(b.received, 10)+" octets received"))
	ss.in.inData = false
	defer func() { ss.in.inData = true }()
	for {
		if ss.r.Buffered() == 0 {
			if err := ss.flush(); err != nil {
				b.readErr, b.err = err, errDataCut
				return
			}
		}
		line, err := ss.readLine(ss.srv.maxLine())
		if err != nil {
			b.readErr, b.err = err, errDataCut
			return
		}
		var r *Reply
		verb, arg := splitCommand(line)
		switch {
		case hasControl(line) || commands[verb] == nil:
			r = errUnknownCommand
		case verb == "BDAT":
			size, last, err := parseBDAT(arg)
			if err != nil {
				r = syntaxError("Syntax: BDAT size [LAST]")
				break
			}
			b.remaining, b.last, b.received = size, last, 0
			b.announced += size
			return
		case verb == "RSET" && len(bytes.TrimSpace(arg)) == 0:
			b.next, b.err = replyReset, errDataReset
			return
		case verb == "QUIT":
			b.next, b.err = ss.cmdQUIT(nil), errDataReset
			return
		case verb == "NOOP":
			r = replyOK
		default:
			r = errInBDAT
		}
		if ss.respond(r) {
			b.next, b.err = nil, errDataReset
			b.readErr = io.EOF
			return
		}
	}
}
