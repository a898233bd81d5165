package imap

import (
	"errors"
	"slices"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// bodyFetchBatch is the batch size when bodies are fetched too: the store
// may hold these bodies in memory (its inline bodies).
const bodyFetchBatch = 64

// cmdFetch implements FETCH and UID FETCH (RFC 9051 section 6.4.5, RFC
// 3516 BINARY). Messages are read from the store in batches of bounded
// size; summaries (ENVELOPE, BODYSTRUCTURE, part offsets) come from the
// store's cache and are computed and cached for messages that have none;
// body sections stream from the store's reader to the socket, reading
// only the octets they send.
func (s *session) cmdFetch(_ string, uid bool) error {
	p := s.p
	if err := p.SP(); err != nil {
		return err
	}
	set, err := p.SeqSet()
	if err != nil {
		return err
	}
	if err := p.SP(); err != nil {
		return err
	}
	items, err := s.parseFetchItems()
	if err != nil {
		return err
	}
	vanished := false
	if !p.AtEnd() {
		if vanished, err = s.parseFetchModifiers(items); err != nil {
			return err
		}
	}
	if err := p.End(); err != nil {
		return err
	}
	switch {
	case vanished && !uid:
		return bad("VANISHED is a UID FETCH modifier") // RFC 7162 §3.2.6
	case vanished && !s.qresync:
		return bad("VANISHED needs ENABLE QRESYNC")
	case vanished && !items.hasChangedSince:
		return bad("VANISHED needs CHANGEDSINCE")
	}
	if uid {
		items.uid = true // RFC 9051 section 6.4.9
	}
	v := s.sel
	uids, err := v.resolve(set, uid)
	if err != nil {
		return err
	}
	if items.modseq {
		s.enableCondstore()
	}
	if vanished && !set.Dollar {
		// The UIDs of the set that went away since CHANGEDSINCE, before
		// any FETCH response (§3.2.6).
		gone, err := s.vanishedSince(items.changedSince, setRanges(set, v.lastUID()), 0)
		if err != nil {
			return err
		}
		s.writeVanished(true, gone)
	}
	if items.partial != nil {
		if uids, err = s.partialFetch(uids, items); err != nil {
			return err
		}
	}
	return s.fetch(uids, items)
}

// fetch writes the FETCH responses for uids (ascending, in the view).
// A message expunged by another session meanwhile gets no response at
// all, never an empty one; the command then ends with NO [EXPUNGEISSUED]
// (RFC 9051 section 7.1, RFC 2180 section 4.1.2).
func (s *session) fetch(uids []uint32, f *fetchItems) error {
	v := s.sel
	needSummary, needBody := f.needSummary(), len(f.sections) > 0 || f.preview
	markSeen := f.setsSeen() && !v.readOnly
	batchSize := DefaultMaxFetchBatch
	if needBody {
		batchSize = bodyFetchBatch
	}
	gone := false
	body := &bodySource{s: s} // one for the command's messages, in turn
	for len(uids) > 0 {
		n, span := batchLen(v, len(uids), func(i int) uint32 { return uids[i] }, batchSize)
		batch := uids[:n]
		uids = uids[n:]
		msgs, err := s.srv.Store.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{
			MinUID: batch[0], MaxUID: batch[n-1], Limit: span, Summary: needSummary, Bodies: needBody,
			SinceModSeq: f.changedSince})
		if err != nil {
			return err
		}
		msgs = onlyUIDs(msgs, batch)
		// With CHANGEDSINCE a message may be missing for being unchanged.
		gone = gone || len(msgs) < len(batch) && !f.hasChangedSince
		seenNow, err := s.markSeen(msgs, markSeen)
		if err != nil {
			return err
		}
		var cache []store.SummaryUpdate
		var sums []*message.Summary
		if needSummary {
			if sums, cache, err = s.batchSummaries(msgs, needBody, f.summaryNeed()); err != nil {
				return err
			}
		}
		for i := range msgs {
			m := &msgs[i]
			var sum *message.Summary
			if sums != nil {
				sum = sums[i]
			}
			upd, err := s.fetchMessage(m, f, slices.Contains(seenNow, m.UID), sum, body)
			if errors.Is(err, store.ErrNotFound) {
				gone = true
				continue
			}
			if err != nil {
				return err
			}
			if upd != nil {
				cache = append(cache, *upd)
			}
		}
		if err := s.srv.Store.SetSummaries(s.ctx, cache); err != nil {
			s.log.Warn("imap: caching summaries", "err", err) // only a cache
		}
		if err := s.w.Err(); err != nil {
			return &endSession{reason: "write failed", cause: err}
		}
	}
	if gone {
		return no(codeExpungeIssued, "Some of the requested messages no longer exist")
	}
	return nil
}

// batchLen returns how many of n ascending UIDs of the view (uidAt(i)),
// from the first, lie within max consecutive messages of the view, and
// how many messages of the view they span: the store returns at most
// that many rows for their UID range, whatever the gaps.
func batchLen(v *view, n int, uidAt func(int) uint32, max int) (count, span int) {
	first := v.seqOf(uidAt(0))
	count = 1
	for count < n && v.seqOf(uidAt(count))-first < uint32(max) {
		count++
	}
	return count, int(v.seqOf(uidAt(count-1)) - first + 1)
}

// onlyUIDs keeps the messages whose UID is in want (both ascending).
func onlyUIDs(msgs []store.Message, want []uint32) []store.Message {
	out := msgs[:0]
	j := 0
	for _, m := range msgs {
		for j < len(want) && want[j] < m.UID {
			j++
		}
		if j < len(want) && want[j] == m.UID {
			out = append(out, m)
		}
	}
	return out
}

// markSeen sets \Seen on the messages a body item without .PEEK reads
// (RFC 9051 section 6.4.5) and returns the UIDs whose flags changed; their
// responses include FLAGS.
func (s *session) markSeen(msgs []store.Message, mark bool) ([]uint32, error) {
	if !mark {
		return nil, nil
	}
	var unseen []uint32
	for _, m := range msgs {
		if !m.HasFlag(store.FlagSeen) {
			unseen = append(unseen, m.UID)
		}
	}
	changed, err := s.setSeen(unseen)
	if err != nil {
		return nil, err
	}
	var uids []uint32
	for _, c := range changed {
		i, found := slices.BinarySearchFunc(msgs, c.UID, func(m store.Message, u uint32) int { return int(int64(m.UID) - int64(u)) })
		if found {
			msgs[i].Flags, msgs[i].ModSeq = c.Flags, c.ModSeq
			uids = append(uids, c.UID)
		}
	}
	return uids, nil
}

// fetchMessage writes one message's FETCH response, reading its body
// through body (reset for it, closed at the end). Everything that can
// fail for this message alone (its body gone, its summary unreadable, an
// unknown transfer encoding for BINARY) is checked before the response
// starts, so a response is never cut short. It returns a summary to cache
// when it had to compute one; store.ErrNotFound means the message was
// expunged meanwhile and nothing was written.
func (s *session) fetchMessage(m *store.Message, f *fetchItems, seenNow bool, sum *message.Summary, body *bodySource) (*store.SummaryUpdate, error) {
	seq := s.sel.seqOf(m.UID)
	*body = bodySource{s: s, m: m}
	defer body.close()
	if len(f.sections) > 0 || f.preview {
		if err := body.open(); err != nil {
			return nil, err
		}
	}
	var upd *store.SummaryUpdate
	if sum == nil && f.needSummary() {
		var err error
		if sum, upd, err = s.summary(m, body); err != nil {
			return nil, err
		}
	}
	for _, sec := range f.sections {
		if err := checkBinary(sec, sum); err != nil {
			return nil, err
		}
	}
	var preview string
	if f.preview {
		if pp := sum.PreviewPart(); pp != nil {
			r, err := body.section(pp.BodyStart, pp.Size())
			if err != nil {
				return nil, err
			}
			if preview, err = message.Preview(pp, r); err != nil {
				return nil, err
			}
		}
	}
	if f.flags || seenNow {
		s.announceKeywords(m.Flags)
	}
	w := s.w
	w.Raw("* ")
	w.Number(uint64(seq))
	w.Raw(" FETCH (")
	sp := false
	item := func(name string) {
		if sp {
			w.SP()
		}
		sp = true
		w.Raw(name)
	}
	// A FETCH that sets \Seen reports it with UID and MODSEQ once
	// CONDSTORE is on (RFC 7162 §3.2.4).
	implicit := seenNow && s.condstore
	if f.uid || implicit {
		item("UID ")
		w.Number(uint64(m.UID))
	}
	if f.flags || seenNow {
		item("FLAGS ")
		s.writeFlagList(s.messageFlags(m.UID, m.Flags))
	}
	if f.modseq || implicit {
		item("MODSEQ (")
		w.Number(m.ModSeq)
		w.Byte(')')
	}
	if f.internalDate {
		item(`INTERNALDATE "`)
		w.Raw(m.InternalDate.Format("_2-Jan-2006 15:04:05 -0700"))
		w.Byte('"')
	}
	if f.size {
		item("RFC822.SIZE ")
		w.Number(uint64(m.Size))
	}
	if f.emailID {
		item("EMAILID (" + emailObjectID(m) + ")")
	}
	if f.threadID {
		item("THREADID (" + threadObjectID(sum.Envelope, m.EmailID) + ")")
	}
	if f.saveDate {
		item("SAVEDATE ")
		s.writeSaveDate(m)
	}
	if f.envelope {
		item("ENVELOPE ")
		s.writeEnvelope(sum)
	}
	if f.body {
		item("BODY ")
		s.writeBodyStructure(sum.Structure, false)
	}
	if f.bodyStructure {
		item("BODYSTRUCTURE ")
		s.writeBodyStructure(sum.Structure, true)
	}
	if f.preview {
		item("PREVIEW ")
		w.String(preview) // "" when the message has no text to preview
	}
	for _, sec := range f.sections {
		item("")
		if err := s.writeSection(sec, m, sum, body); err != nil {
			return nil, err
		}
	}
	w.Raw(")\r\n")
	return upd, nil
}

// batchSummaries returns the cached summaries of a batch (nil where the
// cache is missing, stale or corrupt), as far as need says: whole, only
// the envelope, or only the rendered envelope (message.Summary.Wire,
// else the envelope). When the batch was listed without
// bodies, the messages that need parsing are read with a listing of their
// bodies per bodyFetchBatch messages of the view instead of a lookup
// each, and parsed at once (their bodies are not kept); it returns the
// cache updates for them.
func (s *session) batchSummaries(msgs []store.Message, haveBodies bool, need int) ([]*message.Summary, []store.SummaryUpdate, error) {
	sums := make([]*message.Summary, len(msgs))
	var missing []int
	if need == summaryWire {
		// One allocation for the batch: a FETCH ENVELOPE keeps nothing
		// else of a summary.
		wires := make([]message.Summary, len(msgs))
		for i := range msgs {
			if w, end, err := message.CachedWire(msgs[i].Summary); err == nil && end == msgs[i].Size && w[0] != nil {
				wires[i].Wire = w
				sums[i] = &wires[i]
			} else if sums[i] = cachedSummary(&msgs[i], true); sums[i] == nil {
				missing = append(missing, i)
			}
		}
	} else {
		for i := range msgs {
			if sums[i] = cachedSummary(&msgs[i], need == summaryEnvelope); sums[i] == nil {
				missing = append(missing, i)
			}
		}
	}
	if haveBodies || len(missing) < 2 {
		return sums, nil, nil // parsed one by one from the bodies at hand
	}
	v := s.sel
	var cache []store.SummaryUpdate
	for len(missing) > 0 {
		k, span := batchLen(v, len(missing), func(i int) uint32 { return msgs[missing[i]].UID }, bodyFetchBatch)
		chunk := missing[:k]
		missing = missing[k:]
		withBodies, err := s.srv.Store.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{
			MinUID: msgs[chunk[0]].UID, MaxUID: msgs[chunk[k-1]].UID, Limit: span, Bodies: true})
		if err != nil {
			return nil, nil, err
		}
		j := 0
		for _, i := range chunk {
			for j < len(withBodies) && withBodies[j].UID < msgs[i].UID {
				j++
			}
			if j == len(withBodies) || withBodies[j].UID != msgs[i].UID {
				continue // gone: fetchMessage finds out
			}
			m := withBodies[j]
			m.Summary = nil
			body := &bodySource{s: s, m: &m}
			sum, upd, err := s.summary(&m, body)
			body.close()
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return nil, nil, err
			}
			sums[i] = sum
			cache = append(cache, *upd)
		}
	}
	return sums, cache, nil
}

// What of a cached summary a FETCH needs (batchSummaries).
const (
	summaryFull     = iota
	summaryEnvelope // the envelope decoded
	summaryWire     // the envelope as rendered
)

// cachedSummary decodes the message's cached summary, or only its
// envelope; nil when the cache is missing, stale or corrupt.
func cachedSummary(m *store.Message, envOnly bool) *message.Summary {
	if envOnly {
		if e, end, err := message.UnmarshalEnvelope(m.Summary); err == nil && end == m.Size {
			return &message.Summary{Envelope: e}
		}
		return nil
	}
	if sum, err := message.UnmarshalSummary(m.Summary); err == nil && sum.Structure.End == m.Size {
		return sum
	}
	return nil
}

// summary returns the message's summary from the cache, or parses the
// body (old-format, corrupt or missing caches) and returns the update
// that caches it.
func (s *session) summary(m *store.Message, body *bodySource) (*message.Summary, *store.SummaryUpdate, error) {
	if sum := cachedSummary(m, false); sum != nil {
		return sum, nil, nil
	}
	r, err := body.section(0, m.Size)
	if err != nil {
		return nil, nil, err
	}
	sum, err := message.Summarize(r)
	if err != nil {
		return nil, nil, err
	}
	sum.Wire = renderEnvelope(sum.Envelope)
	return sum, &store.SummaryUpdate{MessageID: m.ID, Summary: sum.Marshal()}, nil
}
