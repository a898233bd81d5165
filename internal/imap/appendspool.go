package imap

import (
	"bytes"
	"io"
	"os"

	"github.com/pochta-mail/pochta/internal/delivery"
)

// An APPEND command's messages wait in spools until the command is
// complete (see cmdAppend). The spools of one command share a memory
// budget; past it, a spool moves to a temporary file (os.TempDir)
// without a name (delivery.CreateSpoolFile), closed when the command
// ends, whatever its outcome: a crash cannot leave it behind.
const (
	spoolMemoryBudget = 1 << 20
	spoolMemoryMax    = 256 << 10 // one spool's share
)

type spool struct {
	budget *int64 // the command's memory left
	mem    bytes.Buffer
	f      *os.File
	n      int64
}

func newSpool(budget *int64) *spool { return &spool{budget: budget} }

func (sp *spool) size() int64 { return sp.n }

func (sp *spool) Write(p []byte) (int, error) {
	if sp.f == nil {
		if int64(sp.mem.Len()+len(p)) <= min(spoolMemoryMax, *sp.budget+int64(sp.mem.Len())) {
			*sp.budget -= int64(len(p))
			sp.n += int64(len(p))
			return sp.mem.Write(p)
		}
		f, err := delivery.CreateSpoolFile()
		if err != nil {
			return 0, err
		}
		sp.f = f
		if _, err := f.Write(sp.mem.Bytes()); err != nil {
			return 0, err
		}
		*sp.budget += int64(sp.mem.Len())
		sp.mem = bytes.Buffer{}
	}
	n, err := sp.f.Write(p)
	sp.n += int64(n)
	return n, err
}

// reader returns the spooled data from its start.
func (sp *spool) reader() (io.Reader, error) {
	if sp.f == nil {
		return bytes.NewReader(sp.mem.Bytes()), nil
	}
	if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return sp.f, nil
}

func (sp *spool) close() {
	*sp.budget += int64(sp.mem.Len())
	sp.mem = bytes.Buffer{}
	if sp.f != nil {
		sp.f.Close()
		sp.f = nil
	}
}
