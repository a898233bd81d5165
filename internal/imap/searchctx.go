package imap

import (
	"slices"

	"github.com/pochta-mail/pochta/internal/imap/wire"
)

// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): SEARCH or SORT with
// RETURN (UPDATE) leaves a live result behind, named by the command's
// tag. While the mailbox stays selected, the poll (view.go) tells the
// client how it changes, in unsolicited
//
//	* ESEARCH (TAG "B01") UID REMOVEFROM (0 32768) ADDTO (0 32770)
//
// as the messages' flags change, new ones arrive and others go, whoever
// makes the change (this session, another one, POP3). CANCELUPDATE ends
// one. The result is kept as UIDs (and, for SORT, with the messages'
// sort keys in sort order), so an update is a comparison of the old
// membership with the program run again over the messages concerned:
//
//   - flag changes: the messages the poll lists as changed, after their
//     FETCH;
//   - new messages: after EXISTS (§4.3.3: their sequence numbers must be
//     valid);
//   - removals: REMOVEFROM just before the EXPUNGE or VANISHED that tells
//     of them (§4.3.4: before, so the sequence numbers are still valid).
//
// The program keeps the meaning it had when the command ran: sequence
// sets and "$" are turned into the UIDs they named then (RFC 5267 §4.3,
// citing the errata of RFC 3501); UID sets with "*" follow the last UID,
// as a search run again would. OLDER and YOUNGER (RFC 5032) move with the
// clock, with no change to the mailbox to notice it: UPDATE with them is
// refused (NOUPDATE), as §4.3.1 allows.
//
// MIN, MAX, COUNT and PARTIAL are answered once, by the command; updates
// carry ADDTO and REMOVEFROM only (§4.3: "no interaction between UPDATE
// and any other return options").

const (
	// maxSearchContexts and maxSortContexts bound the live contexts of
	// one session (RFC 5267 §4.3.1: at least one; §6: a way to deny
	// service otherwise). Every change to the mailbox runs each
	// program again over the messages concerned.
	maxSearchContexts = 16
	maxSortContexts   = 4
	// DefaultMaxContextResults is the default of
	// Server.MaxContextResults, the results the contexts of a session
	// hold when created (4 octets each, and a sort item for SORT): one
	// million, the size of the largest mailbox the engine is measured
	// with. A context may grow past it as mail arrives, as it must keep
	// telling.
	DefaultMaxContextResults = 1 << 20
)

// updateCtx is one live search or sort.
type updateCtx struct {
	tag string
	c   *searchCmd // the program, with sequence sets frozen to UIDs
	// hits are the UIDs of the result, ascending.
	hits []uint32
	// For SORT: the criteria and the result in sort order. An item's
	// seq is its UID here: ties are in sequence order (RFC 5256 §3),
	// which is UID order, and sequence numbers change with expunges.
	crit  []sortCriterion
	items []sortItem
}

// checkUpdateTag refuses UPDATE under a tag that already names a live
// context (RFC 5267 §4.3: BAD, and the command has no effect).
func (s *session) checkUpdateTag(tag string) error {
	if s.sel != nil && s.sel.context(tag) != nil {
		return bad("Tag %s already names an updating search", truncate(tag, 64))
	}
	return nil
}

// context returns the live context named tag, or nil.
func (v *view) context(tag string) *updateCtx {
	for _, x := range v.contexts {
		if x.tag == tag {
			return x
		}
	}
	return nil
}

// startUpdate makes the context of a SEARCH (crit nil) or SORT that had
// RETURN (UPDATE), after its answer; hits are the UIDs found, items the
// sorted result of a SORT. When it cannot, the answer stands and an
// untagged NO [NOUPDATE "tag"] says so (RFC 5267 §4.3.1).
func (s *session) startUpdate(c *searchCmd, hits []uint32, crit []sortCriterion, items []sortItem) error {
	v := s.sel
	sorts, held := 0, 0
	for _, x := range v.contexts {
		if x.crit != nil {
			sorts++
		}
		held += len(x.hits)
	}
	refuse := ""
	switch {
	case c.relTime:
		refuse = "OLDER and YOUNGER change with the clock, not the mailbox"
	case crit != nil && sorts >= maxSortContexts:
		refuse = "Too many updating sorts"
	case len(v.contexts)-sorts >= maxSearchContexts && crit == nil:
		refuse = "Too many updating searches"
	case held+len(hits) > s.srv.maxContextResults():
		refuse = "Too many results held by updating searches"
	}
	if refuse != "" {
		s.w.Raw("* NO [NOUPDATE ")
		s.w.Quoted(c.tag)
		s.w.Raw("] ")
		s.w.Raw(refuse)
		s.w.CRLF()
		return nil
	}
	x := &updateCtx{tag: c.tag, c: c, hits: slices.Clone(hits)}
	if crit != nil {
		x.crit = crit
		x.items = make([]sortItem, len(items))
		for i, it := range items {
			it.seq = it.uid
			x.items[i] = it
		}
		// The items of a SORT whose program is ALL come from the view
		// and leave out messages gone meanwhile: the hits are theirs.
		x.hits = x.hits[:0]
		for _, it := range items {
			x.hits = append(x.hits, it.uid)
		}
		slices.Sort(x.hits)
	}
	v.contexts = append(v.contexts, x)
	s.ok("", "Search completed, will notify")
	return nil
}

// freezeSets turns the sequence sets and "$" of a program into the UIDs
// they name now, once the program has run and before a SAVE of the same
// command replaces "$" (RFC 5182 §2.1: "$" in it is the earlier result): a later message never has a sequence number the set
// named then, and "$" may be replaced by a later SAVE. A sequence range
// becomes the UID range from its first message to its last, which holds
// the same messages now and later (UIDs are not reused, and messages
// arrive above the last UID).
func (s *session) freezeSets(k *searchKey) {
	for _, sub := range k.sub {
		s.freezeSets(sub)
	}
	v := s.sel
	switch {
	case k.set.Dollar:
		k.spans = k.spans[:0]
		for _, u := range v.searchRes {
			if n := len(k.spans); n > 0 && k.spans[n-1]+1 == u {
				k.spans[n-1] = u
			} else {
				k.spans = append(k.spans, u, u)
			}
		}
	case k.op == opSeq:
		spans := k.spans
		k.spans = nil
		n := uint32(len(v.uids))
		for i := 0; i+1 < len(spans); i += 2 {
			lo, hi := spans[i], min(spans[i+1], n)
			if lo == 0 || lo > hi {
				continue
			}
			k.spans = append(k.spans, v.uids[lo-1], v.uids[hi-1])
		}
	default:
		return
	}
	k.op, k.set = opUIDFrozen, wire.SeqSet{}
}

// cmdCancelUpdate: CANCELUPDATE 1*(SP quoted) (RFC 5267 §4.3.5). Every
// tag must name a live context; otherwise none is cancelled, and the
// answer is NO [NONEXISTENT].
func (s *session) cmdCancelUpdate(string, bool) error {
	var tags []string
	for {
		if err := s.p.SP(); err != nil {
			return err
		}
		t, err := s.p.Quoted()
		if err != nil {
			return err
		}
		tags = append(tags, t)
		if s.p.AtEnd() {
			break
		}
	}
	if err := s.p.End(); err != nil {
		return err
	}
	v := s.sel
	for _, t := range tags {
		if v.context(t) == nil {
			// A tag of a context refused (NOUPDATE) or already ended:
			// not a syntax error, and RFC 5267 names no code for it.
			return no(codeNonExistent, "No updating search has that tag")
		}
	}
	v.contexts = slices.DeleteFunc(v.contexts, func(x *updateCtx) bool { return slices.Contains(tags, x.tag) })
	s.ok("", "No further updates")
	return nil
}

// contextsRemoved tells each context that lists some of uids (leaving
// the view) with REMOVEFROM, before the EXPUNGE or VANISHED that follows.
func (v *view) contextsRemoved(s *session, uids []uint32) {
	if len(v.contexts) == 0 || len(uids) == 0 {
		return
	}
	gone := slices.Clone(uids)
	slices.Sort(gone)
	for _, x := range v.contexts {
		x.update(s, v, gone, nil, nil)
	}
}

// contextsChanged runs each context's program again over uids
// (ascending, in the view: messages whose flags changed, or new ones)
// and tells what that changes.
func (v *view) contextsChanged(s *session, uids []uint32) error {
	if len(v.contexts) == 0 || len(uids) == 0 {
		return nil
	}
	for _, x := range v.contexts {
		s.prepareSets(x.c.root)
		found, err := s.searchAmong(x.c, uids)
		if err != nil {
			return err
		}
		var out, in []uint32
		j := 0
		for _, u := range uids {
			for j < len(found) && found[j] < u {
				j++
			}
			match := j < len(found) && found[j] == u
			_, had := slices.BinarySearch(x.hits, u)
			switch {
			case had && !match:
				out = append(out, u)
			case match && !had:
				in = append(in, u)
			}
		}
		if len(out) == 0 && len(in) == 0 {
			continue
		}
		var added []sortItem
		if x.crit != nil && len(in) > 0 {
			if added, err = s.sortItems(in); err != nil {
				return err
			}
			in = in[:0]
			for i := range added {
				added[i].seq = added[i].uid
				in = append(in, added[i].uid)
			}
		}
		x.update(s, v, out, in, added)
	}
	return nil
}

// update takes out (ascending UIDs) out of the context and puts in
// (ascending UIDs; for SORT, added holds their items) into it, and writes
// the ESEARCH that tells the client: REMOVEFROM, then ADDTO, each with
// context position 0 for SEARCH (the client keeps mailbox order, §4.3.3)
// and the positions in sort order for SORT.
func (x *updateCtx) update(s *session, v *view, out, in []uint32, added []sortItem) {
	// One pass over the result, as a mass expunge may take most of it.
	var removed []uint32
	if len(out) > 0 {
		kept := x.hits[:0]
		j := 0
		for _, u := range x.hits {
			for j < len(out) && out[j] < u {
				j++
			}
			if j < len(out) && out[j] == u {
				removed = append(removed, u)
			} else {
				kept = append(kept, u)
			}
		}
		x.hits = kept
	}
	if len(removed) == 0 && len(in) == 0 {
		return
	}
	w := s.w
	num := func(u uint32) uint32 {
		if x.c.uid {
			return u
		}
		return v.seqOf(u)
	}
	s.writeESearchHead(x.tag, x.c.uid)
	if x.crit == nil {
		if len(removed) > 0 {
			w.Raw(" REMOVEFROM (0 ")
			w.NumSet(len(removed), func(i int) uint32 { return num(removed[i]) })
			w.Byte(')')
		}
		if len(in) > 0 {
			w.Raw(" ADDTO (0 ")
			w.NumSet(len(in), func(i int) uint32 { return num(in[i]) })
			w.Byte(')')
			x.hits = mergeUIDs(x.hits, in)
		}
		w.CRLF()
		return
	}
	if len(removed) > 0 {
		// Runs of adjacent results go as one pair, at the position the
		// first one has once the earlier pairs are applied.
		w.Raw(" REMOVEFROM (")
		kept := x.items[:0]
		pairs, run := 0, false
		for _, it := range x.items {
			if _, ok := slices.BinarySearch(removed, it.uid); !ok {
				kept = append(kept, it)
				run = false
				continue
			}
			if run {
				w.Byte(',')
			} else {
				writePairStart(w, &pairs, len(kept)+1)
				run = true
			}
			w.Number(uint64(num(it.uid)))
		}
		clear(x.items[len(kept):])
		x.items = kept
		w.Byte(')')
	}
	if len(added) > 0 {
		// Inserted in sort order, each run at its position in the
		// merged result: the runs before it are in by then.
		cmpItems := func(a, b sortItem) int { return compareItems(x.crit, &a, &b) }
		slices.SortFunc(added, cmpItems)
		merged := make([]sortItem, 0, len(x.items)+len(added))
		w.Raw(" ADDTO (")
		i, pairs, run := 0, 0, false
		for _, a := range added {
			for i < len(x.items) && cmpItems(x.items[i], a) < 0 {
				merged = append(merged, x.items[i])
				i++
				run = false
			}
			if run {
				w.Byte(',')
			} else {
				writePairStart(w, &pairs, len(merged)+1)
				run = true
			}
			merged = append(merged, a)
			w.Number(uint64(num(a.uid)))
		}
		x.items = append(merged, x.items[i:]...)
		x.hits = mergeUIDs(x.hits, in)
		w.Byte(')')
	}
	w.CRLF()
}

// writePairStart writes "position " for a new pair of ADDTO or
// REMOVEFROM, after a space when it is not the first.
func writePairStart(w *wire.Writer, pairs *int, pos int) {
	if *pairs > 0 {
		w.SP()
	}
	*pairs++
	w.Number(uint64(pos))
	w.SP()
}

// mergeUIDs returns the union of two ascending, disjoint UID lists,
// merged into a from its end: a batch of a mailbox-wide change costs a
// pass over the result, not a new copy of it.
func mergeUIDs(a, b []uint32) []uint32 {
	n := len(a)
	a = slices.Grow(a, len(b))[:n+len(b)]
	i, j := n-1, len(b)-1
	for k := len(a) - 1; j >= 0; k-- {
		if i >= 0 && a[i] > b[j] {
			a[k] = a[i]
			i--
		} else {
			a[k] = b[j]
			j--
		}
	}
	return a
}
