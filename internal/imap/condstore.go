package imap

import (
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/imap/wire"
	"github.com/pochta-mail/pochta/internal/store"
)

// CONDSTORE and QRESYNC (RFC 7162). Every mailbox keeps mod-sequences
// (the store bumps them in the transaction of each change), so no mailbox
// answers NOMODSEQ. The pieces that belong to one command live with it
// (FETCH MODSEQ in fetch.go, STORE UNCHANGEDSINCE in store.go, SEARCH
// MODSEQ in search.go); this file has what they share: enabling,
// VANISHED, the SELECT/EXAMINE parameters and UID range arithmetic.

// enableCondstore runs for every CONDSTORE enabling command (RFC 7162
// §3.1): from now on FETCH responses carry MODSEQ. The first one with a
// mailbox selected reports the mailbox's HIGHESTMODSEQ.
func (s *session) enableCondstore() {
	if s.condstore {
		return
	}
	s.condstore = true
	if v := s.sel; v != nil {
		if v.expungePending && !v.removedSince(s) {
			// Held back without CONDSTORE's means to know better: only
			// flags changed.
			v.expungePending, v.safe = false, v.modseq
		}
		s.writeHighestModSeq(v.safe)
	}
}

// writeHighestModSeq writes "* OK [HIGHESTMODSEQ n]" (§3.1.2.1).
func (s *session) writeHighestModSeq(n uint64) {
	s.w.Raw("* OK [HIGHESTMODSEQ ")
	s.w.Number(n)
	s.w.Raw("] Highest\r\n")
}

// maxVanishedRanges bounds the ranges of one VANISHED response; a longer
// list goes out as several responses, which clients merge.
const maxVanishedRanges = 500

// writeVanished writes "* VANISHED [(EARLIER)] uid-set" for ranges
// (ascending, disjoint), nothing when there are none.
func (s *session) writeVanished(earlier bool, ranges []uidRange) {
	for len(ranges) > 0 {
		n := min(len(ranges), maxVanishedRanges)
		s.w.Raw("* VANISHED ")
		if earlier {
			s.w.Raw("(EARLIER) ")
		}
		for i, r := range ranges[:n] {
			if i > 0 {
				s.w.Byte(',')
			}
			s.w.Number(uint64(r.lo))
			if r.hi != r.lo {
				s.w.Byte(':')
				s.w.Number(uint64(r.hi))
			}
		}
		s.w.CRLF()
		ranges = ranges[n:]
	}
}

// uidRangesOf turns ascending UIDs into ranges.
func uidRangesOf(uids []uint32) []uidRange {
	var out []uidRange
	for _, u := range uids {
		if n := len(out); n > 0 && out[n-1].hi+1 == u {
			out[n-1].hi = u
		} else {
			out = append(out, uidRange{u, u})
		}
	}
	return out
}

// setRanges returns a UID set as ascending, disjoint ranges, "*" being
// largest.
func setRanges(set wire.SeqSet, largest uint32) []uidRange {
	out := make([]uidRange, 0, len(set.Ranges))
	for _, r := range set.Ranges {
		lo, hi := r.Bounds(largest)
		if lo == 0 {
			lo = 1
		}
		if hi == 0 {
			continue
		}
		out = append(out, uidRange{lo, hi})
	}
	slices.SortFunc(out, func(a, b uidRange) int { return int(int64(a.lo) - int64(b.lo)) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && (merged[n-1].hi == ^uint32(0) || r.lo <= merged[n-1].hi+1) {
			merged[n-1].hi = max(merged[n-1].hi, r.hi)
		} else {
			merged = append(merged, r)
		}
	}
	return merged
}

// inRanges reports whether u lies in ranges (ascending, disjoint).
func inRanges(ranges []uidRange, u uint32) bool {
	i, _ := slices.BinarySearchFunc(ranges, u, func(r uidRange, u uint32) int {
		switch {
		case r.hi < u:
			return -1
		case r.lo > u:
			return 1
		}
		return 0
	})
	return i < len(ranges) && ranges[i].lo <= u && u <= ranges[i].hi
}

// missingFrom returns the UIDs of ranges that are not in present
// (ascending), as ranges: what a full resynchronisation reports as
// vanished, without listing UIDs one by one.
func missingFrom(ranges []uidRange, present []uint32) []uidRange {
	var out []uidRange
	for _, r := range ranges {
		i, _ := slices.BinarySearch(present, r.lo)
		next := uint64(r.lo)
		for ; i < len(present) && present[i] <= r.hi; i++ {
			if uint64(present[i]) > next {
				out = append(out, uidRange{uint32(next), present[i] - 1})
			}
			next = uint64(present[i]) + 1
		}
		if next <= uint64(r.hi) {
			out = append(out, uidRange{uint32(next), r.hi})
		}
	}
	return out
}

// vanishedSince returns the UIDs within ranges that were removed from the
// mailbox after modseq and that the view no longer has (VANISHED
// (EARLIER), RFC 7162 §3.2.5.1, §3.2.6). UIDs still in the view are left
// to the next poll's VANISHED. When the store no longer has tombstones
// that old, every UID of ranges above knownUpTo that the view lacks is
// reported (§3.2.6 note; §3.2.5.2 for knownUpTo).
func (s *session) vanishedSince(modseq uint64, ranges []uidRange, knownUpTo uint32) ([]uidRange, error) {
	v := s.sel
	uids, complete, err := s.srv.Store.Expunged(s.ctx, v.mb.ID, modseq)
	if err != nil {
		return nil, err
	}
	if !complete {
		var above []uidRange
		for _, r := range ranges {
			if r.hi > knownUpTo {
				above = append(above, uidRange{max(r.lo, knownUpTo+1), r.hi})
			}
		}
		return missingFrom(above, v.uids), nil
	}
	var gone []uint32
	for _, u := range uids {
		if inRanges(ranges, u) && v.seqOf(u) == 0 {
			gone = append(gone, u)
		}
	}
	return uidRangesOf(gone), nil
}

// selectParams are the SELECT/EXAMINE parameters (RFC 4466 §2.1).
type selectParams struct {
	condstore bool
	qresync   *qresyncParams
}

// qresyncParams is "QRESYNC (uidvalidity modseq [known-uids]
// [(known-sequence-set known-uid-set)])" (RFC 7162 §3.2.5).
type qresyncParams struct {
	uidValidity uint32
	modseq      uint64
	known       *wire.SeqSet
	seqs, uids  wire.SeqSet // the sequence match data, when hasMatch
	hasMatch    bool
}

// parseSelectParams reads [SP "(" select-param *(SP select-param) ")"].
func (s *session) parseSelectParams() (selectParams, error) {
	var sp selectParams
	p := s.p
	if p.AtEnd() {
		return sp, nil
	}
	if err := p.SP(); err != nil {
		return sp, err
	}
	err := s.parenList(func() error {
		name, err := p.Atom()
		if err != nil {
			return err
		}
		switch {
		case strings.EqualFold(name, "CONDSTORE"):
			sp.condstore = true
			return nil
		case strings.EqualFold(name, "QRESYNC") && sp.qresync == nil:
			if err := p.SP(); err != nil {
				return err
			}
			sp.qresync, err = s.parseQresync()
			return err
		}
		return badCode(codeClientBug, "Unsupported SELECT parameter %s", truncate(name, 32))
	})
	return sp, err
}

func (s *session) parseQresync() (*qresyncParams, error) {
	p := s.p
	q := &qresyncParams{}
	var err error
	if err = p.Expect('('); err != nil {
		return nil, err
	}
	if q.uidValidity, err = p.NZNumber(); err != nil {
		return nil, err
	}
	if err = p.SP(); err != nil {
		return nil, err
	}
	if q.modseq, err = p.Number64(); err != nil {
		return nil, err
	}
	if p.Accept(' ') {
		if c, ok := p.Peek(); ok && c != '(' {
			set, err := p.SeqSet()
			if err != nil {
				return nil, err
			}
			if set.Dollar {
				return nil, bad("$ is not a UID set")
			}
			q.known = &set
			if !p.Accept(' ') {
				return q, p.Expect(')')
			}
		}
		if err := p.Expect('('); err != nil {
			return nil, err
		}
		if q.seqs, err = p.SeqSet(); err != nil {
			return nil, err
		}
		if err := p.SP(); err != nil {
			return nil, err
		}
		if q.uids, err = p.SeqSet(); err != nil {
			return nil, err
		}
		if q.seqs.Dollar || q.uids.Dollar {
			return nil, bad("$ is not a sequence set")
		}
		if err := p.Expect(')'); err != nil {
			return nil, err
		}
		q.hasMatch = true
	}
	return q, p.Expect(')')
}

// maxSeqMatch bounds the pairs of sequence match data looked at.
const maxSeqMatch = 100000

// knownUpTo returns the highest UID up to which the client's sequence
// match data shows it knows every removal (RFC 7162 §3.2.5.2): a pair
// (n, uid) where the view's message n still has that UID means no
// message below it went away since the client numbered them, as new
// messages only come above. 0 when no pair matches.
func (q *qresyncParams) knownUpTo(v *view) uint32 {
	if !q.hasMatch {
		return 0
	}
	seqs, uids := matchNums(q.seqs), matchNums(q.uids)
	if seqs == nil || len(seqs) != len(uids) {
		return 0 // malformed or too long: ignored, as the RFC lets us
	}
	best := uint32(0)
	for i, n := range seqs {
		if n >= 1 && int(n) <= len(v.uids) && v.uids[n-1] == uids[i] {
			best = max(best, uids[i])
		}
	}
	return best
}

// matchNums lists the numbers of a set without "*", in the order given,
// or nil when it has "*" or more than maxSeqMatch numbers.
func matchNums(set wire.SeqSet) []uint32 {
	var out []uint32
	for _, r := range set.Ranges {
		if r.Lo == wire.Star || r.Hi == wire.Star {
			return nil
		}
		lo, hi := r.Bounds(0)
		if len(out)+int(hi-lo)+1 > maxSeqMatch {
			return nil
		}
		for n := lo; ; n++ {
			out = append(out, n)
			if n == hi {
				break
			}
		}
	}
	return out
}

// qresyncSelect answers the QRESYNC parameter of a SELECT/EXAMINE whose
// UIDVALIDITY matched (RFC 7162 §3.2.5.1): VANISHED (EARLIER) for the
// known UIDs removed since the client's mod-sequence, then FETCH (UID
// FLAGS MODSEQ) for those changed since; like UID FETCH known-uids
// (FLAGS) (CHANGEDSINCE modseq VANISHED).
func (s *session) qresyncSelect(q *qresyncParams) error {
	v := s.sel
	if q.modseq >= v.modseq {
		return nil // nothing changed since
	}
	maxUID := v.mb.UIDNext - 1
	known := []uidRange{{1, maxUID}}
	if q.known != nil {
		known = setRanges(*q.known, maxUID)
	} else if maxUID == 0 {
		known = nil
	}
	gone, err := s.vanishedSince(q.modseq, known, q.knownUpTo(v))
	if err != nil {
		return err
	}
	s.writeVanished(true, gone)
	if len(v.uids) == 0 {
		return nil
	}
	for from := uint32(1); ; {
		msgs, err := s.srv.Store.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{
			SinceModSeq: q.modseq, MinUID: from, MaxUID: v.lastUID(), Limit: DefaultMaxFetchBatch})
		if err != nil {
			return err
		}
		for i := range msgs {
			m := &msgs[i]
			if seq := v.seqOf(m.UID); seq != 0 && inRanges(known, m.UID) {
				s.writeFetchFlags(seq, m)
			}
		}
		if len(msgs) < DefaultMaxFetchBatch {
			return s.w.Err()
		}
		from = msgs[len(msgs)-1].UID + 1
	}
}
