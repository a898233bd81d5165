package imap

import (
	"bytes"
	"strings"
	"sync"
)

// outFilter scans the library's output for response-line starts, holds a
// line only until it can tell whether it is a capability list (within its
// first few dozen octets), extends capability lists, and passes everything
// else through as it comes: literals (message bodies) are skipped by
// length, not scanned.
type outFilter struct {
	f       *front
	hold    []byte // start of the current line, while undecided or a capability line
	holding bool   // the current line is being held
	midLine bool   // passing the rest of a decided line through
	literal int64  // literal octets still to pass
	tail    []byte // last octets of the passed line, for its literal marker
}

var outBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// atBoundary reports whether the output is between two response lines.
func (o *outFilter) atBoundary() bool { return !o.holding && !o.midLine && o.literal == 0 }

func (o *outFilter) write(p []byte) (int, error) {
	bufp := outBuffers.Get().(*[]byte)
	out := (*bufp)[:0]
	total := len(p)
	for len(p) > 0 {
		switch {
		case o.literal > 0:
			n := int(min(o.literal, int64(len(p))))
			out = append(out, p[:n]...)
			o.literal -= int64(n)
			p = p[n:]
			if o.literal == 0 {
				o.midLine, o.tail = true, o.tail[:0]
			}
		case o.midLine:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				out = append(out, p...)
				o.keepTail(p)
				p = nil
				continue
			}
			out = append(out, p[:i+1]...)
			o.keepTail(p[:i+1])
			p = p[i+1:]
			o.endLine()
		case len(o.hold) == 0 && o.decideInPlace(&p, &out):
			// Decided from p itself: the common case, no copy held.
		default: // at or near the start of a line: hold it until decided
			o.holding = true
			i := bytes.IndexByte(p, '\n')
			take := p
			if i >= 0 {
				take = p[:i+1]
			}
			o.hold = append(o.hold, take...)
			p = p[len(take):]
			isCap, decided := capabilityLine(o.hold)
			switch {
			case isCap && i >= 0:
				out = append(out, o.f.extendCapabilities(o.hold)...)
				o.resetHold()
			case isCap: // keep holding until the line ends
			case decided || i >= 0:
				out = append(out, o.hold...)
				o.tail = append(o.tail[:0], o.hold[max(0, len(o.hold)-32):]...)
				o.resetHold()
				if i >= 0 {
					o.endLine()
				} else {
					o.midLine = true
				}
			}
		}
	}
	var err error
	if len(out) > 0 {
		err = o.f.send(out)
	}
	*bufp = out
	outBuffers.Put(bufp)
	if err != nil {
		return 0, err
	}
	return total, nil
}

// decideInPlace handles a line start when p alone tells what the line is:
// it passes (or extends) the line and advances *p. It reports false when
// the line must be held instead (undecided, or a capability line that
// does not end within p).
func (o *outFilter) decideInPlace(p *[]byte, out *[]byte) bool {
	b := *p
	i := bytes.IndexByte(b, '\n')
	line := b
	if i >= 0 {
		line = b[:i+1]
	}
	isCap, decided := capabilityLine(line)
	switch {
	case isCap && i >= 0:
		*out = append(*out, o.f.extendCapabilities(line)...)
		*p = b[len(line):]
		return true
	case isCap || !decided:
		return false
	}
	*out = append(*out, line...)
	o.keepTail(line)
	*p = b[len(line):]
	if i >= 0 {
		o.endLine()
	} else {
		o.midLine = true
	}
	return true
}

func (o *outFilter) resetHold() {
	o.holding = false
	o.hold = nil // held lines are rare (capabilities, split starts): keep no buffer
}

func (o *outFilter) keepTail(b []byte) {
	o.tail = append(o.tail, b[max(0, len(b)-32):]...)
	if len(o.tail) > 32 {
		o.tail = append(o.tail[:0], o.tail[len(o.tail)-32:]...)
	}
}

// endLine is called after a line's CRLF: a literal announced at its end
// follows, else a new line starts.
func (o *outFilter) endLine() {
	o.midLine = false
	o.literal = literalSize(o.tail)
	o.tail = o.tail[:0]
}

// capabilityLine tells from a line's start whether it carries a
// capability list: "* CAPABILITY ..." or "TAG OK [CAPABILITY ...] ...".
// decided is false while the start is still a prefix of those.
func capabilityLine(b []byte) (isCap, decided bool) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return false, len(b) > 64 || bytes.IndexByte(b, '\n') >= 0
	}
	rest := b[sp+1:]
	for _, prefix := range []string{"CAPABILITY ", "OK [CAPABILITY "} {
		if prefix == "CAPABILITY " && string(b[:sp]) != "*" {
			continue
		}
		if len(rest) >= len(prefix) {
			if string(rest[:len(prefix)]) == prefix {
				return true, true
			}
			continue
		}
		if strings.HasPrefix(prefix, string(rest)) {
			return false, false
		}
	}
	return false, true
}

// extendCapabilities adds the front's capabilities to a capability line.
func (f *front) extendCapabilities(line []byte) []byte {
	end := bytes.IndexByte(line, ']') // "OK [CAPABILITY ...]" form
	if end < 0 {
		end = len(bytes.TrimRight(line, "\r\n"))
	}
	var b []byte
	b = append(b, line[:end]...)
	for _, c := range f.extraCapabilities() {
		b = append(b, ' ')
		b = append(b, c...)
	}
	return append(b, line[end:]...)
}

func (f *front) extraCapabilities() []string {
	var out []string
	authed := f.authenticated()
	if !authed {
		if f.srv.TLSConfig != nil && !f.isTLS.Load() {
			out = append(out, "STARTTLS")
		}
		if !f.plaintextOK() {
			out = append(out, "LOGINDISABLED")
		}
	}
	out = append(out, "ID")
	if authed {
		out = append(out, "QUOTA", "QUOTA=RES-STORAGE")
	}
	return out
}
