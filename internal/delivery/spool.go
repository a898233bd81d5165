package delivery

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"
)

// spool holds a message whose header section has been read for the
// filters. The rest is streamed to the store as before, unless something
// needs all of it first (a size test, a redirect that is stored apart from
// the local copies): then it is read once into memory, or into a temporary
// file past spoolMemory octets.
type spool struct {
	head []byte
	rest *bufio.Reader

	spooled bool
	mem     []byte
	file    *os.File
	size    int64
	err     error
	// release, when not nil, gives rest back to the Deliverer's pool:
	// close calls it, once whatever reads the message has read it (after
	// the commit, for a DeliverBatch).
	release func()
}

// spoolMemory is how much of a message the spool keeps in memory.
const spoolMemory = 1 << 20

// readAll reads the rest of the message; errors (the client's) are kept
// and returned by every reader made afterwards.
func (s *spool) readAll() {
	if s.spooled {
		return
	}
	s.spooled = true
	var buf bytes.Buffer
	// Room for what the reader holds already (the whole of most
	// messages) and the read that finds the end: one allocation, where
	// growing from nothing took several and twice the octets.
	buf.Grow(s.rest.Buffered() + bytes.MinRead)
	n, err := io.CopyN(&buf, s.rest, spoolMemory+1)
	s.size = int64(len(s.head)) + n
	if err != nil && err != io.EOF {
		s.err = err
		return
	}
	if n <= spoolMemory {
		s.mem = buf.Bytes()
		return
	}
	f, err := CreateSpoolFile()
	if err != nil {
		s.err = err
		return
	}
	s.file = f
	m, err := io.Copy(f, io.MultiReader(&buf, s.rest))
	s.size = int64(len(s.head)) + m
	if err != nil {
		s.err = err
	}
}

// Size is the message's size in octets (it reads the whole message).
func (s *spool) Size() int64 {
	s.readAll()
	return s.size
}

// Raw returns the first max octets of the message (it reads the whole
// message), for the Sieve body test.
func (s *spool) Raw(max int) ([]byte, error) {
	s.readAll()
	if s.err != nil {
		return nil, s.err
	}
	b := make([]byte, 0, min(int64(max), s.size))
	w := bytes.NewBuffer(b)
	_, err := io.Copy(w, io.LimitReader(s.reader(), int64(max)))
	return w.Bytes(), err
}

// withHeader returns the message with header (fields without the blank
// line) in place of the header section received; nil header is reader().
// It needs readAll first.
func (s *spool) withHeader(header []byte) io.Reader {
	if header == nil {
		return s.reader()
	}
	var body io.Reader
	switch {
	case s.err != nil:
		body = errReader{s.err}
	case s.file != nil:
		body = io.NewSectionReader(s.file, 0, s.size-int64(len(s.head)))
	default:
		body = bytes.NewReader(s.mem)
	}
	return io.MultiReader(bytes.NewReader(header), strings.NewReader("\r\n"), body)
}

// reader returns the whole message. Before readAll it can be read once
// only (it streams); after, as often as needed.
func (s *spool) reader() io.Reader {
	if !s.spooled {
		return io.MultiReader(bytes.NewReader(s.head), s.rest)
	}
	if s.err != nil {
		return io.MultiReader(bytes.NewReader(s.head), errReader{s.err})
	}
	if s.file != nil {
		return io.MultiReader(bytes.NewReader(s.head), io.NewSectionReader(s.file, 0, s.size-int64(len(s.head))))
	}
	return io.MultiReader(bytes.NewReader(s.head), bytes.NewReader(s.mem))
}

func (s *spool) close() {
	if s.file != nil {
		s.file.Close()
	}
	if s.release != nil {
		s.release()
		s.release = nil
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
