package imap

import (
	"errors"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/imap/wire"
	"github.com/pochta-mail/pochta/internal/store"
)

// systemFlags are the flags every mailbox supports (RFC 9051 §2.3.2).
var systemFlags = []string{store.FlagAnswered, store.FlagFlagged, store.FlagDeleted, store.FlagSeen, store.FlagDraft}

// view is the selected mailbox as this client knows it: uids[i] is the UID
// of message sequence number i+1. It changes only at poll, when the client
// is told (EXISTS, EXPUNGE), so sequence numbers stay consistent for it and
// never change in the middle of a command.
type view struct {
	mb       store.Mailbox
	readOnly bool
	uids     []uint32
	// searchRes is SEARCHRES "$" (RFC 5182), as UIDs; SEARCH ... RETURN
	// (SAVE) sets it, resolve reads it.
	searchRes []uint32
	// claims are the UID ranges this session claimed as \Recent (RFC
	// 3501 §2.3.2; store.ClaimRecent), ascending; for EXAMINE, the UIDs
	// above the mailbox's mark at selection, claimed by no one yet.
	claims []uidRange
	// keywords are the keywords announced in FLAGS so far.
	keywords []string

	// modseq is the mailbox mod-sequence the view reflects;
	// expungePending says a poll that could not send EXPUNGE saw a change,
	// so the next one that can must look for removed messages. safe is
	// the mod-sequence up to which the client has heard of every change,
	// removals included: its HIGHESTMODSEQ (RFC 7162 §3.2: a client that
	// takes it must miss no delayed EXPUNGE).
	modseq         uint64
	safe           uint64
	expungePending bool
	// own are mod-sequences of this session's flag changes since the last
	// poll: their FETCH responses were already sent (or suppressed by
	// .SILENT), so the poll does not repeat them.
	own []uint64
	sub *store.Subscription
	// contexts are the live results of SEARCH and SORT with RETURN
	// (UPDATE) (RFC 5267 §4.3; searchctx.go), in the order made.
	contexts []*updateCtx
}

func (v *view) close() { v.sub.Close() }

func (v *view) lastUID() uint32 {
	if len(v.uids) == 0 {
		return 0
	}
	return v.uids[len(v.uids)-1]
}

// seqOf returns the sequence number of uid, or 0 when the view lacks it.
func (v *view) seqOf(uid uint32) uint32 {
	i, ok := slices.BinarySearch(v.uids, uid)
	if !ok {
		return 0
	}
	return uint32(i) + 1
}

// uidRange is lo:hi, inclusive.
type uidRange struct{ lo, hi uint32 }

// isRecent reports whether uid is \Recent in this session.
func (v *view) isRecent(uid uint32) bool {
	for _, r := range v.claims {
		if r.lo <= uid && uid <= r.hi {
			return true
		}
	}
	return false
}

// recentCount is the RECENT count: messages of the view that are \Recent
// in this session.
func (v *view) recentCount() int {
	n := 0
	for _, r := range v.claims {
		i, _ := slices.BinarySearch(v.uids, r.lo)
		j, found := slices.BinarySearch(v.uids, r.hi)
		if found {
			j++
		}
		n += j - i
	}
	return n
}

var errBadSeq = badCode(codeClientBug, "Invalid message sequence number")

// resolve returns the UIDs a sequence set (uid false), UID set (uid true)
// or "$" names, ascending and without duplicates, only ones in the view.
// "*" is the last message. A sequence number above the number of messages
// is a client error (BAD); UIDs the view lacks are skipped (RFC 9051
// §6.4.9).
func (v *view) resolve(set wire.SeqSet, uid bool) ([]uint32, error) {
	var out []uint32
	switch {
	case set.Dollar:
		for _, u := range v.searchRes {
			if v.seqOf(u) != 0 {
				out = append(out, u)
			}
		}
		return out, nil
	case uid:
		last := v.lastUID()
		for _, r := range set.Ranges {
			lo, hi := r.Bounds(last)
			i, _ := slices.BinarySearch(v.uids, lo)
			for ; i < len(v.uids) && v.uids[i] <= hi; i++ {
				out = append(out, v.uids[i])
			}
		}
	default:
		n := uint32(len(v.uids))
		for _, r := range set.Ranges {
			// "*" in an empty mailbox is beyond it too (RFC 9051 §9).
			if r.Lo > n || r.Hi > n || n == 0 {
				return nil, errBadSeq
			}
			lo, hi := r.Bounds(n)
			out = append(out, v.uids[lo-1:hi]...)
		}
	}
	if len(set.Ranges) > 1 {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out, nil
}

// addOwn records the mod-sequences of this session's flag changes.
func (v *view) addOwn(changed []store.Message) {
	for _, m := range changed {
		if !slices.Contains(v.own, m.ModSeq) {
			v.own = append(v.own, m.ModSeq)
		}
	}
}

// poll tells the client what changed since it last heard (RFC 9051
// §7.5.1): FETCH FLAGS for changed messages (after FLAGS when a keyword
// is new), EXPUNGE (VANISHED under QRESYNC) for removed ones when
// allowed, EXISTS (and RECENT) for new ones. It is called between
// commands' work and their tagged response, and during IDLE.
//
// While a removal waits for a point where it may be told, a CONDSTORE
// client gets [HIGHESTMODSEQ] with the mod-sequence from before it: the
// MODSEQ of the FETCH responses it saw meanwhile may be higher, and a
// client that kept those after losing the connection would never learn
// of the removal (RFC 7162 §3.2, §6).
func (v *view) poll(s *session, allowExpunge bool) error {
	if err := v.pollChanges(s, allowExpunge); err != nil {
		return err
	}
	if !allowExpunge && v.expungePending && s.condstore {
		s.w.Raw("* OK [HIGHESTMODSEQ ")
		s.w.Number(v.safe)
		s.w.Raw("] Removals not yet reported\r\n")
	}
	return s.w.Err()
}

func (v *view) pollChanges(s *session, allowExpunge bool) error {
	changed := v.sub.Changed(v.mb.ID)
	if !changed && !(allowExpunge && v.expungePending) && len(v.own) == 0 {
		return nil
	}
	st := s.srv.Store
	cur, err := st.MailboxModSeq(s.ctx, v.mb.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted or renamed away; commands on it fail
	} else if err != nil {
		return err
	}
	if cur == v.modseq && !(allowExpunge && v.expungePending) {
		v.own = v.own[:0]
		return nil
	}
	if allowExpunge {
		if err := v.expunged(s); err != nil {
			return err
		}
	} else if cur != v.modseq && (!v.expungePending || s.condstore) {
		v.expungePending = !s.condstore || v.removedSince(s)
	}
	if cur != v.modseq && len(v.uids) > 0 {
		// In batches, so a mailbox-wide change does not load at once.
		from := uint32(1)
		for {
			msgs, err := st.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{SinceModSeq: v.modseq, MinUID: from, MaxUID: v.lastUID(), Limit: DefaultMaxFetchBatch})
			if err != nil {
				return err
			}
			var inView []uint32
			for i := range msgs {
				m := &msgs[i]
				seq := v.seqOf(m.UID)
				if seq == 0 {
					continue
				}
				inView = append(inView, m.UID)
				if slices.Contains(v.own, m.ModSeq) {
					continue
				}
				s.announceKeywords(m.Flags)
				s.writeFetchFlags(seq, m)
			}
			// This session's own changes too: their FETCH was the
			// command's, but the contexts have not seen them.
			if err := v.contextsChanged(s, inView); err != nil {
				return err
			}
			if len(msgs) < DefaultMaxFetchBatch {
				break
			}
			from = msgs[len(msgs)-1].UID + 1
		}
	}
	v.own = v.own[:0]
	if err := v.added(s); err != nil {
		return err
	}
	v.modseq = cur
	if !v.expungePending {
		v.safe = cur
	}
	return s.w.Err()
}

// removedSince reports whether a message of the view may have been
// removed after v.safe, from the store's tombstones: a flag change alone
// then holds back no HIGHESTMODSEQ. (A removal committed after the poll
// read the mailbox's mod-sequence is above it and is found next time.)
func (v *view) removedSince(s *session) bool {
	uids, complete, err := s.srv.Store.Expunged(s.ctx, v.mb.ID, v.safe)
	if err != nil || !complete {
		return true
	}
	for _, u := range uids {
		if v.seqOf(u) != 0 {
			return true
		}
	}
	return false
}

// added appends new messages to the view and announces them.
func (v *view) added(s *session) error {
	var fresh []uint32
	for from := v.lastUID() + 1; ; {
		uids, err := s.listUIDs(v.mb.ID, from)
		if err != nil {
			return err
		}
		fresh = append(fresh, uids...)
		if len(uids) < DefaultMaxFetchBatch {
			break
		}
		from = uids[len(uids)-1] + 1
	}
	if len(fresh) == 0 {
		return nil
	}
	v.uids = append(v.uids, fresh...)
	if err := s.claimRecent(v); err != nil {
		return err
	}
	s.w.Raw("* ")
	s.w.Number(uint64(len(v.uids)))
	s.w.Raw(" EXISTS\r\n")
	if !s.rev2 {
		s.w.Raw("* ")
		s.w.Number(uint64(v.recentCount()))
		s.w.Raw(" RECENT\r\n")
	}
	// ADDTO after EXISTS, so its sequence numbers are valid (RFC 5267
	// §4.3.3).
	return v.contextsChanged(s, fresh)
}

// listUIDs lists one batch of UIDs from 'from' on.
func (s *session) listUIDs(mailboxID int64, from uint32) ([]uint32, error) {
	msgs, err := s.srv.Store.ListMessages(s.ctx, mailboxID, store.MessageQuery{MinUID: from, Limit: DefaultMaxFetchBatch})
	if err != nil {
		return nil, err
	}
	uids := make([]uint32, len(msgs))
	for i := range msgs {
		uids[i] = msgs[i].UID
	}
	return uids, nil
}

// expunged removes from the view the messages the store no longer has,
// telling the client with EXPUNGE, highest sequence number first so the
// numbers it gets stay valid as it applies them.
func (v *view) expunged(s *session) error {
	v.expungePending = false
	if len(v.uids) == 0 {
		return nil
	}
	present, err := s.srv.Store.ListUIDs(s.ctx, v.mb.ID)
	if err != nil {
		return err
	}
	var gone []uint32
	j := 0
	for _, uid := range v.uids {
		for j < len(present) && present[j] < uid {
			j++
		}
		if j >= len(present) || present[j] != uid {
			gone = append(gone, uid)
		}
	}
	v.remove(s, gone)
	return nil
}

// remove takes UIDs out of the view and tells the client: EXPUNGE,
// highest sequence number first, or, under QRESYNC, VANISHED with the
// UIDs (RFC 7162 §3.2.10.2). Only for points where EXPUNGE is allowed.
func (v *view) remove(s *session, uids []uint32) {
	// REMOVEFROM before the EXPUNGE, while its sequence numbers are
	// valid (RFC 5267 §4.3.4).
	v.contextsRemoved(s, uids)
	if s.qresync {
		var gone []uint32
		for _, u := range uids {
			if i, ok := slices.BinarySearch(v.uids, u); ok {
				v.uids = slices.Delete(v.uids, i, i+1)
				gone = append(gone, u)
			}
		}
		s.writeVanished(false, uidRangesOf(gone))
		return
	}
	var seqs []uint32
	for _, u := range uids {
		if seq := v.seqOf(u); seq != 0 {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	recent := v.recentCount()
	defer func() {
		// RFC 3501 §7.3.2: RECENT follows a change of the mailbox size;
		// an expunge of a recent message changes the count.
		if n := v.recentCount(); !s.rev2 && n != recent {
			s.w.Raw("* ")
			s.w.Number(uint64(n))
			s.w.Raw(" RECENT\r\n")
		}
	}()
	for k := len(seqs) - 1; k >= 0; k-- {
		i := int(seqs[k] - 1)
		v.uids = slices.Delete(v.uids, i, i+1)
		s.w.Raw("* ")
		s.w.Number(uint64(seqs[k]))
		s.w.Raw(" EXPUNGE\r\n")
	}
}

// announceKeywords sends FLAGS and PERMANENTFLAGS first when flags holds
// a keyword this session has not announced: a client must never see a
// keyword in FETCH that FLAGS did not list (RFC 9051 §7.3.5).
func (s *session) announceKeywords(flags []string) {
	v := s.sel
	if v == nil {
		return
	}
	added := false
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) || slices.ContainsFunc(v.keywords, func(k string) bool { return strings.EqualFold(k, f) }) {
			continue
		}
		v.keywords = append(v.keywords, f)
		added = true
	}
	if added {
		s.writeFlagsAnnouncement()
	}
}

// writeFlagsAnnouncement writes FLAGS and the PERMANENTFLAGS OK.
func (s *session) writeFlagsAnnouncement() {
	v := s.sel
	all := append(slices.Clone(systemFlags), v.keywords...)
	s.w.Raw("* FLAGS ")
	s.writeFlagList(all)
	s.w.CRLF()
	s.w.Raw("* OK [PERMANENTFLAGS ")
	if v.readOnly {
		s.w.Raw("()")
	} else {
		s.writeFlagList(append(all, `\*`))
	}
	s.w.Raw("] Flags permitted\r\n")
}

// writeFlagList writes "(flag ...)".
func (s *session) writeFlagList(flags []string) {
	s.w.Byte('(')
	for i, f := range flags {
		if i > 0 {
			s.w.SP()
		}
		s.w.Atom(f)
	}
	s.w.Byte(')')
}

// messageFlags returns the flags FETCH shows for a message: the stored
// ones plus \Recent where this session has it (IMAP4rev1 only; RFC 9051
// removed \Recent).
func (s *session) messageFlags(uid uint32, flags []string) []string {
	if !s.rev2 && s.sel != nil && s.sel.isRecent(uid) {
		return append(slices.Clone(flags), `\Recent`)
	}
	return flags
}

// writeFetchFlags writes an unsolicited "* n FETCH (UID u FLAGS (...))",
// with MODSEQ once CONDSTORE is on (RFC 7162 §3.2.4).
func (s *session) writeFetchFlags(seq uint32, m *store.Message) {
	s.w.Raw("* ")
	s.w.Number(uint64(seq))
	s.w.Raw(" FETCH (UID ")
	s.w.Number(uint64(m.UID))
	s.w.Raw(" FLAGS ")
	s.writeFlagList(s.messageFlags(m.UID, m.Flags))
	if s.condstore {
		s.writeModSeq(m.ModSeq)
	}
	s.w.Raw(")\r\n")
}

// writeModSeq writes the FETCH item " MODSEQ (n)".
func (s *session) writeModSeq(n uint64) {
	s.w.Raw(" MODSEQ (")
	s.w.Number(n)
	s.w.Byte(')')
}

// setSeen adds \Seen to the given messages (FETCH of a body without
// .PEEK, RFC 9051 §6.4.5) and returns those whose flags changed, with
// their new flags. The caller shows FLAGS for them in its FETCH response;
// the poll does not repeat them. In an EXAMINEd mailbox it does nothing.
func (s *session) setSeen(uids []uint32) ([]store.Message, error) {
	v := s.sel
	if v.readOnly || len(uids) == 0 {
		return nil, nil
	}
	changed, err := s.srv.Store.UpdateFlags(s.ctx, v.mb.ID, uids, store.FlagsAdd, []string{store.FlagSeen})
	if err != nil {
		return nil, err
	}
	v.addOwn(changed)
	return changed, nil
}

// claimRecent makes this session the one that sees the mailbox's newest
// messages as \Recent (RFC 3501 §2.3.2). IMAP4rev2 sessions do not
// claim: \Recent is gone from RFC 9051, and a rev1 session should still
// see them. EXAMINE claims nothing either (RFC 3501 §6.3.2): it shows
// the unclaimed messages as recent.
func (s *session) claimRecent(v *view) error {
	if s.rev2 {
		return nil
	}
	if v.readOnly {
		if len(v.claims) == 0 {
			v.claims = append(v.claims, uidRange{v.mb.RecentUID + 1, ^uint32(0)})
		}
		return nil
	}
	after, upTo, err := s.srv.Store.ClaimRecent(s.ctx, v.mb.ID)
	if err != nil {
		// \Recent is advisory: a store that cannot write (a full disk)
		// must not make SELECT or NOOP fail. Nothing is claimed; a later
		// claim takes these messages.
		s.log.Warn("imap: claiming \\Recent", "err", err)
		return nil
	}
	if upTo <= after {
		return nil
	}
	if n := len(v.claims); n > 0 && v.claims[n-1].hi == after {
		v.claims[n-1].hi = upTo
	} else {
		v.claims = append(v.claims, uidRange{after + 1, upTo})
	}
	return nil
}
