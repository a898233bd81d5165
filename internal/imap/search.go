package imap

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/pochta-mail/pochta/internal/store"
)

// searchBatch is how many messages a SEARCH lists from the store per query.
const searchBatch = 5000

// Search implements SEARCH and UID SEARCH, with ESEARCH's MIN, MAX, COUNT
// and ALL and SEARCHRES's SAVE. Flags, sizes and dates come from the
// listing; header and text keys read the messages they apply to.
func (s *session) Search(kind imapserver.NumKind, criteria *goimap.SearchCriteria, options *goimap.SearchOptions) (*goimap.SearchData, error) {
	v := s.sel
	var hits []uint32 // UIDs, ascending
	for from := 0; from < len(v.uids); from += searchBatch {
		batch := v.uids[from:min(len(v.uids), from+searchBatch)]
		msgs, err := s.srv.Store.ListMessages(s.ctx, v.mb.ID, store.MessageQuery{MinUID: batch[0], MaxUID: batch[len(batch)-1]})
		if err != nil {
			return nil, s.fail("searching", err)
		}
		for _, m := range onlyUIDs(msgs, batch) {
			c := candidate{s: s, m: m, seq: v.seqOf(m.UID)}
			ok, err := c.match(criteria)
			if err != nil {
				return nil, err
			}
			if ok {
				hits = append(hits, m.UID)
			}
		}
	}
	if options.ReturnSave {
		v.searchRes = hits
	}
	data := &goimap.SearchData{Count: uint32(len(hits))}
	num := func(uid uint32) uint32 {
		if kind == imapserver.NumKindUID {
			return uid
		}
		return v.seqOf(uid)
	}
	if len(hits) > 0 {
		data.Min, data.Max = num(hits[0]), num(hits[len(hits)-1])
	}
	if kind == imapserver.NumKindUID {
		var set goimap.UIDSet
		for _, u := range hits {
			set.AddNum(goimap.UID(u))
		}
		data.All = set
	} else {
		var set goimap.SeqSet
		for _, u := range hits {
			set.AddNum(v.seqOf(u))
		}
		data.All = set
	}
	return data, nil
}

// candidate is one message under test; its header and body are read at
// most once, and only if a key needs them.
type candidate struct {
	s      *session
	m      store.Message
	seq    uint32
	raw    []byte
	header *mail.Header
}

func (c *candidate) match(cr *goimap.SearchCriteria) (bool, error) {
	v := c.s.sel
	for _, set := range cr.SeqNum {
		if !containsDynamic(set, c.seq, uint32(len(v.uids))) {
			return false, nil
		}
	}
	for _, set := range cr.UID {
		if goimap.IsSearchRes(set) {
			if !containsUID(v.searchRes, c.m.UID) {
				return false, nil
			}
			continue
		}
		if !containsUIDDynamic(set, c.m.UID, v.lastUID()) {
			return false, nil
		}
	}
	if !inDateRange(c.m.InternalDate, cr.Since, cr.Before) {
		return false, nil
	}
	for _, f := range cr.Flag {
		if !c.m.HasFlag(string(f)) {
			return false, nil
		}
	}
	for _, f := range cr.NotFlag {
		if c.m.HasFlag(string(f)) {
			return false, nil
		}
	}
	if (cr.Larger != 0 && c.m.Size <= cr.Larger) || (cr.Smaller != 0 && c.m.Size >= cr.Smaller) {
		return false, nil
	}
	if len(cr.Header) > 0 || !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
		h, err := c.loadHeader()
		if err != nil {
			return false, err
		}
		for _, f := range cr.Header {
			if !matchHeader(h, f.Key, f.Value) {
				return false, nil
			}
		}
		if !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
			sent, err := h.Date()
			if err != nil || !inDateRange(sent, cr.SentSince, cr.SentBefore) {
				return false, nil
			}
		}
	}
	for _, text := range cr.Text {
		ok, err := c.contains(text, true)
		if err != nil || !ok {
			return false, err
		}
	}
	for _, text := range cr.Body {
		ok, err := c.contains(text, false)
		if err != nil || !ok {
			return false, err
		}
	}
	for i := range cr.Not {
		ok, err := c.match(&cr.Not[i])
		if err != nil || ok {
			return false, err
		}
	}
	for i := range cr.Or {
		a, err := c.match(&cr.Or[i][0])
		if err != nil {
			return false, err
		}
		if !a {
			b, err := c.match(&cr.Or[i][1])
			if err != nil || !b {
				return false, err
			}
		}
	}
	return true, nil
}

func containsDynamic(set goimap.SeqSet, seq, max uint32) bool {
	for _, r := range set {
		lo, hi := staticRange(r.Start, r.Stop, max)
		if seq >= lo && seq <= hi {
			return true
		}
	}
	return false
}

func containsUIDDynamic(set goimap.UIDSet, uid, max uint32) bool {
	for _, r := range set {
		lo, hi := staticRange(uint32(r.Start), uint32(r.Stop), max)
		if uid >= lo && uid <= hi {
			return true
		}
	}
	return false
}

func containsUID(uids []uint32, u uint32) bool {
	for _, x := range uids {
		if x == u {
			return true
		}
	}
	return false
}

// inDateRange compares dates only, as RFC 9051 section 6.4.4 asks.
func inDateRange(t, since, before time.Time) bool {
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	d := day(t)
	if !since.IsZero() && d.Before(day(since)) {
		return false
	}
	if !before.IsZero() && !d.Before(day(before)) {
		return false
	}
	return true
}

func (c *candidate) load() ([]byte, error) {
	if c.raw != nil {
		return c.raw, nil
	}
	r, err := c.s.srv.Store.OpenMessage(c.s.ctx, c.s.sel.mb.ID, c.m.UID)
	if err != nil {
		return nil, c.s.fail("searching", err)
	}
	defer r.Close()
	if c.raw, err = io.ReadAll(r); err != nil {
		return nil, c.s.fail("searching", err)
	}
	return c.raw, nil
}

func (c *candidate) loadHeader() (*mail.Header, error) {
	if c.header != nil {
		return c.header, nil
	}
	raw, err := c.load()
	if err != nil {
		return nil, err
	}
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	c.header = &mail.Header{Header: gomessage.Header{Header: h}}
	return c.header, nil
}

// matchHeader: the field exists and, when value is not empty, contains it
// case-insensitively (RFC 9051 HEADER).
func matchHeader(h *mail.Header, key, value string) bool {
	fields := h.FieldsByKey(key)
	for fields.Next() {
		if value == "" {
			return true
		}
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		if containsFold(v, value) || containsFold(fields.Value(), value) {
			return true
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// contains looks for text in the message (TEXT: header and body) or its
// body (BODY), case-insensitively, in the raw form and in the decoded
// text of each part.
func (c *candidate) contains(text string, withHeader bool) (bool, error) {
	raw, err := c.load()
	if err != nil {
		return false, err
	}
	needle := bytes.ToLower([]byte(text))
	hay := raw
	if !withHeader {
		if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
			hay = raw[i+4:]
		}
	}
	if bytes.Contains(bytes.ToLower(hay), needle) {
		return true, nil
	}
	found := false
	e, err := gomessage.Read(bytes.NewReader(raw))
	if e == nil {
		return false, nil // unparseable: the raw search above was all we could do
	}
	_ = err
	_ = e.Walk(func(_ []int, part *gomessage.Entity, _ error) error {
		if found || part == nil || strings.HasPrefix(headerType(part), "multipart/") {
			return nil
		}
		b, _ := io.ReadAll(io.LimitReader(part.Body, 16<<20))
		found = bytes.Contains(bytes.ToLower(b), needle)
		return nil
	})
	return found, nil
}

func headerType(e *gomessage.Entity) string {
	t, _, _ := e.Header.ContentType()
	return t
}
