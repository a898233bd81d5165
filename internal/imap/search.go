package imap

import (
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/imap/wire"
	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// SEARCH and UID SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4), with ESEARCH
// (RFC 4731: RETURN (MIN MAX ALL COUNT)) and SEARCHRES (RFC 5182: SAVE and
// "$"). This file parses the command and writes the answer; search_eval.go
// finds the messages, message.Matcher reads them.
//
// What the string keys look at (checked side by side with Dovecot 2.3,
// which the RFCs leave the details to):
//   - BODY: the decoded text of text/* and message/* parts (transfer
//     encoding and charset undone); no header, not even those of parts or
//     embedded messages; attachments of other types are not read.
//   - TEXT: BODY plus every header field, of the message, its parts and
//     embedded messages, as "Name: value" with RFC 2047 words decoded.
//   - HEADER, SUBJECT: the message's own fields, unfolded and decoded.
//   - FROM, TO, CC, BCC: the addresses without comments, written
//     `"Display Name" <mailbox@host>` (RFC 9051: "the envelope
//     structure's FROM field").
//   - Comparison is case-insensitive under Unicode simple case folding;
//     a message without a Date: field is sent at the epoch for SENT*.
//
// Deliberately stricter than Dovecot: the RFC 9051 §9 grammar (KEYWORD
// takes a flag-keyword, not \Seen; dates must exist), and only UTF-8 and
// US-ASCII for CHARSET (§6.4.4 requires just those; others get
// NO [BADCHARSET (UTF-8 US-ASCII)]).

const (
	// maxSearchStrings bounds the string criteria (BODY, TEXT, HEADER,
	// FROM, ...) of one SEARCH: each is compared with every octet of every
	// message searched.
	maxSearchStrings = 100
	// maxSearchDepth bounds the nesting of NOT, OR and parentheses.
	maxSearchDepth = 100
	// maxSearchKeys bounds the keys of one SEARCH: each is evaluated for
	// every message.
	maxSearchKeys = 1000
)

// keyOp is what one search key tests.
type keyOp uint8

const (
	opAll         keyOp = iota
	opAnd               // every one of sub
	opOr                // sub[0] or sub[1]
	opNot               // not sub[0]
	opSeq               // sequence number in set ("$": in the saved result)
	opUID               // UID in set
	opFlag              // has flag
	opNoFlag            // lacks flag
	opRecent            // \Recent in this session
	opNew               // \Recent and not \Seen
	opOld               // not \Recent
	opBefore            // internal date before date
	opOn                // internal date on date
	opSince             // internal date on or after date
	opSentBefore        // Date: header before date
	opSentOn            // Date: header on date
	opSentSince         // Date: header on or after date
	opLarger            // size above n
	opSmaller           // size below n
	opMatch             // string criterion number n of the matcher
	opOlder             // internal date at or before date (RFC 5032 OLDER)
	opYounger           // internal date at or after date (RFC 5032 YOUNGER)
	opEmailID           // EMAILID is n (RFC 8474)
	opThreadID          // THREADID is flag (RFC 8474)
	opSavedBefore       // save date before date (RFC 8514)
	opSavedOn           // save date on date
	opSavedSince        // save date on or after date
	opModSeq            // mod-sequence at least n (RFC 7162 §3.1.5)
	opUIDFrozen         // UID in spans, fixed when an updating search began (searchctx.go)
)

// searchKey is one node of a parsed search program.
type searchKey struct {
	op  keyOp
	sub []*searchKey
	set wire.SeqSet
	// spans is set, with "*" resolved, as sorted disjoint [lo, hi]
	// pairs (see prepareSets), so a long set costs a binary search.
	spans []uint32
	flag  string
	date  time.Time
	n     int64
}

// searchCmd is a parsed SEARCH command.
type searchCmd struct {
	uid  bool
	root *searchKey
	// queries are the string criteria, in the order opMatch keys number
	// them; sentDate says a key needs the Date: header.
	queries  []message.MatchQuery
	sentDate bool
	threads  bool // a THREADID key needs each message's envelope
	nkeys    int
	// The result options: esearch when RETURN was given (or IMAP4rev2
	// is enabled, where it is the only answer form).
	esearch                bool
	retMin, retMax, retAll bool
	retCount, retSave      bool
	partial                *partialRange // RETURN (PARTIAL range), RFC 9394
	// modseq: a MODSEQ key was given, so the answer carries the highest
	// mod-sequence of the messages found, maxModSeq (RFC 7162 §3.1.6).
	modseq    bool
	maxModSeq uint64
	// update: RETURN (UPDATE), a live result kept for the command's tag
	// (RFC 5267 §4.3, searchctx.go); tag is that tag. relTime: the
	// program has OLDER or YOUNGER, whose answer moves with the clock.
	update  bool
	tag     string
	relTime bool
}

// cmdSearch: SEARCH [RETURN (...)] [CHARSET charset] keys.
func (s *session) cmdSearch(tag string, uid bool) error {
	v := s.sel
	c := &searchCmd{uid: uid, tag: tag}
	hits, err := s.searchWith(c, func() error { return s.parseSearch(c) })
	if err != nil {
		return err
	}
	if c.update {
		s.freezeSets(c.root)
	}
	if c.retSave {
		saved := hits
		if c.partial != nil && !c.retCount {
			from, to := c.partial.window(len(hits))
			saved = hits[from:to] // RFC 9394: "$" is the page
		} else if !c.retAll && !c.retCount && (c.retMin || c.retMax) && len(hits) > 0 {
			// §2.4: with MIN and/or MAX only, only those are saved.
			saved = nil
			if c.retMin {
				saved = append(saved, hits[0])
			}
			if c.retMax && (!c.retMin || len(hits) > 1) {
				saved = append(saved, hits[len(hits)-1])
			}
		}
		v.searchRes = saved
	}
	s.writeSearch(tag, c, hits)
	if c.update {
		return s.startUpdate(c, hits, nil, nil)
	}
	return nil
}

// searchWith parses a search command with parse and runs it. A failed
// command that had RETURN (SAVE) empties "$" (RFC 5182 §2.1).
func (s *session) searchWith(c *searchCmd, parse func() error) ([]uint32, error) {
	err := parse()
	var hits []uint32
	if err == nil {
		hits, err = s.runSearch(c)
	}
	if err != nil && c.retSave {
		s.sel.searchRes = nil
	}
	return hits, err
}

// parseSearch reads the arguments of SEARCH up to the end of the command.
func (s *session) parseSearch(c *searchCmd) error {
	p := s.p
	if err := p.SP(); err != nil {
		return err
	}
	if p.AcceptFold("RETURN") {
		if err := s.parseReturn(c); err != nil {
			return err
		}
	} else {
		c.esearch = s.rev2
		c.retAll = true
	}
	if p.AcceptFold("CHARSET") {
		if err := s.spCharsetSP(); err != nil {
			return err
		}
	}
	return s.parseSearchKeys(c)
}

// spCharsetSP reads SP charset SP, as SEARCH CHARSET and SORT/THREAD
// have it, and refuses any charset but UTF-8 and US-ASCII (RFC 9051
// §6.4.4). The SP after it is checked first: a charset with no search
// key after it is a syntax error (BAD) whatever the charset.
func (s *session) spCharsetSP() error {
	if err := s.p.SP(); err != nil {
		return err
	}
	cs, err := s.p.AString()
	if err != nil {
		return err
	}
	if err := s.p.SP(); err != nil {
		return err
	}
	if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "US-ASCII") {
		return no(codeBadCharset+" (UTF-8 US-ASCII)", "Unsupported charset")
	}
	return nil
}

// parseSearchKeys reads the search keys up to the end of the command
// (and ends it) into c. SORT and THREAD (RFC 5256) reuse it: with a zero
// searchCmd{uid: uid}, then s.runSearch(c) returns the matching UIDs.
func (s *session) parseSearchKeys(c *searchCmd) error {
	p := s.p
	root := &searchKey{op: opAnd}
	for {
		k, err := s.parseKey(c, 0)
		if err != nil {
			return err
		}
		root.sub = append(root.sub, k)
		if p.AtEnd() {
			break
		}
		if err := p.SP(); err != nil {
			return err
		}
	}
	c.root = root
	return p.End()
}

// parseReturn reads " (opt ...) " after RETURN (RFC 4731 §3.1).
func (s *session) parseReturn(c *searchCmd) error {
	p := s.p
	c.esearch = true
	if err := p.SP(); err != nil {
		return err
	}
	if err := p.Expect('('); err != nil {
		return err
	}
	n := 0
	for ; !p.Accept(')'); n++ {
		if n > 0 {
			if err := p.SP(); err != nil {
				return err
			}
		}
		opt, err := p.Atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(opt) {
		case "MIN":
			c.retMin = true
		case "MAX":
			c.retMax = true
		case "ALL":
			c.retAll = true
		case "COUNT":
			c.retCount = true
		case "SAVE":
			c.retSave = true
		case "UPDATE": // RFC 5267 §4.3
			if err := s.checkUpdateTag(c.tag); err != nil {
				return err
			}
			c.update = true
		case "CONTEXT":
			// RFC 5267 §4.2: a hint that the program will be used
			// again; results are not cached, so it changes nothing.
		case "PARTIAL":
			if c.partial != nil {
				return bad("PARTIAL given twice")
			}
			if err := s.parsePartial(c); err != nil {
				return err
			}
		default:
			return bad("Unknown SEARCH return option %s", opt)
		}
	}
	if c.partial != nil && c.retAll {
		return bad("PARTIAL and ALL exclude each other") // RFC 9394 §3.1
	}
	if n == 0 {
		c.retAll = true // "RETURN ()" is "RETURN (ALL)" (RFC 4731 §3.1)
	}
	return p.SP()
}

// parseKey reads one search key (RFC 9051 §9 search-key).
func (s *session) parseKey(c *searchCmd, depth int) (*searchKey, error) {
	p := s.p
	if depth > maxSearchDepth {
		return nil, badCode(codeLimit, "Search keys nested too deeply")
	}
	if c.nkeys++; c.nkeys > maxSearchKeys {
		return nil, badCode(codeLimit, "Too many search keys")
	}
	if p.Accept('(') {
		k := &searchKey{op: opAnd}
		for {
			sub, err := s.parseKey(c, depth+1)
			if err != nil {
				return nil, err
			}
			k.sub = append(k.sub, sub)
			if p.Accept(')') {
				return k, nil
			}
			if err := p.SP(); err != nil {
				return nil, err
			}
		}
	}
	if b, ok := p.Peek(); ok && (b >= '0' && b <= '9' || b == '*' || b == '$') {
		set, err := p.SeqSet()
		return &searchKey{op: opSeq, set: set}, err
	}
	name, err := p.Atom()
	if err != nil {
		return nil, err
	}
	name = strings.ToUpper(name)
	switch name {
	case "ALL":
		return &searchKey{op: opAll}, nil
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN":
		return &searchKey{op: opFlag, flag: store.CanonicalFlag(`\` + name)}, nil
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		return &searchKey{op: opNoFlag, flag: store.CanonicalFlag(`\` + name[2:])}, nil
	case "RECENT":
		return &searchKey{op: opRecent}, nil
	case "NEW":
		return &searchKey{op: opNew}, nil
	case "OLD":
		return &searchKey{op: opOld}, nil
	case "KEYWORD", "UNKEYWORD":
		if err := p.SP(); err != nil {
			return nil, err
		}
		kw, err := p.Atom()
		if err != nil {
			return nil, err
		}
		op := opFlag
		if name == "UNKEYWORD" {
			op = opNoFlag
		}
		return &searchKey{op: op, flag: kw}, nil
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		if err := p.SP(); err != nil {
			return nil, err
		}
		d, err := p.Date()
		if err != nil {
			return nil, err
		}
		op := map[string]keyOp{"BEFORE": opBefore, "ON": opOn, "SINCE": opSince,
			"SENTBEFORE": opSentBefore, "SENTON": opSentOn, "SENTSINCE": opSentSince}[name]
		if op >= opSentBefore {
			c.sentDate = true
		}
		return &searchKey{op: op, date: d}, nil
	case "OLDER", "YOUNGER":
		// WITHIN (RFC 5032): an interval in seconds before now, now
		// being when the command was parsed. As in Dovecot, a message
		// exactly n seconds old is both OLDER n and YOUNGER n.
		if err := p.SP(); err != nil {
			return nil, err
		}
		secs, err := p.NZNumber()
		if err != nil {
			return nil, err
		}
		op := opOlder
		if name == "YOUNGER" {
			op = opYounger
		}
		c.relTime = true
		at := time.Now().Truncate(time.Second).Add(-time.Duration(secs) * time.Second)
		return &searchKey{op: op, date: at}, nil
	case "EMAILID", "THREADID":
		return s.objectIDKey(c, name)
	case "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		return s.savedDateKey(name)
	case "SAVEDATESUPPORTED":
		return &searchKey{op: opAll}, nil // every mailbox has save dates (RFC 8514 §4)
	case "LARGER", "SMALLER":
		if err := p.SP(); err != nil {
			return nil, err
		}
		n, err := p.Number64()
		if err != nil {
			return nil, err
		}
		op := opLarger
		if name == "SMALLER" {
			op = opSmaller
		}
		return &searchKey{op: op, n: int64(min(n, 1<<62))}, nil
	case "UID":
		if err := p.SP(); err != nil {
			return nil, err
		}
		set, err := p.SeqSet()
		return &searchKey{op: opUID, set: set}, err
	case "MODSEQ":
		return s.parseModSeqKey(c)
	case "NOT":
		if err := p.SP(); err != nil {
			return nil, err
		}
		sub, err := s.parseKey(c, depth+1)
		return &searchKey{op: opNot, sub: []*searchKey{sub}}, err
	case "OR":
		k := &searchKey{op: opOr}
		for range 2 {
			if err := p.SP(); err != nil {
				return nil, err
			}
			sub, err := s.parseKey(c, depth+1)
			if err != nil {
				return nil, err
			}
			k.sub = append(k.sub, sub)
		}
		return k, nil
	case "HEADER":
		if err := p.SP(); err != nil {
			return nil, err
		}
		field, err := p.AString()
		if err != nil {
			return nil, err
		}
		return s.stringKey(c, message.MatchHeader, field)
	case "SUBJECT":
		return s.stringKey(c, message.MatchHeader, "Subject")
	case "FROM", "TO", "CC", "BCC":
		return s.stringKey(c, message.MatchAddress, name)
	case "BODY":
		return s.stringKey(c, message.MatchBody, "")
	case "TEXT":
		return s.stringKey(c, message.MatchText, "")
	}
	return nil, bad("Unknown search key %s", name)
}

// parseModSeqKey reads the rest of MODSEQ [entry-name entry-type-req]
// mod-sequence-valzer (RFC 7162 §3.1.5). One mod-sequence is kept per
// message, so the entry name and type are checked and ignored, as the
// RFC says. MODSEQ enables CONDSTORE.
func (s *session) parseModSeqKey(c *searchCmd) (*searchKey, error) {
	p := s.p
	if err := p.SP(); err != nil {
		return nil, err
	}
	if ch, ok := p.Peek(); ok && (ch == '"' || ch == '{' || ch == '~') {
		if _, err := p.String(); err != nil {
			return nil, err
		}
		if err := p.SP(); err != nil {
			return nil, err
		}
		typ, err := p.Atom()
		if err != nil {
			return nil, err
		}
		if t := strings.ToLower(typ); t != "priv" && t != "shared" && t != "all" {
			return nil, bad("Unknown MODSEQ entry type %s", truncate(typ, 32))
		}
		if err := p.SP(); err != nil {
			return nil, err
		}
	}
	n, err := p.Number64()
	if err != nil {
		return nil, err
	}
	c.modseq = true
	s.enableCondstore()
	return &searchKey{op: opModSeq, n: int64(n)}, nil
}

// stringKey reads the string of a string criterion and adds it to the
// matcher's queries.
func (s *session) stringKey(c *searchCmd, kind message.MatchKind, field string) (*searchKey, error) {
	if err := s.p.SP(); err != nil {
		return nil, err
	}
	v, err := s.p.AString()
	if err != nil {
		return nil, err
	}
	if len(c.queries) >= maxSearchStrings {
		return nil, badCode(codeLimit, "Too many search strings")
	}
	c.queries = append(c.queries, message.MatchQuery{Kind: kind, Field: field, Value: v})
	return &searchKey{op: opMatch, n: int64(len(c.queries) - 1)}, nil
}

// writeSearch writes the untagged answer: "* SEARCH" (IMAP4rev1 without
// RETURN) or "* ESEARCH" (RFC 4731 §3.2; nothing when SAVE is the only
// option, RFC 5182 §2.4).
func (s *session) writeSearch(tag string, c *searchCmd, uids []uint32) {
	v, w := s.sel, s.w
	num := func(uid uint32) uint32 {
		if c.uid {
			return uid
		}
		return v.seqOf(uid)
	}
	if !c.esearch {
		w.Raw("* SEARCH")
		for _, u := range uids {
			w.SP()
			w.Number(uint64(num(u)))
		}
		if c.modseq && len(uids) > 0 {
			w.Raw(" (MODSEQ ")
			w.Number(c.maxModSeq)
			w.Byte(')')
		}
		w.CRLF()
		return
	}
	if c.saveOnly() {
		return
	}
	s.writeESearchHead(tag, c.uid)
	if len(uids) > 0 {
		if c.retMin {
			w.Raw(" MIN ")
			w.Number(uint64(num(uids[0])))
		}
		if c.retMax {
			w.Raw(" MAX ")
			w.Number(uint64(num(uids[len(uids)-1])))
		}
		if c.retAll {
			// Streamed: no copy of the numbers, no string of the set.
			w.Raw(" ALL ")
			w.NumSet(len(uids), func(i int) uint32 { return num(uids[i]) })
		}
	}
	if c.partial != nil {
		s.writePartial(c.partial, len(uids), func(i int) uint32 { return num(uids[i]) }, true)
	}
	if c.retCount {
		w.Raw(" COUNT ")
		w.Number(uint64(len(uids)))
	}
	writeESearchModSeq(w, c, len(uids))
	w.CRLF()
}

// saveOnly reports whether SAVE is the only return option: then no
// ESEARCH is sent (RFC 5182 §2.4). With UPDATE too, the ESEARCH is sent,
// even with no data, as the context's first answer.
func (c *searchCmd) saveOnly() bool {
	return c.retSave && !c.retMin && !c.retMax && !c.retAll && !c.retCount && c.partial == nil && !c.update
}

// writeESearchModSeq ends an ESEARCH answer with MODSEQ when the search
// had a MODSEQ key and found something (RFC 7162 §3.1.10).
func writeESearchModSeq(w *wire.Writer, c *searchCmd, found int) {
	if c.modseq && found > 0 {
		w.Raw(" MODSEQ ")
		w.Number(c.maxModSeq)
	}
}
