package imap

import (
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// CATENATE (RFC 4469): an APPENDed message made of TEXT literals and of
// URL parts, IMAP URLs (RFC 5092) of the user's own messages or sections
// of them, which the server copies. A URL that does not resolve fails the
// whole APPEND with NO [BADURL url]; a message over APPENDLIMIT with NO
// [TOOBIG].
//
// URLs accepted: "imap://[user@]host[:port]/" followed by a message part,
// "/" followed by one (this account's mailbox), or a message part
// relative to the selected mailbox (";UID=..."). A message part is
// mailbox [";UIDVALIDITY=" n] "/;UID=" n ["/;SECTION=" section]
// ["/;PARTIAL=" offset ["." length]], percent-encoded. The user, when
// given, must be the logged-in account; the host is not checked (a URL
// can only name this account's mail, as RFC 4469 §5 asks). URLAUTH
// (RFC 4467) is not supported: such URLs are BADURL.

// catenate reads SP "(" cat-part *(SP cat-part) ")" into m's spool.
func (a *appendState) catenate(m *spooledMessage) error {
	s := a.s
	if err := s.p.SP(); err != nil {
		return err
	}
	if err := s.p.Expect('('); err != nil {
		return err
	}
	for n := 0; ; n++ {
		if n == maxCatenateParts {
			return badCode(codeLimit, "Too many CATENATE parts")
		}
		switch {
		case s.p.AcceptFold("TEXT"):
			if err := s.p.SP(); err != nil {
				return err
			}
			if err := a.literal(m, false); err != nil {
				return err
			}
		case s.p.AcceptFold("URL"):
			if err := s.p.SP(); err != nil {
				return err
			}
			raw, err := s.p.AString()
			if err != nil {
				return err
			}
			if err := a.urlPart(m, raw); err != nil {
				return err
			}
		default:
			return bad("CATENATE parts are TEXT or URL")
		}
		if s.p.Accept(')') {
			return nil
		}
		if err := s.p.SP(); err != nil {
			return err
		}
	}
}

// imapURL is a parsed message URL.
type imapURL struct {
	mailbox     string // "" = the selected mailbox
	uidValidity uint32 // 0 = not given
	uid         uint32
	sec         fetchSection // path, spec, fields and partial of the section
}

var errBadURL = errors.New("imap: bad URL")

// parseIMAPURL parses the URLs catenate accepts (see above).
func parseIMAPURL(raw, account string) (*imapURL, error) {
	u := &imapURL{}
	rest := raw
	switch {
	case len(rest) > 7 && strings.EqualFold(rest[:7], "imap://"):
		rest = rest[7:]
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			return nil, errBadURL
		}
		authority := rest[:slash]
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			user, _, _ := strings.Cut(authority[:at], ";") // ";AUTH=..."
			user, err := url.PathUnescape(user)
			if err != nil || !strings.EqualFold(user, account) {
				return nil, errBadURL
			}
		}
		rest = rest[slash:]
		fallthrough
	case strings.HasPrefix(rest, "/"):
		i := indexFold(rest, "/;UID=")
		if i < 2 { // none, or no mailbox name before it
			return nil, errBadURL
		}
		ref := rest[1:i]
		rest = rest[i+1:]
		name, validity, found := cutFold(ref, ";UIDVALIDITY=")
		if found {
			n, err := strconv.ParseUint(validity, 10, 32)
			if err != nil || n == 0 {
				return nil, errBadURL
			}
			u.uidValidity = uint32(n)
		}
		var err error
		if u.mailbox, err = url.PathUnescape(name); err != nil || u.mailbox == "" {
			return nil, errBadURL
		}
	case len(rest) > 5 && strings.EqualFold(rest[:5], ";UID="):
	default:
		return nil, errBadURL
	}
	// rest: ";UID=n" ["/;SECTION=s"] ["/;PARTIAL=o[.l]"]
	for i, seg := range strings.Split(rest, "/") {
		key, val, ok := strings.Cut(seg, "=")
		if !ok {
			return nil, errBadURL
		}
		val, err := url.PathUnescape(val)
		if err != nil {
			return nil, errBadURL
		}
		switch key = strings.ToUpper(key); {
		case i == 0 && key == ";UID":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil || n == 0 {
				return nil, errBadURL
			}
			u.uid = uint32(n)
		case i > 0 && key == ";SECTION" && len(u.sec.path) == 0 && u.sec.spec == "":
			if !parseURLSection(&u.sec, val) {
				return nil, errBadURL
			}
		case i > 0 && key == ";PARTIAL" && !u.sec.partial:
			o, l, hasLen := strings.Cut(val, ".")
			off, err1 := strconv.ParseInt(o, 10, 64)
			n, err2 := strconv.ParseInt(l, 10, 64)
			if err1 != nil || off < 0 || hasLen && (err2 != nil || n <= 0) {
				return nil, errBadURL
			}
			if !hasLen {
				n = 1 << 62
			}
			u.sec.partial, u.sec.off, u.sec.n = true, off, n
		default:
			// ;EXPIRE=, ;URLAUTH= (RFC 4467) and anything else.
			return nil, errBadURL
		}
	}
	return u, nil
}

// parseURLSection reads a section-text of RFC 9051 (as in BODY[...]).
func parseURLSection(sec *fetchSection, v string) bool {
	for v != "" && v[0] >= '0' && v[0] <= '9' {
		num, after, dot := strings.Cut(v, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 || len(sec.path) >= maxPartDepth {
			return false
		}
		sec.path = append(sec.path, n)
		if v = after; !dot {
			return v == ""
		}
	}
	spec, fields, hasFields := strings.Cut(v, " ")
	switch spec = strings.ToUpper(spec); spec {
	case message.SpecHeader, message.SpecText:
	case message.SpecMIME:
		if len(sec.path) == 0 {
			return false
		}
	case message.SpecHeaderFields, message.SpecHeaderNot:
		if !hasFields || !strings.HasPrefix(fields, "(") || !strings.HasSuffix(fields, ")") {
			return false
		}
		sec.fields = strings.Fields(fields[1 : len(fields)-1])
		if len(sec.fields) == 0 || len(sec.fields) > maxFields {
			return false
		}
	default:
		return false
	}
	if hasFields && sec.fields == nil {
		return false
	}
	sec.spec = spec
	return true
}

// badURL is the NO [BADURL url] of RFC 4469 §5, with the URL made safe
// for a response code.
func badURL(raw string) error {
	safe := strings.Map(func(r rune) rune {
		if r < 0x20 || r == ']' || r > 0x7e {
			return -1
		}
		return r
	}, truncate(raw, 200))
	return no("BADURL "+safe, "Cannot use that URL")
}

// urlPart copies what a URL names into m's spool.
func (a *appendState) urlPart(m *spooledMessage, raw string) error {
	s := a.s
	u, err := parseIMAPURL(raw, s.account.Address)
	if err != nil {
		return badURL(raw)
	}
	var mb store.Mailbox
	switch {
	case u.mailbox != "":
		mb, err = s.srv.Store.GetMailbox(s.ctx, s.account.ID, store.CanonicalMailboxName(u.mailbox))
		if errors.Is(err, store.ErrNotFound) {
			return badURL(raw)
		} else if err != nil {
			return err
		}
	case s.sel != nil:
		mb = s.sel.mb
	default:
		return badURL(raw) // relative, and nothing selected
	}
	if u.uidValidity != 0 && u.uidValidity != mb.UIDValidity {
		return badURL(raw)
	}
	msgs, err := s.srv.Store.ListMessages(s.ctx, mb.ID, store.MessageQuery{
		MinUID: u.uid, MaxUID: u.uid, Limit: 1, Summary: true, Bodies: true})
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return badURL(raw)
	}
	src := msgs[0]
	body := &bodySource{s: s, m: &src}
	defer body.close()
	off, n := int64(0), src.Size
	if len(u.sec.path) > 0 || u.sec.spec != message.SpecNone {
		sum, upd, err := s.summary(&src, body)
		if errors.Is(err, store.ErrNotFound) {
			return badURL(raw)
		} else if err != nil {
			return err
		}
		if upd != nil {
			if err := s.srv.Store.SetSummaries(s.ctx, []store.SummaryUpdate{*upd}); err != nil {
				s.log.Warn("imap: caching summaries", "err", err) // only a cache
			}
		}
		var ok bool
		if off, n, ok = sum.Range(u.sec.path, u.sec.spec); !ok {
			return badURL(raw)
		}
	}
	// What the part adds, to check APPENDLIMIT and the quota first.
	var filtered int64 = -1
	hdrLen := n
	if u.sec.fields != nil {
		r, err := body.section(off, n)
		if err != nil {
			return urlReadError(raw, err)
		}
		if filtered, err = message.FilterHeader(io.Discard, r, u.sec.fields, u.sec.spec == message.SpecHeaderNot); err != nil {
			return urlReadError(raw, err)
		}
		n = filtered
	}
	skip, count := window(&u.sec, n)
	have := m.body.size()
	if count > a.limit(have) {
		return no("TOOBIG", "The message would exceed APPENDLIMIT")
	}
	if a.quotaLeft >= 0 && a.total+have+count > a.quotaLeft {
		return no(codeOverQuota, "Quota exceeded")
	}
	if filtered >= 0 {
		r, err := body.section(off, hdrLen)
		if err != nil {
			return urlReadError(raw, err)
		}
		// The header again, filtered into the window.
		_, err = message.FilterHeader(&windowWriter{w: m.body, skip: skip, n: count}, r, u.sec.fields, u.sec.spec == message.SpecHeaderNot)
		if err != nil {
			return urlReadError(raw, err)
		}
		return nil
	}
	r, err := body.section(off+skip, count)
	if err != nil {
		return urlReadError(raw, err)
	}
	if _, err := io.CopyN(m.body, r, count); err != nil {
		return urlReadError(raw, err)
	}
	return nil
}

// urlReadError: the URL's message could not be read. Gone meanwhile is
// BADURL; anything else is the store's failure.
func urlReadError(raw string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return badURL(raw)
	}
	return err
}

// indexFold is strings.Index, ASCII case-insensitive in sub.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// cutFold is strings.Cut with indexFold.
func cutFold(s, sep string) (before, after string, found bool) {
	if i := indexFold(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
