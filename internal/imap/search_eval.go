package imap

import (
	"cmp"
	"errors"
	"math"
	"sort"

	"slices"
	"time"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// Evaluation runs in two steps per batch of messages. First every key is
// evaluated on what the store's listing says (flags, size, internal date,
// UID and sequence number), with three-valued logic: a string or sent-date
// key is "unknown" then. Only messages whose answer is still unknown are
// opened, each streamed once through a message.Matcher that checks all
// string criteria in one pass with bounded memory.

const (
	// searchListBatch is how many messages one listing query returns;
	// searchSummaryBatch when the listing carries the cached summaries
	// (for SENT* keys), which take a few hundred octets to a few KB each.
	searchListBatch    = 1000
	searchSummaryBatch = 200
	// searchBodyBatch and searchBodyBytes bound one listing with bodies:
	// at most that many messages of at most that many octets in all (or
	// a single larger one). Small bodies come inline with the listing,
	// so this bounds what a SEARCH holds at once, whatever the number of
	// sessions searching.
	searchBodyBatch = 32
	searchBodyBytes = 512 << 10
	// maxListGap: candidates further apart than this many UIDs are
	// listed by separate queries (see runSearch).
	maxListGap = 64
)

// tri is a three-valued truth: no, yes, or not known without the body.
type tri uint8

const (
	triNo tri = iota
	triYes
	triUnknown
)

func triOf(b bool) tri {
	if b {
		return triYes
	}
	return triNo
}

// candidate is one message under evaluation.
type candidate struct {
	seq uint32
	msg store.Message
	// sent is the Date: field from the message's cached summary, when
	// sentKnown: then SENTBEFORE/ON/SINCE need no body.
	sent      time.Time
	sentKnown bool
	thread    string // THREADID, when the program has a THREADID key
}

// runSearch returns the UIDs of the messages that match, ascending.
func (s *session) runSearch(c *searchCmd) ([]uint32, error) {
	s.prepareSets(c.root)
	return s.searchAmong(c, s.searchCandidates(c))
}

// searchAmong returns the UIDs of cands (ascending, in the view) that
// match the prepared program c.
func (s *session) searchAmong(c *searchCmd, cands []uint32) ([]uint32, error) {
	v := s.sel
	cands, err := s.narrowByIndex(c, cands)
	if err != nil {
		return nil, err
	}
	var matcher *message.Matcher
	if len(c.queries) > 0 || c.sentDate {
		matcher = message.NewMatcher(c.queries, c.sentDate)
	}
	var hits []uint32
	var undecided []candidate
	step := searchListBatch
	if c.sentDate || c.threads {
		step = searchSummaryBatch
	}
	for from := 0; from < len(cands); {
		// A batch ends after step candidates, or where the next is more
		// than maxListGap UIDs on: a listing reads every message between
		// its first and last UID, and the candidates the text index
		// leaves can be few and far apart.
		to := from + 1
		for to < len(cands) && to-from < step && cands[to]-cands[to-1] <= maxListGap {
			to++
		}
		batch := cands[from:to]
		from = to
		msgs, err := s.srv.Store.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{MinUID: batch[0], MaxUID: batch[len(batch)-1],
			Summary: c.sentDate || c.threads})
		if err != nil {
			return nil, err
		}
		var threads []string
		if c.threads {
			if threads, err = s.threadIDs(msgs); err != nil {
				return nil, err
			}
		}
		start := len(hits)
		undecided = undecided[:0]
		for i, m := range msgs {
			if _, ok := slices.BinarySearch(batch, m.UID); !ok {
				continue // arrived after the view was last updated
			}
			cd := candidate{seq: v.seqOf(m.UID), msg: m}
			if threads != nil {
				cd.thread = threads[i]
			}
			if c.sentDate && m.Summary != nil {
				// The parsed Date: of a summary FETCH cached, if it is
				// still this message's.
				if sum, err := message.UnmarshalSummary(m.Summary); err == nil && sum.Structure.End == m.Size {
					cd.sent, cd.sentKnown = sum.Envelope.Date, true
				}
				cd.msg.Summary = nil
			}
			switch s.evalKey(c.root, &cd, nil) {
			case triYes:
				hits = append(hits, m.UID)
				c.maxModSeq = max(c.maxModSeq, m.ModSeq)
			case triUnknown:
				undecided = append(undecided, cd)
			}
		}
		if len(undecided) > 0 {
			if hits, err = s.matchBodies(c, matcher, undecided, msgs, hits); err != nil {
				return nil, err
			}
			slices.Sort(hits[start:])
		}
	}
	return hits, nil
}

// prepareSets resolves the sequence and UID sets of the program against
// the view ("*" is the last message or UID) into sorted disjoint spans.
func (s *session) prepareSets(k *searchKey) {
	for _, sub := range k.sub {
		s.prepareSets(sub)
	}
	if (k.op != opSeq && k.op != opUID) || k.set.Dollar {
		return
	}
	largest := uint32(len(s.sel.uids))
	if k.op == opUID {
		largest = s.sel.lastUID()
	}
	type span struct{ lo, hi uint32 }
	spans := make([]span, 0, len(k.set.Ranges))
	for _, r := range k.set.Ranges {
		lo, hi := r.Bounds(largest)
		spans = append(spans, span{lo, hi})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	k.spans = k.spans[:0]
	for _, sp := range spans {
		if n := len(k.spans); n > 0 && (k.spans[n-1] == math.MaxUint32 || sp.lo <= k.spans[n-1]+1) {
			k.spans[n-1] = max(k.spans[n-1], sp.hi)
			continue
		}
		k.spans = append(k.spans, sp.lo, sp.hi)
	}
}

// inSpans reports whether n is in one of the [lo, hi] pairs of spans.
func inSpans(spans []uint32, n uint32) bool {
	// The first pair whose hi is >= n is the only one that can hold it.
	i := sort.Search(len(spans)/2, func(i int) bool { return spans[2*i+1] >= n })
	return i < len(spans)/2 && spans[2*i] <= n
}

// searchCandidates returns the UIDs of the view that the top-level
// sequence and UID sets allow, so only those are listed.
func (s *session) searchCandidates(c *searchCmd) []uint32 {
	v := s.sel
	var sets []*searchKey
	for _, k := range c.root.sub {
		if k.op == opSeq || k.op == opUID {
			sets = append(sets, k)
		}
	}
	if len(sets) == 0 {
		return v.uids
	}
	var out []uint32
	for i, u := range v.uids {
		cd := candidate{seq: uint32(i + 1), msg: store.Message{UID: u}}
		ok := true
		for _, k := range sets {
			ok = ok && s.evalKey(k, &cd, nil) == triYes
		}
		if ok {
			out = append(out, u)
		}
	}
	return out
}

// matchBodies opens the undecided candidates (ascending UIDs), runs the
// matcher over each and appends the UIDs that match to hits. listed is
// the listing the candidates come from (every message in their UID
// range, with its size): it sizes the listings with bodies.
func (s *session) matchBodies(c *searchCmd, m *message.Matcher, undecided []candidate, listed []store.Message, hits []uint32) ([]uint32, error) {
	v := s.sel
	for i := 0; i < len(undecided); {
		maxUID := bodyBatchEnd(listed, undecided[i].msg.UID)
		msgs, err := s.srv.Store.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{
			MinUID: undecided[i].msg.UID, MaxUID: maxUID, Limit: searchBodyBatch, Bodies: true})
		if err != nil {
			return nil, err
		}
		last := maxUID // all of the window expunged meanwhile, if nothing came
		if len(msgs) > 0 {
			last = msgs[len(msgs)-1].UID
		}
		for _, lm := range msgs {
			for i < len(undecided) && undecided[i].msg.UID < lm.UID {
				i++ // expunged meanwhile: no match
			}
			if i == len(undecided) || undecided[i].msg.UID != lm.UID {
				continue
			}
			cd := &undecided[i]
			i++
			if err := s.ctx.Err(); err != nil {
				return nil, err
			}
			res, err := matchBody(m, lm)
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return nil, err
			}
			if s.evalKey(c.root, cd, &res) == triYes {
				hits = append(hits, cd.msg.UID)
				c.maxModSeq = max(c.maxModSeq, cd.msg.ModSeq)
			}
		}
		for i < len(undecided) && undecided[i].msg.UID <= last {
			i++
		}
	}
	return hits, nil
}

// bodyBatchEnd returns the last UID of a listing with bodies that starts
// at from: at most searchBodyBatch messages of listed and
// searchBodyBytes octets, at least one message.
func bodyBatchEnd(listed []store.Message, from uint32) uint32 {
	i, _ := slices.BinarySearchFunc(listed, from, func(m store.Message, u uint32) int { return cmp.Compare(m.UID, u) })
	end, size := from, int64(0)
	for n := 0; i < len(listed) && n < searchBodyBatch; i, n = i+1, n+1 {
		if size += listed[i].Size; size > searchBodyBytes && n > 0 {
			break
		}
		end = listed[i].UID
	}
	return end
}

// matchBody streams one message body through the matcher.
func matchBody(m *message.Matcher, lm store.Message) (message.MatchResult, error) {
	r, err := lm.Open()
	if err != nil {
		return message.MatchResult{}, err
	}
	defer r.Close()
	return m.Match(r)
}

// evalKey evaluates k for one message. res is nil before the body is
// read: string and sent-date keys are then unknown.
func (s *session) evalKey(k *searchKey, cd *candidate, res *message.MatchResult) tri {
	v := s.sel
	m := &cd.msg
	switch k.op {
	case opAll:
		return triYes
	case opAnd, opOr:
		// AND stops at the first no, OR at the first yes.
		stop, out := triNo, triYes
		if k.op == opOr {
			stop, out = triYes, triNo
		}
		for _, sub := range k.sub {
			switch s.evalKey(sub, cd, res) {
			case stop:
				return stop
			case triUnknown:
				out = triUnknown
			}
		}
		return out
	case opNot:
		switch s.evalKey(k.sub[0], cd, res) {
		case triYes:
			return triNo
		case triNo:
			return triYes
		}
		return triUnknown
	case opSeq, opUID:
		if k.set.Dollar {
			_, ok := slices.BinarySearch(v.searchRes, m.UID)
			return triOf(ok)
		}
		n := cd.seq
		if k.op == opUID {
			n = m.UID
		}
		return triOf(inSpans(k.spans, n))
	case opUIDFrozen:
		return triOf(inSpans(k.spans, m.UID))
	case opFlag:
		return triOf(m.HasFlag(k.flag))
	case opNoFlag:
		return triOf(!m.HasFlag(k.flag))
	case opRecent:
		return triOf(v.isRecent(m.UID))
	case opNew:
		return triOf(v.isRecent(m.UID) && !m.HasFlag(store.FlagSeen))
	case opOld:
		return triOf(!v.isRecent(m.UID))
	case opBefore:
		return triOf(dayOf(m.InternalDate).Before(k.date))
	case opOn:
		return triOf(dayOf(m.InternalDate).Equal(k.date))
	case opSince:
		return triOf(!dayOf(m.InternalDate).Before(k.date))
	case opOlder:
		return triOf(!m.InternalDate.Truncate(time.Second).After(k.date))
	case opYounger:
		return triOf(!m.InternalDate.Truncate(time.Second).Before(k.date))
	case opModSeq:
		return triOf(m.ModSeq >= uint64(k.n))
	case opSentBefore, opSentOn, opSentSince:
		var sent time.Time
		switch {
		case cd.sentKnown:
			sent = cd.sent
		case res != nil:
			sent = res.Date
		default:
			return triUnknown
		}
		// A message without a (valid) Date: field counts as sent at the
		// epoch, as Dovecot has it: SENTBEFORE finds it, SENTSINCE not.
		d := time.Unix(0, 0).UTC()
		if !sent.IsZero() {
			d = dayOf(sent)
		}
		switch k.op {
		case opSentBefore:
			return triOf(d.Before(k.date))
		case opSentOn:
			return triOf(d.Equal(k.date))
		}
		return triOf(!d.Before(k.date))
	case opEmailID:
		return triOf(m.EmailID == k.n)
	case opThreadID:
		return triOf(cd.thread == k.flag)
	case opSavedBefore:
		return triOf(dayOf(saveDate(m)).Before(k.date))
	case opSavedOn:
		return triOf(dayOf(saveDate(m)).Equal(k.date))
	case opSavedSince:
		return triOf(!dayOf(saveDate(m)).Before(k.date))
	case opLarger:
		return triOf(m.Size > k.n)
	case opSmaller:
		return triOf(m.Size < k.n)
	case opMatch:
		if res == nil {
			return triUnknown
		}
		return triOf(res.Found[k.n])
	}
	return triNo
}

// dayOf is the calendar day of t in its own zone, as midnight UTC like
// the dates the parser returns: RFC 9051 §6.4.4 compares dates
// "disregarding time and timezone".
func dayOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}
