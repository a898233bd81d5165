package storetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// queue puts a remote-only message on the queue at the given time.
func queue(t *testing.T, s store.Store, at time.Time, rcpts ...string) {
	t.Helper()
	env := &store.Envelope{From: "sender@example.org"}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, store.QueueRecipient{Address: r})
	}
	err := s.Deliver(context.Background(), store.Delivery{Body: strings.NewReader("Subject: q\r\n\r\nq\r\n"),
		InternalDate: at, Outbound: env})
	if err != nil {
		t.Fatal(err)
	}
}

func testQueueWork(t *testing.T, s store.Store) {
	ctx := context.Background()
	t0 := date
	queue(t, s, t0, "a@one.example", "b@two.example")
	queue(t, s, t0.Add(time.Minute), "c@one.example")

	all, err := s.QueuedMessages(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("QueuedMessages = %v, %v", all, err)
	}
	first, second := all[0], all[1]
	if first.Attempts != 0 || !first.NextAttempt.Equal(t0) || first.LastError != "" ||
		first.Envelope.Recipients[0].Status != store.RecipientPending {
		t.Errorf("new queued message = %+v, want due at creation, no attempts", first)
	}

	// Before anything is due: nothing.
	got, err := s.ClaimQueued(ctx, t0.Add(-time.Second), t0.Add(time.Hour), 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("claim before due = %v, %v; want none", got, err)
	}
	// Only the first is due at t0; a limit of 1 takes one.
	got, err = s.ClaimQueued(ctx, t0.Add(2*time.Minute), t0.Add(10*time.Minute), 1)
	if err != nil || len(got) != 1 || got[0].ID != first.ID || len(got[0].Envelope.Recipients) != 2 {
		t.Fatalf("claim limit 1 = %+v, %v; want message %d with its recipients", got, err, first.ID)
	}
	// The leased one is skipped; the other comes next.
	got, err = s.ClaimQueued(ctx, t0.Add(2*time.Minute), t0.Add(10*time.Minute), 10)
	if err != nil || len(got) != 1 || got[0].ID != second.ID {
		t.Fatalf("second claim = %+v, %v; want only message %d", got, err, second.ID)
	}
	// A lease that ran out (the worker died) frees the message again.
	got, err = s.ClaimQueued(ctx, t0.Add(11*time.Minute), t0.Add(20*time.Minute), 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("claim after the leases ran out = %+v, %v; want both", got, err)
	}

	// Progress: one recipient accepted, the other temporarily failed.
	err = s.RecordRecipients(ctx, first.ID, []store.QueueRecipient{
		{Address: "a@one.example", Status: store.RecipientDelivered, Reply: "250 2.0.0 ok"},
		{Address: "b@two.example", Reply: "451 4.3.0 later"},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "RecordRecipients of an unknown recipient", s.RecordRecipients(ctx, first.ID,
		[]store.QueueRecipient{{Address: "nobody@one.example", Status: store.RecipientFailed}}), store.ErrNotFound)
	wantErr(t, "RecordRecipients with a bad status", s.RecordRecipients(ctx, first.ID,
		[]store.QueueRecipient{{Address: "a@one.example", Status: "maybe"}}), store.ErrInvalid)
	next := t0.Add(time.Hour)
	if err := s.ReleaseQueued(ctx, first.ID, store.QueueRelease{NextAttempt: next, LastError: "two.example: 451"}); err != nil {
		t.Fatal(err)
	}
	m, err := s.QueuedMessage(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	rs := m.Envelope.Recipients
	if m.Attempts != 1 || !m.NextAttempt.Equal(next) || m.LastError != "two.example: 451" || len(rs) != 2 ||
		rs[0].Status != store.RecipientDelivered || rs[0].Reply != "250 2.0.0 ok" ||
		rs[1].Status != store.RecipientPending || rs[1].Reply != "451 4.3.0 later" {
		t.Errorf("after an attempt: %+v", m)
	}
	// Released: not due before next, even though the lease is over.
	got, _ = s.ClaimQueued(ctx, t0.Add(30*time.Minute), t0.Add(40*time.Minute), 10)
	for _, g := range got {
		if g.ID == first.ID {
			t.Errorf("message claimed before its next attempt")
		}
	}
	// RetryQueued makes it due now.
	if err := s.RetryQueued(ctx, first.ID, t0.Add(31*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ClaimQueued(ctx, t0.Add(32*time.Minute), t0.Add(40*time.Minute), 10)
	if len(got) != 1 || got[0].ID != first.ID || got[0].Attempts != 1 {
		t.Errorf("claim after RetryQueued = %+v; want message %d, attempts still 1", got, first.ID)
	}
	wantErr(t, "ReleaseQueued of an unknown message", s.ReleaseQueued(ctx, 9999, store.QueueRelease{NextAttempt: next}), store.ErrNotFound)
	wantErr(t, "RetryQueued of an unknown message", s.RetryQueued(ctx, 9999, next), store.ErrNotFound)
	_, err = s.ClaimQueued(ctx, t0, t0, 1)
	wantErr(t, "ClaimQueued with an empty lease", err, store.ErrInvalid)
}

// testQueueClaimConcurrent: concurrent claimers never share a message.
func testQueueClaimConcurrent(t *testing.T, s store.Store) {
	const n = 40
	for range n {
		queue(t, s, date, "x@far.example")
	}
	claimAll(t, []store.Store{s}, 8, n)
}

// claimAll runs workers claimers at once, spread over the handles, until
// the queue is empty, and checks that every one of the n queued messages
// was claimed exactly once.
func claimAll(t *testing.T, handles []store.Store, workers, n int) {
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				got, err := handles[w%len(handles)].ClaimQueued(ctx, date.Add(time.Minute), date.Add(time.Hour), 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d distinct messages, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("message %d claimed %d times", id, c)
		}
	}
}
