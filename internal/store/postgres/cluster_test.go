package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/pop3"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
)

// Tests with several engine handles on one schema: what two nodes of a
// cluster see of each other.

// nodes opens n handles on one fresh schema.
func nodes(t *testing.T, n int, o Options) []*Store {
	t.Helper()
	dsn := pgtest.Database(t)
	o.Schema = "cluster"
	var out []*Store
	for range n {
		out = append(out, openTest(t, dsn, o))
	}
	return out
}

func user(t testing.TB, s *Store, address string) store.Account {
	t.Helper()
	ctx := context.Background()
	domain := address[strings.IndexByte(address, '@')+1:]
	if err := s.AddDomain(ctx, domain); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, address, store.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func deliver(t testing.TB, s *Store, a store.Account, body string) {
	t.Helper()
	err := s.Deliver(context.Background(), store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}},
		Body: strings.NewReader(body)})
	if err != nil {
		t.Error(err)
	}
}

func TestMaildropLockAcrossNodes(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	a := user(t, n[0], "lock@example.org")
	m, err := n[0].OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n[1].OpenMaildrop(ctx, a.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second node's OpenMaildrop: %v, want ErrLocked", err)
	}
	m.Close()
	m2, err := n[1].OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatalf("OpenMaildrop after the first node's Close: %v", err)
	}
	m2.Close()
}

// TestMaildropLeaseFencing plays a node that stalls past its lease: the
// other node takes the maildrop over, and the stalled session's QUIT can
// no longer delete anything.
func TestMaildropLeaseFencing(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{LockLease: time.Second})
	a := user(t, n[0], "stall@example.org")
	deliver(t, n[0], a, "Subject: keep me\r\n\r\nbody\r\n")
	m, err := n[0].OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n[0].locks.stop() // the node stalls: no more renewals
	var m2 store.Maildrop
	for m2 == nil {
		m2, err = n[1].OpenMaildrop(ctx, a.ID)
		if err != nil && !errors.Is(err, store.ErrLocked) {
			t.Fatal(err)
		}
		if err != nil {
			time.Sleep(100 * time.Millisecond) // until the lease runs out
		}
	}
	defer m2.Close()
	if err := m.Delete(ctx, ids(m.Messages())); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Delete by the session whose lease ran out: %v, want ErrLocked", err)
	}
	if err := m.MarkRetrieved(ctx, ids(m.Messages()), time.Now()); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("MarkRetrieved by the session whose lease ran out: %v, want ErrLocked", err)
	}
	if got := len(m2.Messages()); got != 1 {
		t.Fatalf("the new session sees %d messages, want 1", got)
	}
	// The stale session's Close must not release the new owner's lock.
	m.Close()
	if _, err := n[0].OpenMaildrop(ctx, a.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("OpenMaildrop after the stale Close: %v, want ErrLocked", err)
	}
}

func ids(msgs []store.MaildropMessage) []int64 {
	var out []int64
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

func TestEventsAcrossNodes(t *testing.T) {
	n := nodes(t, 2, Options{})
	a := user(t, n[0], "idle@example.org")
	sub := n[0].Subscribe(a.ID)
	defer sub.Close()
	inbox, err := n[0].GetMailbox(context.Background(), a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, n[1], a, "Subject: from the other node\r\n\r\nbody\r\n")
	select {
	case <-sub.C:
	case <-time.After(30 * time.Second): // only keeps a broken test from hanging
		t.Fatal("no event on node 0 for a delivery on node 1")
	}
	if !sub.Changed(inbox.ID) {
		t.Error("the event does not name INBOX")
	}
}

// TestConcurrentDeliveriesAcrossNodes delivers from two nodes at once:
// UIDs are unique and dense, and a reader never sees a UID before a
// smaller one that commits later.
func TestConcurrentDeliveriesAcrossNodes(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	a := user(t, n[0], "busy@example.org")
	inbox, err := n[0].GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	const each = 25
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var gaps []string
	var readerDone sync.WaitGroup
	readerDone.Add(1)
	go func() {
		defer readerDone.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			uids, err := n[1].ListUIDs(ctx, inbox.ID)
			if err != nil {
				t.Error(err)
				return
			}
			// Every listing is 1..k: a later listing only adds above.
			for i, u := range uids {
				if u != uint32(i+1) {
					gaps = append(gaps, fmt.Sprint(uids))
					break
				}
			}
		}
	}()
	for node := range 2 {
		for i := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deliver(t, n[node], a, fmt.Sprintf("Subject: %d/%d\r\n\r\nbody\r\n", node, i))
			}()
		}
	}
	wg.Wait()
	close(stop)
	readerDone.Wait()
	if len(gaps) > 0 {
		t.Errorf("a reader saw UIDs with gaps (a later UID committed first): %v", gaps[0])
	}
	uids, err := n[0].ListUIDs(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(uids) != 2*each || uids[len(uids)-1] != 2*each {
		t.Errorf("UIDs after %d deliveries: %v", 2*each, uids)
	}
	msgs, err := n[0].ListMessages(ctx, inbox.ID, store.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := n[1].GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if mb.UIDNext != 2*each+1 || mb.ModSeq < uint64(len(msgs)) {
		t.Errorf("INBOX UIDNEXT %d MODSEQ %d after %d deliveries", mb.UIDNext, mb.ModSeq, len(msgs))
	}
}

// TestQueueClaimsAcrossNodes lets two nodes claim a queue at once: every
// message is claimed exactly once.
func TestQueueClaimsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	const queued = 40
	for i := range queued {
		err := n[0].Deliver(ctx, store.Delivery{Body: strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i)),
			Outbound: &store.Envelope{From: "a@example.org", Recipients: []store.QueueRecipient{{Address: "b@remote.test"}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := n[w%2].ClaimQueued(ctx, now, now.Add(time.Hour), 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					claimed[m.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claimed) != queued {
		t.Errorf("%d messages claimed, want %d", len(claimed), queued)
	}
	var twice []int64
	for id, c := range claimed {
		if c != 1 {
			twice = append(twice, id)
		}
	}
	slices.Sort(twice)
	if len(twice) > 0 {
		t.Errorf("claimed more than once: %v", twice)
	}
}

// TestThrottleAcrossNodes: failed logins counted on one node slow the
// next guess on the other (auth.SharedThrottle).
func TestThrottleAcrossNodes(t *testing.T) {
	n := nodes(t, 2, Options{})
	svc := []*auth.Service{auth.New(auth.Options{Directory: n[0]}), auth.New(auth.Options{Directory: n[1]})}
	var none netip.Addr // count the login only
	for range 2 {
		if d := svc[0].FailureDelay("victim@example.org", none); d != 0 {
			t.Fatalf("delay %v within the free failures", d)
		}
	}
	if d := svc[1].FailureDelay("Victim@example.org", none); d == 0 {
		t.Fatal("the third failure, on another node, is not delayed")
	}
	svc[0].LoginSucceeded("victim@example.org", none)
	if d := svc[1].FailureDelay("victim@example.org", none); d != 0 {
		t.Fatalf("after a success on the other node: delay %v", d)
	}
}

// TestLoginDelayAcrossNodes: a POP3 login on one node is seen by the
// other's LOGIN-DELAY (pop3.SharedLoginTimes).
func TestLoginDelayAcrossNodes(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	a := user(t, n[0], "delay@example.org")
	var shared pop3.SharedLoginTimes = n[1]
	if last, err := shared.LastPOP3Login(ctx, a.ID); err != nil || !last.IsZero() {
		t.Fatalf("before any login: %v, %v", last, err)
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if err := n[0].RecordPOP3Login(ctx, a.ID, at); err != nil {
		t.Fatal(err)
	}
	if err := n[0].RecordPOP3Login(ctx, a.ID, at.Add(-time.Hour)); err != nil { // an older one changes nothing
		t.Fatal(err)
	}
	if last, err := shared.LastPOP3Login(ctx, a.ID); err != nil || !last.Equal(at) {
		t.Fatalf("the other node reads %v, %v; want %v", last, err, at)
	}
}

// TestClaimJobOncePerCluster: of two nodes scheduling the same sweep, one
// runs it per interval.
func TestClaimJobOncePerCluster(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	for i, want := range []bool{true, false} {
		if ok, err := n[i].ClaimJob(ctx, "expire", time.Hour); err != nil || ok != want {
			t.Fatalf("node %d: ClaimJob = %v, %v; want %v", i, ok, err, want)
		}
	}
	if ok, err := n[1].ClaimJob(ctx, "other", time.Hour); err != nil || !ok {
		t.Fatalf("another job: %v, %v", ok, err)
	}
	if ok, err := n[1].ClaimJob(ctx, "expire", 0); err != nil || !ok {
		t.Fatalf("after the interval: %v, %v", ok, err)
	}
}

// TestSieveVersionAcrossNodes: a script stored and activated on one node
// changes the account's SieveVersion as the other node reads it, so that
// node's delivery filter does not run the script it compiled before (the
// filter caches compiled scripts by this version). The other node may
// answer from a cache dropped by a notification: it is waited for.
func TestSieveVersionAcrossNodes(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	a := user(t, n[0], "sieveversion@example.org")
	before, err := n[1].Account(ctx, a.Address)
	if err != nil {
		t.Fatal(err)
	}
	if err := n[0].PutSieveScript(ctx, a.ID, "main", "discard;"); err != nil {
		t.Fatal(err)
	}
	if err := n[0].ActivateSieveScript(ctx, a.ID, "main"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		after, err := n[1].Account(ctx, a.Address)
		if err != nil {
			t.Fatal(err)
		}
		if after.SieveVersion != before.SieveVersion {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SieveVersion on the other node still %d 10 s after a script was activated", after.SieveVersion)
		}
	}
}

// Two nodes on one database count an account's sending together
// (smtp.recipients_per_hour): each adds to the same minute.
func TestSendLogAcrossNodes(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	a := user(t, n[0], "sender@example.com")
	now := time.Now()
	for i, s := range []*Store{n[0], n[1], n[0]} {
		if err := s.RecordSent(ctx, a.ID, now, i+1, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range n {
		if got, err := s.RecipientsSent(ctx, a.ID, now.Add(-time.Hour)); err != nil || got != 6 {
			t.Errorf("node %d: %d, %v; want 6", i, got, err)
		}
	}
}
