package importer

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/migrate"
	"github.com/pochta-mail/pochta/internal/migrate/mbox"
	"github.com/pochta-mail/pochta/internal/store"
)

// spoolMemory is the largest mbox message held in memory until its batch
// is stored; larger ones go to a temporary file.
const spoolMemory = 8 << 20

// DetectVariant guesses an mbox's quoting: Dovecot (and c-client) write
// X-IMAPbase and Content-Length, i.e. mboxcl2; anything else is read as
// mboxrd.
func DetectVariant(path string) (mbox.Variant, error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(fh, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, err
	}
	head = head[:n]
	if end := bytes.Index(head, []byte("\n\n")); end >= 0 {
		head = head[:end]
	}
	if bytes.Contains(head, []byte("\nX-IMAPbase:")) || bytes.Contains(head, []byte("\nContent-Length:")) {
		return mbox.MboxCL2, nil
	}
	return mbox.MboxRD, nil
}

// mboxFile imports one mbox file into Options.MboxFolder (INBOX).
func (s *Service) mboxFile(ctx context.Context, acct store.Account, path string, sum *Summary) error {
	variant, err := DetectVariant(path)
	if err != nil {
		return err
	}
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	r := mbox.NewReader(fh, mbox.Options{Variant: variant, File: path})
	folder := store.CanonicalMailboxName(cmp.Or(s.Opt.MboxFolder, store.InboxName))
	inbox := folder == store.InboxName
	format := s.uidlFormat()
	var (
		b        *batch
		keepUIDs bool
		known    map[string]uint32
		base     *mbox.Base
		digests  = map[string]int{}
	)
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var me *mbox.MessageError
		if errors.As(err, &me) {
			sum.problem(me.Err.File, "line %d: %s", me.Err.Line, me.Err.Msg)
			continue
		}
		if err != nil {
			if b == nil {
				return err // not an mbox at all
			}
			sum.problem(path, "reading stopped: %v", err)
			break
		}
		for _, w := range m.Warnings {
			sum.problem(fmt.Sprintf("%s:%d", w.File, w.Line), "%s", w.Msg)
		}
		if b == nil {
			base = r.Base()
			im := store.ImportMailbox{Name: folder}
			if base != nil {
				im.UIDValidity, im.UIDNext = base.UIDValidity, base.UIDNext
			}
			var mb store.Mailbox
			if mb, keepUIDs, known, err = s.folderTarget(ctx, acct, im, true, sum); err != nil {
				return err
			}
			b = s.newBatch(ctx, acct, mb, -1, sum)
		}
		if m.Internal {
			continue
		}
		where := fmt.Sprintf("%s:%d", path, m.Line)
		sp, err := spool(m.Content)
		if err != nil {
			sum.problem(where, "message not imported: %v", err)
			continue
		}
		digests[sp.digest]++
		key := fmt.Sprintf("sha256:%s#%d", sp.digest, digests[sp.digest])
		if _, ok := known[key]; ok {
			sp.close()
			b.skip()
			continue
		}
		im := store.ImportMessage{Key: key, Flags: slices.Concat(m.Flags, m.Keywords), InternalDate: m.Date, Open: sp.open}
		if keepUIDs {
			im.UID = m.UID
		}
		if inbox {
			im.UIDL = m.UIDL
			if im.UIDL == "" && base != nil && m.UID != 0 {
				im.UIDL = s.computeUIDL(format, migrate.UIDLVars{UID: m.UID, UIDValidity: base.UIDValidity}, where, sum)
			}
		}
		if err := b.add(im, sp.size, where, sp.close); err != nil {
			return err
		}
	}
	if b == nil {
		return nil // an empty file
	}
	if err := b.flush(); err != nil {
		return err
	}
	// X-IMAPbase's next UID is only final after the last message.
	if final := r.Base(); final != nil && !s.Opt.DryRun && keepUIDs {
		if _, err := s.Store.ImportMailbox(ctx, acct.ID, store.ImportMailbox{Name: folder,
			UIDValidity: final.UIDValidity, UIDNext: final.UIDNext}); err != nil {
			return err
		}
	}
	return nil
}

// spooled is one mbox message kept until its batch is stored.
type spooled struct {
	mem    []byte
	file   *os.File // past spoolMemory: an unnamed spool file
	size   int64
	digest string
}

// spool reads one message, in memory or (past spoolMemory) into an
// unnamed spool file (delivery.CreateSpoolFile: no crash leaves it
// behind), and digests it.
func spool(r io.Reader) (*spooled, error) {
	h := sha256.New()
	var buf bytes.Buffer
	n, err := io.Copy(io.MultiWriter(h, &buf), io.LimitReader(r, spoolMemory+1))
	if err != nil {
		return nil, err
	}
	sp := &spooled{size: n}
	if n <= spoolMemory {
		sp.mem = buf.Bytes()
		sp.digest = hex.EncodeToString(h.Sum(nil))
		return sp, nil
	}
	f, err := delivery.CreateSpoolFile()
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	_, err = w.Write(buf.Bytes())
	if err == nil {
		var more int64
		more, err = io.Copy(io.MultiWriter(h, w), r)
		sp.size += more
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	sp.file = f
	sp.digest = hex.EncodeToString(h.Sum(nil))
	return sp, nil
}

// open reads the message from its start; it may be called again.
func (sp *spooled) open() (io.ReadCloser, error) {
	if sp.file == nil {
		return io.NopCloser(bytes.NewReader(sp.mem)), nil
	}
	return io.NopCloser(io.NewSectionReader(sp.file, 0, sp.size)), nil
}

func (sp *spooled) close() {
	if sp.file != nil {
		sp.file.Close()
		sp.file = nil
	}
	sp.mem = nil
}
