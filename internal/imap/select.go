package imap

import (
	"errors"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// utf8Names reports whether mailbox names travel as UTF-8 (IMAP4rev2 or
// UTF8=ACCEPT enabled) rather than modified UTF-7.
func (s *session) utf8Names() bool { return s.rev2 || s.utf8 }

// spAString reads SP astring.
func (s *session) spAString() (string, error) {
	if err := s.p.SP(); err != nil {
		return "", err
	}
	return s.p.AString()
}

// parenList parses "(" [item *(SP item)] ")", calling item for each.
func (s *session) parenList(item func() error) error {
	if err := s.p.Expect('('); err != nil {
		return err
	}
	for first := true; !s.p.Accept(')'); first = false {
		if !first {
			if err := s.p.SP(); err != nil {
				return err
			}
		}
		if err := item(); err != nil {
			return err
		}
	}
	return nil
}

// atomList parses "(" [atom *(SP atom)] ")", calling item with each atom
// upper-cased.
func (s *session) atomList(item func(atom string) error) error {
	return s.parenList(func() error {
		a, err := s.p.Atom()
		if err != nil {
			return err
		}
		return item(strings.ToUpper(a))
	})
}

// mailboxArg reads SP mailbox and returns the name as the store knows it
// (UTF-8). A name that is not valid modified UTF-7 is taken literally:
// it then names nothing that exists, and LIST matches it as given.
func (s *session) mailboxArg() (string, error) {
	name, err := s.spAString()
	if err != nil {
		return "", err
	}
	return s.decodeName(name), nil
}

// mailboxOnlyArg reads SP mailbox and the end of the command: the whole
// argument list of DELETE, SUBSCRIBE, UNSUBSCRIBE and GETQUOTAROOT, and the
// last of COPY and MOVE.
func (s *session) mailboxOnlyArg() (string, error) {
	name, err := s.mailboxArg()
	if err != nil {
		return "", err
	}
	return name, s.p.End()
}

func (s *session) decodeName(name string) string {
	if !s.utf8Names() {
		if d, err := decodeMUTF7(name); err == nil {
			name = d
		}
	}
	return store.CanonicalMailboxName(name)
}

// writeMailbox writes a mailbox name as the client expects it.
func (s *session) writeMailbox(name string) {
	if !s.utf8Names() {
		name = encodeMUTF7(name)
	}
	s.w.String(name)
}

// cmdSelect: SELECT mailbox (RFC 9051 §6.3.2).
func (s *session) cmdSelect(string, bool) error { return s.selectMailbox(false) }

// cmdExamine: EXAMINE mailbox (§6.3.3): read-only, and no \Recent is
// claimed (RFC 3501 §6.3.2).
func (s *session) cmdExamine(string, bool) error { return s.selectMailbox(true) }

// selectBatch is how many messages SELECT lists per store query.
const selectBatch = 5000

func (s *session) selectMailbox(readOnly bool) error {
	name, err := s.mailboxArg()
	if err != nil {
		return err
	}
	params, err := s.parseSelectParams()
	if err != nil {
		return err
	}
	if err := s.p.End(); err != nil {
		return err
	}
	if params.qresync != nil && !s.qresync {
		// RFC 7162 §3.2.5: BAD, and nothing else changes.
		return bad("QRESYNC must be enabled first")
	}
	if s.sel != nil {
		// RFC 9051 §7.1: the previous mailbox is closed first, and said so.
		s.sel.close()
		s.sel = nil
		s.state = stateAuthenticated
		s.w.Raw("* OK [CLOSED] Previous mailbox is now closed\r\n")
	}
	if params.condstore || params.qresync != nil {
		s.condstore = true // RFC 7162 §3.1.8; HIGHESTMODSEQ follows
	}
	st := s.srv.Store
	mb, err := st.GetMailbox(s.ctx, s.account.ID, name)
	if err != nil {
		return err
	}
	v := &view{mb: mb, readOnly: readOnly}
	// Subscribe before reading, so a change between the read and the
	// subscription still wakes the view.
	v.sub = st.Subscribe(s.account.ID)
	ok := false
	defer func() {
		if !ok {
			v.close()
		}
	}()
	if v.modseq, err = st.MailboxModSeq(s.ctx, mb.ID); err != nil {
		return err
	}
	v.safe = v.modseq
	firstUnseen := uint32(0)
	for from := uint32(1); ; {
		msgs, err := st.ListMessages(s.ctx, mb.ID, store.MessageQuery{MinUID: from, Limit: selectBatch})
		if err != nil {
			return err
		}
		for i := range msgs {
			m := &msgs[i]
			v.uids = append(v.uids, m.UID)
			if firstUnseen == 0 && !m.HasFlag(store.FlagSeen) {
				firstUnseen = uint32(len(v.uids))
			}
			for _, f := range m.Flags {
				if !strings.HasPrefix(f, `\`) && !containsFold(v.keywords, f) {
					v.keywords = append(v.keywords, f)
				}
			}
		}
		if len(msgs) < selectBatch {
			break
		}
		from = msgs[len(msgs)-1].UID + 1
	}
	if mb, err = st.GetMailbox(s.ctx, s.account.ID, mb.Name); err != nil { // UIDNEXT after the listing
		return err
	}
	v.mb = mb
	s.sel = v
	if err := s.claimRecent(v); err != nil {
		s.sel = nil
		return err
	}
	ok = true
	s.state = stateSelected

	s.writeFlagsAnnouncement()
	s.w.Raw("* ")
	s.w.Number(uint64(len(v.uids)))
	s.w.Raw(" EXISTS\r\n")
	if !s.rev2 {
		s.w.Raw("* ")
		s.w.Number(uint64(v.recentCount()))
		s.w.Raw(" RECENT\r\n")
		if firstUnseen != 0 {
			s.w.Raw("* OK [UNSEEN ")
			s.w.Number(uint64(firstUnseen))
			s.w.Raw("] First unseen\r\n")
		}
	}
	s.w.Raw("* OK [UIDVALIDITY ")
	s.w.Number(uint64(mb.UIDValidity))
	s.w.Raw("] UIDs valid\r\n* OK [UIDNEXT ")
	s.w.Number(uint64(mb.UIDNext))
	s.w.Raw("] Predicted next UID\r\n* OK [MAILBOXID (" + mailboxObjectID(mb) + ")] Ok\r\n") // RFC 8474 §4.2
	if s.condstore {
		s.writeHighestModSeq(v.safe)
	}
	if q := params.qresync; q != nil && q.uidValidity == mb.UIDValidity {
		if err := s.qresyncSelect(q); err != nil {
			return err
		}
	}
	if readOnly {
		s.ok("READ-ONLY", "EXAMINE completed")
	} else {
		s.ok("READ-WRITE", "SELECT completed")
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// unselect leaves the selected state.
func (s *session) unselect() {
	if s.sel != nil {
		s.sel.close()
		s.sel = nil
	}
	s.state = stateAuthenticated
}

// cmdUnselect: UNSELECT (RFC 3691): no expunge.
func (s *session) cmdUnselect(string, bool) error {
	if err := s.p.End(); err != nil {
		return err
	}
	s.unselect()
	return nil
}

// cmdClose: CLOSE (§6.4.1): expunge silently unless read-only, then
// unselect.
func (s *session) cmdClose(string, bool) error {
	if err := s.p.End(); err != nil {
		return err
	}
	v := s.sel
	if !v.readOnly {
		if _, err := s.srv.Store.Expunge(s.ctx, v.mb.ID, nil); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	s.unselect()
	return nil
}
