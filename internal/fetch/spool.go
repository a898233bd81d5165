package fetch

import (
	"bytes"
	"io"
	"os"

	"github.com/pochta-mail/pochta/internal/delivery"
)

// spool holds a message body read before its UID was known (see
// imapFetchBatch): at most bufferMax+1 octets in memory, the rest in an
// unlinked temporary file, so a server that sends BODY[] before UID costs
// no more memory than one that sends UID first.
type spool struct {
	head bytes.Buffer
	file *os.File
	// err ended the read (the literal cut short, errTooLarge): it is
	// replayed after the octets read, so the message is not stored.
	err error
}

// newSpool reads r whole into a spool; the file, when needed, is an
// unnamed spool file (delivery.CreateSpoolFile), so no crash leaves it
// behind.
func newSpool(r io.Reader) (*spool, error) {
	s := &spool{}
	if _, err := io.CopyN(&s.head, r, bufferMax+1); err == io.EOF {
		return s, nil
	} else if err != nil {
		s.err = err
		return s, nil
	}
	f, err := delivery.CreateSpoolFile()
	if err != nil {
		return nil, err
	}
	s.file = f
	if _, err := io.Copy(f, r); err != nil {
		s.err = err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// reader reads the spooled body, then fails with the read's error if any.
func (s *spool) reader() io.Reader {
	rs := []io.Reader{&s.head}
	if s.file != nil {
		rs = append(rs, s.file)
	}
	if s.err != nil {
		rs = append(rs, errReader{s.err})
	}
	return io.MultiReader(rs...)
}

func (s *spool) close() {
	if s.file != nil {
		s.file.Close()
	}
}
