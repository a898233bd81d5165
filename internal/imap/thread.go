package imap

import (
	"slices"
	"strings"
)

// THREAD and UID THREAD (RFC 5256). ORDEREDSUBJECT: messages grouped by
// base subject, each group ordered by sent date, the first message the
// parent of the others; groups ordered by the sent date of their first
// message. REFERENCES: RFC 5256 section 2.2 (thread_references.go).

// cmdThread: THREAD algorithm charset search-keys.
func (s *session) cmdThread(tag string, uid bool) error {
	p := s.p
	if err := p.SP(); err != nil {
		return err
	}
	alg, err := p.Atom()
	if err != nil {
		return err
	}
	refs := strings.EqualFold(alg, "REFERENCES")
	if !refs && !strings.EqualFold(alg, "ORDEREDSUBJECT") {
		return bad("Unsupported threading algorithm %q", alg)
	}
	if err := s.spCharsetSP(); err != nil {
		return err
	}
	c := &searchCmd{uid: uid}
	hits, err := s.sortSearch(c, func() error { return s.parseSearchKeys(c) })
	if err != nil {
		return err
	}
	items, err := s.sortItems(hits)
	if err != nil {
		return err
	}
	if refs {
		s.writeRefThreads(referenceThreads(items), uid)
	} else {
		s.writeThreads(orderedSubject(items), uid)
	}
	return nil
}

// orderedSubject splits the messages into threads: messages of one base
// subject, by sent date (then sequence number); threads by the sent date
// of their first message.
func orderedSubject(items []sortItem) [][]sortItem {
	bySent := func(a, b sortItem) int {
		if r := a.sent.Compare(b.sent); r != 0 {
			return r
		}
		return int(int64(a.seq) - int64(b.seq))
	}
	slices.SortStableFunc(items, func(a, b sortItem) int {
		if r := strings.Compare(a.texts[sortSubject], b.texts[sortSubject]); r != 0 {
			return r
		}
		return bySent(a, b)
	})
	var threads [][]sortItem
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].texts[sortSubject] == items[i].texts[sortSubject] {
			j++
		}
		threads = append(threads, items[i:j])
		i = j
	}
	slices.SortStableFunc(threads, func(a, b []sortItem) int { return bySent(a[0], b[0]) })
	return threads
}

// writeThreads writes "* THREAD" and each thread: "(parent)", "(parent
// child)", or "(parent (child)(child)...)" (RFC 5256 section 4).
func (s *session) writeThreads(threads [][]sortItem, uid bool) {
	w := s.w
	num := func(it sortItem) uint64 {
		if uid {
			return uint64(it.uid)
		}
		return uint64(it.seq)
	}
	w.Raw("* THREAD")
	for i, t := range threads {
		if i == 0 {
			w.SP()
		}
		w.Byte('(')
		w.Number(num(t[0]))
		switch children := t[1:]; len(children) {
		case 0:
		case 1:
			w.SP()
			w.Number(num(children[0]))
		default:
			w.SP()
			for _, c := range children {
				w.Byte('(')
				w.Number(num(c))
				w.Byte(')')
			}
		}
		w.Byte(')')
	}
	w.CRLF()
}
