package imap

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/pochta-mail/pochta/internal/store"
)

// view is the selected mailbox as this client knows it: uids[i] is the
// UID of message sequence number i+1. It changes only when the client is
// told (EXISTS, EXPUNGE), so sequence numbers stay consistent for it.
type view struct {
	s        *session
	mb       store.Mailbox
	readOnly bool
	uids     []uint32
	// modseq is the mailbox mod-sequence the view reflects; expungeCheck
	// says a poll that could not send EXPUNGE saw a change, so the next
	// one that can must look for removed messages even if modseq is
	// unchanged.
	modseq       uint64
	expungeCheck bool
	// own are mod-sequences of this session's STOREs since the last
	// poll: their FETCH responses were already sent (or suppressed by
	// .SILENT), so the poll does not repeat them.
	own       []uint64
	sub       *store.Subscription
	searchRes []uint32 // SEARCHRES "$", as UIDs

	// IDLE: the writer pushes use until the next command (see Idle).
	idleMu   sync.Mutex
	idleW    *imapserver.UpdateWriter
	idleStop <-chan struct{}
	pushing  atomic.Bool
}

func (v *view) close() {
	v.endIdle()
	v.sub.Close()
}

func (v *view) lastUID() uint32 {
	if len(v.uids) == 0 {
		return 0
	}
	return v.uids[len(v.uids)-1]
}

// seqOf returns the sequence number of uid, or 0 when the view lacks it.
func (v *view) seqOf(uid uint32) uint32 {
	i, ok := slices.BinarySearch(v.uids, uid)
	if !ok {
		return 0
	}
	return uint32(i) + 1
}

// Select opens a mailbox: a new view, subscribed to the account's events.
func (s *session) Select(name string, options *goimap.SelectOptions) (*goimap.SelectData, error) {
	if s.sel != nil {
		s.sel.close()
		s.sel = nil
	}
	st := s.srv.Store
	mb, err := st.GetMailbox(s.ctx, s.account.ID, name)
	if err != nil {
		return nil, s.fail("selecting", err)
	}
	v := &view{s: s, mb: mb, readOnly: options != nil && options.ReadOnly}
	// Subscribe before reading, so a change between the read and the
	// subscription still wakes the view.
	v.sub = st.Subscribe(s.account.ID)
	if v.modseq, err = st.MailboxModSeq(s.ctx, mb.ID); err == nil {
		v.uids, err = st.ListUIDs(s.ctx, mb.ID)
	}
	if err == nil {
		mb, err = st.GetMailbox(s.ctx, s.account.ID, name) // UIDNEXT after the listing
	}
	if err != nil {
		v.close()
		return nil, s.fail("selecting", err)
	}
	v.mb = mb
	s.sel = v
	flags := []goimap.Flag{goimap.FlagSeen, goimap.FlagAnswered, goimap.FlagFlagged, goimap.FlagDeleted, goimap.FlagDraft}
	perm := append(slices.Clone(flags), goimap.FlagWildcard)
	if v.readOnly {
		perm = nil
	}
	return &goimap.SelectData{
		Flags:          flags,
		PermanentFlags: perm,
		NumMessages:    uint32(len(v.uids)),
		UIDNext:        goimap.UID(mb.UIDNext),
		UIDValidity:    mb.UIDValidity,
	}, nil
}

// Unselect closes the view (UNSELECT, CLOSE).
func (s *session) Unselect() error {
	if s.sel != nil {
		s.sel.close()
		s.sel = nil
	}
	return nil
}

// Poll reports what changed since the client last heard (after most
// commands, and for NOOP).
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil {
		return nil
	}
	return s.sel.update(s.ctx, w, allowExpunge)
}

// Idle pushes changes as they happen until the client sends DONE.
//
// It returns at once instead of parking a goroutine for the whole IDLE
// (the library reads DONE on its own goroutine and only collects Idle's
// result then): the subscription's OnChange starts a short-lived push
// for each change. At 10,000 IDLE connections that is 10,000 goroutines
// fewer.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.sel == nil {
		select {
		case <-stop:
		case <-s.ctx.Done():
		}
		return nil
	}
	v := s.sel
	if err := detachErr(s, func() error { return v.update(s.ctx, w, true) }); err != nil {
		return err
	}
	v.idleMu.Lock()
	v.idleW, v.idleStop = w, stop
	v.idleMu.Unlock()
	v.sub.OnChange(v.pushSoon)
	return nil
}

// pushSoon runs on the publisher's goroutine: it only starts a push,
// unless one is already pending.
func (v *view) pushSoon() {
	if v.pushing.CompareAndSwap(false, true) {
		go v.push()
	}
}

// push writes what changed to an IDLE client.
func (v *view) push() {
	v.pushing.Store(false)
	v.idleMu.Lock()
	defer v.idleMu.Unlock()
	if v.idleW == nil || !v.sub.Changed(v.mb.ID) {
		return
	}
	select {
	case <-v.idleStop: // DONE arrived: the next command resumes polling
		v.idleW = nil
		return
	default:
	}
	if err := v.update(v.s.ctx, v.idleW, true); err != nil {
		v.s.logger().Info("imap: pushing changes during IDLE", "err", err)
	}
}

// endIdle stops pushes before a command touches the view; it waits for a
// push in progress.
func (v *view) endIdle() {
	v.sub.OnChange(nil)
	v.idleMu.Lock()
	v.idleW = nil
	v.idleMu.Unlock()
}

// update compares the view with the store and tells the client: FETCH
// FLAGS for changed messages, EXPUNGE for removed ones (when allowed),
// EXISTS for new ones.
func (v *view) update(ctx context.Context, w *imapserver.UpdateWriter, allowExpunge bool) error {
	st := v.s.srv.Store
	cur, err := st.MailboxModSeq(ctx, v.mb.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted or renamed away; commands on it fail
	} else if err != nil {
		return v.s.fail("checking for changes", err)
	}
	if cur == v.modseq && !(allowExpunge && v.expungeCheck) {
		return nil
	}
	if allowExpunge {
		if err := v.expunged(ctx, w); err != nil {
			return err
		}
	} else if cur != v.modseq {
		v.expungeCheck = true
	}
	if cur != v.modseq && len(v.uids) > 0 {
		changed, err := st.ListMessages(ctx, v.mb.ID, store.MessageQuery{SinceModSeq: v.modseq, MaxUID: v.lastUID()})
		if err != nil {
			return v.s.fail("checking for changes", err)
		}
		for _, m := range changed {
			seq := v.seqOf(m.UID)
			if seq == 0 || slices.Contains(v.own, m.ModSeq) {
				continue
			}
			if err := w.WriteMessageFlags(seq, goimap.UID(m.UID), imapFlags(m.Flags)); err != nil {
				return err
			}
		}
	}
	v.own = v.own[:0]
	fresh, err := st.ListMessages(ctx, v.mb.ID, store.MessageQuery{MinUID: v.lastUID() + 1})
	if err != nil {
		return v.s.fail("checking for changes", err)
	}
	if len(fresh) > 0 {
		for _, m := range fresh {
			v.uids = append(v.uids, m.UID)
		}
		if err := w.WriteNumMessages(uint32(len(v.uids))); err != nil {
			return err
		}
	}
	v.modseq = cur
	return nil
}

// expunged removes from the view the messages the store no longer has,
// telling the client with EXPUNGE, highest sequence number first so the
// numbers it gets stay valid as it applies them.
func (v *view) expunged(ctx context.Context, w interface{ WriteExpunge(uint32) error }) error {
	v.expungeCheck = false
	if len(v.uids) == 0 {
		return nil
	}
	present, err := v.s.srv.Store.ListUIDs(ctx, v.mb.ID)
	if err != nil {
		return v.s.fail("checking for expunges", err)
	}
	keep := v.uids[:0:0]
	var gone []int
	j := 0
	for i, uid := range v.uids {
		for j < len(present) && present[j] < uid {
			j++
		}
		if j < len(present) && present[j] == uid {
			keep = append(keep, uid)
		} else {
			gone = append(gone, i)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	v.uids = keep
	for k := len(gone) - 1; k >= 0; k-- {
		if err := w.WriteExpunge(uint32(gone[k]) + 1); err != nil {
			return err
		}
	}
	return nil
}

// remove takes UIDs this session expunged out of the view and tells the
// client, highest first.
func (v *view) remove(w interface{ WriteExpunge(uint32) error }, uids []uint32) error {
	var seqs []uint32
	for _, u := range uids {
		if seq := v.seqOf(u); seq != 0 {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	for k := len(seqs) - 1; k >= 0; k-- {
		i := seqs[k] - 1
		v.uids = slices.Delete(v.uids, int(i), int(i)+1)
		if err := w.WriteExpunge(seqs[k]); err != nil {
			return err
		}
	}
	return nil
}

func imapFlags(flags []string) []goimap.Flag {
	out := make([]goimap.Flag, len(flags))
	for i, f := range flags {
		out[i] = goimap.Flag(f)
	}
	return out
}
