package smtp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/msgauth"
)

// InboundChecker authenticates mail arriving on the MX listener: SPF,
// DKIM and DMARC (internal/msgauth). Submission is not checked: its
// sender has authenticated.
type InboundChecker interface {
	Check(ctx context.Context, in msgauth.Input, msg io.ReadSeeker) (msgauth.Verdict, error)
}

var _ InboundChecker = (*msgauth.Checker)(nil)

// errDMARCReject is RFC 7489 6.6.3 / 10.3's rejection, by config only.
var errDMARCReject = reply(550, 5, 7, 1, "Message rejected: it fails the sender domain's DMARC policy (p=reject)")

// spoolMemory is how much of a message is spooled in memory for the
// checks; larger messages go to a temporary file.
const spoolMemory = 1 << 20

// authenticate reads the whole message (DKIM needs it before the header
// can be written), runs the checks, and returns the message with the
// Authentication-Results field in front. done releases the spool.
func (ss *session) authenticate(r io.Reader, from string) (msg io.Reader, done func(), err error) {
	sp, err := spool(r)
	if err != nil {
		return nil, nil, err
	}
	v, err := ss.srv.Checker.Check(ss.ctx, msgauth.Input{RemoteIP: ss.ip, Helo: ss.helo, MailFrom: from}, sp)
	if err != nil {
		sp.Close()
		return nil, nil, err
	}
	ss.log.Info("smtp: authentication results", "spf", v.SPF, "dmarc", v.DMARC.Result,
		"dmarc_policy", v.DMARC.Policy, "from_domain", v.DMARC.Domain, "dkim", len(v.DKIM))
	if ss.srv.DMARCReject && v.DMARC.Result == "fail" && v.DMARC.Policy == "reject" {
		sp.Close()
		return nil, nil, errDMARCReject
	}
	if _, err := sp.Seek(0, io.SeekStart); err != nil {
		sp.Close()
		return nil, nil, err
	}
	header, err := withoutOurResults(sp, ss.srv.hostname())
	if err != nil {
		sp.Close()
		return nil, nil, err
	}
	return io.MultiReader(strings.NewReader(v.Header), strings.NewReader(header), sp), func() { sp.Close() }, nil
}

// withoutOurResults reads the header section and drops any
// Authentication-Results field claiming to come from us: RFC 8601 5
// says a receiver removes such forgeries so readers can trust ours. The
// reader is left at the start of the body.
func withoutOurResults(r io.ReadSeeker, authservID string) (string, error) {
	br := message.BorrowReader(r)
	defer message.ReturnReader(br)
	var out strings.Builder
	var field strings.Builder
	consumed := int64(0)
	flush := func() {
		f := field.String()
		name, rest, _ := strings.Cut(f, ":")
		id, _, _ := strings.Cut(strings.TrimSpace(rest), ";")
		if !(strings.EqualFold(strings.TrimSpace(name), "Authentication-Results") &&
			strings.EqualFold(strings.TrimSpace(id), authservID)) {
			out.WriteString(f)
		}
		field.Reset()
	}
	for {
		line, err := br.ReadString('\n')
		consumed += int64(len(line))
		if line != "" && (line[0] == ' ' || line[0] == '\t') && field.Len() > 0 {
			field.WriteString(line) // a folded continuation
		} else {
			flush()
			if line == "\r\n" || line == "\n" || err != nil {
				out.WriteString(line) // the blank line, or a header-only message's end
				break
			}
			field.WriteString(line)
		}
		if out.Len()+field.Len() > 1<<20 {
			return "", fmt.Errorf("smtp: dropping forged Authentication-Results: %w", message.ErrHeaderTooLarge)
		}
	}
	if _, err := r.Seek(consumed, io.SeekStart); err != nil {
		return "", err
	}
	return out.String(), nil
}

// spooled is a message held for reading twice: in memory when small,
// else in a temporary file unlinked as soon as it is created, so a crash
// cannot leave it behind.
type spooled struct {
	io.ReadSeeker
	file *os.File
	mem  *bytes.Buffer // from spoolBuffers, given back at Close
}

// Close releases the spool; nothing may read it after.
func (s *spooled) Close() {
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	if s.mem != nil {
		putSpoolBuffer(s.mem)
		s.mem = nil
	}
}

// spoolBuffers holds the in-memory spools: a fresh bytes.Buffer per
// message grew by doubling to hold it, allocating about three times a
// 10 KB message, the largest allocation of an MX delivery. One grown
// past spoolBufferKept is left to the GC.
var spoolBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const spoolBufferKept = 256 << 10

func putSpoolBuffer(b *bytes.Buffer) {
	if b.Cap() <= spoolBufferKept {
		b.Reset()
		spoolBuffers.Put(b)
	}
}

// RemoveStaleSpools removes spool files older than age from dir (the
// system temporary directory): left by versions that kept them named
// until the message was stored, or, where files cannot be created
// unnamed, by a crash in the instant between creating and unlinking one. It reports how many and how large.
func RemoveStaleSpools(dir string, age time.Duration) (n int, size int64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	cutoff := time.Now().Add(-age)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), delivery.SpoolPrefix) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
			size += info.Size()
		}
	}
	return n, size
}

func spool(r io.Reader) (*spooled, error) {
	buf := spoolBuffers.Get().(*bytes.Buffer)
	n, err := io.CopyN(buf, r, spoolMemory+1)
	if err == io.EOF || (err == nil && n <= spoolMemory) {
		return &spooled{ReadSeeker: bytes.NewReader(buf.Bytes()), mem: buf}, nil
	}
	defer putSpoolBuffer(buf)
	if err != nil {
		return nil, err
	}
	f, err := delivery.CreateSpoolFile()
	if err != nil {
		return nil, err
	}
	s := &spooled{ReadSeeker: f, file: f}
	if _, err := io.Copy(f, io.MultiReader(buf, r)); err != nil {
		s.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
