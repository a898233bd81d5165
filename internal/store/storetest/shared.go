package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// RunShared runs the tests of several engine handles on one database:
// what two server nodes on one PostgreSQL database, or two processes on
// one SQLite data directory, see of each other. open returns n handles on
// one fresh database, each closed when the test ends.
func RunShared(t *testing.T, open func(t *testing.T, n int) []store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h []store.Store)
	}{
		{"MaildropLock", sharedMaildropLock},
		{"Events", sharedEvents},
		{"ConcurrentDeliveries", sharedConcurrentDeliveries},
		{"ModSeq", sharedModSeq},
		{"QueueClaims", sharedQueueClaims},
		{"QuotaUnderConcurrentDeliveries", sharedQuota},
		{"SendLog", sharedSendLog},
		{"SieveVersion", sharedSieveVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t, 2))
		})
	}
}

// sharedMaildropLock: a maildrop open through one handle is locked for
// the other (RFC 1939's exclusive-access lock), until it is closed.
func sharedMaildropLock(t *testing.T, h []store.Store) {
	ctx := context.Background()
	a := account(t, h[0], "lock@example.org")
	m, err := h[0].OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h[1].OpenMaildrop(ctx, a.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second handle's OpenMaildrop: %v, want ErrLocked", err)
	}
	b := account(t, h[0], "other@example.org")
	mb, err := h[1].OpenMaildrop(ctx, b.ID)
	if err != nil {
		t.Fatalf("another account's maildrop on the second handle: %v", err)
	}
	mb.Close()
	m.Close()
	m2, err := h[1].OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatalf("OpenMaildrop after the first handle's Close: %v", err)
	}
	if _, err := h[0].OpenMaildrop(ctx, a.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("first handle's OpenMaildrop while the second holds it: %v, want ErrLocked", err)
	}
	m2.Close()
}

// sharedEvents: deliveries through one handle reach a subscriber of the
// other, naming the mailbox. Two deliveries, each waited for: an engine
// may wake a new subscriber once for every mailbox (the SQLite watcher's
// first look at an account), which can answer the first wait but not the
// second.
func sharedEvents(t *testing.T, h []store.Store) {
	a := account(t, h[0], "idle@example.org")
	sub := h[0].Subscribe(a.ID)
	defer sub.Close()
	inbox, err := h[0].GetMailbox(context.Background(), a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		deliver(t, h[1], fmt.Sprintf("Subject: %d from the other handle\r\n\r\nbody\r\n", i), a)
		deadline := time.After(30 * time.Second) // only keeps a broken test from hanging
		for named := false; !named; {
			select {
			case <-sub.C:
				named = sub.Changed(inbox.ID)
			case <-deadline:
				t.Fatalf("delivery %d through the second handle: no event naming INBOX on the first", i)
			}
		}
	}
}

// sharedConcurrentDeliveries delivers through both handles at once: UIDs
// are unique and dense, a reader never sees a UID before a smaller one
// that commits later, and the mailbox's UIDNEXT and MODSEQ account for
// every delivery.
func sharedConcurrentDeliveries(t *testing.T, h []store.Store) {
	ctx := context.Background()
	a := account(t, h[0], "busy@example.org")
	inbox, err := h[0].GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	const each = 25
	stop := make(chan struct{})
	var gap []uint32
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			uids, err := h[1].ListUIDs(ctx, inbox.ID)
			if err != nil {
				t.Error(err)
				return
			}
			// Every listing is 1..k: a later listing only adds above.
			for i, u := range uids {
				if u != uint32(i+1) && gap == nil {
					gap = uids
				}
			}
		}
	})
	var wg sync.WaitGroup
	for hi := range h {
		for i := range each {
			wg.Go(func() {
				err := h[hi].Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}},
					Body: strings.NewReader(fmt.Sprintf("Subject: %d/%d\r\n\r\nbody\r\n", hi, i))})
				if err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	close(stop)
	reader.Wait()
	if gap != nil {
		t.Errorf("a reader saw UIDs with a gap (a later UID committed first): %v", gap)
	}
	want := len(h) * each
	for hi := range h {
		uids, err := h[hi].ListUIDs(ctx, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(uids) != want || uids[len(uids)-1] != uint32(want) {
			t.Errorf("handle %d: UIDs after %d deliveries: %v", hi, want, uids)
		}
		mb, err := h[hi].GetMailbox(ctx, a.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if mb.UIDNext != uint32(want+1) || mb.ModSeq < uint64(want) {
			t.Errorf("handle %d: INBOX UIDNEXT %d MODSEQ %d after %d deliveries", hi, mb.UIDNext, mb.ModSeq, want)
		}
	}
	msgs, err := h[0].ListMessages(ctx, inbox.ID, store.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	seqs := map[uint64]bool{}
	for _, m := range msgs {
		seqs[m.ModSeq] = true
	}
	if len(seqs) != want {
		t.Errorf("%d deliveries have %d distinct MODSEQs, want one each", want, len(seqs))
	}
}

// sharedModSeq: flag changes through either handle each get a MODSEQ
// above every earlier one, and both handles read the same values.
func sharedModSeq(t *testing.T, h []store.Store) {
	ctx := context.Background()
	a := account(t, h[0], "flags@example.org")
	deliver(t, h[0], "Subject: one\r\n\r\nx\r\n", a)
	deliver(t, h[1], "Subject: two\r\n\r\nx\r\n", a)
	inbox, err := h[0].GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	last := inbox.ModSeq
	for i, step := range []struct {
		handle int
		uid    uint32
		flag   string
	}{{0, 1, `\Seen`}, {1, 2, `\Flagged`}, {1, 1, `\Answered`}, {0, 2, `\Seen`}} {
		changed, err := h[step.handle].UpdateFlags(ctx, inbox.ID, []uint32{step.uid}, store.FlagsAdd, []string{step.flag})
		if err != nil {
			t.Fatal(err)
		}
		if len(changed) != 1 || changed[0].ModSeq <= last {
			t.Fatalf("step %d: changed %+v, want one message with a MODSEQ above %d", i, changed, last)
		}
		last = changed[0].ModSeq
		for hi := range h {
			got, err := h[hi].MailboxModSeq(ctx, inbox.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got != last {
				t.Errorf("step %d: handle %d reads HIGHESTMODSEQ %d, want %d", i, hi, got, last)
			}
			msgs, err := h[hi].ListMessages(ctx, inbox.ID, store.MessageQuery{SinceModSeq: last - 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 1 || msgs[0].UID != step.uid || !slices.Contains(msgs[0].Flags, step.flag) {
				t.Errorf("step %d: handle %d lists %+v as changed since %d, want UID %d with %s", i, hi, msgs, last-1, step.uid, step.flag)
			}
		}
	}
}

// sharedQueueClaims lets both handles claim one queue at once: every
// message is claimed exactly once.
func sharedQueueClaims(t *testing.T, h []store.Store) {
	const n = 40
	for i := range n {
		queue(t, h[i%len(h)], date, "b@remote.test")
	}
	claimAll(t, h, 4, n)
}

// sharedQuota delivers through both handles at once to an account with
// room for exactly half of the messages: exactly that half is stored, the
// rest refused with ErrQuota, and the usage ends at the quota. Two
// deliveries committing at once must not both pass the check on the
// same usage.
func sharedQuota(t *testing.T, h []store.Store) {
	ctx := context.Background()
	a := account(t, h[0], "full@example.org")
	body := strings.Repeat("q", 98) + "\r\n" // 100 octets
	const each, senders, room = 12, 2, 12
	if err := h[0].SetQuota(ctx, a.Address, room*int64(len(body))); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	stored, refused := 0, 0
	var wg sync.WaitGroup
	// Several senders per handle, each sending one message at a time: an
	// engine that groups deliveries commits some alone and some together.
	for hi := range h {
		for range senders {
			wg.Go(func() {
				for range each / senders {
					err := h[hi].Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}},
						Body: strings.NewReader(body)})
					mu.Lock()
					switch {
					case err == nil:
						stored++
					case errors.Is(err, store.ErrQuota):
						refused++
					default:
						t.Error(err)
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if stored != room || refused != len(h)*each-room {
		t.Errorf("%d stored, %d refused; want %d and %d", stored, refused, room, len(h)*each-room)
	}
	for hi := range h {
		awaitAccount(t, h[hi], a.Address, fmt.Sprintf("handle %d: usage equal to the quota", hi),
			func(got store.Account) bool { return got.Used == got.Quota })
	}
	if n := len(Bodies(t, h[1], a.ID)); n != room {
		t.Errorf("%d messages in the maildrop, want %d", n, room)
	}
}

// sharedSendLog: both handles count an account's sending together
// (smtp.recipients_per_hour).
func sharedSendLog(t *testing.T, h []store.Store) {
	ctx := context.Background()
	a := account(t, h[0], "sender@example.com")
	now := time.Now()
	for i, s := range []store.Store{h[0], h[1], h[0]} {
		if err := s.RecordSent(ctx, a.ID, now, i+1, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for hi, s := range h {
		if got, err := s.RecipientsSent(ctx, a.ID, now.Add(-time.Hour)); err != nil || got != 6 {
			t.Errorf("handle %d: %d, %v; want 6", hi, got, err)
		}
	}
}

// sharedSieveVersion: a script stored and activated through one handle
// changes the account's SieveVersion as the other handle reads it, so
// that handle's delivery filter does not run the script it compiled
// before (the filter caches compiled scripts by this version). A handle
// may answer from a cache that a notification drops: it is waited for.
func sharedSieveVersion(t *testing.T, h []store.Store) {
	ctx := context.Background()
	a := account(t, h[0], "sieveversion@example.org")
	before, err := h[1].Account(ctx, a.Address)
	if err != nil {
		t.Fatal(err)
	}
	if err := h[0].PutSieveScript(ctx, a.ID, "main", "discard;"); err != nil {
		t.Fatal(err)
	}
	if err := h[0].ActivateSieveScript(ctx, a.ID, "main"); err != nil {
		t.Fatal(err)
	}
	awaitAccount(t, h[1], a.Address, "a new SieveVersion on the other handle",
		func(after store.Account) bool { return after.SieveVersion != before.SieveVersion })
}

// awaitAccount reads the account through s until ok holds of it, for at
// most 10 s: a handle may answer from a cache that a notification from
// the other one updates.
func awaitAccount(t *testing.T, s store.Store, address, what string, ok func(store.Account) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := s.Account(context.Background(), address)
		if err != nil {
			t.Fatal(err)
		}
		if ok(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10 s: %+v", what, got)
		}
	}
}
