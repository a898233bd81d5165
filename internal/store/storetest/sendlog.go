package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// testSendLog: recipients add up per account over a window, a minute
// counts whole, old minutes are forgotten, accounts are apart, and an
// account's log goes with it.
func testSendLog(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := account(t, s, "alice@example.com")
	bob := account(t, s, "bob@example.com")
	t0 := time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC)
	sent := func(a store.Account, since time.Time) int {
		t.Helper()
		n, err := s.RecipientsSent(ctx, a.ID, since)
		if err != nil {
			t.Fatalf("RecipientsSent: %v", err)
		}
		return n
	}
	record := func(a store.Account, at time.Time, n int) {
		t.Helper()
		if err := s.RecordSent(ctx, a.ID, at, n, at.Add(-time.Hour)); err != nil {
			t.Fatalf("RecordSent: %v", err)
		}
	}
	if n := sent(alice, t0.Add(-time.Hour)); n != 0 {
		t.Fatalf("nothing sent yet: %d", n)
	}
	record(alice, t0, 3)
	record(alice, t0.Add(10*time.Second), 2) // the same minute
	record(alice, t0.Add(30*time.Minute), 10)
	record(bob, t0, 7)
	if n := sent(alice, t0.Add(-time.Hour)); n != 15 {
		t.Errorf("alice's hour: %d, want 15", n)
	}
	if n := sent(bob, t0.Add(-time.Hour)); n != 7 {
		t.Errorf("bob's hour: %d, want 7", n)
	}
	// since inside t0's minute: that minute counts whole.
	if n := sent(alice, t0.Add(20*time.Second)); n != 15 {
		t.Errorf("from within the first minute: %d, want 15", n)
	}
	if n := sent(alice, t0.Add(time.Minute)); n != 10 {
		t.Errorf("from the next minute: %d, want 10", n)
	}
	// Two hours on, the first minutes are forgotten on the next record.
	record(alice, t0.Add(2*time.Hour), 1)
	if n := sent(alice, time.Time{}); n != 1 {
		t.Errorf("after forgetting: %d, want 1 (only the last send kept)", n)
	}
	if err := s.RecordSent(ctx, 1<<40, t0, 1, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordSent for no account: %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccount(ctx, "alice@example.com"); err != nil {
		t.Fatalf("DeleteAccount with a send log: %v", err)
	}
	if n := sent(bob, t0.Add(-time.Hour)); n != 7 {
		t.Errorf("bob after alice's deletion: %d, want 7", n)
	}
	// ReserveSent adds only within the limit; a negative RecordSent gives
	// back.
	t1 := t0.Add(3 * time.Hour)
	reserve := func(a store.Account, n, limit int) bool {
		t.Helper()
		ok, err := s.ReserveSent(ctx, a.ID, t1, n, limit, t1.Add(-time.Hour), t1.Add(-time.Hour))
		if err != nil {
			t.Fatalf("ReserveSent: %v", err)
		}
		return ok
	}
	if !reserve(bob, 3, 10) || sent(bob, t1.Add(-time.Hour)) != 3 {
		t.Errorf("bob reserved 3 of 10: %d counted", sent(bob, t1.Add(-time.Hour)))
	}
	if reserve(bob, 8, 10) || sent(bob, t1.Add(-time.Hour)) != 3 {
		t.Errorf("8 more past a limit of 10 were counted: %d", sent(bob, t1.Add(-time.Hour)))
	}
	if !reserve(bob, 7, 10) {
		t.Error("7 more, exactly the limit of 10, refused")
	}
	if err := s.RecordSent(ctx, bob.ID, t1, -7, t1.Add(-time.Hour)); err != nil {
		t.Fatalf("giving back: %v", err)
	}
	if n := sent(bob, t1.Add(-time.Hour)); n != 3 {
		t.Errorf("after giving 7 back: %d, want 3", n)
	}
	if _, err := s.ReserveSent(ctx, 1<<40, t1, 1, 10, t1, t1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReserveSent for no account: %v, want ErrNotFound", err)
	}
	// Concurrent reserves of one account never pass the limit together.
	carol := account(t, s, "carol@example.com")
	const tries, limit = 24, 10
	var granted atomic.Int32
	var wg sync.WaitGroup
	for range tries {
		wg.Go(func() {
			ok, err := s.ReserveSent(ctx, carol.ID, t1, 1, limit, t1.Add(-time.Hour), t1.Add(-time.Hour))
			if err != nil {
				t.Errorf("concurrent ReserveSent: %v", err)
			}
			if ok {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if g, n := granted.Load(), sent(carol, t1.Add(-time.Hour)); g != limit || n != limit {
		t.Errorf("%d concurrent reserves of 1 within %d: %d granted, %d counted", tries, limit, g, n)
	}
}
