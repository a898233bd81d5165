package imap

import (
	"bytes"
	"errors"
	"io"
	"slices"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// bodyFetchBatch is the batch size when bodies are fetched too.
const bodyFetchBatch = 64

// resolve turns a sequence set, UID set or "$" into the view's UIDs it
// names, ascending. Numbers the view does not have are skipped.
func (v *view) resolve(numSet goimap.NumSet) []uint32 {
	if goimap.IsSearchRes(numSet) {
		var out []uint32
		for _, u := range v.searchRes {
			if v.seqOf(u) != 0 {
				out = append(out, u)
			}
		}
		return out
	}
	var out []uint32
	switch set := numSet.(type) {
	case goimap.SeqSet:
		n := uint32(len(v.uids))
		for _, r := range set {
			lo, hi := staticRange(r.Start, r.Stop, n)
			for seq := max(lo, 1); seq <= min(hi, n); seq++ {
				out = append(out, v.uids[seq-1])
			}
		}
	case goimap.UIDSet:
		last := v.lastUID()
		for _, r := range set {
			lo, hi := staticRange(uint32(r.Start), uint32(r.Stop), last)
			i, _ := slices.BinarySearch(v.uids, lo)
			for ; i < len(v.uids) && v.uids[i] <= hi; i++ {
				out = append(out, v.uids[i])
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// staticRange replaces "*" (0) by max; "n:*" with n above max means
// "*:n" (RFC 9051 section 9, seq-range).
func staticRange(lo, hi, max uint32) (uint32, uint32) {
	if lo == 0 {
		lo = max
	}
	if hi == 0 {
		hi = max
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi
}

// Fetch implements FETCH and UID FETCH. Messages are read from the store
// in batches; summaries (ENVELOPE, BODYSTRUCTURE) come from the cache and
// are computed and saved for messages that have none yet.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet goimap.NumSet, options *goimap.FetchOptions) error {
	return s.f.corked(func() error { return s.fetch(w, numSet, options) })
}

func (s *session) fetch(w *imapserver.FetchWriter, numSet goimap.NumSet, options *goimap.FetchOptions) error {
	v := s.sel
	uids := v.resolve(numSet)
	needSummary := options.Envelope || options.BodyStructure != nil
	markSeen := false
	for _, bs := range options.BodySection {
		markSeen = markSeen || !bs.Peek
	}
	for _, bs := range options.BinarySection {
		markSeen = markSeen || !bs.Peek
	}
	markSeen = markSeen && !v.readOnly
	needBody := len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
	batchSize := DefaultMaxFetchBatch
	if needBody {
		batchSize = bodyFetchBatch // the store may hold these bodies in memory
	}
	for len(uids) > 0 {
		batch := uids[:min(len(uids), batchSize)]
		uids = uids[len(batch):]
		msgs, err := s.srv.Store.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{
			MinUID: batch[0], MaxUID: batch[len(batch)-1], Summary: needSummary, Bodies: needBody})
		if err != nil {
			return s.fail("fetching", err)
		}
		msgs = onlyUIDs(msgs, batch)
		seen := map[uint32]bool{} // messages whose \Seen this FETCH set
		if markSeen {
			if err := s.markSeen(msgs, seen); err != nil {
				return err
			}
		}
		var cache []store.SummaryUpdate
		for i := range msgs {
			upd, err := s.fetchOne(w, &msgs[i], options, seen[msgs[i].UID])
			if err != nil {
				return err
			}
			if upd != nil {
				cache = append(cache, *upd)
			}
		}
		if err := s.srv.Store.SetSummaries(s.ctx, cache); err != nil {
			s.logger().Warn("imap: caching summaries", "err", err) // only a cache
		}
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

// markSeen sets \Seen on messages a non-PEEK body fetch reads (RFC 9051
// section 6.4.5) and notes which changed.
func (s *session) markSeen(msgs []store.Message, seen map[uint32]bool) error {
	var unseen []uint32
	for _, m := range msgs {
		if !m.HasFlag(store.FlagSeen) {
			unseen = append(unseen, m.UID)
		}
	}
	if len(unseen) == 0 {
		return nil
	}
	changed, err := s.srv.Store.UpdateFlags(s.ctx, s.sel.mb.ID, unseen, store.FlagsAdd, []string{store.FlagSeen})
	if err != nil {
		return s.fail("setting \\Seen", err)
	}
	for _, c := range changed {
		seen[c.UID] = true
		s.sel.own = append(s.sel.own, c.ModSeq)
		for i := range msgs {
			if msgs[i].UID == c.UID {
				msgs[i].Flags = c.Flags
			}
		}
	}
	return nil
}

// fetchOne writes one message's FETCH response. It returns a summary to
// cache when it had to compute one.
func (s *session) fetchOne(w *imapserver.FetchWriter, m *store.Message, options *goimap.FetchOptions, seenNow bool) (*store.SummaryUpdate, error) {
	seq := s.sel.seqOf(m.UID)
	if seq == 0 {
		return nil, nil
	}
	var sum *message.Summary
	var upd *store.SummaryUpdate
	if options.Envelope || options.BodyStructure != nil {
		var err error
		if m.Summary != nil {
			sum, err = message.UnmarshalSummary(m.Summary)
		}
		if sum == nil || err != nil {
			if sum, err = s.summarize(m.UID); err != nil {
				return nil, err
			}
			upd = &store.SummaryUpdate{MessageID: m.ID, Summary: sum.Marshal()}
		}
	}
	rw := w.CreateMessage(seq)
	if options.UID {
		rw.WriteUID(goimap.UID(m.UID))
	}
	if options.Flags || seenNow {
		rw.WriteFlags(imapFlags(m.Flags))
	}
	if options.InternalDate {
		rw.WriteInternalDate(m.InternalDate)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(m.Size)
	}
	if options.Envelope {
		rw.WriteEnvelope(imapEnvelope(sum.Envelope))
	}
	if options.BodyStructure != nil {
		rw.WriteBodyStructure(imapBodyStructure(sum.Structure))
	}
	if err := s.writeSections(rw, m, options); err != nil {
		rw.Close()
		return nil, err
	}
	return upd, rw.Close()
}

// summarize parses a message body.
func (s *session) summarize(uid uint32) (*message.Summary, error) {
	body, err := s.srv.Store.OpenMessage(s.ctx, s.sel.mb.ID, uid)
	if err != nil {
		return nil, s.fail("reading message", err)
	}
	defer body.Close()
	sum, err := message.Summarize(body)
	if err != nil {
		return nil, s.fail("reading message", err)
	}
	return sum, nil
}

// writeSections writes the BODY[...] and BINARY[...] items. A whole-body
// section streams from the store; parts are extracted in memory.
func (s *session) writeSections(rw *imapserver.FetchResponseWriter, m *store.Message, options *goimap.FetchOptions) error {
	if len(options.BodySection) == 0 && len(options.BinarySection) == 0 && len(options.BinarySectionSize) == 0 {
		return nil
	}
	open := m.Open
	if open == nil {
		open = func() (io.ReadCloser, error) { return s.srv.Store.OpenMessage(s.ctx, s.sel.mb.ID, m.UID) }
	}
	body, err := open()
	if errors.Is(err, store.ErrNotFound) {
		// Expunged since the listing: send what we have (empty), as
		// the client cannot be told NO for one message of many.
		body = io.NopCloser(bytes.NewReader(nil))
	} else if err != nil {
		return s.fail("reading message", err)
	}
	defer body.Close()
	if len(options.BodySection) == 1 && len(options.BinarySection) == 0 && len(options.BinarySectionSize) == 0 &&
		isWholeBody(options.BodySection[0]) {
		// The common case (BODY[], BODY.PEEK[], a partial of it):
		// stream from the store without holding the message.
		return s.streamWhole(rw, options.BodySection[0], body, m.Size)
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return s.fail("reading message", err)
	}
	for _, sec := range options.BodySection {
		part := imapserver.ExtractBodySection(bytes.NewReader(raw), sec)
		if err := writeLiteral(rw.WriteBodySection(sec, int64(len(part))), part); err != nil {
			return err
		}
	}
	for _, sec := range options.BinarySection {
		part := imapserver.ExtractBinarySection(bytes.NewReader(raw), sec)
		if err := writeLiteral(rw.WriteBinarySection(sec, int64(len(part))), part); err != nil {
			return err
		}
	}
	for _, sec := range options.BinarySectionSize {
		rw.WriteBinarySectionSize(sec, imapserver.ExtractBinarySectionSize(bytes.NewReader(raw), sec))
	}
	return nil
}

func isWholeBody(sec *goimap.FetchItemBodySection) bool {
	return sec.Specifier == goimap.PartSpecifierNone && len(sec.Part) == 0
}

// streamWhole copies BODY[] (or a partial of it) straight from the store.
func (s *session) streamWhole(rw *imapserver.FetchResponseWriter, sec *goimap.FetchItemBodySection, body io.ReadCloser, size int64) error {
	off, n := int64(0), size
	if p := sec.Partial; p != nil {
		off = min(p.Offset, size)
		n = min(p.Size, size-off)
	}
	if off > 0 {
		if _, err := io.CopyN(io.Discard, body, off); err != nil {
			return s.fail("reading message", err)
		}
	}
	wc := rw.WriteBodySection(sec, n)
	copied, err := io.CopyN(wc, body, n)
	if err != nil && copied < n {
		// The literal's length is promised: pad, then fail the session
		// rather than send a short message.
		_, _ = wc.Write(make([]byte, n-copied))
		wc.Close()
		return s.fail("reading message", err)
	}
	return wc.Close()
}

func writeLiteral(wc io.WriteCloser, b []byte) error {
	_, err := wc.Write(b)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}
