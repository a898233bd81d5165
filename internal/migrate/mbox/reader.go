// Package mbox reads Unix mbox files (mboxrd and mboxo) one message at a time,
// with the metadata Dovecot, c-client (UW IMAP, Pine) and mutt keep in
// headers: X-UID, X-IMAPbase/X-IMAP, Status, X-Status, X-Keywords and X-UIDL.
//
// Memory is bounded whatever the file's size: a message's header is held (up
// to Options.MaxHeaderBytes), its body streams through the bufio buffer.
package mbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/migrate"
	"github.com/pochta-mail/pochta/internal/store"
)

// Variant is the "From " quoting convention of the file.
type Variant uint8

const (
	// MboxRD: writers prefix every line matching ^>*From  with one '>';
	// reading removes one '>' from every such line. Reversible.
	MboxRD Variant = iota
	// MboxO: writers prefix only ^From  with '>'; reading removes the '>'
	// from ">From " lines only (">>From " stays as is). Not reversible: a
	// body line that really began ">From " comes back as "From ".
	MboxO
	// MboxCL2: nothing is quoted; each message's Content-Length says where
	// its body ends. Dovecot writes mboxes this way. A Content-Length that
	// does not end just before a "From " line (or the end of the file) is
	// ignored and the message ends at the next separator, as in the others.
	// That is checked before the body is read when the input is an
	// io.ReaderAt (an *os.File); on a plain stream only at the end, so there
	// a Content-Length that is too long can swallow the messages after it.
	MboxCL2
)

// DefaultMaxHeaderBytes bounds one message's header block.
const DefaultMaxHeaderBytes = 1 << 20

const bufSize = 64 << 10 // longest line handled whole; longer lines stream in pieces

// Options configure a Reader. The zero value reads mboxrd.
type Options struct {
	Variant        Variant
	File           string // named in errors
	MaxHeaderBytes int    // 0 means DefaultMaxHeaderBytes
}

// Base is the folder state c-client and Dovecot keep in the first message's
// X-IMAPbase header (or a pseudo message's X-IMAP header).
type Base struct {
	UIDValidity uint32
	UIDNext     uint32
	Keywords    []string // keywords defined for the folder
}

// Message is one message of the mbox. Content is valid until the next call
// of Next.
type Message struct {
	Line     int       // line of the "From " separator
	Sender   string    // envelope sender from the "From " line ("" if none)
	Date     time.Time // date from the "From " line; zero if unparsable
	UID      uint32    // X-UID; 0 if absent or invalid
	UIDL     string    // X-UIDL, the POP3 UIDL the old server showed; "" if absent
	Flags    []string  // system flags (store canonical form), sorted
	Keywords []string  // X-Keywords, in file order, without duplicates
	Recent   bool      // Status has no 'O': no client has seen the message yet
	// Internal marks c-client's "FOLDER INTERNAL DATA" pseudo message (it has
	// an X-IMAP header). It is not mail; importers skip it.
	Internal bool
	// Warnings are metadata fields that could not be read (the message is
	// still good; the field is ignored).
	Warnings []*migrate.ParseError
	// Content is the message as stored: the header without the metadata fields
	// above and Content-Length (Dovecot hides them from clients too), then the
	// body with the "From " quoting undone. Line endings are the file's.
	Content io.Reader

	contentLength int64 // -1 if none
}

// MessageError reports a message that was skipped (its header is larger
// than MaxHeaderBytes). Next can be called again to read on.
type MessageError struct{ Err *migrate.ParseError }

func (e *MessageError) Error() string { return "message skipped: " + e.Err.Error() }
func (e *MessageError) Unwrap() error { return e.Err }

// Reader reads messages from an mbox.
type Reader struct {
	br        *bufio.Reader
	ra        io.ReaderAt // the input, when it can be read ahead
	off       int64       // input bytes consumed
	opt       Options
	lines     int  // complete lines consumed
	bol       bool // the next fragment begins a line
	prevBlank bool // the last complete line was empty (or none was read yet)
	from      []byte
	fromLine  int
	body      *body
	base      *Base
	maxUID    uint32
	started   bool
	err       error // sticky: a read error or input that is no mbox
}

// NewReader returns a Reader of the mbox in r.
func NewReader(r io.Reader, opt Options) *Reader {
	if opt.MaxHeaderBytes <= 0 {
		opt.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if opt.File == "" {
		opt.File = "mbox"
	}
	ra, _ := r.(io.ReaderAt)
	return &Reader{br: bufio.NewReaderSize(r, bufSize), ra: ra, opt: opt, bol: true, prevBlank: true}
}

// Base returns the folder state from X-IMAPbase or X-IMAP, nil if the
// messages read so far had none. Its UIDNext is raised past every X-UID read
// so far: Dovecot does not rewrite X-IMAPbase for each delivery, so call
// Base after the last message for the folder's real next UID.
func (r *Reader) Base() *Base {
	if r.base == nil {
		return nil
	}
	b := *r.base
	if r.maxUID >= b.UIDNext && r.maxUID < math.MaxUint32 {
		b.UIDNext = r.maxUID + 1
	}
	return &b
}

// frag returns the next piece of input: a whole line with its '\n', or a
// piece of a line longer than the buffer. start says whether it begins a
// line, line is the number of the line it belongs to.
func (r *Reader) frag() (b []byte, start bool, line int, err error) {
	start, line = r.bol, r.lines+1
	b, err = r.br.ReadSlice('\n')
	r.off += int64(len(b))
	switch {
	case err == nil:
		r.bol = true
		r.lines++
		r.prevBlank = start && isBlank(b)
	case errors.Is(err, bufio.ErrBufferFull):
		r.bol, r.prevBlank, err = false, false, nil
	case errors.Is(err, io.EOF) && len(b) > 0: // last line without '\n'
		r.bol, err = true, nil
		r.lines++
		r.prevBlank = false
	}
	return b, start, line, err
}

func isBlank(b []byte) bool {
	return len(b) == 1 && b[0] == '\n' || len(b) == 2 && b[0] == '\r' && b[1] == '\n'
}

// isSeparator says whether a fragment is a "From " line starting a message:
// at the start of a line, and either after an empty line (as every writer
// leaves one) or with a date that parses (writers that leave none).
func (r *Reader) isSeparator(b []byte, start, prevBlank bool) bool {
	if !start || !bytes.HasPrefix(b, []byte("From ")) {
		return false
	}
	if prevBlank {
		return true
	}
	_, d := parseFromLine(b)
	return !d.IsZero()
}

// keepFrom remembers the separator just read (whole, up to the buffer size;
// the rest of an overlong one is skipped).
func (r *Reader) keepFrom(b []byte, line int) error {
	r.from, r.fromLine = bytes.Clone(b), line
	for !r.bol {
		var err error
		if _, _, _, err = r.frag(); err != nil {
			return err
		}
	}
	return nil
}

// unquote undoes the "From " quoting of a line's first fragment.
func (r *Reader) unquote(b []byte) []byte {
	if len(b) == 0 || b[0] != '>' || r.opt.Variant == MboxCL2 {
		return b
	}
	i := 1
	if r.opt.Variant == MboxRD {
		for i < len(b) && b[i] == '>' {
			i++
		}
	}
	if bytes.HasPrefix(b[i:], []byte("From ")) {
		return b[1:]
	}
	return b
}

// Next returns the next message, io.EOF after the last. A *MessageError
// means one message was skipped and Next may be called again; any other
// error is final.
func (r *Reader) Next() (*Message, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.body != nil {
		_, err := io.Copy(io.Discard, r.body)
		r.body = nil
		if err != nil {
			return nil, r.fail(err)
		}
	}
	if !r.started {
		r.started = true
		if err := r.findFirst(); err != nil {
			return nil, r.fail(err)
		}
	}
	if r.from == nil {
		return nil, io.EOF
	}
	m := &Message{Line: r.fromLine, Recent: true, contentLength: -1}
	m.Sender, m.Date = parseFromLine(r.from)
	r.from = nil
	hdr, tooLong, err := r.readHeader()
	if err != nil {
		return nil, r.fail(err)
	}
	r.body = &body{r: r, left: -1}
	if tooLong {
		return nil, &MessageError{migrate.Errorf(r.opt.File, m.Line, "header longer than %d bytes", r.opt.MaxHeaderBytes)}
	}
	kept := r.parseHeader(m, hdr)
	if r.opt.Variant == MboxCL2 && r.from == nil && r.lengthEndsMessage(m.contentLength) {
		r.body.left = m.contentLength
	}
	m.Content = io.MultiReader(bytes.NewReader(kept), r.body)
	return m, nil
}

func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// findFirst reads up to the first separator; only empty lines may precede it.
func (r *Reader) findFirst() error {
	for {
		b, start, line, err := r.frag()
		if errors.Is(err, io.EOF) {
			return nil // an empty mbox
		}
		if err != nil {
			return err
		}
		if r.isSeparator(b, start, true) {
			return r.keepFrom(b, line)
		}
		if !isBlank(b) {
			return migrate.Errorf(r.opt.File, line, "not an mbox: expected a \"From \" line, found %q", truncate(b, 40))
		}
	}
}

func truncate(b []byte, n int) string {
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// readHeader reads the header block up to and including the empty line that
// ends it. When it exceeds MaxHeaderBytes it stops keeping bytes and the
// caller skips the message.
func (r *Reader) readHeader() (hdr []byte, tooLong bool, err error) {
	var buf bytes.Buffer
	for {
		prevBlank := r.prevBlank
		b, start, line, err := r.frag()
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), tooLong, nil
		}
		if err != nil {
			return nil, false, err
		}
		if r.isSeparator(b, start, prevBlank) {
			return buf.Bytes(), tooLong, r.keepFrom(b, line)
		}
		if start {
			b = r.unquote(b)
		}
		if !tooLong && buf.Len()+len(b) > r.opt.MaxHeaderBytes {
			tooLong = true
			buf.Reset()
		}
		if !tooLong {
			buf.Write(b)
		}
		if start && isBlank(b) {
			return buf.Bytes(), tooLong, nil
		}
	}
}

// metadata fields, removed from the content (lower case).
var metaFields = map[string]bool{
	"x-uid": true, "x-imapbase": true, "x-imap": true, "status": true, "x-status": true,
	"x-keywords": true, "x-uidl": true, "content-length": true,
}

// parseHeader fills m from the metadata fields of hdr and returns hdr
// without them.
func (r *Reader) parseHeader(m *Message, hdr []byte) []byte {
	kept := make([]byte, 0, len(hdr))
	line := m.Line + 1
	flags := map[string]bool{}
	for len(hdr) > 0 {
		// one field: a line and its continuation lines
		n := 0
		for {
			i := bytes.IndexByte(hdr[n:], '\n')
			if i < 0 {
				n = len(hdr)
				break
			}
			n += i + 1
			if n >= len(hdr) || (hdr[n] != ' ' && hdr[n] != '\t') || n == i+1 && isBlank(hdr[:n]) {
				break
			}
		}
		field := hdr[:n]
		hdr = hdr[n:]
		name, value, ok := bytes.Cut(field, []byte(":"))
		lname := strings.ToLower(strings.TrimSpace(string(name)))
		if !ok || !metaFields[lname] {
			kept = append(kept, field...)
		} else {
			r.metaField(m, flags, lname, unfold(value), line)
		}
		line += bytes.Count(field, []byte("\n"))
	}
	for f := range flags {
		m.Flags = append(m.Flags, f)
	}
	slices.Sort(m.Flags)
	return kept
}

func unfold(v []byte) string {
	s := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(v))
	return strings.TrimSpace(s)
}

func (r *Reader) metaField(m *Message, flags map[string]bool, name, v string, line int) {
	warn := func(format string, args ...any) {
		m.Warnings = append(m.Warnings, migrate.Errorf(r.opt.File, line, format, args...))
	}
	switch name {
	case "x-uid":
		u, err := strconv.ParseUint(v, 10, 32)
		if err != nil || u == 0 {
			warn("X-UID %q is not a UID", v)
			return
		}
		m.UID = uint32(u)
		r.maxUID = max(r.maxUID, m.UID)
	case "content-length":
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			m.contentLength = n
		}
	case "x-uidl":
		if v != "" {
			m.UIDL = v
		}
	case "x-imapbase", "x-imap":
		if name == "x-imap" {
			m.Internal = true
		}
		f := strings.Fields(v)
		if len(f) < 2 {
			warn("%s %q lacks UIDVALIDITY and next UID", name, v)
			return
		}
		uv, err1 := strconv.ParseUint(f[0], 10, 32)
		un, err2 := strconv.ParseUint(f[1], 10, 32)
		if err1 != nil || err2 != nil || uv == 0 {
			warn("%s %q: UIDVALIDITY and next UID must be numbers", name, v)
			return
		}
		if r.base == nil {
			r.base = &Base{UIDValidity: uint32(uv), UIDNext: uint32(un), Keywords: f[2:]}
		}
	case "status":
		for _, c := range v {
			switch c {
			case 'R':
				flags[store.FlagSeen] = true
			case 'O':
				m.Recent = false
			}
		}
	case "x-status":
		for _, c := range v {
			switch c {
			case 'A':
				flags[store.FlagAnswered] = true
			case 'F':
				flags[store.FlagFlagged] = true
			case 'T':
				flags[store.FlagDraft] = true
			case 'D':
				flags[store.FlagDeleted] = true
			}
		}
	case "x-keywords":
		for _, k := range strings.FieldsFunc(v, func(c rune) bool { return c == ' ' || c == ',' || c == '\t' }) {
			if !slices.Contains(m.Keywords, k) {
				m.Keywords = append(m.Keywords, k)
			}
		}
	}
}

// fromLayouts are the dates "From " lines carry (ctime, with or without a
// zone, as written by various MTAs and MUAs).
var fromLayouts = []string{
	"Mon Jan _2 15:04:05 2006",
	"Mon Jan _2 15:04:05 2006 -0700",
	"Mon Jan _2 15:04:05 MST 2006",
	"Mon Jan _2 15:04:05 -0700 2006",
	"Mon Jan _2 15:04 2006",
	"Mon, _2 Jan 2006 15:04:05 -0700",
}

// parseFromLine splits "From sender date"; date is zero when it does not parse.
func parseFromLine(b []byte) (sender string, date time.Time) {
	s := strings.TrimRight(string(b), "\r\n")
	s = strings.TrimPrefix(s, "From ")
	if strings.HasPrefix(s, " ") { // empty sender: "From  Mon Jan ..."
		s = strings.TrimLeft(s, " ")
	} else {
		sender, s, _ = strings.Cut(s, " ")
	}
	s = strings.Join(strings.Fields(s), " ")
	for _, l := range fromLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return sender, t
		}
		// "_2" wants a padded day; Fields removed the padding
		if t, err := time.Parse(strings.Replace(l, "_2", "2", 1), s); err == nil {
			return sender, t
		}
	}
	return sender, time.Time{}
}

// body streams a message's body, undoing the quoting, up to the next
// separator. The empty line before a separator (and at the end of the file)
// belongs to the mbox, not the message: it is held back until more follows.
type body struct {
	r    *Reader
	pre  []byte // a held empty line released by what followed
	buf  []byte // rest of the current fragment (in the bufio buffer)
	held []byte // an empty line not yet known to be content
	done bool
	left int64 // MboxCL2: body bytes Content-Length still promises; -1 if none
}

// lengthEndsMessage says whether n bytes from here end a message: they are
// followed by a separator, an empty line and one, or the end of the file.
// Without random access it is assumed (and checked at the end).
func (r *Reader) lengthEndsMessage(n int64) bool {
	if n < 0 {
		return false
	}
	if r.ra == nil {
		return true
	}
	// Read from the body's last byte, so a length past the end is told
	// apart from one ending exactly at it.
	var p [9]byte
	at := r.off + n - 1
	if n == 0 {
		at = r.off
	}
	k, err := r.ra.ReadAt(p[:], at)
	if err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	rest := p[:k]
	if n > 0 {
		if k == 0 {
			return false // the length runs past the end of the file
		}
		rest = rest[1:]
	}
	short := len(rest) < 8 // the file ends within what was read
	rest = bytes.TrimPrefix(rest, []byte("\r"))
	rest = bytes.TrimPrefix(rest, []byte("\n"))
	return bytes.HasPrefix(rest, []byte("From ")) || len(rest) == 0 && short
}

// clFragment takes fragment f while a Content-Length is being followed: it
// is content as is. When the promised length ends at a line end just before
// a separator or the end of the file, the mbox's empty line is consumed and
// the separator is taken as one. Otherwise the length is dropped and
// reading goes on as without one.
func (b *body) clFragment(f []byte) (ok bool, err error) {
	r := b.r
	if int64(len(f)) > b.left {
		b.left = -1
		return false, nil
	}
	b.left -= int64(len(f))
	b.buf = f
	if b.left > 0 {
		return true, nil
	}
	b.left = -1
	if !r.bol {
		return true, nil
	}
	p, _ := r.br.Peek(7)
	rest := p
	if len(rest) > 0 && rest[0] == '\r' {
		rest = rest[1:]
	}
	blank := len(rest) > 0 && rest[0] == '\n'
	if blank {
		rest = rest[1:]
	}
	if len(p) > 0 && !bytes.HasPrefix(rest, []byte("From ")) && !(len(rest) == 0 && len(p) < 7) {
		return true, nil // the length does not end at a message boundary
	}
	b.buf = bytes.Clone(f) // the bufio buffer moves on below
	if blank {
		if _, _, _, err := r.frag(); err != nil && !errors.Is(err, io.EOF) {
			return true, err
		}
	}
	r.prevBlank = true
	return true, nil
}

var (
	lf   = []byte("\n")
	crlf = []byte("\r\n")
)

func (b *body) Read(p []byte) (int, error) {
	r := b.r
	for len(b.pre) == 0 && len(b.buf) == 0 {
		if b.done {
			return 0, io.EOF
		}
		prevBlank := r.prevBlank
		f, start, line, err := r.frag()
		if errors.Is(err, io.EOF) {
			b.done = true
			continue
		}
		if err != nil {
			return 0, err
		}
		if b.left >= 0 {
			ok, err := b.clFragment(f)
			if err != nil {
				return 0, err
			}
			if ok {
				continue
			}
		}
		if r.isSeparator(f, start, prevBlank) {
			b.done = true
			if err := r.keepFrom(f, line); err != nil {
				return 0, err
			}
			continue
		}
		if start && isBlank(f) && r.bol {
			b.pre = b.held
			b.held = lf
			if len(f) == 2 {
				b.held = crlf
			}
			continue
		}
		b.pre, b.held = b.held, nil
		if start {
			f = r.unquote(f)
		}
		b.buf = f
	}
	n := copy(p, b.pre)
	b.pre = b.pre[n:]
	if n < len(p) {
		m := copy(p[n:], b.buf)
		b.buf = b.buf[m:]
		n += m
	}
	return n, nil
}

// String describes the variant.
func (v Variant) String() string {
	switch v {
	case MboxRD:
		return "mboxrd"
	case MboxO:
		return "mboxo"
	case MboxCL2:
		return "mboxcl2"
	}
	return fmt.Sprintf("Variant(%d)", v)
}
