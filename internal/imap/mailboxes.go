package imap

import (
	"errors"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/pochta-mail/pochta/internal/store"
)

// specialUses are the RFC 6154 attributes CREATE accepts.
var specialUses = []string{store.UseSent, store.UseDrafts, store.UseTrash, store.UseJunk,
	store.UseArchive, store.UseAll, store.UseFlagged}

// Create implements CREATE, with CREATE-SPECIAL-USE (RFC 6154).
func (s *session) Create(name string, options *goimap.CreateOptions) error {
	// A trailing delimiter only says the client means to create children
	// (RFC 9051 section 6.3.4).
	name = strings.TrimSuffix(name, string(store.Delimiter))
	use := ""
	if options != nil && len(options.SpecialUse) > 0 {
		if len(options.SpecialUse) > 1 {
			return no("USEATTR", "One special-use attribute per mailbox")
		}
		for _, u := range specialUses {
			if strings.EqualFold(u, string(options.SpecialUse[0])) {
				use = u
			}
		}
		if use == "" {
			return no("USEATTR", "Unsupported special-use attribute")
		}
	}
	_, err := s.srv.Store.CreateMailbox(s.ctx, s.account.ID, name, use)
	return s.fail("creating mailbox", err)
}

// Delete implements DELETE.
func (s *session) Delete(name string) error {
	err := s.srv.Store.DeleteMailbox(s.ctx, s.account.ID, name)
	switch {
	case errors.Is(err, store.ErrExists):
		return no(goimap.ResponseCodeHasChildren, "Mailbox has children; delete them first")
	case errors.Is(err, store.ErrInvalid):
		return no(goimap.ResponseCodeCannot, "INBOX cannot be deleted")
	}
	return s.fail("deleting mailbox", err)
}

// Rename implements RENAME (INBOX moves its messages; see the store).
func (s *session) Rename(from, to string, _ *goimap.RenameOptions) error {
	return s.fail("renaming mailbox", s.srv.Store.RenameMailbox(s.ctx, s.account.ID, from, to))
}

func (s *session) Subscribe(name string) error {
	return s.fail("subscribing", s.srv.Store.SetSubscribed(s.ctx, s.account.ID, name, true))
}

func (s *session) Unsubscribe(name string) error {
	return s.fail("unsubscribing", s.srv.Store.SetSubscribed(s.ctx, s.account.ID, name, false))
}

// List implements LIST (with LIST-EXTENDED, LIST-STATUS, SPECIAL-USE and
// CHILDREN) and LSUB.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *goimap.ListOptions) error {
	if len(patterns) == 0 || (len(patterns) == 1 && patterns[0] == "") {
		// LIST "" "": the hierarchy delimiter and root.
		return w.WriteList(&goimap.ListData{Attrs: []goimap.MailboxAttr{goimap.MailboxAttrNoSelect}, Delim: store.Delimiter})
	}
	mbs, err := s.srv.Store.ListMailboxes(s.ctx, s.account.ID)
	if err != nil {
		return s.fail("listing mailboxes", err)
	}
	hasChildren := map[string]bool{}
	for _, m := range mbs {
		if i := strings.LastIndexByte(m.Name, store.Delimiter); i > 0 {
			for p := m.Name[:i]; ; {
				hasChildren[p] = true
				j := strings.LastIndexByte(p, store.Delimiter)
				if j < 0 {
					break
				}
				p = p[:j]
			}
		}
	}
	ref = store.CanonicalMailboxName(ref)
	for i, p := range patterns {
		patterns[i] = store.CanonicalMailboxName(p)
	}
	for _, m := range mbs {
		if !matchAny(m.Name, ref, patterns) {
			continue
		}
		if options.SelectSubscribed && !m.Subscribed {
			continue
		}
		if options.SelectSpecialUse && m.SpecialUse == "" {
			continue
		}
		data := &goimap.ListData{Mailbox: m.Name, Delim: store.Delimiter}
		if hasChildren[m.Name] {
			data.Attrs = append(data.Attrs, goimap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, goimap.MailboxAttrHasNoChildren)
		}
		if m.Subscribed {
			data.Attrs = append(data.Attrs, goimap.MailboxAttrSubscribed)
		}
		if m.SpecialUse != "" {
			data.Attrs = append(data.Attrs, goimap.MailboxAttr(m.SpecialUse))
		}
		if options.ReturnStatus != nil {
			if data.Status, err = s.status(m, options.ReturnStatus); err != nil {
				return err
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if imapserver.MatchList(name, store.Delimiter, ref, p) {
			return true
		}
	}
	return false
}

// Status implements STATUS (with STATUS=SIZE, APPENDLIMIT, QUOTA's
// DELETED-STORAGE).
func (s *session) Status(name string, options *goimap.StatusOptions) (*goimap.StatusData, error) {
	mb, err := s.srv.Store.GetMailbox(s.ctx, s.account.ID, name)
	if err != nil {
		return nil, s.fail("status", err)
	}
	return s.status(mb, options)
}

func (s *session) status(mb store.Mailbox, options *goimap.StatusOptions) (*goimap.StatusData, error) {
	st, err := s.srv.Store.MailboxStatus(s.ctx, mb.ID)
	if err != nil {
		return nil, s.fail("status", err)
	}
	data := &goimap.StatusData{Mailbox: st.Name}
	u32 := func(n int) *uint32 { v := uint32(n); return &v }
	if options.NumMessages {
		data.NumMessages = u32(st.Messages)
	}
	if options.NumRecent {
		data.NumRecent = u32(0)
	}
	if options.UIDNext {
		data.UIDNext = goimap.UID(st.UIDNext)
	}
	if options.UIDValidity {
		data.UIDValidity = st.UIDValidity
	}
	if options.NumUnseen {
		data.NumUnseen = u32(st.Unseen)
	}
	if options.NumDeleted {
		data.NumDeleted = u32(st.Deleted)
	}
	if options.Size {
		data.Size = &st.Size
	}
	if options.AppendLimit {
		data.AppendLimit = u32(int(s.srv.appendLimit()))
	}
	if options.DeletedStorage {
		var zero int64 // expunged messages are gone at once: nothing to reclaim
		data.DeletedStorage = &zero
	}
	return data, nil
}

// Append implements APPEND: durable before OK, with APPENDUID (UIDPLUS).
func (s *session) Append(name string, r goimap.LiteralReader, options *goimap.AppendOptions) (*goimap.AppendData, error) {
	if r.Size() > s.srv.appendLimit() {
		return nil, no(goimap.ResponseCodeTooBig, "Message too large")
	}
	mb, err := s.srv.Store.GetMailbox(s.ctx, s.account.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, no(goimap.ResponseCodeTryCreate, "No such mailbox")
	} else if err != nil {
		return nil, s.fail("appending", err)
	}
	m := store.AppendMessage{Body: r, InternalDate: options.Time}
	for _, f := range options.Flags {
		if !strings.EqualFold(string(f), `\Recent`) {
			m.Flags = append(m.Flags, string(f))
		}
	}
	validity, uid, err := s.srv.Store.Append(s.ctx, mb.ID, m)
	if err != nil {
		return nil, s.fail("appending", err)
	}
	return &goimap.AppendData{UID: goimap.UID(uid), UIDValidity: validity}, nil
}
