package imap

import (
	"cmp"
	"errors"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/imap/wire"
	"github.com/pochta-mail/pochta/internal/store"
)

var errReadOnly = no(codeCannot, "Mailbox is read-only (EXAMINE)")

// cmdStore: STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] flags (RFC
// 9051 §6.4.6, RFC 7162 §3.1.3).
func (s *session) cmdStore(_ string, uid bool) error {
	if err := s.p.SP(); err != nil {
		return err
	}
	set, err := s.p.SeqSet()
	if err != nil {
		return err
	}
	if err := s.p.SP(); err != nil {
		return err
	}
	var unchangedSince *uint64
	if s.p.Accept('(') {
		if !s.p.AcceptFold("UNCHANGEDSINCE") {
			return bad("Unknown STORE modifier")
		}
		if err := s.p.SP(); err != nil {
			return err
		}
		n, err := s.p.Number64()
		if err != nil {
			return err
		}
		unchangedSince = &n
		if err := s.p.Expect(')'); err != nil {
			return err
		}
		if err := s.p.SP(); err != nil {
			return err
		}
	}
	op := store.FlagsSet
	switch {
	case s.p.Accept('+'):
		op = store.FlagsAdd
	case s.p.Accept('-'):
		op = store.FlagsRemove
	}
	if !s.p.AcceptPrefixFold("FLAGS") {
		return bad("Expected FLAGS, +FLAGS or -FLAGS")
	}
	silent := s.p.AcceptFold(".SILENT")
	if err := s.p.SP(); err != nil {
		return err
	}
	var flags []string
	if c, ok := s.p.Peek(); ok && c == '(' {
		if flags, err = s.p.FlagList(); err != nil {
			return err
		}
	} else {
		for {
			f, err := s.p.Flag()
			if err != nil {
				return err
			}
			flags = append(flags, f)
			if s.p.AtEnd() {
				break
			}
			if err := s.p.SP(); err != nil {
				return err
			}
		}
	}
	if err := s.p.End(); err != nil {
		return err
	}
	var list []string
	for _, f := range flags {
		switch {
		case strings.EqualFold(f, `\Recent`):
			// Not settable (RFC 3501 §2.3.2); Dovecot answers BAD too.
			return bad("\\Recent cannot be changed")
		case strings.HasPrefix(f, `\`):
			c := store.CanonicalFlag(f)
			if c == f && !isSystemFlag(f) {
				return bad("Invalid system flag %s", truncate(f, 32))
			}
			list = append(list, c)
		default:
			list = append(list, f)
		}
	}
	v := s.sel
	uids, err := v.resolve(set, uid)
	if err != nil {
		return err
	}
	if v.readOnly {
		return errReadOnly
	}
	if unchangedSince != nil {
		s.enableCondstore()
	}
	if len(uids) == 0 {
		return nil
	}
	var changed []store.Message
	var modified []uint32
	if unchangedSince != nil {
		changed, modified, err = s.srv.Store.UpdateFlagsIf(s.ctx, v.mb.ID, uids, op, list, *unchangedSince)
	} else {
		changed, err = s.srv.Store.UpdateFlags(s.ctx, v.mb.ID, uids, op, list)
	}
	if err != nil {
		return err
	}
	v.addOwn(changed)
	if silent && !s.condstore {
		return nil
	}
	if err := s.storeResponses(uids, changed, modified, silent, unchangedSince != nil); err != nil {
		return err
	}
	if len(modified) > 0 {
		// RFC 7162 §3.1.3: the messages that failed the test, as
		// sequence numbers for STORE and UIDs for UID STORE.
		nums := modified
		if !uid {
			nums = make([]uint32, 0, len(modified))
			for _, u := range modified {
				if seq := v.seqOf(u); seq != 0 {
					nums = append(nums, seq)
				}
			}
		}
		s.ok("MODIFIED "+wire.FormatNums(nums), "Conditional STORE failed")
	}
	return nil
}

// storeResponses writes the FETCH responses of a STORE: FLAGS for every
// message of the set, changed or not, unless .SILENT; with CONDSTORE on,
// MODSEQ too, and under .SILENT MODSEQ alone for the messages changed
// (and, for a conditional STORE, all that passed the test, RFC 7162
// §3.1.3). A message that failed the UNCHANGEDSINCE test gets its
// current FLAGS and MODSEQ, so the client need not ask (§3.1.3, example
// 10).
func (s *session) storeResponses(uids []uint32, changed []store.Message, modified []uint32, silent, conditional bool) error {
	v := s.sel
	for len(uids) > 0 {
		batch := uids[:min(len(uids), DefaultMaxFetchBatch)]
		uids = uids[len(batch):]
		msgs, err := s.srv.Store.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{MinUID: batch[0], MaxUID: batch[len(batch)-1]})
		if err != nil {
			return err
		}
		msgs = onlyUIDs(msgs, batch) // not the gaps of "1,3"
		for i := range msgs {
			m := &msgs[i]
			seq := v.seqOf(m.UID)
			if seq == 0 {
				continue
			}
			if _, failed := slices.BinarySearch(modified, m.UID); !silent || failed {
				s.announceKeywords(m.Flags)
				s.writeFetchFlags(seq, m)
				continue
			}
			if _, ok := slices.BinarySearchFunc(changed, m.UID, byUID); !conditional && !ok {
				continue
			}
			s.w.Raw("* ")
			s.w.Number(uint64(seq))
			s.w.Raw(" FETCH (UID ")
			s.w.Number(uint64(m.UID))
			s.writeModSeq(m.ModSeq)
			s.w.Raw(")\r\n")
		}
	}
	return nil
}

// byUID compares a message (of a list in UID order) with a UID.
func byUID(m store.Message, uid uint32) int { return cmp.Compare(m.UID, uid) }

func isSystemFlag(f string) bool {
	for _, sf := range systemFlags {
		if strings.EqualFold(f, sf) {
			return true
		}
	}
	return false
}

// destination reads SP mailbox for COPY/MOVE: a missing one is
// [TRYCREATE] (RFC 9051 §6.4.7).
func (s *session) destination(name string) (store.Mailbox, error) {
	mb, err := s.srv.Store.GetMailbox(s.ctx, s.account.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return mb, no(codeTryCreate, "No such mailbox")
	}
	return mb, err
}

// copyUID is the COPYUID response code (RFC 4315), "" when nothing moved.
func copyUID(res store.CopyResult) string {
	if len(res.Source) == 0 {
		return ""
	}
	return "COPYUID " + itoa(res.UIDValidity) + " " + wire.FormatNums(res.Source) + " " + wire.FormatNums(res.Dest)
}

// parseCopy reads "set mailbox" of COPY and MOVE.
func (s *session) parseCopy(uid bool) ([]uint32, store.Mailbox, error) {
	if err := s.p.SP(); err != nil {
		return nil, store.Mailbox{}, err
	}
	set, err := s.p.SeqSet()
	if err != nil {
		return nil, store.Mailbox{}, err
	}
	name, err := s.mailboxOnlyArg()
	if err != nil {
		return nil, store.Mailbox{}, err
	}
	uids, err := s.sel.resolve(set, uid)
	if err != nil {
		return nil, store.Mailbox{}, err
	}
	dest, err := s.destination(name)
	return uids, dest, err
}

// cmdCopy: COPY set mailbox, with COPYUID (§6.4.7, RFC 4315).
func (s *session) cmdCopy(_ string, uid bool) error {
	uids, dest, err := s.parseCopy(uid)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	res, err := s.srv.Store.CopyMessages(s.ctx, s.sel.mb.ID, uids, dest.ID)
	if err != nil {
		return err
	}
	s.ok(copyUID(res), "")
	return nil
}

// cmdMove: MOVE set mailbox (RFC 6851): COPYUID in an untagged OK, then
// EXPUNGE for each message moved.
func (s *session) cmdMove(_ string, uid bool) error {
	uids, dest, err := s.parseCopy(uid)
	if err != nil {
		return err
	}
	v := s.sel
	if v.readOnly {
		return errReadOnly
	}
	if len(uids) == 0 {
		return nil
	}
	res, err := s.srv.Store.MoveMessages(s.ctx, v.mb.ID, uids, dest.ID)
	if err != nil {
		return err
	}
	if code := copyUID(res); code != "" {
		s.w.Raw("* OK [" + code + "] Moved\r\n")
	}
	v.remove(s, res.Source)
	s.okModSeq = s.qresync && len(res.Source) > 0
	return nil
}

// cmdExpunge: EXPUNGE (§6.4.3) and UID EXPUNGE set (RFC 4315).
func (s *session) cmdExpunge(_ string, uid bool) error {
	var set wire.SeqSet
	if uid {
		if err := s.p.SP(); err != nil {
			return err
		}
		var err error
		if set, err = s.p.SeqSet(); err != nil {
			return err
		}
	}
	if err := s.p.End(); err != nil {
		return err
	}
	v := s.sel
	var only []uint32
	if uid {
		var err error
		if only, err = v.resolve(set, true); err != nil {
			return err
		}
		if len(only) == 0 {
			return nil
		}
	}
	if v.readOnly {
		return errReadOnly
	}
	gone, err := s.srv.Store.Expunge(s.ctx, v.mb.ID, only)
	if err != nil {
		return err
	}
	v.remove(s, gone)
	// RFC 7162 §3.2.7, §3.2.9: under QRESYNC the tagged OK says the
	// mod-sequence the removal reached.
	s.okModSeq = s.qresync && len(gone) > 0
	return nil
}
