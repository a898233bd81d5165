package delivery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/sieve"
	"github.com/pochta-mail/pochta/internal/store"
)

// RefilterStore is what re-filtering stored mail reads and changes.
type RefilterStore interface {
	store.Mailboxes
}

// RefilterResult is the filter's decision for one stored message and,
// when applied, what was done.
type RefilterResult struct {
	UID     uint32
	Actions []string // "keep", "fileinto Lists/Go flags=\Seen", "discard (left in place)", ...
	Moved   bool     // applied: the message left the mailbox
	Err     error    // the script failed on the message: left as it was
}

// RefilterOptions say what Refilter filters and whether it changes
// anything.
type RefilterOptions struct {
	Mailbox string   // the mailbox whose messages are filtered
	UIDs    []uint32 // only these messages of it (`pochta import --sieve`); nil = all
	Apply   bool     // file and flag; false only reports (a dry run)
}

// Refilter runs f over the messages of an account's mailbox as if they
// arrived now (`pochta sieve run`), as Pigeonhole's sieve-filter does
// with -e -W. Dry (apply false) it only reports; applied, fileinto copies
// or moves messages (creating mailboxes for :create) and flags are added.
// A copy whose header the script edited (editheader) is stored as a new
// message, with the edited header, the body as stored and the original's
// flags and date; the original then leaves the mailbox unless a keep
// leaves it there unedited. Duplicate tests are false and record nothing
// (FilterInput.Stored). What only makes sense at arrival is reported and
// skipped: discard leaves the message where it is, and no redirect,
// vacation reply or reject is sent. A message on which the script fails
// (a runtime error) is left as it is, reported with Err, and the run
// goes on; other errors stop it.
func Refilter(ctx context.Context, st RefilterStore, f Filter, acct store.Account, opt RefilterOptions,
	each func(RefilterResult) error) error {
	mb, err := st.GetMailbox(ctx, acct.ID, opt.Mailbox)
	if err != nil {
		return err
	}
	var q store.MessageQuery
	uids := slices.Sorted(slices.Values(opt.UIDs))
	if opt.UIDs != nil {
		if len(uids) == 0 {
			return nil
		}
		q.MinUID, q.MaxUID = uids[0], uids[len(uids)-1]
	}
	msgs, err := st.ListMessages(ctx, mb.ID, q)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if _, found := slices.BinarySearch(uids, m.UID); opt.UIDs != nil && !found {
			continue
		}
		h, truncated, err := storedHeader(ctx, st, mb.ID, m.UID)
		if errors.Is(err, store.ErrNotFound) {
			continue // expunged meanwhile
		} else if err != nil {
			return err
		}
		size := m.Size
		uid := m.UID
		in := &FilterInput{Account: acct, To: acct.Address, Header: h, Size: func() int64 { return size },
			Raw:    func(max int) ([]byte, error) { return storedPrefix(ctx, st, mb.ID, uid, max) },
			Stored: true}
		if rp := h.Addresses("Return-Path"); len(rp) > 0 {
			in.From = rp[0]
		}
		dec, err := f.Filter(ctx, in)
		if errors.Is(err, sieve.ErrRuntime) {
			// As at delivery: a script that fails keeps the message
			// (RFC 5228 2.10.6), here where it is; the run goes on.
			if err := each(RefilterResult{UID: m.UID, Actions: []string{"keep (" + err.Error() + ")"}, Err: err}); err != nil {
				return err
			}
			continue
		} else if err != nil {
			return fmt.Errorf("message %d: %w", m.UID, err)
		}
		if truncated {
			// The script saw only the first DefaultMaxHeader octets of
			// the header: an edit of it would lose the rest.
			for i := range dec.Targets {
				dec.Targets[i].Header = nil
			}
		}
		res := RefilterResult{UID: m.UID, Actions: describe(dec)}
		if opt.Apply {
			if res.Moved, err = applyDecision(ctx, st, mb, m, dec); err != nil {
				return fmt.Errorf("message %d: %w", m.UID, err)
			}
		}
		if err := each(res); err != nil {
			return err
		}
	}
	return nil
}

// storedPrefix reads the first max octets of a stored message.
func storedPrefix(ctx context.Context, st RefilterStore, mailboxID int64, uid uint32, max int) ([]byte, error) {
	r, err := st.OpenMessage(ctx, mailboxID, uid)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, int64(max)))
}

// storedHeader parses a stored message's header section, of which at
// most DefaultMaxHeader octets are read (truncated when there was more).
func storedHeader(ctx context.Context, st RefilterStore, mailboxID int64, uid uint32) (h *Header, truncated bool, err error) {
	r, err := st.OpenMessage(ctx, mailboxID, uid)
	if err != nil {
		return nil, false, err
	}
	defer r.Close()
	head, err := message.ReadHeader(bufio.NewReader(r), DefaultMaxHeader)
	if err != nil && !errors.Is(err, message.ErrHeaderTooLarge) {
		return nil, false, err
	}
	return ParseHeader(head), err != nil, nil
}

func describe(dec Decision) []string {
	var out []string
	for _, t := range dec.Targets {
		s := "keep"
		if t.Mailbox != "" {
			s = "fileinto " + t.Mailbox
		}
		if len(t.Flags) > 0 {
			s += " flags=" + strings.Join(t.Flags, ",")
		}
		if t.Header != nil {
			s += " (header edited)"
		}
		out = append(out, s)
	}
	if len(dec.Targets) == 0 {
		out = append(out, "discard (left in place)")
	}
	for _, r := range dec.Redirects {
		out = append(out, "redirect "+r+" (not sent)")
	}
	if len(dec.Replies) > 0 {
		out = append(out, "vacation (not sent)")
	}
	if dec.Reject != "" {
		out = append(out, "reject (not sent)")
	}
	return out
}

// refiled is one copy applyDecision makes.
type refiled struct {
	mb     store.Mailbox
	flags  []string
	header []byte // edited header: stored as a new message
}

// applyDecision files one message as dec says. A target that leaves it
// where it is, unedited, keeps it (with the target's flags); a mailbox
// that cannot be used means that too, as at delivery. Every other target
// gets a copy, or a new message when its header was edited; then the
// message leaves the mailbox unless kept: moved by the last unedited
// copy, else expunged once the edited copies are stored.
func applyDecision(ctx context.Context, st RefilterStore, src store.Mailbox, m store.Message, dec Decision) (moved bool, err error) {
	var stay []string
	var copies []refiled
	keep := false
	for _, t := range dec.Targets {
		mb := src
		if name := store.CanonicalMailboxName(t.Mailbox); name != "" && name != src.Name {
			mb, err = st.GetMailbox(ctx, src.AccountID, name)
			if errors.Is(err, store.ErrNotFound) && t.Create {
				mb, err = st.CreateMailbox(ctx, src.AccountID, name, "")
			}
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
				mb = src // as at delivery: a mailbox that cannot be used means keep
			} else if err != nil {
				return false, err
			}
		}
		if mb.ID == src.ID && t.Header == nil {
			keep = true
			stay = append(stay, t.Flags...)
			continue
		}
		copies = append(copies, refiled{mb, t.Flags, t.Header})
	}
	if len(copies) == 0 {
		if len(stay) > 0 {
			_, err = st.UpdateFlags(ctx, src.ID, []uint32{m.UID}, store.FlagsAdd, stay)
		}
		return false, err
	}
	move := -1 // the copy that moves the message
	if !keep {
		for i, c := range copies {
			if c.header == nil {
				move = i
			}
		}
	}
	// The copies that read the message first, the move last.
	for i, c := range copies {
		if i == move {
			continue
		}
		if c.header != nil {
			err = storeEdited(ctx, st, src.ID, m, c)
		} else {
			err = copyFlagged(ctx, st, src.ID, m.UID, c, st.CopyMessages)
		}
		if err != nil {
			return false, err
		}
	}
	if len(stay) > 0 {
		if _, err := st.UpdateFlags(ctx, src.ID, []uint32{m.UID}, store.FlagsAdd, stay); err != nil {
			return false, err
		}
	}
	switch {
	case keep:
		return false, nil
	case move >= 0:
		return true, copyFlagged(ctx, st, src.ID, m.UID, copies[move], st.MoveMessages)
	}
	// Only edited copies: the original goes as IMAP would expunge it.
	if _, err := st.UpdateFlags(ctx, src.ID, []uint32{m.UID}, store.FlagsAdd, []string{`\Deleted`}); err != nil {
		return false, err
	}
	_, err = st.Expunge(ctx, src.ID, []uint32{m.UID})
	return err == nil, err
}

// copyFlagged copies or moves a message into c.mb and adds c.flags.
func copyFlagged(ctx context.Context, st RefilterStore, srcID int64, uid uint32, c refiled,
	op func(ctx context.Context, mailboxID int64, uids []uint32, destID int64) (store.CopyResult, error)) error {
	res, err := op(ctx, srcID, []uint32{uid}, c.mb.ID)
	if err != nil {
		return err
	}
	if len(c.flags) > 0 && len(res.Dest) == 1 {
		_, err = st.UpdateFlags(ctx, c.mb.ID, res.Dest, store.FlagsAdd, c.flags)
	}
	return err
}

// storeEdited stores message m of mailbox srcID again into c.mb with the
// header c.header: the body as stored, the original's flags (and the
// target's) and internal date.
func storeEdited(ctx context.Context, st RefilterStore, srcID int64, m store.Message, c refiled) error {
	r, err := st.OpenMessage(ctx, srcID, m.UID)
	if err != nil {
		return err
	}
	defer r.Close()
	br := bufio.NewReader(r)
	if _, err := message.ReadHeader(br, DefaultMaxHeader); err != nil {
		return err // Refilter drops the edits of a header over the bound
	}
	flags := slices.Clone(m.Flags)
	for _, f := range c.flags {
		if !slices.ContainsFunc(flags, func(g string) bool { return strings.EqualFold(f, g) }) {
			flags = append(flags, f)
		}
	}
	// Binary: the body goes back byte for byte, as it was stored.
	_, _, err = st.Append(ctx, c.mb.ID, store.AppendMessage{Flags: flags, InternalDate: m.InternalDate, Binary: true,
		Body: io.MultiReader(bytes.NewReader(c.header), strings.NewReader("\r\n"), br)})
	return err
}
