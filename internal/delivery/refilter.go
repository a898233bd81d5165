package delivery

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pochta-mail/pochta/internal/message"
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
}

// Refilter runs f over the messages of an account's mailbox as if they
// arrived now (`pochta sieve run`). Dry (apply false) it only reports;
// applied, fileinto copies or moves messages (creating mailboxes for
// :create) and flags are added. What only makes sense at arrival is
// reported and skipped: discard leaves the message where it is, and no
// redirect, vacation reply or reject is sent.
func Refilter(ctx context.Context, st RefilterStore, f Filter, acct store.Account, mailbox string, apply bool,
	each func(RefilterResult) error) error {
	mb, err := st.GetMailbox(ctx, acct.ID, mailbox)
	if err != nil {
		return err
	}
	msgs, err := st.ListMessages(ctx, mb.ID, store.MessageQuery{})
	if err != nil {
		return err
	}
	for _, m := range msgs {
		h, err := storedHeader(ctx, st, mb.ID, m.UID)
		if errors.Is(err, store.ErrNotFound) {
			continue // expunged meanwhile
		} else if err != nil {
			return err
		}
		size := m.Size
		uid := m.UID
		in := &FilterInput{Account: acct, To: acct.Address, Header: h, Size: func() int64 { return size },
			Raw: func(max int) ([]byte, error) { return storedPrefix(ctx, st, mb.ID, uid, max) }}
		if rp := h.Addresses("Return-Path"); len(rp) > 0 {
			in.From = rp[0]
		}
		dec, err := f.Filter(ctx, in)
		if err != nil {
			return fmt.Errorf("message %d: %w", m.UID, err)
		}
		res := RefilterResult{UID: m.UID, Actions: describe(dec)}
		if apply {
			if res.Moved, err = applyDecision(ctx, st, mb, m.UID, dec); err != nil {
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

func storedHeader(ctx context.Context, st RefilterStore, mailboxID int64, uid uint32) (*Header, error) {
	r, err := st.OpenMessage(ctx, mailboxID, uid)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	head, err := message.ReadHeader(bufio.NewReader(r), DefaultMaxHeader)
	if err != nil && !errors.Is(err, message.ErrHeaderTooLarge) {
		return nil, err
	}
	return ParseHeader(head), nil
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

// applyDecision files one message as dec says: copies for every target
// but the first, then the first moves the message unless it stays (a
// keep, or fileinto its own mailbox, or a mailbox that does not exist).
func applyDecision(ctx context.Context, st RefilterStore, src store.Mailbox, uid uint32, dec Decision) (moved bool, err error) {
	type dest struct {
		mb    store.Mailbox
		flags []string
	}
	var stay []string
	var others []dest
	keep := false
	for _, t := range dec.Targets {
		name := store.CanonicalMailboxName(t.Mailbox)
		if name == "" || name == src.Name {
			keep = true
			stay = append(stay, t.Flags...)
			continue
		}
		mb, err := st.GetMailbox(ctx, src.AccountID, name)
		if errors.Is(err, store.ErrNotFound) && t.Create {
			mb, err = st.CreateMailbox(ctx, src.AccountID, name, "")
		}
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
			keep = true // as at delivery: a mailbox that cannot be used means keep
			stay = append(stay, t.Flags...)
			continue
		} else if err != nil {
			return false, err
		}
		others = append(others, dest{mb, t.Flags})
	}
	// Copies first: they take the message's flags as they are now.
	for i, d := range others {
		var res store.CopyResult
		if i == len(others)-1 && !keep {
			res, err = st.MoveMessages(ctx, src.ID, []uint32{uid}, d.mb.ID)
			moved = true
		} else {
			res, err = st.CopyMessages(ctx, src.ID, []uint32{uid}, d.mb.ID)
		}
		if err != nil {
			return false, err
		}
		if len(d.flags) > 0 && len(res.Dest) == 1 {
			if _, err := st.UpdateFlags(ctx, d.mb.ID, res.Dest, store.FlagsAdd, d.flags); err != nil {
				return moved, err
			}
		}
	}
	if len(stay) > 0 {
		if _, err := st.UpdateFlags(ctx, src.ID, []uint32{uid}, store.FlagsAdd, stay); err != nil {
			return moved, err
		}
	}
	return moved, nil
}
