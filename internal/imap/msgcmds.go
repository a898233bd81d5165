package imap

import (
	"errors"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/pochta-mail/pochta/internal/store"
)

// Store implements STORE and UID STORE (+FLAGS, -FLAGS, FLAGS, .SILENT).
func (s *session) Store(w *imapserver.FetchWriter, numSet goimap.NumSet, flags *goimap.StoreFlags, _ *goimap.StoreOptions) error {
	v := s.sel
	if v.readOnly {
		return errReadOnly
	}
	uids := v.resolve(numSet)
	if len(uids) == 0 {
		return nil
	}
	op := store.FlagsSet
	switch flags.Op {
	case goimap.StoreFlagsAdd:
		op = store.FlagsAdd
	case goimap.StoreFlagsDel:
		op = store.FlagsRemove
	}
	var list []string
	for _, f := range flags.Flags {
		if !strings.EqualFold(string(f), `\Recent`) { // not settable (RFC 3501 2.3.2)
			list = append(list, string(f))
		}
	}
	changed, err := s.srv.Store.UpdateFlags(s.ctx, v.mb.ID, uids, op, list)
	if err != nil {
		return s.fail("storing flags", err)
	}
	if len(changed) > 0 {
		v.own = append(v.own, changed[0].ModSeq)
	}
	if flags.Silent {
		return nil
	}
	// Every message of the set gets its flags back, changed or not.
	_, isUID := numSet.(goimap.UIDSet)
	for len(uids) > 0 {
		batch := uids[:min(len(uids), DefaultMaxFetchBatch)]
		uids = uids[len(batch):]
		msgs, err := s.srv.Store.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{MinUID: batch[0], MaxUID: batch[len(batch)-1]})
		if err != nil {
			return s.fail("storing flags", err)
		}
		for _, m := range onlyUIDs(msgs, batch) {
			rw := w.CreateMessage(v.seqOf(m.UID))
			if isUID {
				rw.WriteUID(goimap.UID(m.UID))
			}
			rw.WriteFlags(imapFlags(m.Flags))
			if err := rw.Close(); err != nil {
				return err
			}
		}
	}
	return nil
}

// destination looks up a COPY/MOVE target: a missing one is [TRYCREATE].
func (s *session) destination(name string) (store.Mailbox, error) {
	mb, err := s.srv.Store.GetMailbox(s.ctx, s.account.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return mb, no(goimap.ResponseCodeTryCreate, "No such mailbox")
	}
	return mb, s.fail("looking up mailbox", err)
}

func copyData(res store.CopyResult) *goimap.CopyData {
	if len(res.Source) == 0 {
		return nil
	}
	var src, dst goimap.UIDSet
	for i := range res.Source {
		src.AddNum(goimap.UID(res.Source[i]))
		dst.AddNum(goimap.UID(res.Dest[i]))
	}
	return &goimap.CopyData{UIDValidity: res.UIDValidity, SourceUIDs: src, DestUIDs: dst}
}

// Copy implements COPY with COPYUID (UIDPLUS).
func (s *session) Copy(numSet goimap.NumSet, dest string) (*goimap.CopyData, error) {
	mb, err := s.destination(dest)
	if err != nil {
		return nil, err
	}
	res, err := s.srv.Store.CopyMessages(s.ctx, s.sel.mb.ID, s.sel.resolve(numSet), mb.ID)
	if err != nil {
		return nil, s.fail("copying", err)
	}
	return copyData(res), nil
}

// Move implements MOVE (RFC 6851): COPYUID, then EXPUNGE for each message.
func (s *session) Move(w *imapserver.MoveWriter, numSet goimap.NumSet, dest string) error {
	v := s.sel
	if v.readOnly {
		return errReadOnly
	}
	mb, err := s.destination(dest)
	if err != nil {
		return err
	}
	res, err := s.srv.Store.MoveMessages(s.ctx, v.mb.ID, v.resolve(numSet), mb.ID)
	if err != nil {
		return s.fail("moving", err)
	}
	if data := copyData(res); data != nil {
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
	}
	return v.remove(w, res.Source)
}

// Expunge implements EXPUNGE, UID EXPUNGE (UIDPLUS) and the expunge of
// CLOSE, which the library signals with a writer that writes nothing.
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *goimap.UIDSet) error {
	v := s.sel
	if v.readOnly {
		if *w == (imapserver.ExpungeWriter{}) {
			return nil // CLOSE of an EXAMINEd mailbox expunges nothing
		}
		return errReadOnly
	}
	var only []uint32
	if uids != nil {
		if only = v.resolve(*uids); len(only) == 0 {
			return nil
		}
	}
	gone, err := s.srv.Store.Expunge(s.ctx, v.mb.ID, only)
	if err != nil {
		return s.fail("expunging", err)
	}
	return v.remove(w, gone)
}
