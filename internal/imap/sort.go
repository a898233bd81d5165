package imap

import (
	"cmp"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// SORT and UID SORT (RFC 5256), with ESORT (RFC 5267: RETURN (MIN MAX ALL
// COUNT)) and SORT=DISPLAY (RFC 5957: DISPLAYFROM, DISPLAYTO). The search
// program is SEARCH's (search.go); the sort keys come from the messages'
// cached summaries.

// sortKey is one sort criterion.
type sortKey uint8

const (
	sortArrival sortKey = iota
	sortCc
	sortDate
	sortFrom
	sortSize
	sortSubject
	sortTo
	sortDisplayFrom
	sortDisplayTo
	nSortKeys
)

type sortCriterion struct {
	key     sortKey
	reverse bool
}

// maxSortCriteria bounds the criteria of one SORT.
const maxSortCriteria = 16

// sortItem is one message of a SORT or THREAD: its numbers in the
// session and its keys (msgKeys, shared with the server's sortCache).
// Items are small, so sorting moves little.
type sortItem struct {
	uid, seq uint32
	*msgKeys
}

// cmdSort: SORT [RETURN (...)] (criteria) charset search-keys.
func (s *session) cmdSort(tag string, uid bool) error {
	v := s.sel
	c := &searchCmd{uid: uid, tag: tag}
	var crit []sortCriterion
	hits, err := s.sortSearch(c, func() (err error) {
		crit, err = s.parseSort(c)
		return err
	})
	if err != nil {
		return err
	}
	items, err := s.sortItems(hits)
	if err != nil {
		return err
	}
	slices.SortStableFunc(items, func(a, b sortItem) int { return compareItems(crit, &a, &b) })
	if c.update {
		s.freezeSets(c.root)
	}
	if c.retSave {
		saved := hits // SEARCHRES keeps a set: the order is not saved
		if c.partial != nil && !c.retCount {
			from, to := c.partial.window(len(items))
			saved = make([]uint32, 0, to-from)
			for _, it := range items[from:to] {
				saved = append(saved, it.uid) // RFC 9394: "$" is the page
			}
			slices.Sort(saved)
		} else if !c.retAll && !c.retCount && (c.retMin || c.retMax) && len(items) > 0 {
			// RFC 5182 §2.4, as for SEARCH: with MIN and/or MAX only,
			// only those are saved, here the first and last in sort
			// order.
			saved = nil
			if c.retMin {
				saved = append(saved, items[0].uid)
			}
			if last := items[len(items)-1].uid; c.retMax && (!c.retMin || len(items) > 1) {
				saved = append(saved, last)
			}
			slices.Sort(saved)
		}
		v.searchRes = saved
	}
	s.writeSort(tag, c, items)
	if c.update {
		return s.startUpdate(c, hits, crit, items)
	}
	return nil
}

// sortSearch is searchWith for SORT and THREAD, where the program ALL
// (the usual one) is answered from the view without a listing: sortItems
// reads every message anyway and leaves out those the store no longer has.
func (s *session) sortSearch(c *searchCmd, parse func() error) ([]uint32, error) {
	if err := parse(); err != nil {
		if c.retSave {
			s.sel.searchRes = nil
		}
		return nil, err
	}
	if r := c.root; r.op == opAnd && len(r.sub) == 1 && r.sub[0].op == opAll {
		return slices.Clone(s.sel.uids), nil
	}
	return s.searchWith(c, func() error { return nil })
}

// parseSort reads the arguments of SORT up to the end of the command.
func (s *session) parseSort(c *searchCmd) ([]sortCriterion, error) {
	p := s.p
	if err := p.SP(); err != nil {
		return nil, err
	}
	if p.AcceptFold("RETURN") {
		if err := s.parseReturn(c); err != nil {
			return nil, err
		}
	} else {
		c.retAll = true
	}
	var crit []sortCriterion
	reverse := false
	err := s.atomList(func(atom string) error {
		if atom == "REVERSE" && !reverse {
			reverse = true
			return nil
		}
		keys := map[string]sortKey{"ARRIVAL": sortArrival, "CC": sortCc, "DATE": sortDate, "FROM": sortFrom,
			"SIZE": sortSize, "SUBJECT": sortSubject, "TO": sortTo, "DISPLAYFROM": sortDisplayFrom, "DISPLAYTO": sortDisplayTo}
		k, ok := keys[atom]
		if !ok {
			return bad("Unknown sort criterion %q", atom)
		}
		if len(crit) >= maxSortCriteria {
			return badCode(codeLimit, "Too many sort criteria")
		}
		crit = append(crit, sortCriterion{key: k, reverse: reverse})
		reverse = false
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(crit) == 0 || reverse {
		return nil, bad("Expected a sort criterion")
	}
	if err := s.spCharsetSP(); err != nil {
		return nil, err
	}
	return crit, s.parseSearchKeys(c)
}

// sortItems returns the sort keys of the messages uids (ascending):
// from the server's cache, and for messages it lacks from their
// summaries (computed and cached when missing), read in batches, then
// added to the cache. Messages the store no longer has are left out.
func (s *session) sortItems(uids []uint32) ([]sortItem, error) {
	v := s.sel
	keys := make([]*msgKeys, len(uids))
	cacheSize := s.srv.sortCacheSize()
	found := 0
	if cacheSize > 0 {
		found = s.srv.sorts.lookup(boxID{v.mb.ID, v.mb.UIDValidity}, uids, keys)
	}
	if found < len(uids) {
		var missing []uint32
		var at []int
		for i, k := range keys {
			if k == nil {
				missing = append(missing, uids[i])
				at = append(at, i)
			}
		}
		fresh, err := s.readSortKeys(missing)
		if err != nil {
			return nil, err
		}
		for j, i := range at {
			keys[i] = fresh[j]
		}
		if cacheSize > 0 {
			s.srv.sorts.add(boxID{v.mb.ID, v.mb.UIDValidity}, missing, fresh, v.uids, cacheSize)
		}
	}
	items := make([]sortItem, 0, len(uids))
	for i, k := range keys {
		if k != nil {
			items = append(items, sortItem{uid: uids[i], seq: v.seqOf(uids[i]), msgKeys: k})
		}
	}
	return items, nil
}

// readSortKeys computes the keys of the messages uids (ascending) from
// their summaries, listed in batches; nil for a message gone or
// unreadable.
func (s *session) readSortKeys(uids []uint32) ([]*msgKeys, error) {
	v := s.sel
	out := make([]*msgKeys, 0, len(uids))
	for len(uids) > 0 {
		n, span := batchLen(v, len(uids), func(i int) uint32 { return uids[i] }, DefaultMaxFetchBatch)
		batch := uids[:n]
		uids = uids[n:]
		msgs, err := s.srv.Store.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{
			MinUID: batch[0], MaxUID: batch[n-1], Limit: span, Summary: true})
		if err != nil {
			return nil, err
		}
		msgs = onlyUIDs(msgs, batch)
		envs, cache, err := s.batchEnvelopes(msgs)
		if err != nil {
			return nil, err
		}
		j := 0
		for _, u := range batch {
			if j < len(msgs) && msgs[j].UID == u {
				if envs[j] != nil { // else unreadable: not sorted
					out = append(out, newMsgKeys(&msgs[j], envs[j]))
				} else {
					out = append(out, nil)
				}
				j++
			} else {
				out = append(out, nil) // gone meanwhile
			}
		}
		if err := s.srv.Store.SetSummaries(s.ctx, cache); err != nil {
			s.log.Warn("imap: caching summaries", "err", err)
		}
	}
	return out, nil
}

// maxThreadRefs bounds the References identifiers a message's cached
// keys keep (the last ones: the parent and its nearest ancestors), as the
// sort cache bounds its entries but not their size and the field is the
// sender's.
const maxThreadRefs = 100

// newMsgKeys computes a message's sort and thread keys.
func newMsgKeys(m *store.Message, e *message.Envelope) *msgKeys {
	k := &msgKeys{arrival: m.InternalDate, size: m.Size, sent: e.Date}
	if k.sent.IsZero() {
		k.sent = m.InternalDate // RFC 5256 section 2.2
	}
	k.texts[sortSubject] = message.SortKey(message.BaseSubject(e.Subject))
	k.texts[sortFrom], k.texts[sortTo], k.texts[sortCc] = firstMailbox(e.From), firstMailbox(e.To), firstMailbox(e.Cc)
	k.texts[sortDisplayFrom], k.texts[sortDisplayTo] = displayName(e.From), displayName(e.To)
	if ids := message.MessageIDs(e.MessageID); len(ids) > 0 {
		k.msgID = ids[0]
	}
	if k.refs = message.MessageIDs(e.References); len(k.refs) == 0 {
		if irt := message.MessageIDs(e.InReplyTo); len(irt) > 0 {
			k.refs = irt[:1]
		}
	}
	if n := len(k.refs); n > maxThreadRefs {
		// The nearest ancestors, copied so neither the longer slice nor
		// the whole field stays reachable.
		kept := make([]string, maxThreadRefs)
		for i, r := range k.refs[n-maxThreadRefs:] {
			kept[i] = strings.Clone(r)
		}
		k.refs = kept
	}
	k.reply = message.IsReplyOrForward(e.Subject)
	return k
}

// batchEnvelopes returns the envelopes of a batch: decoded alone from
// the cached summaries, and for messages without a usable one from new
// summaries (read per batch, parsed, and returned to be cached). nil
// where a message could not be read.
func (s *session) batchEnvelopes(msgs []store.Message) ([]*message.Envelope, []store.SummaryUpdate, error) {
	envs := make([]*message.Envelope, len(msgs))
	var lacking []store.Message
	var at []int
	for i := range msgs {
		if e, end, err := message.UnmarshalEnvelope(msgs[i].Summary); err == nil && end == msgs[i].Size {
			envs[i] = e
		} else {
			lacking = append(lacking, msgs[i])
			at = append(at, i)
		}
	}
	if len(lacking) == 0 {
		return envs, nil, nil
	}
	sums, cache, err := s.batchSummaries(lacking, false, summaryFull)
	if err != nil {
		return nil, nil, err
	}
	for j, i := range at {
		sum := sums[j]
		if sum == nil {
			m := &lacking[j]
			body := &bodySource{s: s, m: m}
			var upd *store.SummaryUpdate
			sum, upd, err = s.summary(m, body)
			body.close()
			if err != nil {
				continue
			}
			cache = append(cache, *upd)
		}
		envs[i] = sum.Envelope
	}
	return envs, cache, nil
}

// The string keys are kept in the form i;unicode-casemap compares
// (message.SortKey): RFC 5256 §3 collates with I18NLEVEL=1's collation.

// firstMailbox is the addr-mailbox of the first address (RFC 5256 FROM,
// TO, CC).
func firstMailbox(l []message.ListedAddress) string {
	for _, a := range l {
		if a.Kind == message.AddressMailbox {
			return message.SortKey(a.Mailbox)
		}
	}
	return ""
}

// displayName is what RFC 5957 §3 sorts by: the first address's display
// name, decoded (RFC 2047), or its addr-spec when the name is absent or
// empty.
func displayName(l []message.ListedAddress) string {
	for _, a := range l {
		if a.Kind != message.AddressMailbox {
			continue
		}
		if name := strings.TrimSpace(message.DecodeWords(a.Name)); name != "" {
			return message.SortKey(name)
		}
		if a.Host == "" {
			return message.SortKey(a.Mailbox)
		}
		return message.SortKey(a.Mailbox + "@" + a.Host)
	}
	return ""
}

// compareItems orders two messages by the criteria, then by sequence
// number (RFC 5256 section 3: ties keep sequence order).
func compareItems(crit []sortCriterion, a, b *sortItem) int {
	for _, c := range crit {
		var r int
		switch c.key {
		case sortArrival:
			r = a.arrival.Compare(b.arrival)
		case sortDate:
			r = a.sent.Compare(b.sent)
		case sortSize:
			r = cmp.Compare(a.size, b.size)
		default:
			r = strings.Compare(a.texts[c.key], b.texts[c.key])
		}
		if c.reverse {
			r = -r
		}
		if r != 0 {
			return r
		}
	}
	return cmp.Compare(a.seq, b.seq)
}

// writeSort writes "* SORT n..." or, with RETURN, "* ESEARCH (TAG ...)"
// where ALL lists the numbers in sort order and MIN/MAX are the first and
// last of that order (RFC 5267 section 3.2).
func (s *session) writeSort(tag string, c *searchCmd, items []sortItem) {
	w := s.w
	num := func(it sortItem) uint64 {
		if c.uid {
			return uint64(it.uid)
		}
		return uint64(it.seq)
	}
	if !c.esearch {
		w.Raw("* SORT")
		for _, it := range items {
			w.SP()
			w.Number(num(it))
		}
		if c.modseq && len(items) > 0 {
			w.Raw(" (MODSEQ ") // RFC 7162 §3.1.9
			w.Number(c.maxModSeq)
			w.Byte(')')
		}
		w.CRLF()
		return
	}
	if c.saveOnly() {
		return // SAVE alone: no ESEARCH response (RFC 5182 §2.4)
	}
	s.writeESearchHead(tag, c.uid)
	if len(items) > 0 {
		if c.retMin {
			w.Raw(" MIN ")
			w.Number(num(items[0]))
		}
		if c.retMax {
			w.Raw(" MAX ")
			w.Number(num(items[len(items)-1]))
		}
		if c.retAll {
			w.Raw(" ALL ")
			for i, it := range items {
				if i > 0 {
					w.Byte(',')
				}
				w.Number(num(it))
			}
		}
	}
	if c.partial != nil {
		s.writePartial(c.partial, len(items), func(i int) uint32 { return uint32(num(items[i])) }, false)
	}
	if c.retCount {
		w.Raw(" COUNT ")
		w.Number(uint64(len(items)))
	}
	writeESearchModSeq(w, c, len(items))
	w.CRLF()
}

// writeESearchHead writes `* ESEARCH (TAG "tag")` and UID for a UID command.
func (s *session) writeESearchHead(tag string, uid bool) {
	s.w.Raw("* ESEARCH (TAG ")
	s.w.Quoted(tag)
	s.w.Byte(')')
	if uid {
		s.w.Raw(" UID")
	}
}
