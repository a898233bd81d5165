package imap

import (
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// PARTIAL (RFC 9394): the RETURN option that pages through SEARCH and
// SORT results, and the FETCH modifier that pages through messages. "PARTIAL 1:100" asks for the first 100 results, in the
// order of the result (ascending for SEARCH, the sort order for SORT);
// "PARTIAL -1:-100" for the last 100. The answer is "PARTIAL (range
// set)", set NIL when the page is empty. With SAVE, "$" is the page.

// partialRange is a parsed partial-range: lo and hi are 1-based
// positions, lo <= hi, counted from the end when fromEnd.
type partialRange struct {
	raw     string // as the client sent it, echoed in the answer
	lo, hi  uint32
	fromEnd bool
}

// parsePartial reads SP partial-range after PARTIAL.
func (s *session) parsePartial(c *searchCmd) error {
	r, err := s.parsePartialRange()
	c.partial = r
	return err
}

// parsePartialRange reads SP partial-range.
func (s *session) parsePartialRange() (*partialRange, error) {
	if err := s.p.SP(); err != nil {
		return nil, err
	}
	raw, err := s.p.Atom()
	if err != nil {
		return nil, err
	}
	a, b, ok := strings.Cut(raw, ":")
	neg := strings.HasPrefix(a, "-")
	if !ok || neg != strings.HasPrefix(b, "-") {
		return nil, bad("Invalid PARTIAL range")
	}
	lo, err1 := strconv.ParseUint(strings.TrimPrefix(a, "-"), 10, 32)
	hi, err2 := strconv.ParseUint(strings.TrimPrefix(b, "-"), 10, 32)
	if err1 != nil || err2 != nil || lo == 0 || hi == 0 {
		return nil, bad("Invalid PARTIAL range")
	}
	return &partialRange{raw: raw, lo: uint32(min(lo, hi)), hi: uint32(max(lo, hi)), fromEnd: neg}, nil
}

// partialFetch narrows uids (ascending, in the view) to the page the
// PARTIAL FETCH modifier asks for (RFC 9394 §3.3): positions among the
// messages of the set, counted after CHANGEDSINCE (§3.4) leaves out the
// unchanged ones, from the end when the range is negative.
func (s *session) partialFetch(uids []uint32, f *fetchItems) ([]uint32, error) {
	if f.hasChangedSince {
		var changed []uint32
		for len(uids) > 0 {
			n := min(len(uids), DefaultMaxFetchBatch)
			batch := uids[:n]
			uids = uids[n:]
			msgs, err := s.srv.Store.ListMessages(s.ctx, s.sel.mb.ID, store.MessageQuery{
				MinUID: batch[0], MaxUID: batch[n-1], SinceModSeq: f.changedSince})
			if err != nil {
				return nil, err
			}
			for _, m := range onlyUIDs(msgs, batch) {
				changed = append(changed, m.UID)
			}
		}
		uids = changed
	}
	from, to := f.partial.window(len(uids))
	return uids[from:to], nil
}

// window returns the indexes [from, to) of the page among n results.
func (r *partialRange) window(n int) (from, to int) {
	lo, hi := int(r.lo), int(r.hi)
	if r.fromEnd {
		from, to = max(n-hi, 0), max(n-lo+1, 0)
	} else {
		from, to = min(lo-1, n), min(hi, n)
	}
	return from, to
}

// writePartial writes " PARTIAL (range set)" for the page of the n
// results, the i-th being at(i).
func (s *session) writePartial(r *partialRange, n int, at func(i int) uint32, sorted bool) {
	w := s.w
	from, to := r.window(n)
	w.Raw(" PARTIAL (")
	w.Raw(r.raw)
	w.SP()
	page := func(i int) uint32 { return at(from + i) }
	switch {
	case from == to:
		w.Raw("NIL")
	case sorted:
		w.NumSet(to-from, page)
	default: // sort order: listed as it is
		for i := range to - from {
			if i > 0 {
				w.Byte(',')
			}
			w.Number(uint64(page(i)))
		}
	}
	w.Byte(')')
}
