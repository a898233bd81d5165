package imap

import (
	"errors"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// specialUses are the RFC 6154 attributes CREATE accepts.
var specialUses = []string{store.UseSent, store.UseDrafts, store.UseTrash, store.UseJunk,
	store.UseArchive, store.UseAll, store.UseFlagged}

// newMailboxArg reads SP mailbox for a name about to be created: a name
// that is not valid modified UTF-7 (for a client that has not enabled
// UTF-8) is refused rather than taken literally.
func (s *session) newMailboxArg() (string, error) {
	name, err := s.spAString()
	if err != nil {
		return "", err
	}
	if !s.utf8Names() {
		d, err := decodeMUTF7(name)
		if err != nil {
			return "", no(codeCannot, "Mailbox name is not valid modified UTF-7")
		}
		name = d
	}
	return store.CanonicalMailboxName(name), nil
}

// cmdCreate: CREATE mailbox [(USE (attr))] (RFC 9051 §6.3.4, RFC 6154).
// CREATE does not subscribe (RFC 9051 §6.3.7).
func (s *session) cmdCreate(string, bool) error {
	name, err := s.newMailboxArg()
	if err != nil {
		return err
	}
	var uses []string
	if !s.p.AtEnd() {
		if err := s.p.SP(); err != nil {
			return err
		}
		if err := s.p.Expect('('); err != nil {
			return err
		}
		if !s.p.AcceptFold("USE") {
			return badCode(codeClientBug, "Unknown CREATE parameter")
		}
		if err := s.p.SP(); err != nil {
			return err
		}
		if uses, err = s.p.FlagList(); err != nil {
			return err
		}
		if err := s.p.Expect(')'); err != nil {
			return err
		}
	}
	if err := s.p.End(); err != nil {
		return err
	}
	// A trailing delimiter only says the client means to create children
	// (RFC 9051 §6.3.4).
	name = strings.TrimSuffix(name, string(store.Delimiter))
	use := ""
	switch {
	case len(uses) > 1:
		return no(codeUseAttr, "One special-use attribute per mailbox")
	case len(uses) == 1:
		for _, u := range specialUses {
			if strings.EqualFold(u, uses[0]) {
				use = u
			}
		}
		if use == "" {
			return no(codeUseAttr, "Unsupported special-use attribute")
		}
	}
	if strings.EqualFold(name, store.InboxName) {
		return no(codeAlreadyExists, "INBOX always exists")
	}
	mb, err := s.srv.Store.CreateMailbox(s.ctx, s.account.ID, name, use)
	if err == nil {
		s.ok("MAILBOXID ("+mailboxObjectID(mb)+")", "CREATE completed") // RFC 8474 §4.1
	}
	return err
}

// cmdDelete: DELETE mailbox (§6.3.5). The subscription stays.
func (s *session) cmdDelete(string, bool) error {
	name, err := s.mailboxOnlyArg()
	if err != nil {
		return err
	}
	err = s.srv.Store.DeleteMailbox(s.ctx, s.account.ID, name)
	switch {
	case errors.Is(err, store.ErrExists):
		return no(codeHasChildren, "Mailbox has children; delete them first")
	case errors.Is(err, store.ErrInvalid):
		return no(codeCannot, "INBOX cannot be deleted")
	}
	return err
}

// cmdRename: RENAME from to (§6.3.6; INBOX moves its messages).
func (s *session) cmdRename(string, bool) error {
	from, err := s.mailboxArg()
	if err != nil {
		return err
	}
	to, err := s.newMailboxArg()
	if err != nil {
		return err
	}
	if err := s.p.End(); err != nil {
		return err
	}
	to = strings.TrimSuffix(to, string(store.Delimiter))
	if to == from {
		// The target exists: the mailbox itself (RFC 9051 §6.3.6).
		if _, err := s.srv.Store.GetMailbox(s.ctx, s.account.ID, from); err != nil {
			return err
		}
		return no(codeAlreadyExists, "Mailbox already exists")
	}
	return s.srv.Store.RenameMailbox(s.ctx, s.account.ID, from, to)
}

// cmdSubscribe: SUBSCRIBE mailbox (§6.3.7). Only an existing mailbox can
// be subscribed (the RFC allows the check; Dovecot makes it), but the
// subscription outlives it: subscriptions are names.
func (s *session) cmdSubscribe(string, bool) error {
	name, err := s.mailboxOnlyArg()
	if err != nil {
		return err
	}
	mb, err := s.srv.Store.GetMailbox(s.ctx, s.account.ID, name)
	if err != nil {
		return err
	}
	return s.srv.Store.SetSubscribed(s.ctx, s.account.ID, mb.Name, true)
}

// cmdUnsubscribe: UNSUBSCRIBE mailbox (§6.3.8).
func (s *session) cmdUnsubscribe(string, bool) error {
	name, err := s.mailboxOnlyArg()
	if err != nil {
		return err
	}
	return s.srv.Store.SetSubscribed(s.ctx, s.account.ID, name, false)
}

// statusItems are the STATUS data items, in the order asked.
type statusItems []string

// parseStatusItems reads "(" att *(SP att) ")".
func (s *session) parseStatusItems() (statusItems, error) {
	var items statusItems
	err := s.atomList(func(a string) error {
		switch a {
		case "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "APPENDLIMIT", "DELETED-STORAGE",
			"MAILBOXID":
		case "HIGHESTMODSEQ":
			s.enableCondstore() // RFC 7162 §3.1.7
		default:
			return bad("Unknown STATUS item %s", truncate(a, 32))
		}
		if len(items) > 16 {
			return bad("Too many STATUS items")
		}
		items = append(items, a)
		return nil
	})
	if err == nil && len(items) == 0 {
		err = bad("STATUS needs at least one item")
	}
	return items, err
}

// cmdStatus: STATUS mailbox (items) (§6.3.11, RFC 8438 SIZE, RFC 7889
// APPENDLIMIT, RFC 9208 DELETED-STORAGE, RFC 7162 HIGHESTMODSEQ).
func (s *session) cmdStatus(string, bool) error {
	name, err := s.mailboxArg()
	if err != nil {
		return err
	}
	if err := s.p.SP(); err != nil {
		return err
	}
	items, err := s.parseStatusItems()
	if err != nil {
		return err
	}
	if err := s.p.End(); err != nil {
		return err
	}
	mb, err := s.srv.Store.GetMailbox(s.ctx, s.account.ID, name)
	if err != nil {
		return err
	}
	return s.writeStatus(mb, items)
}

func (s *session) writeStatus(mb store.Mailbox, items statusItems) error {
	st, err := s.srv.Store.MailboxStatus(s.ctx, mb.ID)
	if err != nil {
		return err
	}
	s.w.Raw("* STATUS ")
	s.writeMailbox(st.Name)
	s.w.Raw(" (")
	for i, it := range items {
		if i > 0 {
			s.w.SP()
		}
		s.w.Raw(it)
		s.w.SP()
		if it == "MAILBOXID" {
			s.w.Raw("(" + mailboxObjectID(mb) + ")") // RFC 8474 §4.3
			continue
		}
		var n int64
		switch it {
		case "MESSAGES":
			n = int64(st.Messages)
		case "RECENT":
			n = int64(st.Recent)
			if v := s.sel; v != nil && v.mb.ID == mb.ID && !s.rev2 {
				n += int64(v.recentCount()) // this session's own
			}
		case "UIDNEXT":
			n = int64(st.UIDNext)
		case "UIDVALIDITY":
			n = int64(st.UIDValidity)
		case "UNSEEN":
			n = int64(st.Unseen)
		case "DELETED":
			n = int64(st.Deleted)
		case "SIZE":
			n = st.Size
		case "APPENDLIMIT":
			n = s.srv.appendLimit()
		case "DELETED-STORAGE":
			n = 0 // expunged messages are gone at once: nothing to reclaim
		case "HIGHESTMODSEQ":
			n = int64(st.ModSeq)
		}
		s.w.Number(uint64(n))
	}
	s.w.Raw(")\r\n")
	return nil
}

// listOptions are LIST's selection and return options (RFC 5258, RFC
// 6154, RFC 5819).
type listOptions struct {
	subscribed, recursive, specialUse bool // selection
	retSubscribed, retChildren        bool // return
	status                            statusItems
	lsub                              bool
}

// maxPatterns bounds the patterns of one LIST.
const maxPatterns = 32

// cmdList: LIST [(select-opts)] reference patterns [RETURN (opts)].
func (s *session) cmdList(string, bool) error {
	if err := s.p.SP(); err != nil {
		return err
	}
	var o listOptions
	if c, ok := s.p.Peek(); ok && c == '(' {
		if err := s.parseListSelect(&o); err != nil {
			return err
		}
		if err := s.p.SP(); err != nil {
			return err
		}
	}
	ref, err := s.p.AString()
	if err != nil {
		return err
	}
	if err := s.p.SP(); err != nil {
		return err
	}
	var patterns []string
	if c, ok := s.p.Peek(); ok && c == '(' {
		err := s.parenList(func() error {
			p, err := s.p.ListMailbox()
			if len(patterns) >= maxPatterns {
				return badCode(codeLimit, "Too many patterns")
			}
			patterns = append(patterns, p)
			return err
		})
		if err != nil {
			return err
		}
	} else {
		p, err := s.p.ListMailbox()
		if err != nil {
			return err
		}
		patterns = append(patterns, p)
	}
	if !s.p.AtEnd() {
		if err := s.p.SP(); err != nil {
			return err
		}
		if !s.p.AcceptFold("RETURN") {
			return bad("Expected RETURN")
		}
		if err := s.p.SP(); err != nil {
			return err
		}
		if err := s.parseListReturn(&o); err != nil {
			return err
		}
	}
	if err := s.p.End(); err != nil {
		return err
	}
	return s.list(ref, patterns, o)
}

func (s *session) parseListSelect(o *listOptions) error {
	other := false
	err := s.atomList(func(a string) error {
		switch a {
		case "SUBSCRIBED":
			o.subscribed, other = true, true
		case "RECURSIVEMATCH":
			o.recursive = true
		case "SPECIAL-USE":
			o.specialUse, other = true, true
		case "REMOTE":
			// No remote mailboxes here (RFC 5258 §3.1): nothing to add.
		default:
			return bad("Unknown LIST selection option")
		}
		return nil
	})
	if err == nil && o.recursive && !other {
		// RFC 5258 §3.1: RECURSIVEMATCH alone is an error.
		return bad("RECURSIVEMATCH needs another selection option")
	}
	return err
}

func (s *session) parseListReturn(o *listOptions) error {
	return s.atomList(func(a string) error {
		var err error
		switch a {
		case "SUBSCRIBED":
			o.retSubscribed = true
		case "CHILDREN":
			o.retChildren = true
		case "SPECIAL-USE":
			// Special-use attributes are always returned.
		case "STATUS":
			if err = s.p.SP(); err == nil {
				o.status, err = s.parseStatusItems()
			}
		default:
			err = bad("Unknown LIST return option")
		}
		return err
	})
}

// cmdLsub: LSUB reference pattern (RFC 3501 §6.3.9).
func (s *session) cmdLsub(string, bool) error {
	ref, err := s.spAString()
	if err != nil {
		return err
	}
	if err := s.p.SP(); err != nil {
		return err
	}
	pat, err := s.p.ListMailbox()
	if err != nil {
		return err
	}
	if err := s.p.End(); err != nil {
		return err
	}
	return s.list(ref, []string{pat}, listOptions{lsub: true, subscribed: true})
}

// listEntry is one name LIST may return.
type listEntry struct {
	name       string
	mb         *store.Mailbox // nil: the name is not a mailbox
	subscribed bool
	children   bool // has child mailboxes
	subChild   bool // has a subscribed descendant
}

// list answers LIST and LSUB.
func (s *session) list(ref string, patterns []string, o listOptions) error {
	ref = s.decodeName(ref)
	if len(patterns) == 1 && patterns[0] == "" && !o.lsub {
		// LIST "" "": the hierarchy delimiter and root (RFC 9051 §6.3.9).
		s.w.Raw(`* LIST (\Noselect) "/" ""` + "\r\n")
		return nil
	}
	for i, p := range patterns {
		// A pattern that is not modified UTF-7 matches literally.
		patterns[i] = s.decodeName(ref + p)
	}
	mbs, err := s.srv.Store.ListMailboxes(s.ctx, s.account.ID)
	if err != nil {
		return err
	}
	var subs []string
	if o.subscribed || o.retSubscribed || o.lsub {
		if subs, err = s.srv.Store.Subscriptions(s.ctx, s.account.ID); err != nil {
			return err
		}
	}
	entries := map[string]*listEntry{}
	entry := func(name string) *listEntry {
		e := entries[name]
		if e == nil {
			e = &listEntry{name: name}
			entries[name] = e
		}
		return e
	}
	for i := range mbs {
		e := entry(mbs[i].Name)
		e.mb = &mbs[i]
		for p := parentOf(e.name); p != ""; p = parentOf(p) {
			entry(p).children = true
		}
	}
	for _, n := range subs {
		e := entry(n)
		e.subscribed = true
		for p := parentOf(n); p != ""; p = parentOf(p) {
			entry(p).subChild = true
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		e := entries[n]
		if !matchAny(n, patterns) {
			continue
		}
		if err := s.listOne(e, o, patterns); err != nil {
			return err
		}
	}
	if o.lsub {
		var pct []string
		for _, p := range patterns {
			if strings.Contains(p, "%") {
				pct = append(pct, p)
			}
		}
		s.lsubParents(entries, pct)
	}
	return s.w.Err()
}

// lsubParents writes, for LSUB with "%", the unsubscribed levels above
// subscribed names that the pattern does not reach, as \Noselect (RFC
// 3501 §6.3.9).
func (s *session) lsubParents(entries map[string]*listEntry, patterns []string) {
	var names []string
	for n, e := range entries {
		if e.subChild && !e.subscribed && matchAny(n, patterns) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		s.w.Raw(`* LSUB (\Noselect) "/" `)
		s.writeMailbox(n)
		s.w.CRLF()
	}
}

func (s *session) listOne(e *listEntry, o listOptions, patterns []string) error {
	selected := e.mb != nil
	if o.subscribed {
		selected = e.subscribed
	}
	if o.specialUse {
		selected = selected && e.mb != nil && e.mb.SpecialUse != ""
	}
	childInfo := o.recursive && o.subscribed && e.subChild
	if !selected && !childInfo {
		return nil
	}
	if o.lsub && !e.subscribed {
		return nil // parents come from lsubParents
	}
	var attrs []string
	if e.mb == nil {
		if e.children || o.lsub {
			if !o.lsub {
				attrs = append(attrs, `\Noselect`)
			}
		} else {
			attrs = append(attrs, `\NonExistent`)
		}
	}
	if !o.lsub {
		if e.children {
			attrs = append(attrs, `\HasChildren`)
		} else if e.mb != nil {
			attrs = append(attrs, `\HasNoChildren`)
		}
		if e.subscribed && (o.subscribed || o.retSubscribed) {
			attrs = append(attrs, `\Subscribed`)
		}
	}
	if e.mb != nil && e.mb.SpecialUse != "" {
		attrs = append(attrs, e.mb.SpecialUse)
	}
	if o.lsub {
		s.w.Raw("* LSUB ")
	} else {
		s.w.Raw("* LIST ")
	}
	s.writeFlagList(attrs)
	s.w.Raw(` "/" `)
	s.writeMailbox(e.name)
	if childInfo {
		s.w.Raw(` ("CHILDINFO" ("SUBSCRIBED"))`)
	}
	s.w.CRLF()
	if len(o.status) > 0 && e.mb != nil {
		return s.writeStatus(*e.mb, o.status)
	}
	return nil
}

func parentOf(name string) string {
	i := strings.LastIndexByte(name, store.Delimiter)
	if i <= 0 {
		return ""
	}
	return name[:i]
}

func matchAny(name string, patterns []string) bool {
	for _, p := range patterns {
		if matchPattern(name, p) {
			return true
		}
	}
	return false
}

// maxPattern bounds a pattern's length: longer ones match nothing, so
// matching stays cheap (names are at most 512 octets).
const maxPattern = 1024

// matchPattern reports whether name matches a LIST pattern: "*" matches
// anything, "%" anything but the delimiter (RFC 9051 §6.3.9). A dynamic
// programme over the two strings: O(len(name)·len(pattern)), no
// backtracking blow-up.
func matchPattern(name, pattern string) bool {
	if len(pattern) > maxPattern {
		return false
	}
	// ok[j]: pattern[:i] matches name[:j], for the current i.
	ok := make([]bool, len(name)+1)
	ok[0] = true
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '*', '%':
			// ok[j] |= ok[j-1] when name[j-1] may be swallowed.
			for j := 1; j <= len(name); j++ {
				if !ok[j] && ok[j-1] && (c == '*' || name[j-1] != store.Delimiter) {
					ok[j] = true
				}
			}
		default:
			for j := len(name); j >= 1; j-- {
				ok[j] = ok[j-1] && name[j-1] == c
			}
			ok[0] = false
		}
	}
	return ok[len(name)]
}
