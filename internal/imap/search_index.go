package imap

import (
	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// With a store that keeps a text index (store.TextSearcher), the string
// keys BODY, TEXT and HEADER (SUBJECT) narrow the messages a search reads
// before any is opened: the index names the candidates, a superset of
// the messages that match, and the Matcher decides on each as without
// the index. So results are those of the unindexed search, only faster
// when the string is rare. A key narrows the search where the program
// needs it to hold: a key of the top-level AND (or of an AND within),
// or both sides of an OR. Strings without a term (fewer than three
// letters or digits in a row, see message.QueryTerms), addresses (FROM,
// TO, CC, BCC: written out anew, not as indexed) and keys under NOT do
// not narrow.

// narrowByIndex returns the UIDs of cands (ascending) the text index
// leaves as candidates for c's program.
func (s *session) narrowByIndex(c *searchCmd, cands []uint32) ([]uint32, error) {
	ts, ok := s.srv.Store.(store.TextSearcher)
	if !ok || len(c.queries) == 0 || len(cands) == 0 {
		return cands, nil
	}
	ix := &indexNarrow{s: s, ts: ts, c: c, sets: map[int][]uint32{}}
	set, ok, err := ix.eval(c.root)
	if err != nil || !ok {
		return cands, err
	}
	return store.IntersectSorted(nil, cands, set), nil
}

type indexNarrow struct {
	s    *session
	ts   store.TextSearcher
	c    *searchCmd
	sets map[int][]uint32 // by query number
}

// eval returns the candidates for k, ok false when the index cannot
// narrow it.
func (ix *indexNarrow) eval(k *searchKey) ([]uint32, bool, error) {
	switch k.op {
	case opMatch:
		q := ix.c.queries[k.n]
		if q.Kind != message.MatchBody && q.Kind != message.MatchText && q.Kind != message.MatchHeader {
			return nil, false, nil
		}
		if set, ok := ix.sets[int(k.n)]; ok {
			return set, true, nil
		}
		terms := message.QueryTerms(q.Value)
		if terms == nil {
			return nil, false, nil
		}
		set, err := ix.ts.TextCandidates(ix.s.ctx, ix.s.sel.mb.ID, terms)
		if err != nil {
			return nil, false, err
		}
		ix.sets[int(k.n)] = set
		return set, true, nil
	case opAnd:
		var out []uint32
		found := false
		for _, sub := range k.sub {
			set, ok, err := ix.eval(sub)
			if err != nil {
				return nil, false, err
			}
			if !ok {
				continue
			}
			if !found {
				out, found = set, true
			} else {
				out = store.IntersectSorted(nil, out, set)
			}
		}
		return out, found, nil
	case opOr:
		a, ok, err := ix.eval(k.sub[0])
		if err != nil || !ok {
			return nil, false, err
		}
		b, ok, err := ix.eval(k.sub[1])
		if err != nil || !ok {
			return nil, false, err
		}
		return unionUIDs(a, b), true, nil
	}
	return nil, false, nil
}

// unionUIDs returns the UIDs in either ascending list.
func unionUIDs(a, b []uint32) []uint32 {
	out := make([]uint32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
