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
	if err := p.End(); err != nil {
		return err
	}
	if uid {
		items.uid = true // RFC 9051 section 6.4.9
	}
	uids, err := s.sel.resolve(set, uid)
	if err != nil {
		return err
	}
	return s.fetch(uids, items)
}

// fetch writes the FETCH responses for uids (ascending, in the view).
// A message expunged by another session meanwhile gets no response at
// all, never an empty one; the command then ends with NO [EXPUNGEISSUED]
// (RFC 9051 section 7.1, RFC 2180 section 4.1.2).
func (s *session) fetch(uids []uint32, f *fetchItems) error {
	v := s.sel
	needSummary, needBody := f.needSummary(), len(f.sections) > 0
	markSeen := f.setsSeen() && !v.readOnly
	batchSize := DefaultMaxFetchBatch
	if needBody {
		batchSize = bodyFetchBatch
	}
	gone := false
	for len(uids) > 0 {
		// A batch spans at most batchSize messages of the view, so the
		// store returns at most that many rows whatever the UID gaps.
		first := v.seqOf(uids[0])
		n := 1
		for n < len(uids) && v.seqOf(uids[n])-first < uint32(batchSize) {
			n++
		}
		batch := uids[:n]
		uids = uids[n:]
		span := int(v.seqOf(batch[n-1]) - first + 1)
		msgs, err := s.srv.Store.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{
			MinUID: batch[0], MaxUID: batch[n-1], Limit: span, Summary: needSummary, Bodies: needBody})
		if err != nil {
			return err
		}
		msgs = onlyUIDs(msgs, batch)
		gone = gone || len(msgs) < len(batch)
		seenNow, err := s.markSeen(msgs, markSeen)
		if err != nil {
			return err
		}
		var cache []store.SummaryUpdate
		for i := range msgs {
			m := &msgs[i]
			upd, err := s.fetchMessage(m, f, slices.Contains(seenNow, m.UID))
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
			msgs[i].Flags = c.Flags
			uids = append(uids, c.UID)
		}
	}
	return uids, nil
}

// fetchMessage writes one message's FETCH response. Everything that can
// fail for this message alone (its body gone, its summary unreadable, an
// unknown transfer encoding for BINARY) is checked before the response
// starts, so a response is never cut short. It returns a summary to cache
// when it had to compute one; store.ErrNotFound means the message was
// expunged meanwhile and nothing was written.
func (s *session) fetchMessage(m *store.Message, f *fetchItems, seenNow bool) (*store.SummaryUpdate, error) {
	seq := s.sel.seqOf(m.UID)
	body := &bodySource{s: s, m: m}
	defer body.close()
	if len(f.sections) > 0 {
		if err := body.open(); err != nil {
			return nil, err
		}
	}
	var sum *message.Summary
	var upd *store.SummaryUpdate
	if f.needSummary() {
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
	if f.uid {
		item("UID ")
		w.Number(uint64(m.UID))
	}
	if f.flags || seenNow {
		item("FLAGS ")
		s.writeFlagList(s.messageFlags(m.UID, m.Flags))
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
	if f.envelope {
		item("ENVELOPE ")
		s.writeEnvelope(sum.Envelope)
	}
	if f.body {
		item("BODY ")
		s.writeBodyStructure(sum.Structure, false)
	}
	if f.bodyStructure {
		item("BODYSTRUCTURE ")
		s.writeBodyStructure(sum.Structure, true)
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

// summary returns the message's summary from the cache, or parses the
// body (old-format, corrupt or missing caches) and returns the update
// that caches it.
func (s *session) summary(m *store.Message, body *bodySource) (*message.Summary, *store.SummaryUpdate, error) {
	if m.Summary != nil {
		if sum, err := message.UnmarshalSummary(m.Summary); err == nil && sum.Structure.End == m.Size {
			return sum, nil, nil
		}
	}
	r, err := body.section(0, m.Size)
	if err != nil {
		return nil, nil, err
	}
	sum, err := message.Summarize(r)
	if err != nil {
		return nil, nil, err
	}
	return sum, &store.SummaryUpdate{MessageID: m.ID, Summary: sum.Marshal()}, nil
}
